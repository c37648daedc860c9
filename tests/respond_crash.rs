//! Issue 4, acceptance 5 (crash): `kill -9` of the real server while the backend runs (between
//! the `intent` and the `outcome` audit entries) leaves an audit trail that says exactly that,
//! and the restarted server reconciles it. The backend is a real allowlisted script that
//! reports through one fifo that it started and then blocks on another.

use crate::common;
use crate::respond;

use std::{
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command},
};

use assert_cmd::Command as Cmd;
use common::*;
use incident_mcp::{config::EXAMPLE_TOML, domain::sha256_hex};
use respond::*;
use rmcp::{ServiceExt, transport::StreamableHttpClientTransport};
use serde_json::{Value, json};

struct Server(Child, String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve --http 127.0.0.1:0 EXTRA`, once it announced its address (after start-up
/// reconciliation, unless EXTRA turns it off).
fn start(db: &Path, config: &Path, extra: &[&str]) -> Server {
    let mut cmd = Command::new(bin());
    cmd.args(["--db", db.to_str().unwrap(), "--config", config.to_str().unwrap()])
        .args(["serve", "--http", "127.0.0.1:0"])
        .args(extra);
    let (child, url) = spawn_http_server(cmd, |_| {});
    Server(child, url)
}

fn mkfifo(p: &Path) {
    assert!(Command::new("mkfifo").arg(p).status().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_intent_and_outcome_is_reconciled_on_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (started, release) = (dir.path().join("started"), dir.path().join("release"));
    mkfifo(&started);
    mkfifo(&release);
    let body = format!(
        "#!/bin/sh\necho started > '{}'\nread x < '{}'\n",
        started.display(),
        release.display()
    );
    let script = dir.path().join("hang.sh");
    std::fs::write(&script, &body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "[[scripts]]\nid = 'web-hang'\npath = '{}'\nsha256 = '{}'\ntimeout_secs = 600\n\n{POLICY}scripts = ['web-hang']\n",
        script.display(),
        sha256_hex(body.as_bytes())
    );
    let cfg_path = dir.path().join("config.toml");
    std::fs::write(&cfg_path, format!("{EXAMPLE_TOML}\n{extra}")).unwrap();
    let h = Harness::with_config(config(&extra)).await;
    detect(&h).await;

    let server = start(&h.db, &cfg_path, &[]);
    let client = PlainClient
        .serve(StreamableHttpClientTransport::from_uri(server.1.clone()))
        .await
        .unwrap();
    let args = json!({"id": "INC-000001", "method": "restore", "resource": "script/web-hang", "namespace": "shop"});
    let plan = ok(&call(&client, "incident_recover", args).await);
    assert_eq!(plan["status"], "pending", "{plan}");
    let plan_id = plan["plan_id"].as_str().unwrap().to_owned();
    let mut approve = std::process::Command::new(bin());
    approve.args(["--db", h.db.to_str().unwrap(), "approve", &plan_id]);
    let (code, _, err) = at_terminal(approve, plan["target"].as_str().unwrap());
    assert_eq!(code, 0, "{err}");

    let peer = client.peer().clone();
    let id = plan_id.clone();
    let mut in_flight = tokio::spawn(async move {
        let p = rmcp::model::CallToolRequestParams::new("incident_apply").with_arguments(args_of(&id));
        peer.call_tool(p).await
    });
    // Blocks until the script runs: the intent entry was committed before it started.
    let fifo = started.clone();
    let mut reader = tokio::task::spawn_blocking(move || std::fs::read_to_string(fifo).unwrap());
    tokio::select! {
        said = &mut reader => assert_eq!(said.unwrap(), "started\n"),
        r = &mut in_flight => {
            std::fs::write(&started, "").unwrap(); // unblock the reader
            panic!("incident_apply ended before the script started: {r:?}");
        }
    }
    drop(server); // SIGKILL
    // The client would keep trying to resume the stream of a server that is gone.
    in_flight.abort();

    let log = audit(&h).await;
    let last = log.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.plan_id.as_deref()),
        ("intent", Some(plan_id.as_str()))
    );
    assert!(!log.iter().any(|e| e.kind == "outcome"), "the crash left no outcome");

    // A replica started with --no-response-tasks leaves reconciliation to the one that runs them.
    let replica = start(&h.db, &cfg_path, &["--no-response-tasks"]);
    assert_eq!(
        audit(&h).await.last().map(|e| e.kind.clone()).as_deref(),
        Some("intent")
    );
    drop(replica);
    let _restarted = start(&h.db, &cfg_path, &[]);
    let log = audit(&h).await;
    let tail: Vec<&str> = log[log.len() - 2..].iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(tail, ["intent", "reconcile"]);
    let rec = log.last().unwrap();
    assert_eq!(rec.plan_id.as_deref(), Some(plan_id.as_str()));
    assert_eq!(rec.actor, incident_mcp::service::RECONCILE_ACTOR);
    assert!(
        rec.payload["message"]
            .as_str()
            .unwrap()
            .contains("may or may not be in place")
    );
    let out = Cmd::new(bin())
        .args(["--db", h.db.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    // Let the orphaned script finish.
    tokio::task::spawn_blocking(move || std::fs::write(release, "go\n").unwrap())
        .await
        .unwrap();
}

fn args_of(plan_id: &str) -> rmcp::model::JsonObject {
    let v: Value = json!({ "plan_id": plan_id });
    v.as_object().cloned().unwrap()
}
