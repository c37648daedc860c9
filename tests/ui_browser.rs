//! Issue 10, acceptance 2: the approval page in a real headless Chromium (Debian's `chromium`)
//! driven by Playwright for Python (`tests/ui/browser_test.py`, installed by
//! `tests/ui/install.sh` into `.ci-tools/`). The real binary serves `serve --http 127.0.0.1:0`
//! with approvers (a password hash made by `incident-mcp approver hash-password`) and real
//! allowlisted scripts, each of which creates a file named after its plan when it runs, so an
//! applied change is visible here. Plans are proposed over REST with the agent's key; one gets
//! an approval that already expired, written through the store. After the browser is done,
//! this test checks what happened: which scripts ran, what the agent sees over REST, and the
//! audit log.

use crate::common;
use crate::respond::POLICY;

use std::{
    io::{BufRead, BufReader},
    os::unix::fs::PermissionsExt,
    path::Path,
    process::{Child, Command, Stdio},
};

use chrono::{TimeDelta, Utc};
use common::{bin, secret};
use incident_mcp::{
    config::EXAMPLE_TOML,
    domain::{
        audit::{AuditKind, NewAuditEntry},
        plan::Approval,
        sha256_hex,
    },
    store::{SqliteStore, ports::*},
};
use serde_json::{Value, json};

/// The plans, by the scenario each is for (also the script id and the marker file's name).
const SCENARIOS: [&str; 5] = ["approve", "apply", "deny", "csrf", "expired"];
const ALICE_KEY_ENV: &str = "INCIDENT_MCP_TEST_BROWSER_ALICE";
/// The runbook of INC-000001's rule (`RUNBOOK` in browser_test.py).
const RUNBOOK: &str = "https://runbooks.example.com/egress?step=1&team=sre";

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

/// `incident-mcp approver hash-password`, the password on a pipe.
fn hash_password(password: &str) -> String {
    let out = assert_cmd::Command::new(bin())
        .args(["approver", "hash-password"])
        .write_stdin(format!("{password}\n"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    hash
}

/// The config: the built-in one, one script per scenario (allowlisted in `dev`), two approvers.
fn write_config(dir: &Path, out_dir: &Path) -> std::path::PathBuf {
    let body = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts/touch_named.sh")).unwrap();
    let script = dir.join("touch_named.sh");
    std::fs::write(&script, &body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    // INC-000001's rule carries a runbook, which the plan page shows as a plain link.
    let example = EXAMPLE_TOML.replace(
        "entity = \"pod/{namespace}/{pod}\"\n# A runbook",
        &format!("entity = \"pod/{{namespace}}/{{pod}}\"\nrunbook_url = \"{RUNBOOK}\"\n# A runbook"),
    );
    assert_ne!(example, EXAMPLE_TOML, "the example has the egress-spike rule");
    let mut toml = format!("{example}\n");
    for s in SCENARIOS {
        toml.push_str(&format!(
            "[[scripts]]\nid = 'web-{s}'\npath = '{}'\nsha256 = '{}'\nenv = {{ OUT_DIR = '{}' }}\n\
             args = [{{ name = 'marker', pattern = '^web-[a-z]+$', required = true }}]\n\n",
            script.display(),
            sha256_hex(&body),
            out_dir.display()
        ));
    }
    let ids: Vec<String> = SCENARIOS.iter().map(|s| format!("web-{s}")).collect();
    toml.push_str(&format!("{POLICY}scripts = {ids:?}\n"));
    toml.push_str(&format!(
        "[[approvers]]\nname = \"alice\"\nkey_env = \"{ALICE_KEY_ENV}\"\npassword_hash = \"{}\"\n",
        hash_password(&secret("browser-alice-password"))
    ));
    let path = dir.join("config.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// The real server on a free port; returns once it printed the address it listens on.
fn start(db: &Path, cfg: &Path) -> Server {
    let mut child = Command::new(bin())
        .args(["--db", db.to_str().unwrap(), "--config", cfg.to_str().unwrap()])
        .args(["serve", "--http", "127.0.0.1:0"])
        .env("OPENCLAW_API_KEY", secret("browser-agent-key"))
        .env(ALICE_KEY_ENV, secret("browser-alice-key"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let base = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the server exited before listening"
        );
        if let Some(rest) = line.split("listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    // Keeps reading so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in stderr.lines().map_while(Result::ok) {});
    Server { child, base }
}

async fn rest(http: &reqwest::Client, method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let mut rb = http
        .request(method.parse().unwrap(), url)
        .bearer_auth(secret("browser-agent-key"));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn approval_page_in_headless_chromium() {
    let root = env!("CARGO_MANIFEST_DIR");
    let install = Command::new("bash")
        .arg(format!("{root}/tests/ui/install.sh"))
        .output()
        .unwrap();
    assert!(
        install.status.success(),
        "tests/ui/install.sh failed: {}",
        String::from_utf8_lossy(&install.stderr)
    );
    let python = String::from_utf8(install.stdout).unwrap().trim().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let cfg = write_config(dir.path(), &out_dir);
    let db = dir.path().join("incidents.db");
    let server = start(&db, &cfg);
    let http = reqwest::Client::new();
    let base = server.base.clone();

    let (status, v) = rest(
        &http,
        "POST",
        format!("{base}/api/incident/detect"),
        Some(json!({"env": "dev"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let mut plans = serde_json::Map::new();
    let mut targets = serde_json::Map::new();
    for s in SCENARIOS {
        let body = json!({"method": "restore", "resource": format!("script/web-{s}"), "namespace": "shop",
                          "args": {"marker": format!("web-{s}")}});
        let (status, plan) = rest(
            &http,
            "POST",
            format!("{base}/api/incident/recover/INC-000001"),
            Some(body),
        )
        .await;
        assert_eq!(status, 202, "{plan}");
        plans.insert(s.into(), plan["plan_id"].clone());
        targets.insert(s.into(), plan["target"].clone());
    }
    let plan = |s: &str| plans[s].as_str().unwrap().to_owned();

    // An approval that expired five minutes ago, written through the store as a human's CLI
    // approval would be.
    let store = SqliteStore::open(&db).await.unwrap();
    let stored = store.get_plan(&plan("expired")).await.unwrap().unwrap();
    let past = Utc::now() - TimeDelta::minutes(10);
    let approval = Approval::grant(&stored.plan, "human:bob", past, TimeDelta::minutes(5)).unwrap();
    let entry = NewAuditEntry::new(
        "human:bob",
        AuditKind::Approval,
        json!({"plan_hash": approval.plan_hash}),
    )
    .plan(plan("expired"));
    store.save_approval(&approval, entry).await.unwrap();
    drop(store);

    let shots = std::env::var("INCIDENT_MCP_UI_SCREENSHOTS").ok();
    let mut cmd = Command::new(&python);
    cmd.arg(format!("{root}/tests/ui/browser_test.py"))
        .args(["--base", &base, "--chromium", "/usr/bin/chromium"])
        .args(["--plans", &Value::Object(plans.clone()).to_string()])
        .args(["--targets", &Value::Object(targets).to_string()])
        .env("UI_PASSWORD", secret("browser-alice-password"));
    if let Some(s) = &shots {
        cmd.args(["--screenshot", s]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "browser_test.py failed:\n{stdout}\n{stderr}");
    for check in [
        "ok a wrong password is refused",
        "ok the plan page shows target, changes, inverse, proposer and policy",
        "ok the plan page shows the incident's runbook as a plain link to the URL it shows",
        "ok a wrong name is refused",
        "ok approve & apply",
        "ok a form post without the CSRF token is refused (403) and changes nothing",
        "ok an expired approval is shown as expired",
        "ok sign-out: the queue redirects to sign-in again",
    ] {
        assert!(stdout.contains(check), "{check}:\n{stdout}");
    }
    assert!(stdout.trim_end().ends_with("15 passed, 0 failed"), "{stdout}");

    // What the browser did, as the server and the world see it.
    let ran: Vec<String> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(ran, ["web-apply"], "only the approved-and-applied plan's script ran");
    let view = |s: &str| rest(&http, "GET", format!("{base}/api/plans/{}", plan(s)), None);
    let (_, v) = view("deny").await;
    assert_eq!(
        (v["plan"]["status"].as_str(), v["denial"]["denied_by"].as_str()),
        (Some("denied"), Some("human:alice")),
        "{v}"
    );
    let (_, v) = view("approve").await;
    assert_eq!(
        (v["plan"]["status"].as_str(), v["approval"]["state"].as_str()),
        (Some("pending"), Some("valid")),
        "{v}"
    );
    let (_, v) = view("apply").await;
    assert_eq!(v["plan"]["status"], "applied", "{v}");
    let (_, v) = view("csrf").await;
    assert!(v["approval"].is_null(), "{v}");
    // The approved plan is the agent's to apply, once.
    let (status, v) = rest(
        &http,
        "POST",
        format!("{base}/api/plans/{}/apply", plan("approve")),
        None,
    )
    .await;
    assert_eq!((status, v["status"].as_str()), (200, Some("applied")), "{v}");
    assert!(out_dir.join("web-approve").exists());

    let store = SqliteStore::open(&db).await.unwrap();
    let entries = store.audit_recent(500).await.unwrap();
    let reasons: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind == "refusal")
        .filter_map(|e| e.payload["reason"].as_str())
        .collect();
    for r in ["sign_in_failed", "wrong_name", "csrf"] {
        assert!(reasons.contains(&r), "{r} not audited: {reasons:?}");
    }
}
