//! Issue 10, hooks: a hook registered at run time may name only environment variables the
//! config allows as its signing secret (`[notify] hook_secret_env_prefix`, default
//! `INCIDENT_MCP_HOOK_`): anything else is 400 / exit 1 naming the rule and nothing is stored.
//! Adding and removing hooks is audited with the caller's principal; the store records who
//! added a hook, and the agent's key cannot remove a hook it did not add (403, audited),
//! while the human at the server's shell (CLI) may remove any.

use crate::common;
use crate::notify_common;

use std::path::Path;

use common::{Harness, HttpServer, bin, secret};
use incident_mcp::{
    config::EXAMPLE_TOML,
    mcp::ToolPolicy,
    store::{OutboxStore, ports::*},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const WEBHOOKS: &str = "[[notify.webhooks]]\nname = \"ops\"\nurl = \"https://hooks.example.com/ops\"\n\
                        secret_env = \"OPS_SECRET\"\nevents = [\"resolve\"]\n";

fn key() -> String {
    secret("hooks-guard-key")
}

async fn start(extra: &str) -> (Harness, HttpServer) {
    let mut cfg = notify_common::config(&format!("[notify]\n{extra}{WEBHOOKS}"));
    cfg.api_key = Some(secrecy::SecretString::from(key()));
    let h = Harness::with_config(cfg).await;
    let server = h.http_server(ToolPolicy::default()).await;
    (h, server)
}

async fn send(server: &HttpServer, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    let mut rb = reqwest::Client::new()
        .request(method, format!("{}{path}", server.base()))
        .bearer_auth(key());
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn hook(name: &str, secret_env: Option<&str>) -> Value {
    let mut v = json!({"name": name, "url": "https://hooks.example.com/in", "events": ["resolve"]});
    if let Some(s) = secret_env {
        v["secret_env"] = json!(s);
    }
    v
}

async fn audit_rows(h: &Harness, kind: &str) -> Vec<incident_mcp::domain::audit::AuditEntry> {
    let mut log = h.store.audit_recent(1000).await.unwrap();
    log.reverse();
    log.into_iter().filter(|e| e.kind == kind).collect()
}

#[tokio::test]
async fn rest_hooks_may_name_only_allowed_secret_variables() {
    let (h, server) = start("").await;
    for name in [
        "PGPASSWORD",
        "OPENCLAW_API_KEY",
        "INCIDENT_MCP_TEST_APPROVER_ALICE",
        "INCIDENT_MCP_HOOK_",
        "OPS_SECRET",
    ] {
        let (status, body) = send(&server, Method::POST, "/api/hooks", Some(hook("h1", Some(name)))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {body}");
        assert_eq!(body["field"], "secret_env", "{name}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(
            error.contains("INCIDENT_MCP_HOOK_") && error.contains("hook_secret_env_prefix"),
            "{name}: names the rule: {error}"
        );
    }
    assert!(h.store.webhooks().await.unwrap().is_empty(), "nothing stored");
    assert!(
        audit_rows(&h, "hook").await.is_empty(),
        "nothing registered, nothing audited as added"
    );

    // Allowed: a name with the prefix, and the default (the prefix + SECRET).
    let (status, body) = send(
        &server,
        Method::POST,
        "/api/hooks",
        Some(hook("h1", Some("INCIDENT_MCP_HOOK_H1"))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["added_by"], "rest");
    let (status, body) = send(&server, Method::POST, "/api/hooks", Some(hook("h2", None))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["secret_env"], "INCIDENT_MCP_HOOK_SECRET");

    // A configured prefix replaces the default one.
    let (h2, server2) = start("hook_secret_env_prefix = \"SIGNING_\"\n").await;
    let (status, body) = send(
        &server2,
        Method::POST,
        "/api/hooks",
        Some(hook("h1", Some("INCIDENT_MCP_HOOK_H1"))),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["error"].as_str().unwrap().contains("SIGNING_"), "{body}");
    let (status, body) = send(
        &server2,
        Method::POST,
        "/api/hooks",
        Some(hook("h1", Some("SIGNING_H1"))),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(h2.store.webhooks().await.unwrap().len(), 1);
}

fn cli(db: &Path, cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()])
        .args(args)
        .output()
        .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
}

#[tokio::test]
async fn hooks_are_audited_and_the_agent_removes_only_its_own() {
    let (h, server) = start("").await;
    let cfg = h.dir.path().join("config.toml");
    std::fs::write(&cfg, format!("{EXAMPLE_TOML}\n[notify]\n{WEBHOOKS}")).unwrap();
    let add = |name: &'static str, env: &'static str| {
        [
            "hook",
            "add",
            "--name",
            name,
            "--url",
            "https://hooks.example.com/human",
            "--secret-env",
            env,
            "--event",
            "resolve",
        ]
    };
    // The CLI refuses a secret outside the prefix too, naming the rule; nothing stored.
    let (code, _, err) = cli(&h.db, &cfg, &add("human-hook", "PGPASSWORD"));
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("hook_secret_env_prefix") && err.contains("secret_env"),
        "{err}"
    );
    assert!(h.store.webhooks().await.unwrap().is_empty());
    // A human registers one at the server's shell; the agent registers its own over REST.
    let (code, out, err) = cli(&h.db, &cfg, &add("human-hook", "INCIDENT_MCP_HOOK_HUMAN"));
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["added_by"], "cli");
    let (status, _) = send(&server, Method::POST, "/api/hooks", Some(hook("agent-hook", None))).await;
    assert_eq!(status, StatusCode::CREATED);
    let by: Vec<(String, Option<String>)> = h
        .store
        .webhooks()
        .await
        .unwrap()
        .into_iter()
        .map(|w| (w.name, w.added_by))
        .collect();
    assert_eq!(
        by,
        [
            ("agent-hook".into(), Some("rest".into())),
            ("human-hook".into(), Some("cli".into()))
        ]
    );

    // The agent's key cannot remove the human's hook: 403, audited, still there.
    let (status, body) = send(&server, Method::DELETE, "/api/hooks/human-hook", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().unwrap().contains("added by cli"), "{body}");
    let refusals = audit_rows(&h, "refusal").await;
    assert_eq!(refusals.len(), 1, "{refusals:#?}");
    assert_eq!(refusals[0].actor, "rest");
    assert_eq!(refusals[0].payload["reason"], "not_hook_owner");
    assert_eq!(refusals[0].payload["hook"], "human-hook");
    assert_eq!(h.store.webhooks().await.unwrap().len(), 2);
    // Its own it may remove; the CLI may remove any.
    let (status, body) = send(&server, Method::DELETE, "/api/hooks/agent-hook", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _) = send(&server, Method::POST, "/api/hooks", Some(hook("agent-hook-2", None))).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(cli(&h.db, &cfg, &["hook", "remove", "--name", "agent-hook-2"]).0, 0);
    assert_eq!(cli(&h.db, &cfg, &["hook", "remove", "--name", "human-hook"]).0, 0);
    assert!(h.store.webhooks().await.unwrap().is_empty());

    // Every add and remove is in the audit log with its principal.
    let rows: Vec<(String, String, String)> = audit_rows(&h, "hook")
        .await
        .into_iter()
        .map(|e| {
            let s = |k: &str| e.payload[k].as_str().unwrap_or_default().to_owned();
            (e.actor.clone(), s("op"), s("name"))
        })
        .collect();
    let row = |a: &str, o: &str, n: &str| (a.to_owned(), o.to_owned(), n.to_owned());
    assert_eq!(
        rows,
        [
            row("cli", "add", "human-hook"),
            row("rest", "add", "agent-hook"),
            row("rest", "remove", "agent-hook"),
            row("rest", "add", "agent-hook-2"),
            row("cli", "remove", "agent-hook-2"),
            row("cli", "remove", "human-hook"),
        ]
    );
    assert!(h.svc.audit_verify(&[]).await.unwrap().intact);
}
