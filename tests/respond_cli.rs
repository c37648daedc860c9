//! `incident-mcp contain` / `recover` through the real binary: they print the plan and leave
//! it pending (exit 0), refuse clearly without a backend (exit 1), accept no approval flag;
//! the plan then runs through the real script backend once a human approved it.

use crate::common;
use crate::respond;

use std::{os::unix::fs::PermissionsExt, path::Path};

use assert_cmd::Command as Cmd;
use common::*;
use incident_mcp::{config::EXAMPLE_TOML, domain::sha256_hex};
use respond::*;
use serde_json::{Value, json};

/// A script that leaves a marker file, and the config allowlisting it as `web-restart` in `dev`.
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

fn run(db: &Path, cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Cmd::new(bin())
        .args(["--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()])
        .args(args)
        .env("USER", "alice")
        .output()
        .unwrap();
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
}

#[tokio::test]
async fn cli_plans_stay_pending_until_approved_and_then_run_the_real_script() {
    let sdir = tempfile::tempdir().unwrap();
    let extra = script_config(sdir.path());
    let cfg = config(&extra);
    let h = Harness::with_config(cfg.clone()).await;
    detect(&h).await;
    let cfg_path = sdir.path().join("config.toml");
    std::fs::write(&cfg_path, format!("{EXAMPLE_TOML}\n{extra}")).unwrap();
    let (db, dir) = (h.db.clone(), sdir.path().to_path_buf());
    let base = ["--env", "dev", "--id", "INC-000001"];

    // No cluster is configured: Kubernetes containment is refused clearly.
    let contain = [
        &base[..],
        &["--action", "isolate", "--resource", "web-1", "--namespace", "shop"],
    ]
    .concat();
    let (code, _, err) = run(&db, &cfg_path, &[&["contain"][..], &contain].concat());
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no cluster configured"), "{err}");
    // There is no approval flag.
    let (code, _, err) = run(&db, &cfg_path, &[&["contain"][..], &contain, &["--confirm"]].concat());
    assert_eq!(code, 1, "{err}");
    let (code, _, err) = run(
        &db,
        &cfg_path,
        &[
            "contain",
            "--env",
            "prod",
            "--id",
            "INC-000001",
            "--action",
            "isolate",
            "--resource",
            "web-1",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("belongs to environment dev"), "{err}");

    let recover = [
        &["recover"][..],
        &base,
        &[
            "--method",
            "restore",
            "--resource",
            "script/web-restart",
            "--namespace",
            "shop",
            "--format",
            "json",
        ],
    ]
    .concat();
    let (code, out, err) = run(&db, &cfg_path, &recover);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(plan["status"], "pending");
    assert_eq!(plan["changes"][0]["backend"], "script");
    assert_eq!(plan["changes"][0]["script"], "web-restart");
    assert_eq!(plan["dry_run"]["status"], "not-supported");
    let plan_id = plan["plan_id"].as_str().unwrap();
    assert!(!dir.join("marker").exists(), "planning ran nothing");

    // A plan the CLI made for `cli`, approved by another human, runs the real script once.
    let (code, _, err) = run(&db, &cfg_path, &["apply", plan_id]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("has no approval"), "{err}");
    assert!(!dir.join("marker").exists(), "nothing ran before the approval");
    let (code, out, err) = run(&db, &cfg_path, &["plans", "--pending", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let queue: Value = serde_json::from_str(&out).unwrap();
    assert!(
        queue["plans"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["plan_id"] == plan_id),
        "{queue}"
    );
    let mut approve = std::process::Command::new(bin());
    approve
        .args(["--db", db.to_str().unwrap(), "--config", cfg_path.to_str().unwrap()])
        .args(["approve", plan_id])
        .env("USER", "alice");
    let (code, _, err) = at_terminal(approve, plan["target"].as_str().unwrap());
    assert_eq!(code, 0, "{err}");
    let (code, table, err) = run(&db, &cfg_path, &["plans", "--pending", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        !table.contains(plan_id),
        "approved: no longer waiting for a human: {table}"
    );
    // What the approval looks like from the terminal.
    let (code, out, err) = run(&db, &cfg_path, &["plan", plan_id, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let view: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &view["plan"]["status"],
            &view["principal"],
            &view["approval"]["approver"]
        ),
        (&json!("pending"), &json!("cli"), &json!("human:alice"))
    );
    let (code, table, err) = run(&db, &cfg_path, &["plan", plan_id, "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        table.contains("approval: valid by human:alice") && table.contains("proposal by cli"),
        "{table}"
    );
    // Before the approval `apply` refuses; after it, `incident-mcp apply` runs the plan once.
    let (code, out, err) = run(&db, &cfg_path, &["apply", plan_id, "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let applied: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(applied["status"], "applied", "{applied}");
    assert_eq!(std::fs::read_to_string(dir.join("marker")).unwrap(), "restarted\n");
    let (code, out, err) = run(&db, &cfg_path, &["apply", plan_id]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.contains("already used") && err.lines().count() == 1, "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("marker")).unwrap(),
        "restarted\n",
        "ran once"
    );
    let (code, _, err) = run(&db, &cfg_path, &["audit", "verify"]);
    assert_eq!(code, 0, "{err}");
}
