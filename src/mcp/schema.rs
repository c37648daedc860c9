//! Tool schemas as `tools/list` publishes them, and the check of every call's arguments against
//! the very input schema its tool publishes.
//!
//! rmcp derives the schemas with schemars (draft 2020-12). [`Portable`], one schemars
//! transform applied to every tool in [`publish`], makes them portable and lean:
//! - no non-standard `format` (`uint32`, `int64`, `double`...): integer ranges become
//!   `minimum`/`maximum`; standard formats (`date-time`...) stay;
//! - no `type: [X, "null"]` (clients warn on it): an optional argument is simply not required
//!   (a `null` for it counts as absent, see [`check_arguments`]); a nullable output field is
//!   `anyOf: [X, {"type": "null"}]`;
//! - one-of-constants become `enum`s; output schemas carry no descriptions or titles (the tool
//!   description and the argument descriptions are what the model reads).
//!
//! [`check_arguments`] validates arguments with the `jsonschema` crate before dispatch, so the
//! published schema is exactly what is accepted and an error names the JSON pointer and the rule.

use std::{
    collections::HashMap,
    sync::{Arc, LazyLock, OnceLock},
};

use rmcp::model::{JsonObject, Tool};
use schemars::{
    Schema,
    transform::{Transform, transform_subschemas},
};
use serde_json::{Map, Value, json};

/// The formats of JSON Schema 2020-12 (validation vocabulary §7.3).
const STANDARD_FORMATS: [&str; 19] = [
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// The schemars transform: portable 2020-12 for every client, lean for output schemas.
pub(crate) struct Portable {
    /// An output schema: nullable fields stay nullable (as `anyOf`), text is dropped.
    pub output: bool,
}

impl Transform for Portable {
    fn transform(&mut self, schema: &mut Schema) {
        if let Some(obj) = schema.as_object_mut() {
            drop_nonstandard_format(obj);
            one_of_constants_to_enum(obj);
            if self.output {
                for k in ["description", "title", "examples", "default"] {
                    obj.remove(k);
                }
                nullable_as_any_of(obj);
            } else {
                optional_not_nullable(obj);
                nullable_as_any_of(obj);
            }
        }
        transform_subschemas(self, schema);
    }
}

/// `format: "uint32"` and friends → the range they mean; any other unknown format is dropped.
fn drop_nonstandard_format(obj: &mut Map<String, Value>) {
    let Some(format) = obj.get("format").and_then(Value::as_str).map(str::to_owned) else {
        return;
    };
    if STANDARD_FORMATS.contains(&format.as_str()) {
        return;
    }
    obj.remove("format");
    let range: Option<(i64, i64)> = match format.as_str() {
        "int8" => Some((i8::MIN.into(), i8::MAX.into())),
        "uint8" => Some((0, u8::MAX.into())),
        "int16" => Some((i16::MIN.into(), i16::MAX.into())),
        "uint16" => Some((0, u16::MAX.into())),
        "int32" => Some((i32::MIN.into(), i32::MAX.into())),
        "uint32" => Some((0, u32::MAX.into())),
        "uint" | "uint64" | "uint128" => Some((0, i64::MAX)),
        _ => None,
    };
    if let Some((min, max)) = range {
        obj.entry("minimum").or_insert(json!(min));
        if max != i64::MAX {
            obj.entry("maximum").or_insert(json!(max));
        }
    }
}

/// `oneOf: [{const: "a", type: string}, ...]` (documented enum variants) → `enum: ["a", ...]`.
fn one_of_constants_to_enum(obj: &mut Map<String, Value>) {
    let Some(Value::Array(variants)) = obj.get("oneOf") else {
        return;
    };
    let consts: Option<Vec<Value>> = variants.iter().map(|v| v.get("const").cloned()).collect();
    let Some(consts) = consts.filter(|c| c.iter().all(Value::is_string)) else {
        return;
    };
    obj.remove("oneOf");
    obj.insert("type".into(), json!("string"));
    obj.insert("enum".into(), Value::Array(consts));
}

/// An input object's optional properties lose `null`: absent is how to leave one out.
fn optional_not_nullable(obj: &mut Map<String, Value>) {
    let required: Vec<String> = obj
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let Some(Value::Object(props)) = obj.get_mut("properties") else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        if required.contains(name) {
            continue;
        }
        let Some(p) = prop.as_object_mut() else { continue };
        if p.get("default").is_some_and(Value::is_null) {
            p.remove("default");
        }
        if let Some(Value::Array(types)) = p.get("type") {
            let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
            let ty = match rest.as_slice() {
                [one] => one.clone(),
                _ => Value::Array(rest),
            };
            p.insert("type".into(), ty);
        }
        if let Some(Value::Array(values)) = p.get_mut("enum") {
            values.retain(|v| !v.is_null());
        }
        let any_of = p.get("anyOf").and_then(Value::as_array);
        if let Some(branches) = any_of.filter(|b| b.len() == 2 && b.iter().any(is_null_schema)) {
            let Some(Value::Object(inner)) = branches.iter().find(|b| !is_null_schema(b)).cloned() else {
                continue;
            };
            p.remove("anyOf");
            for (k, v) in inner {
                p.entry(k).or_insert(v);
            }
        }
    }
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type") == Some(&json!("null"))
}

/// `type: [X, "null"]` → `anyOf: [{type: X, ...}, {type: "null"}]`.
fn nullable_as_any_of(obj: &mut Map<String, Value>) {
    let Some(Value::Array(types)) = obj.get("type") else {
        return;
    };
    if !types.iter().any(|t| t == "null") {
        return;
    }
    let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
    let ty = match rest.as_slice() {
        [one] => one.clone(),
        _ => Value::Array(rest),
    };
    // Annotations stay outside; everything else describes the non-null branch.
    let mut branch = Map::new();
    for k in obj.keys().cloned().collect::<Vec<_>>() {
        if !matches!(
            k.as_str(),
            "description" | "title" | "default" | "examples" | "$schema" | "$defs"
        ) {
            branch.insert(k.clone(), obj.remove(&k).unwrap_or(Value::Null));
        }
    }
    branch.insert("type".into(), ty);
    if let Some(Value::Array(values)) = branch.get_mut("enum") {
        values.retain(|v| !v.is_null());
    }
    obj.insert("anyOf".into(), json!([Value::Object(branch), { "type": "null" }]));
}

fn apply(schema: &JsonObject, output: bool) -> JsonObject {
    let mut s = Schema::from(schema.clone());
    Portable { output }.transform(&mut s);
    match s.to_value() {
        Value::Object(m) => m,
        _ => schema.clone(),
    }
}

/// A tool as published: its schemas made portable and lean. The output schema keeps one level
/// (the result's fields with their types; nested objects are `{"type": "object"}`): what a client
/// needs to read the result, at a fraction of the size; structured content always conforms.
pub(crate) fn publish(tool: &mut Tool) {
    let mut input = apply(&tool.input_schema, false);
    // Shared definitions are described where they are used (the argument's description).
    if let Some(Value::Object(defs)) = input.get_mut("$defs") {
        for d in defs.values_mut().filter_map(Value::as_object_mut) {
            d.remove("description");
        }
    }
    inline_single_use_defs(&mut input);
    drop_implied_min_length(&mut input);
    tool.input_schema = std::sync::Arc::new(input);
    if let Some(out) = &tool.output_schema {
        let full = Value::Object(apply(out, true));
        let defs = full
            .get("$defs")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // No `$schema`: the lean schema (types, enums, `anyOf`, `required`) reads the same in
        // every draft, so a client's validator need not know 2020-12 to check a result.
        let lean = match shallow(&full, &defs, OUTPUT_DEPTH) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        tool.output_schema = Some(std::sync::Arc::new(lean));
    }
    lean_annotations(tool);
}

/// A definition used once is written where it is used: `{"$ref": "#/$defs/X", "description":
/// ...}` becomes X's keywords with that description. Definitions used more than once stay.
fn inline_single_use_defs(schema: &mut JsonObject) {
    let Some(Value::Object(defs)) = schema.get("$defs").cloned() else {
        return;
    };
    let mut uses: HashMap<String, usize> = HashMap::new();
    let mut nodes = vec![&*schema];
    let mut all = Vec::new();
    while let Some(node) = nodes.pop() {
        all.push(node);
        for v in node.values() {
            match v {
                Value::Object(o) => nodes.push(o),
                Value::Array(a) => nodes.extend(a.iter().filter_map(Value::as_object)),
                _ => {}
            }
        }
    }
    for node in all {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            *uses.entry(r.trim_start_matches("#/$defs/").to_owned()).or_default() += 1;
        }
    }
    let single: HashMap<&String, &Value> = defs.iter().filter(|(k, _)| uses.get(*k) == Some(&1)).collect();
    fn visit(v: &mut Value, single: &HashMap<&String, &Value>) {
        match v {
            Value::Object(o) => {
                let target = o
                    .get("$ref")
                    .and_then(Value::as_str)
                    .map(|r| r.trim_start_matches("#/$defs/").to_owned());
                if let Some(Value::Object(def)) = target.as_ref().and_then(|t| single.get(t)).copied() {
                    o.remove("$ref");
                    for (k, x) in def {
                        o.entry(k.clone()).or_insert_with(|| x.clone());
                    }
                }
                o.values_mut().for_each(|x| visit(x, single));
            }
            Value::Array(a) => a.iter_mut().for_each(|x| visit(x, single)),
            _ => {}
        }
    }
    if let Some(props) = schema.get_mut("properties") {
        visit(props, &single);
    }
    if let Some(Value::Object(d)) = schema.get_mut("$defs") {
        d.retain(|k, _| uses.get(k).copied().unwrap_or(0) > 1);
        if d.is_empty() {
            schema.remove("$defs");
        }
    }
}

/// `minLength: 1` next to a `pattern` that cannot match the empty string says nothing more.
fn drop_implied_min_length(schema: &mut JsonObject) {
    fn visit(v: &mut Value) {
        match v {
            Value::Object(o) => {
                let implied = o.get("minLength") == Some(&json!(1))
                    && o.get("pattern")
                        .and_then(Value::as_str)
                        .and_then(|p| regex::Regex::new(p).ok())
                        .is_some_and(|re| !re.is_match(""));
                if implied {
                    o.remove("minLength");
                }
                o.values_mut().for_each(visit);
            }
            Value::Array(a) => a.iter_mut().for_each(visit),
            _ => {}
        }
    }
    schema.values_mut().for_each(visit);
}

/// Annotations without a `title` that repeats the tool's. The four hints stay explicit, defaults
/// included: a client should not need to know MCP's defaults to see what a tool may do.
fn lean_annotations(tool: &mut Tool) {
    let title = tool.title.clone();
    let Some(a) = tool.annotations.as_mut() else {
        return;
    };
    if a.title.is_some() && a.title == title {
        a.title = None;
    }
}

/// `anyOf`/`oneOf` branches once shallow: identical branches become one, a nested `anyOf` is
/// spliced into its parent's, and a single branch left stands for itself.
fn merge_branches(key: &str, branches: Vec<Value>, out: &mut Map<String, Value>) {
    let mut merged: Vec<Value> = Vec::new();
    for b in branches {
        let nested = (key == "anyOf" && b.as_object().is_some_and(|o| o.len() == 1))
            .then(|| b.get("anyOf").and_then(Value::as_array).cloned())
            .flatten();
        for x in nested.unwrap_or_else(|| vec![b]) {
            if !merged.contains(&x) {
                merged.push(x);
            }
        }
    }
    match <[Value; 1]>::try_from(merged) {
        Ok([Value::Object(one)]) => out.extend(one),
        Ok([other]) => {
            out.insert(key.into(), Value::Array(vec![other]));
        }
        Err(many) => {
            out.insert(key.into(), Value::Array(many));
        }
    }
}

/// Levels of an output schema that are published.
const OUTPUT_DEPTH: u32 = 1;

/// `schema` with `$ref`s resolved and objects/arrays below `depth` levels left open.
fn shallow(schema: &Value, defs: &Map<String, Value>, depth: u32) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str)
        && let Some(d) = defs.get(r.trim_start_matches("#/$defs/"))
    {
        return shallow(d, defs, depth);
    }
    let mut out = Map::new();
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(branches)) = schema.get(key) {
            let shallow_branches = branches.iter().map(|b| shallow(b, defs, depth)).collect();
            merge_branches(key, shallow_branches, &mut out);
        }
    }
    for key in ["type", "enum", "const"] {
        if let Some(v) = schema.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    if depth > 0 {
        if let Some(Value::Object(props)) = schema.get("properties") {
            let p: Map<String, Value> = props
                .iter()
                .map(|(k, v)| (k.clone(), shallow(v, defs, depth - 1)))
                .collect();
            out.insert("properties".into(), Value::Object(p));
            if let Some(r) = schema.get("required") {
                out.insert("required".into(), r.clone());
            }
        }
        if let Some(items) = schema.get("items").filter(|i| i.is_object()) {
            out.insert("items".into(), shallow(items, defs, depth - 1));
        }
    }
    Value::Object(out)
}

/// The product tools' published input schemas, by tool name, each with its validator compiled
/// on the tool's first call: a server compiles (and holds, regexes included) only the
/// validators of the tools it is asked to run.
static VALIDATORS: LazyLock<HashMap<&'static str, LazyValidator>> = LazyLock::new(|| {
    super::tools::product()
        .map
        .iter()
        .map(|(name, route)| (name.as_ref(), (route.attr.input_schema.clone(), OnceLock::new())))
        .collect()
});

/// A published input schema (shared with the tool list) and its validator, compiled once when
/// first needed (`None` if it does not compile).
type LazyValidator = (Arc<JsonObject>, OnceLock<Option<jsonschema::Validator>>);

/// The validator of the product tool `tool`; `None` for another name (or, never expected, a
/// published schema that does not compile: logged, and the call is not checked).
fn validator_of(tool: &str) -> Option<&'static jsonschema::Validator> {
    let (schema, compiled) = VALIDATORS.get(tool)?;
    compiled
        .get_or_init(|| match validator(&Value::Object(JsonObject::clone(schema))) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::error!(tool, error = %e, "a published input schema does not compile");
                None
            }
        })
        .as_ref()
}

/// A strict 2020-12 validator: formats asserted, unknown formats refused.
pub fn validator(schema: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::draft202012::options()
        .should_validate_formats(true)
        .should_ignore_unknown_formats(false)
        .build(schema)
        .map_err(|e| e.to_string())
}

/// Arguments that violate the tool's published input schema.
#[derive(Debug)]
pub(crate) struct InvalidArguments {
    /// `invalid arguments for TOOL: POINTER: RULE[; ...]; nothing was done`.
    pub message: String,
    /// The first violation's field: its JSON pointer without the leading `/`.
    pub field: String,
}

/// Checks a call's arguments against the input schema its tool publishes. A `null` for an
/// optional (non-required) argument is dropped first: it means "absent". Tools without a
/// published validator (conformance fixtures) pass unchecked. The error lists each violation
/// as `POINTER: RULE`, e.g. `/depth: "full" is not of type "integer"`.
pub(crate) fn check_arguments(tool: &str, args: &mut Option<JsonObject>) -> Result<(), InvalidArguments> {
    let Some(v) = validator_of(tool) else {
        return Ok(());
    };
    if let Some(a) = args.as_mut() {
        a.retain(|_, value| !value.is_null());
    }
    let instance = Value::Object(args.clone().unwrap_or_default());
    let problems: Vec<(String, String)> = v.iter_errors(&instance).take(5).map(|e| describe(&e)).collect();
    let Some((first, _)) = problems.first() else {
        return Ok(());
    };
    let field = first.trim_start_matches('/').to_owned();
    let listed: Vec<String> = problems.iter().map(|(p, rule)| format!("{p}: {rule}")).collect();
    Err(InvalidArguments {
        message: format!("invalid arguments for {tool}: {}; nothing was done", listed.join("; ")),
        field,
    })
}

impl super::IncidentServer {
    /// The answer to arguments that violate the schema: an `isError` result naming the pointer
    /// and the rule (MCP 2025-11-25: input validation errors are tool execution errors, so the
    /// model can correct itself). A destructive tool's rejected request is audited.
    pub(super) async fn invalid_arguments(
        &self,
        request: &rmcp::model::CallToolRequestParams,
        context: &rmcp::service::RequestContext<rmcp::RoleServer>,
        bad: InvalidArguments,
    ) -> Result<rmcp::model::CallToolResponse, rmcp::ErrorData> {
        let destructive = self
            .tool_router
            .get(&request.name)
            .and_then(|t| t.annotations.as_ref())
            .and_then(|a| a.destructive_hint)
            .unwrap_or(false);
        if destructive {
            let who = super::respond_tools::principal(context);
            if let Err(e) = self.svc.audit_rejected_request(&who, &request.name, &bad.message).await {
                return Err(super::convert::to_protocol_error(e, None));
            }
        }
        let mut r = rmcp::model::CallToolResult::error(vec![rmcp::model::ContentBlock::text(bad.message)]);
        r.meta = Some(super::convert::error_meta("invalid_argument", Some(&bad.field)));
        Ok(r.into())
    }
}

/// `(POINTER, RULE)`; a missing or unexpected property is pointed at by its own name.
fn describe(e: &jsonschema::ValidationError<'_>) -> (String, String) {
    let at = e.instance_path().as_str().to_owned();
    let pointer = match e.kind() {
        jsonschema::error::ValidationErrorKind::Required { property } => {
            format!("{at}/{}", property.as_str().unwrap_or_default())
        }
        jsonschema::error::ValidationErrorKind::AdditionalProperties { unexpected } if unexpected.len() == 1 => {
            format!("{at}/{}", unexpected[0])
        }
        _ if at.is_empty() => "/".to_owned(),
        _ => at,
    };
    let rule = match e.kind() {
        // `anyOf` says only that no branch matched: name what the field takes instead.
        jsonschema::error::ValidationErrorKind::AnyOf { .. } => {
            let value = crate::domain::clip(&e.instance().to_string(), 80);
            match pointer.rsplit('/').next() {
                Some("id") => format!(
                    "{value} is not an incident id: expected INC- followed by digits, e.g. INC-000001, or the number \
                     alone, e.g. 1"
                ),
                Some(name) => format!("{value} is none of the forms `{name}` accepts (see the tool's input schema)"),
                None => format!("{value} is none of the accepted forms"),
            }
        }
        _ => crate::domain::clip(&e.to_string(), 300),
    };
    (pointer, rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonstandard_formats_become_ranges_and_nullable_optionals_become_optional() {
        let input = json!({
            "type": "object",
            "properties": {
                "limit": { "type": ["integer", "null"], "format": "uint32", "minimum": 1, "default": null },
                "env": { "anyOf": [{ "$ref": "#/$defs/Env" }, { "type": "null" }], "description": "Env." },
                "at": { "type": "string", "format": "date-time" },
                "id": { "type": ["string", "null"] }
            },
            "required": ["id"]
        });
        let out = Value::Object(apply(input.as_object().unwrap(), false));
        assert_eq!(
            out["properties"]["limit"],
            json!({ "type": "integer", "minimum": 1, "maximum": u32::MAX })
        );
        assert_eq!(
            out["properties"]["env"],
            json!({ "$ref": "#/$defs/Env", "description": "Env." })
        );
        assert_eq!(out["properties"]["at"]["format"], "date-time");
        assert_eq!(
            out["properties"]["id"],
            json!({ "anyOf": [{ "type": "string" }, { "type": "null" }] }),
            "a required nullable stays nullable, portably"
        );
    }

    #[test]
    fn output_schemas_lose_text_and_keep_nulls_as_any_of() {
        let output = json!({
            "type": "object", "description": "x",
            "properties": { "n": { "type": ["number", "null"], "format": "double", "description": "n" } }
        });
        let out = Value::Object(apply(output.as_object().unwrap(), true));
        assert_eq!(
            out,
            json!({ "type": "object",
                    "properties": { "n": { "anyOf": [{ "type": "number" }, { "type": "null" }] } } })
        );
    }
}
