//! Drives every tool, resource and prompt through a real rmcp client, over
//! `tokio::io::duplex` and over streamable HTTP on 127.0.0.1:0, for a 2025-11-25
//! (session) client and a 2026-07-28 (stateless) client.

use crate::common;

use common::*;
use incident_mcp::mcp::ToolPolicy;
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        ArgumentInfo, CompleteRequestParams, ErrorCode, GetPromptRequestParams, ReadResourceRequestParams, Reference,
        ResourceContents,
    },
    service::{RunningService, ServiceError},
};
use serde_json::{Value, json};

const TOOLS: [&str; 17] = [
    "incident_ack",
    "incident_analyze",
    "incident_apply",
    "incident_assign",
    "incident_contain",
    "incident_containments",
    "incident_declare",
    "incident_detect",
    "incident_get",
    "incident_list",
    "incident_note",
    "incident_notify",
    "incident_outbox_retry",
    "incident_plan",
    "incident_recover",
    "incident_resolve",
    "incident_severity",
];

fn protocol_error_code(e: ServiceError) -> ErrorCode {
    match e {
        ServiceError::McpError(d) => d.code,
        other => panic!("expected a JSON-RPC error, got {other}"),
    }
}

async fn read_json<C: ClientHandler>(client: &RunningService<RoleClient, C>, uri: &str) -> Value {
    let r = client
        .read_resource(ReadResourceRequestParams::new(uri))
        .await
        .expect("read resource");
    match &r.contents[0] {
        ResourceContents::TextResourceContents { text, mime_type, .. } => {
            assert_eq!(mime_type.as_deref(), Some("application/json"));
            serde_json::from_str(text).expect("resource is JSON")
        }
        other => panic!("unexpected contents {other:?}"),
    }
}

/// The full conversation; every step asserts what the server returned.
async fn conversation<C: ClientHandler>(client: RunningService<RoleClient, C>, proto: Proto) {
    // SEP-2164: resource-not-found is -32002 before 2026-07-28 and -32602 from it on.
    let not_found = if proto == Proto::Legacy {
        ErrorCode::RESOURCE_NOT_FOUND
    } else {
        ErrorCode::INVALID_PARAMS
    };
    // tools/list: the ten tools, each with explicit safety annotations and an output schema.
    let tools = client.list_all_tools().await.expect("tools/list");
    let mut names: Vec<_> = tools.iter().map(|t| t.name.to_string()).collect();
    names.sort();
    assert_eq!(names, TOOLS);
    for t in &tools {
        let a = t
            .annotations
            .as_ref()
            .unwrap_or_else(|| panic!("{} has no annotations", t.name));
        assert!(
            a.read_only_hint.is_some() && a.destructive_hint.is_some() && a.idempotent_hint.is_some(),
            "{}",
            t.name
        );
        assert!(t.output_schema.is_some(), "{} has no outputSchema", t.name);
    }

    // detect: two injected incidents, then nothing new on a re-run.
    let first = ok(&call(&client, "incident_detect", json!({ "env": "dev" })).await);
    assert_eq!(first["created"], 2, "{first}");
    let ids: Vec<&str> = first["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["INC-000001", "INC-000002"]);
    assert_eq!(first["sources"][0]["events"], 1134);
    let again = ok(&call(&client, "incident_detect", json!({ "env": "dev", "threshold": 0.8 })).await);
    assert_eq!(
        (again["created"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(0))
    );
    assert!(
        again["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["change"] == "unchanged")
    );
    let only_net = ok(&call(
        &client,
        "incident_detect",
        json!({ "env": "dev", "type": "network", "source": "sample" }),
    )
    .await);
    assert_eq!(only_net["incidents"].as_array().unwrap().len(), 1);

    // list / get / analyze
    let list = ok(&call(&client, "incident_list", json!({ "env": "dev", "status": "open" })).await);
    assert_eq!(list["count"], 2);
    let get = ok(&call(&client, "incident_get", json!({ "id": "INC-000001" })).await);
    assert_eq!(get["incident"]["type"], "network");
    assert!(get["incident"]["title"].as_str().unwrap().contains("Egress"));
    assert_eq!(get["recent_signals"].as_array().unwrap().len(), 8);
    let a0 = ok(&call(&client, "incident_analyze", json!({ "id": "INC-000001", "depth": 0 })).await);
    assert_eq!(a0["affected_resources"][0]["entity"], "pod/shop/web-7");
    assert!(a0.get("signal_groups").is_none() && a0.get("timeline").is_none());
    let a2 = ok(&call(&client, "incident_analyze", json!({ "id": "INC-000001", "depth": 2 })).await);
    assert_eq!(a2["signal_groups"][0]["count"], 8);
    assert_eq!(a2["timeline"][0]["kind"], "created");
    assert!(a2.get("signals").is_none());
    let a3 = ok(&call(&client, "incident_analyze", json!({ "id": "INC-000002", "depth": 3 })).await);
    let messages: Vec<&str> = a3["signals"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["message"].as_str())
        .collect();
    assert!(!messages.is_empty());
    assert!(
        messages.iter().all(|m| !m.contains("hunter2")),
        "secrets in telemetry must be redacted"
    );

    // ack / resolve, idempotent repeats, illegal moves
    let ack = ok(&call(&client, "incident_ack", json!({ "id": "INC-000001", "note": "on it" })).await);
    assert_eq!(
        (ack["incident"]["status"].as_str(), ack["changed"].as_bool()),
        (Some("acknowledged"), Some(true))
    );
    let ack2 = ok(&call(&client, "incident_ack", json!({ "id": "INC-000001" })).await);
    assert_eq!(ack2["changed"], false);
    let res = ok(&call(
        &client,
        "incident_resolve",
        json!({ "id": "INC-000001", "note": "noisy backup job; throttled" }),
    )
    .await);
    assert_eq!(res["incident"]["status"], "resolved");
    assert_eq!(res["previous_status"], "acknowledged");
    let illegal = err_text(&call(&client, "incident_ack", json!({ "id": "INC-000001" })).await);
    assert!(
        illegal.contains("resolved") && illegal.contains("cannot become acknowledged"),
        "{illegal}"
    );
    let missing = err_text(&call(&client, "incident_get", json!({ "id": "INC-000999" })).await);
    assert!(missing.contains("no incident INC-000999"), "{missing}");
    let unknown_env = err_text(&call(&client, "incident_detect", json!({ "env": "qa" })).await);
    assert!(
        unknown_env.contains("unknown environment `qa`") && unknown_env.contains("dev"),
        "{unknown_env}"
    );
    let file_source = err_text(
        &call(
            &client,
            "incident_detect",
            json!({ "env": "dev", "source": "file:/etc/passwd" }),
        )
        .await,
    );
    assert!(
        file_source.contains("unknown source"),
        "a model may not name files: {file_source}"
    );

    // Arguments that violate the schema are tool errors naming the problem (MCP 2025-11-25,
    // SEP-1303: the model can correct itself); a request for an unknown tool is a JSON-RPC
    // invalid_params error. Neither changes anything.
    for (bad, expect) in [
        // Checked against the published input schema first: the JSON pointer and the rule.
        (
            json!({ "env": "dev", "threshold": 5 }),
            "/threshold: 5 is greater than the maximum of 1",
        ),
        (json!({ "types": ["network", "weather"] }), "/types/1: "),
        (json!({ "env": "dev", "extra": 1 }), "/extra: "),
        (json!({ "env": "DEV!" }), "/env: \"DEV!\" does not match"),
        (json!({ "env": "dev", "type": "weather" }), "/type: "),
    ] {
        let text = err_text(&call(&client, "incident_detect", bad.clone()).await);
        assert!(text.contains(expect), "{bad}: {text}");
    }
    let text = err_text(&call(&client, "incident_analyze", json!({ "id": "INC-1", "depth": 9 })).await);
    assert!(text.contains("depth"), "{text}");
    let text = err_text(&call(&client, "incident_get", json!({ "id": "1; DROP TABLE incidents" })).await);
    assert!(
        text.contains("/id: \"1; DROP TABLE incidents\" is not an incident id"),
        "{text}"
    );
    let e = client
        .call_tool(
            rmcp::model::CallToolRequestParams::new("incident_delete_everything").with_arguments(args(json!({}))),
        )
        .await
        .expect_err("unknown tool");
    assert_eq!(protocol_error_code(e), ErrorCode::INVALID_PARAMS);
    let after = ok(&call(&client, "incident_list", json!({})).await);
    assert_eq!(after["count"], 2);

    // resources
    let resources = client.list_all_resources().await.expect("resources/list");
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    for u in [
        "incident://incidents",
        "metrics://recent",
        "incident://containments",
        "incident://incidents/INC-000001",
        "incident://incidents/INC-000002",
    ] {
        assert!(uris.contains(&u), "{u} missing from {uris:?}");
    }
    let templates = client.list_all_resource_templates().await.expect("templates");
    assert_eq!(
        templates.iter().map(|t| t.uri_template.as_str()).collect::<Vec<_>>(),
        ["incident://incidents/{id}"]
    );
    let recent = read_json(&client, "incident://incidents").await;
    assert_eq!(recent["count"], 2);
    assert_eq!(
        recent["incidents"][0]["id"], "INC-000001",
        "most recently changed first"
    );
    let one = read_json(&client, "incident://incidents/INC-000002").await;
    assert_eq!(one["incident"]["type"], "auth");
    let metrics = read_json(&client, "metrics://recent").await;
    assert_eq!(metrics["count"], 200);
    assert_eq!(metrics["points"][0]["observed_at"], "2026-11-01T11:59:00Z");
    let e = client
        .read_resource(ReadResourceRequestParams::new("incident://incidents/INC-000777"))
        .await
        .expect_err("unknown");
    assert_eq!(protocol_error_code(e), not_found);
    let e = client
        .read_resource(ReadResourceRequestParams::new("file:///etc/passwd"))
        .await
        .expect_err("foreign");
    assert_eq!(protocol_error_code(e), not_found);

    // prompts
    let prompts = client.list_all_prompts().await.expect("prompts/list");
    let mut pnames: Vec<_> = prompts.iter().map(|p| p.name.clone()).collect();
    pnames.sort();
    assert_eq!(
        pnames,
        ["incident-containment", "incident-postmortem", "incident-triage"]
    );
    let triage = client
        .get_prompt(
            GetPromptRequestParams::new("incident-triage").with_arguments(args(json!({ "incident_id": "INC-000002" }))),
        )
        .await
        .expect("prompts/get");
    let text = &triage.messages[0].content.as_text().expect("text prompt").text;
    assert!(
        text.contains("SSH brute force on ip/203.0.113.9") && text.contains("UNTRUSTED"),
        "{text}"
    );
    assert!(!text.contains("hunter2") && !text.contains("{{"));
    let pm = client
        .get_prompt(
            GetPromptRequestParams::new("incident-postmortem")
                .with_arguments(args(json!({ "incident_id": "INC-000001" }))),
        )
        .await
        .expect("postmortem");
    let text = &pm.messages[0].content.as_text().expect("text prompt").text;
    assert!(
        text.contains("noisy backup job; throttled"),
        "post-mortem embeds the resolution note"
    );
    let e = client
        .get_prompt(GetPromptRequestParams::new("incident-triage"))
        .await
        .expect_err("missing argument");
    assert_eq!(protocol_error_code(e), ErrorCode::INVALID_PARAMS);
    let e = client
        .get_prompt(
            GetPromptRequestParams::new("incident-triage").with_arguments(args(json!({ "incident_id": "INC-000404" }))),
        )
        .await
        .expect_err("unknown incident");
    assert_eq!(protocol_error_code(e), ErrorCode::INVALID_PARAMS);

    // completion of incident ids
    let c = client
        .complete(CompleteRequestParams::new(
            Reference::for_prompt("incident-triage"),
            ArgumentInfo::new("incident_id", "inc-00000"),
        ))
        .await
        .expect("completion");
    let mut values = c.completion.values.clone();
    values.sort();
    assert_eq!(values, ["INC-000001", "INC-000002"]);

    client.cancel().await.expect("clean shutdown");
}

#[tokio::test]
async fn duplex_modern_client() {
    let h = Harness::new().await;
    conversation(
        h.duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
            .await,
        Proto::Modern,
    )
    .await;
}

#[tokio::test]
async fn duplex_legacy_client() {
    let h = Harness::new().await;
    conversation(
        h.duplex_client(ToolPolicy::default(), Proto::Legacy, legacy_client())
            .await,
        Proto::Legacy,
    )
    .await;
}

#[tokio::test]
async fn http_modern_client() {
    let h = Harness::new().await;
    let server = h.http_server(ToolPolicy::default()).await;
    conversation(server.client(None, Proto::Modern, modern_client()).await, Proto::Modern).await;
}

#[tokio::test]
async fn http_legacy_session_client() {
    let h = Harness::new().await;
    let server = h.http_server(ToolPolicy::default()).await;
    conversation(server.client(None, Proto::Legacy, legacy_client()).await, Proto::Legacy).await;
}

#[tokio::test]
async fn read_only_policy_hides_and_refuses_writing_tools() {
    let h = Harness::new().await;
    let client = h
        .duplex_client(
            ToolPolicy {
                read_only: true,
                disable_destructive: false,
            },
            Proto::Modern,
            modern_client(),
        )
        .await;
    let mut names: Vec<_> = client
        .list_all_tools()
        .await
        .unwrap()
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "incident_analyze",
            "incident_containments",
            "incident_get",
            "incident_list",
            "incident_plan"
        ]
    );
    let refused = err_text(&call(&client, "incident_detect", json!({ "env": "dev" })).await);
    assert!(
        refused.contains("disabled") && refused.contains("--read-only"),
        "{refused}"
    );
    let list = ok(&call(&client, "incident_list", json!({})).await);
    assert_eq!(list["count"], 0, "the refused call changed nothing");
}
