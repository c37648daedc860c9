//! Issue 10: `incident-mcp approve <plan-id>` refusals are audited. Piped stdin, no stdin, a
//! wrong name typed at a real pseudo-terminal, an unknown plan and an invalid validity each
//! exit 1, leave one `refusal` entry naming the plan, its incident and a reason code, and
//! approve nothing.

use crate::common;
use crate::respond;

use std::{os::unix::fs::PermissionsExt, path::Path, process::Stdio};

use assert_cmd::Command as Cmd;
use common::*;
use incident_mcp::{
    config::EXAMPLE_TOML,
    domain::sha256_hex,
    service::{PlanReport, RecoverRequest},
    store::ports::*,
};
use respond::*;
use serde_json::{Value, json};

/// A script that leaves a marker file, and the policy allowlisting it as `web-restart` in `dev`.
fn script_config(dir: &Path) -> String {
    let body = format!("#!/bin/sh\necho restarted > '{}'\n", dir.join("marker").display());
    let path = dir.join("restart.sh");
    std::fs::write(&path, &body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "[[scripts]]\nid = 'web-restart'\npath = '{}'\nsha256 = '{}'\n\n{}scripts = ['web-restart']\n",
        path.display(),
        sha256_hex(body.as_bytes()),
        POLICY
    )
}

struct Setup {
    h: Harness,
    dir: tempfile::TempDir,
    cfg: std::path::PathBuf,
    plan: PlanReport,
}

async fn pending_script_plan() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let extra = script_config(dir.path());
    let cfg = dir.path().join("config.toml");
    std::fs::write(&cfg, format!("{EXAMPLE_TOML}\n{extra}")).unwrap();
    let mut h = Harness::with_config(config(&extra)).await;
    let backends = h.config_backends();
    h.svc = h.svc.clone().with_backends(backends);
    detect(&h).await;
    let req: RecoverRequest = serde_json::from_value(json!({
        "id": "INC-000001", "method": "restore", "resource": "script/web-restart", "namespace": "shop"
    }))
    .unwrap();
    let plan = h.svc.propose_recover(&req, "mcp").await.unwrap();
    Setup { h, dir, cfg, plan }
}

impl Setup {
    fn cmd(&self, args: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(bin());
        c.args([
            "--db",
            self.h.db.to_str().unwrap(),
            "--config",
            self.cfg.to_str().unwrap(),
        ])
        .args(args)
        .env("USER", "alice");
        c
    }

    /// The refusal entries written by the CLI's approver, oldest first.
    fn cli_refusals(&self) -> Vec<Value> {
        let out = Cmd::from_std(self.cmd(&["audit", "list", "--limit", "200", "--format", "json"]))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        let list: Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut rows: Vec<Value> = list["entries"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "refusal" && e["actor"] == "human:alice")
            .cloned()
            .collect();
        rows.reverse();
        rows
    }
}

#[tokio::test]
async fn every_refused_cli_approval_is_audited_and_approves_nothing() {
    let s = pending_script_plan().await;
    let id = s.plan.plan_id.as_str();

    // Piped stdin: an agent's tool call types the name into a pipe.
    let out = Cmd::from_std(s.cmd(&["approve", id]))
        .write_stdin(format!("{}\n", s.plan.target))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("stdin is not a terminal"), "{err}");
    // No stdin at all.
    let out = s.cmd(&["approve", id]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    // A human at a real terminal types another name.
    let (code, _, err) = at_terminal(s.cmd(&["approve", id]), "web-restart-2");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not the target"), "{err}");
    // An approval validity out of range, and a plan that does not exist.
    let (code, _, err) = at_terminal(s.cmd(&["approve", id, "--ttl-secs", "0"]), "web-restart");
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = at_terminal(s.cmd(&["approve", "plan-0000000000000000"]), "web-restart");
    assert_eq!(code, 1, "{err}");

    let rows = s.cli_refusals();
    let reasons: Vec<&str> = rows.iter().map(|e| e["payload"]["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "no_terminal",
            "no_terminal",
            "wrong_name",
            "invalid_ttl_secs",
            "unknown_plan"
        ],
        "{rows:#?}"
    );
    for row in &rows[..4] {
        assert_eq!(row["plan_id"], id, "{row}");
        assert_eq!(row["incident_id"], "INC-000001", "{row}");
        assert_eq!(row["payload"]["by"], "cli_approve", "{row}");
    }
    assert_eq!(rows[4]["plan_id"], "plan-0000000000000000");
    assert!(rows[4]["incident_id"].is_null());

    // Nothing was approved and nothing ran.
    assert!(s.h.store.latest_approval(id).await.unwrap().is_none());
    assert!(
        !audit(&s.h).await.iter().any(|e| e.kind == "approval"),
        "no approval entry"
    );
    assert!(!s.dir.path().join("marker").exists());
    assert!(s.h.svc.audit_verify(&[]).await.unwrap().intact);

    // The right name at a terminal still approves, and that is not a refusal.
    let (code, _, err) = at_terminal(s.cmd(&["approve", id]), &s.plan.target);
    assert_eq!(code, 0, "{err}");
    assert_eq!(s.cli_refusals().len(), 5);
}
