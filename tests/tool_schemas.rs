//! Issue 13 item 8 and issue 12 item 6: every tool's input and output schema is a strict JSON
//! Schema 2020-12 schema (meta-schema valid, only standard formats, no `type: [.., "null"]`),
//! every call's arguments are validated against the very input schema the tool publishes (an
//! error names the JSON pointer and the rule), and the whole `tools/list` stays lean.

use crate::common;

use common::{Harness, Proto, call, modern_client};
use incident_mcp::mcp::ToolPolicy;
use rmcp::model::{CallToolResult, Tool};
use serde_json::{Value, json};

async fn tools(h: &Harness) -> Vec<Tool> {
    let c = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await;
    c.list_all_tools().await.unwrap()
}

/// Every (pointer, subschema) of `v` that is an object.
fn walk<'a>(v: &'a Value, at: String, out: &mut Vec<(String, &'a serde_json::Map<String, Value>)>) {
    match v {
        Value::Object(m) => {
            out.push((at.clone(), m));
            for (k, x) in m {
                walk(x, format!("{at}/{k}"), out);
            }
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, x)| walk(x, format!("{at}/{i}"), out)),
        _ => {}
    }
}

fn strict(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .map_err(|e| e.to_string())
}

#[tokio::test]
async fn every_tool_schema_is_strict_portable_json_schema_2020_12() {
    let h = Harness::new().await;
    let tools = tools(&h).await;
    assert_eq!(tools.len(), 17);
    for t in &tools {
        let mut schemas = vec![("input", Value::Object((*t.input_schema).clone()))];
        if let Some(o) = &t.output_schema {
            schemas.push(("output", Value::Object((**o).clone())));
        }
        assert_eq!(schemas.len(), 2, "{}: every tool publishes an output schema", t.name);
        for (which, schema) in schemas {
            let what = format!("{} {which} schema", t.name);
            // Input schemas name their dialect (they use `$defs`); the lean output schemas read
            // the same in every draft and carry none.
            let dialect = (which == "input").then_some("https://json-schema.org/draft/2020-12/schema");
            assert_eq!(schema.get("$schema").and_then(Value::as_str), dialect, "{what}");
            if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
                panic!("{what} is not a valid 2020-12 schema: {e}");
            }
            strict(&schema).unwrap_or_else(|e| panic!("{what} does not compile strictly: {e}"));
            let mut nodes = Vec::new();
            walk(&schema, String::new(), &mut nodes);
            for (at, node) in nodes {
                if let Some(Value::Array(types)) = node.get("type") {
                    assert!(!types.contains(&json!("null")), "{what} {at}: `type` with null");
                }
                if let Some(Value::String(f)) = node.get("format") {
                    assert!(
                        ["date-time", "date", "uri", "email", "uuid"].contains(&f.as_str()),
                        "{what} {at}: format `{f}` is not a standard one we use"
                    );
                }
            }
        }
    }
}

/// A strict validator refuses an unknown format: the test above would catch one.
#[test]
fn the_strict_validator_fails_on_unknown_formats() {
    assert!(strict(&json!({ "type": "integer", "format": "uint32" })).is_err());
    assert!(strict(&json!({ "type": "string", "format": "date-time" })).is_ok());
}

#[tokio::test]
async fn tools_list_is_lean_and_fits_a_64_kib_line() {
    let h = Harness::new().await;
    let tools = tools(&h).await;
    let list = serde_json::to_string(&json!({ "tools": tools })).unwrap();
    // Issue 12's budget for the whole list (17 tools, about 1.4 KB each): single-use `$defs`
    // written in place, no `$schema` on the lean output schemas, no annotation that repeats the
    // title or a default; free-text patterns are left to the REST bodies.
    assert!(
        list.len() <= 24 * 1024,
        "tools/list is {} bytes, more than 24 KB",
        list.len()
    );
    // The JSON-RPC line a stdio client reads, with room to spare under asyncio's 64 KiB limit.
    let line = serde_json::to_string(&json!({ "jsonrpc": "2.0", "id": 1, "result": { "tools": tools } })).unwrap();
    assert!(line.len() < 32 * 1024, "{} bytes", line.len());
    eprintln!("tools/list: {} bytes", list.len());
    for t in &tools {
        let d = t.description.as_deref().unwrap_or_default();
        assert!(d.len() <= 650, "{}: description of {} characters", t.name, d.len());
    }
}

/// A value of the wrong type for `schema` (or `None` when any value fits).
fn wrong_value(schema: &Value) -> Option<Value> {
    match schema.get("type").and_then(Value::as_str) {
        Some("string") => Some(json!(5)),
        Some("integer") | Some("number") => Some(json!("full")),
        Some("boolean") => Some(json!("yes")),
        Some("array") | Some("object") => Some(json!(true)),
        _ => None,
    }
}

fn text(r: &CallToolResult) -> String {
    r.content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect()
}

#[tokio::test]
async fn a_schema_violating_call_of_each_tool_names_the_pointer_and_changes_nothing() {
    let h = Harness::new().await;
    let c = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await;
    let tools = c.list_all_tools().await.unwrap();
    let audit_before = incident_mcp::store::AuditStore::audit_recent(&*h.store, 1000)
        .await
        .unwrap()
        .len();
    for t in &tools {
        let props = t
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // A typed property given a value of another type; else an unknown property.
        let (field, args) = match props.iter().find_map(|(k, s)| wrong_value(s).map(|v| (k.clone(), v))) {
            Some((k, v)) => (k.clone(), json!({ k: v })),
            None => ("bogus".to_owned(), json!({ "bogus": 1 })),
        };
        let r = call(&c, &t.name, args.clone()).await;
        assert_eq!(r.is_error, Some(true), "{} {args}: {r:?}", t.name);
        let msg = text(&r);
        assert!(
            msg.starts_with(&format!("invalid arguments for {}: ", t.name)) && msg.contains(&format!("/{field}: ")),
            "{} {args}: {msg}",
            t.name
        );
        let meta = r.meta.as_ref().map(|m| Value::Object(m.0.clone())).unwrap_or_default();
        // `field`: the first violation's pointer (a missing required argument may come first).
        assert_eq!(meta["error_code"], "invalid_argument", "{}: {meta}", t.name);
        let first = meta["field"].as_str().unwrap_or_default();
        assert!(
            !first.is_empty() && msg.contains(&format!("/{first}: ")),
            "{}: {meta} {msg}",
            t.name
        );
    }
    // The example, word for word.
    let r = call(&c, "incident_analyze", json!({ "id": "INC-000001", "depth": "full" })).await;
    assert_eq!(
        text(&r),
        "invalid arguments for incident_analyze: /depth: \"full\" is not of type \"integer\"; nothing was done"
    );
    let r = call(&c, "incident_get", json!({})).await;
    assert!(text(&r).contains("/id: \"id\" is a required property"), "{}", text(&r));
    // An id of neither form says what an id is, not which `anyOf` branch failed.
    let r = call(&c, "incident_get", json!({ "id": "INC-12x" })).await;
    assert_eq!(
        text(&r),
        "invalid arguments for incident_get: /id: \"INC-12x\" is not an incident id: expected INC- followed by \
         digits, e.g. INC-000001, or the number alone, e.g. 1; nothing was done"
    );
    // Nothing ran: no incident was detected, only the destructive tools' refusals were audited.
    let all = incident_mcp::store::IncidentFilter {
        limit: 100,
        ..Default::default()
    };
    assert!(
        incident_mcp::store::IncidentStore::list_incidents(&*h.store, &all)
            .await
            .unwrap()
            .is_empty()
    );
    let audit = incident_mcp::store::AuditStore::audit_recent(&*h.store, 1000)
        .await
        .unwrap();
    let refusals: Vec<String> = audit[..audit.len() - audit_before]
        .iter()
        .map(|e| e.payload["tool"].as_str().unwrap_or_default().to_owned())
        .collect();
    let mut refusals = refusals;
    refusals.sort();
    assert_eq!(refusals, ["incident_apply", "incident_contain", "incident_recover"]);
    // A null for an optional argument is the same as leaving it out.
    let r = call(&c, "incident_list", json!({ "env": null, "limit": null })).await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
}
