//! The public contract, snapshot-tested (insta) so a change is a deliberate diff:
//! `tools/list`, resource templates, prompts, a rendered prompt. Plus SKILL.md checked
//! against the live tool schemas, and explicit safety annotations on every tool.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use incident_mcp::mcp::ToolPolicy;
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};

async fn client(h: &Harness) -> rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig> {
    h.duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await
}

fn sorted_tools(tools: Vec<rmcp::model::Tool>) -> Value {
    let mut v: Vec<Value> = tools.into_iter().map(|t| serde_json::to_value(t).unwrap()).collect();
    v.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Value::Array(v)
}

#[tokio::test]
async fn tools_list_snapshot() {
    let h = Harness::new().await;
    let c = client(&h).await;
    insta::assert_json_snapshot!("tools_list", sorted_tools(c.list_all_tools().await.unwrap()));
}

#[tokio::test]
async fn resource_templates_and_prompts_snapshot() {
    let h = Harness::new().await;
    let c = client(&h).await;
    let templates = serde_json::to_value(c.list_all_resource_templates().await.unwrap()).unwrap();
    insta::assert_json_snapshot!("resource_templates", templates);
    let mut prompts: Vec<Value> = c
        .list_all_prompts()
        .await
        .unwrap()
        .into_iter()
        .map(|p| serde_json::to_value(p).unwrap())
        .collect();
    prompts.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    insta::assert_json_snapshot!("prompts_list", prompts);
}

/// Replaces wall-clock timestamps (record creation times) so the snapshot is stable;
/// telemetry times from the sample data (2026-11-01) are kept.
fn redact_now(text: &str) -> String {
    let re = regex::Regex::new(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})").unwrap();
    re.replace_all(text, |c: &regex::Captures| {
        let t = &c[0];
        if t.starts_with("2026-11-01") {
            t.to_owned()
        } else {
            "[now]".to_owned()
        }
    })
    .into_owned()
}

/// Also replaces phase durations measured up to now (the post-mortem's time to detect runs from
/// the sample data's time to the incident's creation).
fn redact_elapsed(text: &str) -> String {
    let secs = regex::Regex::new(r#""seconds": \d+"#).unwrap();
    let text = secs.replace_all(text, r#""seconds": "[elapsed]""#);
    let shown = regex::Regex::new(r#""duration": "([^"]*)""#).unwrap();
    shown
        .replace_all(&text, |c: &regex::Captures| match &c[1] {
            "not reached" => c[0].to_owned(),
            _ => r#""duration": "[elapsed]""#.to_owned(),
        })
        .into_owned()
}

#[tokio::test]
async fn rendered_prompts_snapshot() {
    let h = Harness::new().await;
    let c = client(&h).await;
    ok(&call(&c, "incident_detect", json!({ "env": "dev" })).await);
    for (name, id) in [
        ("incident-triage", "INC-000002"),
        ("incident-postmortem", "INC-000001"),
        ("incident-containment", "INC-000001"),
    ] {
        let r = c
            .get_prompt(GetPromptRequestParams::new(name).with_arguments(args(json!({ "incident_id": id }))))
            .await
            .unwrap();
        let text = &r.messages[0].content.as_text().expect("text").text;
        insta::assert_snapshot!(format!("prompt_{name}"), redact_elapsed(&redact_now(text)));
    }
}

#[tokio::test]
async fn every_tool_states_its_safety_annotations() {
    let h = Harness::new().await;
    let c = client(&h).await;
    for t in c.list_all_tools().await.unwrap() {
        let a = t.annotations.unwrap_or_else(|| panic!("{} has no annotations", t.name));
        let (ro, de) = (a.read_only_hint, a.destructive_hint);
        assert!(
            ro.is_some() && de.is_some(),
            "{}: read_only_hint and destructive_hint must both be explicit",
            t.name
        );
        assert!(
            !(ro == Some(true) && de == Some(true)),
            "{}: cannot be both read-only and destructive",
            t.name
        );
        assert!(a.idempotent_hint.is_some() && a.open_world_hint.is_some(), "{}", t.name);
        assert!(
            t.description.as_deref().is_some_and(|d| d.len() > 40),
            "{}: describe the tool for the model",
            t.name
        );
        let props = t
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (arg, schema) in props {
            assert!(
                schema.get("description").is_some() || schema.get("$ref").is_some() || schema.get("anyOf").is_some(),
                "{}.{arg} needs a description",
                t.name
            );
        }
    }
}

/// `### tool` headings followed by `Arguments: `a` (required), `b`` lines.
fn skill_manifest_tools(text: &str) -> BTreeMap<String, BTreeMap<String, bool>> {
    let mut out = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("### ") {
            current = Some(name.trim().to_owned());
        } else if let (Some(tool), Some(rest)) = (&current, line.strip_prefix("Arguments: ")) {
            let mut args = BTreeMap::new();
            for part in rest.split(',') {
                let part = part.trim();
                if part == "none" {
                    continue;
                }
                let name = part
                    .split('`')
                    .nth(1)
                    .unwrap_or_else(|| panic!("bad argument entry `{part}` for {tool}"));
                args.insert(name.to_owned(), part.contains("(required)"));
            }
            out.insert(tool.clone(), args);
            current = None;
        }
    }
    out
}

#[tokio::test]
async fn skill_manifest_matches_live_tool_schemas() {
    let h = Harness::new().await;
    let c = client(&h).await;
    let mut live = BTreeMap::new();
    for t in c.list_all_tools().await.unwrap() {
        let required: Vec<String> = t
            .input_schema
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let args: BTreeMap<String, bool> = t
            .input_schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().map(|k| (k.clone(), required.contains(k))).collect())
            .unwrap_or_default();
        live.insert(t.name.to_string(), args);
    }
    let manifest = skill_manifest_tools(include_str!("../SKILL.md"));
    assert_eq!(
        manifest, live,
        "SKILL.md's tool list disagrees with tools/list: update SKILL.md"
    );
}

#[test]
fn skill_manifest_has_openclaw_front_matter() {
    let text = include_str!("../SKILL.md");
    let rest = text.strip_prefix("---\n").expect("front-matter");
    let end = rest.find("\n---\n").expect("closed front-matter");
    let fm: serde_yaml_ng::Value = serde_yaml_ng::from_str(&rest[..end]).expect("YAML front-matter");
    assert_eq!(fm["name"].as_str(), Some("incident-mcp"));
    assert!(fm["description"].as_str().is_some_and(|d| d.len() > 50));
    assert_eq!(fm["version"].as_str(), Some(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        fm["metadata"]["openclaw"]["requires"]["bins"][0].as_str(),
        Some("incident-mcp")
    );
}
