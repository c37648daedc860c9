//! Issue 10: `--read-only` and `--disable-destructive` narrow REST too, not only MCP. A real
//! `serve --http` process over a database holding an approved REST plan (for an allowlisted
//! script that leaves a marker file) and a pending one: every mutating route answers 403
//! naming the mode, the refusals of destructive routes are audited, the script never ran,
//! and nothing was stored. Reads keep working.

use crate::common;
use crate::respond;

use std::{os::unix::fs::PermissionsExt, path::Path, process::Child};

use common::*;
use incident_mcp::{
    config::EXAMPLE_TOML,
    domain::sha256_hex,
    service::RecoverRequest,
    store::{OutboxStore, ports::*},
};
use reqwest::StatusCode;
use respond::*;
use serde_json::{Value, json};

const ALICE_ENV: &str = "INCIDENT_MCP_TEST_MODES_ALICE";

fn extra(dir: &Path) -> String {
    let body = format!("#!/bin/sh\necho ran > '{}'\n", dir.join("marker").display());
    let path = dir.join("restart.sh");
    std::fs::write(&path, &body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "[[approvers]]\nname = 'alice'\nkey_env = '{ALICE_ENV}'\n\n\
         [[scripts]]\nid = 'web-restart'\npath = '{}'\nsha256 = '{}'\n\n{}scripts = ['web-restart']\n",
        path.display(),
        sha256_hex(body.as_bytes()),
        POLICY
    )
}

struct Fixture {
    h: Harness,
    dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    approved: String,
    pending: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let extra = extra(dir.path());
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, format!("{EXAMPLE_TOML}\n{extra}")).unwrap();
    let mut h = Harness::with_config(config(&extra)).await;
    h.svc = h.svc.clone().with_backends(h.config_backends());
    detect(&h).await;
    let req = |ns: &str| -> RecoverRequest {
        serde_json::from_value(json!({"id": "INC-000001", "method": "restore",
                                      "resource": "script/web-restart", "namespace": ns}))
        .unwrap()
    };
    let approved = h.svc.propose_recover(&req("shop"), "rest").await.unwrap().plan_id;
    h.svc.approve_plan(&approved, "human:alice", 3600).await.unwrap();
    let mut other = req("shop");
    other.backup_id = Some("latest".into());
    let pending = h.svc.propose_recover(&other, "rest").await.unwrap().plan_id;
    assert_ne!(approved, pending);
    Fixture {
        h,
        dir,
        cfg,
        approved,
        pending,
    }
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Fixture {
    fn serve(&self, flag: &str) -> Server {
        let mut cmd = std::process::Command::new(bin());
        cmd.args([
            "--db",
            self.h.db.to_str().unwrap(),
            "--config",
            self.cfg.to_str().unwrap(),
        ])
        .args(["serve", "--http", "127.0.0.1:0", flag, "--no-response-tasks"])
        .env(ALICE_ENV, secret("modes-alice"));
        let (child, url) = spawn_http_server(cmd, |_| {});
        Server {
            child,
            base: url.trim_end_matches("/mcp").to_owned(),
        }
    }

    fn script_ran(&self) -> bool {
        self.dir.path().join("marker").exists()
    }
}

async fn send(method: &str, url: String, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
    let mut rb = reqwest::Client::new().request(method.parse().unwrap(), url);
    if let Some(k) = key {
        rb = rb.bearer_auth(k);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

#[tokio::test]
async fn read_only_refuses_every_mutating_rest_route_and_runs_nothing() {
    let f = fixture().await;
    let plans = f.h.store.recent_plans(None, 50).await.unwrap().len();
    let audit_before = audit(&f.h).await.len();
    let s = f.serve("--read-only");
    let alice = secret("modes-alice");
    let api = |p: &str| format!("{}{p}", s.base);
    let contain = json!({"action": "isolate", "resource": "web-1", "namespace": "shop"});
    let hook = json!({"name": "ops2", "url": "https://hooks.example.com/x", "events": ["detect"]});
    let refused = [
        send("PUT", api("/api/incident/contain/INC-000001"), None, Some(contain)).await,
        send("POST", api(&format!("/api/plans/{}/apply", f.approved)), None, None).await,
        send(
            "POST",
            api(&format!("/api/plans/{}/approve", f.pending)),
            Some(&alice),
            None,
        )
        .await,
        send("POST", api("/api/hooks"), None, Some(hook)).await,
        send("POST", api("/api/incident/ack/INC-000001"), None, None).await,
        send(
            "POST",
            api("/api/incident/recover/INC-000001"),
            None,
            Some(json!({"method": "revert"})),
        )
        .await,
    ];
    for (i, (status, body)) in refused.iter().enumerate() {
        assert_eq!(*status, StatusCode::FORBIDDEN, "route {i}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("the server runs with --read-only"),
            "route {i}: {body}"
        );
    }
    // Reads still work.
    let (status, body) = send("GET", api("/api/incidents"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send("GET", api(&format!("/api/plans/{}", f.approved)), None, None).await;
    assert_eq!(status, StatusCode::OK);

    assert!(!f.script_ran(), "the approved script did not run");
    assert_eq!(
        f.h.store.recent_plans(None, 50).await.unwrap().len(),
        plans,
        "no plan stored"
    );
    assert!(f.h.store.latest_approval(&f.pending).await.unwrap().is_none());
    assert!(f.h.store.webhooks().await.unwrap().is_empty());
    let approval = f.h.store.latest_approval(&f.approved).await.unwrap().unwrap();
    assert!(approval.used_at.is_none(), "the approval was not spent");
    let log = audit(&f.h).await;
    let new: Vec<(&str, &str)> = log[audit_before..]
        .iter()
        .map(|e| (e.kind.as_str(), e.payload["reason"].as_str().unwrap_or_default()))
        .collect();
    assert_eq!(
        new,
        [
            ("refusal", "read_only"),
            ("refusal", "read_only"),
            ("refusal", "read_only"),
            ("refusal", "read_only")
        ],
        "contain, apply, approve and recover are audited"
    );
    let status =
        f.h.svc
            .get(incident_mcp::service::GetRequest {
                id: "INC-000001".parse().unwrap(),
            })
            .await
            .unwrap();
    assert_eq!(status.incident.status.to_string(), "open", "not acknowledged");
}

#[tokio::test]
async fn disable_destructive_refuses_contain_recover_apply_and_approve_over_rest() {
    let f = fixture().await;
    let s = f.serve("--disable-destructive");
    let alice = secret("modes-alice");
    let api = |p: &str| format!("{}{p}", s.base);
    let contain = json!({"action": "isolate", "resource": "web-1", "namespace": "shop"});
    let refused = [
        send("PUT", api("/api/incident/contain/INC-000001"), None, Some(contain)).await,
        send(
            "POST",
            api("/api/incident/recover/INC-000001"),
            None,
            Some(json!({"method": "revert"})),
        )
        .await,
        send("POST", api(&format!("/api/plans/{}/apply", f.approved)), None, None).await,
        send(
            "POST",
            api(&format!("/api/plans/{}/approve", f.pending)),
            Some(&alice),
            None,
        )
        .await,
    ];
    for (i, (status, body)) in refused.iter().enumerate() {
        assert_eq!(*status, StatusCode::FORBIDDEN, "route {i}: {body}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or_default()
                .contains("--disable-destructive"),
            "route {i}: {body}"
        );
    }
    assert!(!f.script_ran());
    assert!(f.h.store.latest_approval(&f.pending).await.unwrap().is_none());
    // What is not destructive still works.
    let (status, body) = send("POST", api("/api/incident/ack/INC-000001"), None, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reasons: Vec<String> = refusals(&f.h).await;
    assert_eq!(
        reasons.iter().filter(|r| *r == "destructive_disabled").count(),
        4,
        "{reasons:?}"
    );
}
