//! Issue 10: every rejected destructive request is audited, whatever input made it fail. A
//! table of hostile inputs goes through the service that MCP, REST and the CLI share: each
//! gets its specific error AND exactly one new `refusal` entry naming a reason code and the
//! offending value (sanitised, clipped); no plan is stored and the backend changes nothing.
//! Adapter-level rejections (REST bodies and MCP arguments that do not parse) are audited too.

use crate::common;
use crate::recording_backend;
use crate::respond;

use std::{os::unix::fs::PermissionsExt, path::Path};

use common::*;
use incident_mcp::{
    domain::sha256_hex,
    mcp::ToolPolicy,
    service::{ContainRequest, RecoverRequest, ServiceError},
    store::ports::*,
};
use respond::*;
use serde_json::{Value, json};

/// `web-restart`, a script taking one DNS-label argument, allowlisted in `dev`.
fn script_config(dir: &Path) -> String {
    let body = "#!/bin/sh\nexit 0\n";
    let path = dir.join("restart.sh");
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "[[scripts]]\nid = 'web-restart'\npath = '{}'\nsha256 = '{}'\n\
         args = [{{ name = 'container', pattern = '^[a-z0-9-]{{1,63}}$', required = true }}]\n\n\
         {POLICY}scripts = ['web-restart']\n",
        path.display(),
        sha256_hex(body.as_bytes()),
    )
}

async fn setup_with_scripts() -> (
    Harness,
    std::sync::Arc<recording_backend::RecordingBackend>,
    tempfile::TempDir,
) {
    let dir = tempfile::tempdir().unwrap();
    let mut h = Harness::with_config(config(&script_config(dir.path()))).await;
    let b = recording_backend::RecordingBackend::new();
    let mut backends = h.config_backends();
    backends.cluster.insert("dev".into(), b.clone());
    h.svc = h.svc.clone().with_backends(backends);
    detect(&h).await;
    (h, b, dir)
}

enum Req {
    Contain(Value),
    Recover(Value),
    Apply(&'static str),
}

async fn run(h: &Harness, req: &Req) -> ServiceError {
    match req {
        Req::Contain(v) => {
            let r: ContainRequest = serde_json::from_value(v.clone()).unwrap();
            h.svc.propose_contain(&r, "mcp:agent").await.map(drop)
        }
        Req::Recover(v) => {
            let r: RecoverRequest = serde_json::from_value(v.clone()).unwrap();
            h.svc.propose_recover(&r, "mcp:agent").await.map(drop)
        }
        Req::Apply(id) => h.svc.apply_plan(id, "mcp:agent").await.map(drop),
    }
    .expect_err("must be refused")
}

fn contain(resource: &str, ns: &str, extra: Value) -> Req {
    let mut v = contain_args(resource, ns);
    v.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    Req::Contain(v)
}

#[tokio::test]
async fn every_hostile_input_gets_its_error_and_one_refusal_entry() {
    let (h, b, _dir) = setup_with_scripts().await;
    let table: Vec<(&str, Req, &str, &str)> = vec![
        (
            "unicode hyphen",
            contain("web-1", "kube\u{2010}system", json!({})),
            "namespace",
            "invalid_namespace",
        ),
        (
            "ascii kube-system (policy)",
            contain("web-1", "kube-system", json!({})),
            "protected",
            "protected_namespace",
        ),
        (
            "zero-width space",
            contain("web-1", "shop\u{200b}", json!({})),
            "namespace",
            "invalid_namespace",
        ),
        (
            "script path traversal",
            contain("script/../x", "shop", json!({})),
            "`script/../x` is none of",
            "invalid_resource",
        ),
        (
            "upper-case name",
            contain("Web-1", "shop", json!({})),
            "DNS-1123",
            "invalid_resource",
        ),
        (
            "ttl out of range",
            contain("web-1", "shop", json!({"ttl_secs": 5})),
            "60..=604800",
            "invalid_ttl_secs",
        ),
        (
            "unknown incident",
            Req::Contain(json!({"id": "INC-009999", "action": "isolate", "resource": "web-1", "namespace": "shop"})),
            "no incident INC-009999",
            "unknown_incident",
        ),
        (
            "shell in a script argument",
            Req::Recover(
                json!({"id": "INC-000001", "method": "restore", "resource": "script/web-restart",
                                "namespace": "shop", "args": {"container": "$(reboot)"}}),
            ),
            "container",
            "invalid_args",
        ),
        (
            "unknown script argument",
            Req::Recover(
                json!({"id": "INC-000001", "method": "restore", "resource": "script/web-restart",
                                "namespace": "shop", "args": {"container": "web", "evil": "1"}}),
            ),
            "no argument evil",
            "invalid_args",
        ),
        (
            "rollback without a workload",
            Req::Recover(json!({"id": "INC-000001", "method": "rollback"})),
            "need the workload",
            "invalid_resource",
        ),
        (
            "nothing to revert",
            Req::Recover(json!({"id": "INC-000001", "method": "revert"})),
            "no containment in place",
            "nothing_to_revert",
        ),
        (
            "unknown plan",
            Req::Apply("plan-0000000000000000"),
            "no plan",
            "unknown_plan",
        ),
    ];
    let plans_before = h.store.recent_plans(None, 100).await.unwrap().len();
    for (what, req, needle, reason) in &table {
        let before = audit(&h).await.len();
        let e = run(&h, req).await;
        assert!(
            e.to_string().contains(needle),
            "{what}: `{e}` should mention `{needle}`"
        );
        let log = audit(&h).await;
        let new = &log[before..];
        assert_eq!(new.len(), 1, "{what}: exactly one new entry: {new:#?}");
        let entry = &new[0];
        assert_eq!(
            (entry.kind.as_str(), entry.actor.as_str()),
            ("refusal", "mcp:agent"),
            "{what}"
        );
        assert_eq!(entry.payload["reason"], *reason, "{what}: {entry:#?}");
    }
    // The offending value is recorded, sanitised and clipped.
    let log = audit(&h).await;
    let hyphen = log.iter().find(|e| e.payload["reason"] == "invalid_namespace").unwrap();
    assert_eq!(hyphen.payload["field"], "namespace");
    assert_eq!(hyphen.payload["value"], "kube\u{2010}system");
    assert_eq!(hyphen.incident_id.map(|i| i.to_string()).as_deref(), Some("INC-000001"));
    let args = log
        .iter()
        .find(|e| {
            e.payload["message"]
                .as_str()
                .is_some_and(|m| m.contains("$(reboot)") || m.contains("container"))
        })
        .unwrap();
    assert_eq!(args.payload["field"], "args", "{args:#?}");
    let long = "a".repeat(300);
    let before = audit(&h).await.len();
    run(&h, &contain(&format!("web-1\n{long}"), "shop", json!({}))).await;
    let entry = audit(&h).await.pop().unwrap();
    assert_eq!(audit(&h).await.len(), before + 1);
    let value = entry.payload["value"].as_str().unwrap();
    assert!(value.chars().count() <= 81 && !value.contains('\n'), "{value:?}");

    // Nothing else changed.
    assert_eq!(h.store.recent_plans(None, 100).await.unwrap().len(), plans_before);
    assert_eq!(b.apply_count(), 0);
    assert!(h.svc.audit_verify(&[]).await.unwrap().intact);
}

#[tokio::test]
async fn a_request_the_adapters_cannot_parse_is_audited_too() {
    let (h, b) = setup().await;
    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    // REST: an approval smuggled in as an unknown field, and an action that does not exist.
    for body in [
        json!({"action": "isolate", "resource": "web-1", "namespace": "shop", "confirm": true}),
        json!({"action": "nuke", "resource": "web-1", "namespace": "shop"}),
    ] {
        let before = audit(&h).await.len();
        let resp = http
            .put(format!("{}/api/incident/contain/INC-000001", server.base()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400);
        let log = audit(&h).await;
        assert_eq!(log.len(), before + 1, "{body}");
        let e = log.last().unwrap();
        assert_eq!((e.kind.as_str(), e.actor.as_str()), ("refusal", "rest"));
        assert_eq!(e.payload["reason"], "invalid_request", "{e:#?}");
        assert_eq!(e.payload["tool"], "incident_contain");
    }
    // MCP: the same, as tool arguments.
    let c = h.duplex_client(ToolPolicy::default(), Proto::Legacy, PlainClient).await;
    let before = audit(&h).await.len();
    let mut args = contain_args("web-1", "shop");
    args["confirm"] = json!(true);
    let r = c
        .call_tool(rmcp::model::CallToolRequestParams::new("incident_contain").with_arguments(common::args(args)))
        .await;
    assert!(r.as_ref().map(|r| r.is_error == Some(true)).unwrap_or(true), "{r:?}");
    let log = audit(&h).await;
    assert_eq!(log.len(), before + 1);
    assert_eq!(log.last().unwrap().payload["reason"], "invalid_request");
    // CLI: flags for another environment's incident, and a script argument without a value.
    for extra in [&["--env", "prod"][..], &["--arg", "novalue"][..]] {
        let before = audit(&h).await.len();
        let out = std::process::Command::new(bin())
            .args(["--db", h.db.to_str().unwrap(), "contain", "--id", "INC-000001"])
            .args(["--action", "isolate", "--resource", "web-1", "--namespace", "shop"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
        let log = audit(&h).await;
        assert_eq!(log.len(), before + 1, "{extra:?}");
        let e = log.last().unwrap();
        assert_eq!((e.kind.as_str(), e.actor.as_str()), ("refusal", "cli"));
        assert_eq!(e.payload["reason"], "invalid_request");
    }
    assert_eq!(b.apply_count(), 0);
    assert!(h.store.recent_plans(None, 10).await.unwrap().is_empty());
}
