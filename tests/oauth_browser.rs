//! Issue 15, acceptance 3 (the browser half): an approver signs in to the approval page with
//! OpenID Connect in a real headless Chromium (Debian's `chromium`, driven by Playwright for
//! Python: `tests/oauth/browser_sign_in.py`), at the login form of a real provider (npm
//! `oidc-provider`), and decides a plan as that approver; an identity that is no approver's is
//! refused. This test proposes the plan over REST with the agent's key beforehand and checks
//! afterwards what the server recorded.

use std::process::Command;

use crate::oidc_provider::{site, site_agent_key};

use incident_mcp::store::{SqliteStore, ports::AuditStore};
use serde_json::{Value, json};

async fn rest(method: &str, url: String, body: Option<Value>) -> (u16, Value) {
    let mut rb = reqwest::Client::new()
        .request(method.parse().unwrap(), url)
        .bearer_auth(site_agent_key());
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let resp = rb.send().await.unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_approver_signs_in_with_oidc_in_headless_chromium() {
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

    let site = site("[[approvers]]\nname = 'alice'\noidc_subject = 'alice'\n").await;
    let base = site.server.base.clone();
    let (status, v) = rest(
        "POST",
        format!("{base}/api/incident/detect"),
        Some(json!({"env": "dev"})),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, plan) = rest(
        "PUT",
        format!("{base}/api/incident/contain/INC-000001"),
        Some(json!({"action": "isolate", "resource": "web-7", "namespace": "shop"})),
    )
    .await;
    assert_eq!(status, 202, "{plan}");
    let plan_id = plan["plan_id"].as_str().unwrap().to_owned();

    let mut cmd = Command::new(&python);
    cmd.arg(format!("{root}/tests/oauth/browser_sign_in.py"))
        .args(["--base", &base, "--issuer", &site.provider.issuer, "--plan", &plan_id])
        .args(["--chromium", "/usr/bin/chromium"]);
    if let Ok(dir) = std::env::var("INCIDENT_MCP_UI_SCREENSHOTS") {
        cmd.args(["--screenshot", &dir]);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser_sign_in.py failed:\n{stdout}\n{stderr}\nprovider log:\n{}",
        site.provider.log_text()
    );
    for check in [
        "ok the sign-in page offers single sign-on",
        "ok single sign-on as alice at the provider's login form lands on the queue as alice",
        "ok the session cookie is the page's own (HttpOnly, SameSite=Strict, Path=/ui)",
        "ok alice denies the plan through the page (CSRF-checked form)",
        "ok sign-out ends the session",
        "ok an identity that is no approver's is refused",
    ] {
        assert!(stdout.contains(check), "{check}:\n{stdout}");
    }
    assert!(stdout.trim_end().ends_with("6 passed, 0 failed"), "{stdout}");

    // What the server recorded: the denial is alice's, and mallory's attempt is audited.
    let (_, v) = rest("GET", format!("{base}/api/plans/{plan_id}"), None).await;
    assert_eq!(
        (v["plan"]["status"].as_str(), v["denial"]["denied_by"].as_str()),
        (Some("denied"), Some("human:alice")),
        "{v}"
    );
    let store = SqliteStore::open(&site.db).await.unwrap();
    let log = store.audit_recent(200).await.unwrap();
    let unmapped: Vec<&Value> = log
        .iter()
        .filter(|e| e.kind == "refusal" && e.payload["reason"] == "oidc_unmapped")
        .map(|e| &e.payload)
        .collect();
    assert_eq!(unmapped.len(), 1, "{unmapped:?}");
    assert_eq!(unmapped[0]["subject"], "mallory");
}
