//! Issue 4, acceptance 3: detect → analyze → contain (approved) → recover over real MCP, with
//! the audit chain verified afterwards and an edited row detected. In-process with a client
//! that shows a confirmation dialog (both protocol revisions), and over HTTP with a client
//! without one, approved out of band by the real `incident-mcp approve` command.

use crate::common;
use crate::respond;

use assert_cmd::Command as Cmd;
use common::*;
use incident_mcp::{cluster::Change, mcp::ToolPolicy};
use respond::*;
use serde_json::{Value, json};

fn changes(v: &Value) -> Vec<Change> {
    serde_json::from_value(v.clone()).unwrap()
}

#[tokio::test]
async fn contain_and_revert_confirmed_in_the_dialog_then_the_audit_chain_detects_an_edit() {
    let (h, b) = setup().await;
    let dialog = DialogClient::new(Human::gets_code(&h));
    let asked = dialog.asked.clone();
    let client = h.duplex_client(ToolPolicy::default(), Proto::Legacy, dialog).await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let a = ok(&call(&client, "incident_analyze", json!({"id": "INC-000001", "depth": 1})).await);
    assert_eq!(a["incident"]["id"], "INC-000001");

    let contained = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
    assert_eq!(contained["status"], "applied", "{contained}");
    let prompt = asked.lock().unwrap()[0].clone();
    assert!(prompt.contains(contained["plan_id"].as_str().unwrap()) && prompt.contains("quarantine-web-1"));
    let recovered = ok(&call(
        &client,
        "incident_recover",
        json!({"id": "INC-000001", "method": "revert"}),
    )
    .await);
    assert_eq!(recovered["status"], "applied", "{recovered}");
    // Exactly the planned changes, then exactly their recorded inverse.
    assert_eq!(
        b.applied(),
        [changes(&contained["changes"]), changes(&contained["inverse"])]
    );
    assert_eq!(recovered["changes"], contained["inverse"]);
    let status = ok(&call(&client, "incident_get", json!({"id": "INC-000001"})).await);
    assert_eq!(status["incident"]["status"], "recovered");
    // Nothing left to revert.
    let again = err_text(
        &call(
            &client,
            "incident_recover",
            json!({"id": "INC-000001", "method": "revert"}),
        )
        .await,
    );
    assert!(again.contains("no containment in place"), "{again}");
    client.cancel().await.unwrap();

    let log = audit(&h).await;
    let kinds: Vec<&str> = log.iter().map(|e| e.kind.as_str()).collect();
    // The approver got a code (issued, then used in the dialog), which approved as them.
    let flow = [
        "proposal",
        "code",
        "code",
        "approval",
        "intent",
        "application",
        "outcome",
    ];
    assert_eq!(kinds[..7], flow);
    assert_eq!(kinds[7..14], flow);
    assert_eq!(kinds[14], "revert");
    assert_eq!(log[3].actor, "human:alice");
    assert_eq!(log[5].payload["destructive"], true);
    assert_eq!(
        log[12].payload["destructive"], false,
        "a revert does not spend the budget"
    );
    let v = h.svc.audit_verify(&[]).await.unwrap();
    assert!(v.intact, "{}", v.summary);
    assert_eq!(v.entries, log.len() as u64);

    tamper(
        &h.db,
        "DROP TRIGGER audit_log_no_update; UPDATE audit_log SET actor = 'human:mallory' WHERE seq = 2",
    )
    .await;
    let v = h.svc.audit_verify(&[]).await.unwrap();
    assert!(!v.intact);
    assert_eq!(v.first_bad_seq, Some(2), "{}", v.summary);
}

#[tokio::test]
async fn a_2026_07_28_client_confirms_through_an_input_required_round_trip() {
    let (h, b) = setup().await;
    let client = respond::confirming_client(&h, Proto::Modern, "web-1").await;
    let r = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
    assert_eq!(r["status"], "applied", "{r}");
    assert_eq!(b.apply_count(), 1);
    let declined = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, DialogClient::new(Human::Declines))
        .await;
    let r = ok(&call(&declined, "incident_contain", contain_args("web-2", "shop")).await);
    assert_eq!(r["status"], "not_applied", "{r}");
    assert_eq!(b.apply_count(), 1);
    // Without the elicitation capability the plan stays pending.
    let plain = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await;
    let r = ok(&call(&plain, "incident_contain", contain_args("web-2", "shop")).await);
    assert_eq!(r["status"], "pending", "{r}");
    assert_eq!(b.apply_count(), 1);
    client.cancel().await.unwrap();
    declined.cancel().await.unwrap();
    plain.cancel().await.unwrap();
}

#[tokio::test]
async fn over_http_a_pending_plan_applies_after_the_approve_command() {
    let (h, b) = setup().await;
    let server = h.http_server(ToolPolicy::default()).await;
    let client = server.client(None, Proto::Legacy, PlainClient).await;
    let pending = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
    assert_eq!(pending["status"], "pending");
    assert_eq!(b.apply_count(), 0);
    let plan_id = pending["plan_id"].as_str().unwrap().to_owned();
    let refused = err_text(&call(&client, "incident_apply", json!({"plan_id": plan_id})).await);
    assert!(refused.contains("has no approval"), "{refused}");

    let mut approve = std::process::Command::new(bin());
    approve
        .args(["--db", h.db.to_str().unwrap(), "approve", &plan_id, "--format", "json"])
        .env("USER", "alice");
    let (code, out, err) = at_terminal(approve, "web-1");
    assert_eq!(code, 0, "{err}");
    let approval: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(approval["approver"], "human:alice");

    let applied = ok(&call(&client, "incident_apply", json!({"plan_id": plan_id})).await);
    assert_eq!(applied["status"], "applied");
    assert_eq!(b.applied(), [changes(&pending["changes"])]);
    let replay = err_text(&call(&client, "incident_apply", json!({"plan_id": plan_id})).await);
    assert!(replay.contains("already used"), "{replay}");
    assert_eq!(b.apply_count(), 1, "applying twice changes the world once");
    client.cancel().await.unwrap();

    let out = Cmd::new(bin())
        .args(["--db", h.db.to_str().unwrap(), "audit", "verify"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
