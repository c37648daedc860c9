//! Issue 13 item 1: a process without a target's secret leaves every queued row queued (the
//! attempt is recorded, the row is not dead), and `outbox retry ID|--dead` requeues dead rows
//! the same way on the CLI (the real binary), REST and MCP, audited. Receivers are wiremock
//! servers (plain HTTP on loopback, `allow_insecure_loopback`).

use crate::common;
use crate::notify_common;

use std::process::Command;

use common::{Harness, Proto, bin, call, err_text, modern_client, ok, secret};
use incident_mcp::{
    Caller, IncidentService,
    config::EXAMPLE_TOML,
    mcp::ToolPolicy,
    service::{NotifyRequest, RetryTarget},
    store::{AuditStore, OutboxStatus, OutboxStore},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{method, path},
};

const SECRET_VAR: &str = "OUTBOX_RETRY_OPS_SECRET";
const NOT_HERE: &str = "secret variable OUTBOX_RETRY_OPS_SECRET is not set in this process";

/// `ops` (detect hooks and explicit notifications) answers 202; `gone` answers 410.
async fn receiver() -> MockServer {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ok"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&rx)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&rx)
        .await;
    rx
}

fn notify_toml(rx: &MockServer) -> String {
    format!(
        "[notify]\nallow_insecure_loopback = true\nretry_base_secs = 5\n\
         [[notify.webhooks]]\nname = \"ops\"\nurl = \"{0}/ok\"\nsecret_env = \"{SECRET_VAR}\"\nevents = [\"detect\"]\n\
         [[notify.webhooks]]\nname = \"gone\"\nurl = \"{0}/gone\"\nsecret_env = \"{SECRET_VAR}\"\n",
        rx.uri()
    )
}

async fn harness(rx: &MockServer, api_key: Option<&str>) -> Harness {
    let mut cfg = notify_common::config(&notify_toml(rx));
    cfg.api_key = api_key.map(|k| secrecy::SecretString::from(k.to_owned()));
    let h = Harness::with_config(cfg).await;
    std::fs::write(
        h.dir.path().join("notify.toml"),
        format!("{EXAMPLE_TOML}\n{}", notify_toml(rx)),
    )
    .unwrap();
    h
}

/// The binary on the harness's database and config, with or without the target's secret.
fn cli(h: &Harness, args: &[&str], with_secret: bool) -> (i32, Value, String) {
    let mut cmd = Command::new(bin());
    cmd.arg("--db")
        .arg(&h.db)
        .arg("--config")
        .arg(h.dir.path().join("notify.toml"))
        .args(args)
        .env_remove(SECRET_VAR);
    if with_secret {
        cmd.env(SECRET_VAR, secret("outbox-retry-hook"));
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(&stdout).unwrap_or(Value::String(stdout)),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn notify(svc: &IncidentService, target: &str) -> i64 {
    let req = NotifyRequest {
        id: "INC-000001".parse().unwrap(),
        service: target.into(),
        message: Some("hi".into()),
    };
    svc.notify(req, Caller::CLI).await.unwrap().outbox_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_without_the_secret_leaves_every_row_queued_for_one_that_has_it() {
    let rx = receiver().await;
    let h = harness(&rx, None).await;
    // Detection queues `detect` rows for `ops`: rows of other events, queued before.
    notify_common::first_incident(&h).await;
    let detect_rows = h.store.outbox_rows(None, 100).await.unwrap();
    assert!(detect_rows.len() >= 2, "{detect_rows:?}");

    // `notify` from a shell without the server's secret: exit 2, its own row stays queued.
    let (code, out, err) = cli(
        &h,
        &["notify", "--id", "INC-000001", "--service", "ops", "--message", "hi"],
        false,
    );
    assert_eq!(code, 2, "{err}");
    let own = out["queued"]["outbox_id"].as_i64().unwrap();
    // Its row waits behind the incident's earlier `detect` row for the same target.
    assert!(
        err.contains(&format!(
            "notification {own} not delivered (pending): not attempted yet: it waits for an earlier notification"
        )),
        "{err}"
    );
    let rows = h.store.outbox_rows(None, 100).await.unwrap();
    assert_eq!(rows.len(), detect_rows.len() + 1);
    for r in &rows {
        assert_eq!(
            r.status,
            OutboxStatus::Pending,
            "row {} ({}) must stay queued",
            r.id,
            r.event
        );
        if r.id == own {
            assert_eq!(r.attempts, 0);
            continue;
        }
        assert_eq!(r.attempts, 1, "row {}: the attempt is recorded", r.id);
        assert_eq!(r.last_error.as_deref(), Some(NOT_HERE), "row {}", r.id);
        assert!(
            r.next_attempt_at > r.created_at,
            "row {}: a next attempt is scheduled",
            r.id
        );
        let attempts = h.store.outbox_attempts(r.id).await.unwrap();
        assert_eq!(
            (attempts.len(), attempts[0].outcome.as_str()),
            (1, "retry"),
            "row {}",
            r.id
        );
    }
    // Run again with the incident's own row first in line: `notify --drain` without the secret.
    let (code, out, err) = cli(&h, &["notify", "--drain"], false);
    assert_eq!((code, &out["delivery"]["dead"]), (0, &json!(0)), "{err}");
    assert!(
        h.store
            .outbox_rows(Some(OutboxStatus::Dead), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(rx.received_requests().await.unwrap().is_empty(), "nothing was sent");

    // A process that has the secret (here: a dispatcher at the time the rows are due) delivers them all.
    let clock = notify_common::ManualClock::new();
    clock.set(rows.iter().map(|r| r.next_attempt_at).max().unwrap());
    let d = notify_common::dispatcher(&h, &[(SECRET_VAR, &secret("outbox-retry-hook"))], clock);
    let report = d.drain().await.unwrap();
    assert_eq!((report.sent, report.dead), (rows.len(), 0), "{report:?}");
    let sent = h.store.outbox_rows(Some(OutboxStatus::Sent), 100).await.unwrap();
    assert_eq!(sent.len(), rows.len());
    assert_eq!(rx.received_requests().await.unwrap().len(), rows.len());
}

/// However many attempts a process without the secret makes, the row never goes dead for it.
#[tokio::test]
async fn a_missing_secret_never_dead_letters_even_past_max_attempts() {
    let rx = receiver().await;
    let h = harness(&rx, None).await;
    notify_common::first_incident(&h).await;
    let id = notify(&h.svc, "gone").await;
    let clock = notify_common::ManualClock::new();
    let d = notify_common::dispatcher(&h, &[], clock.clone());
    let max = h.svc.config().notify.max_attempts as i64;
    for _ in 0..max + 2 {
        clock.advance(3600);
        d.drain().await.unwrap();
    }
    let row = h.store.outbox_row(id).await.unwrap().unwrap();
    assert_eq!((row.status, row.attempts), (OutboxStatus::Pending, max + 2));
    assert!(rx.received_requests().await.unwrap().is_empty());
}

/// Dead rows `ids` (two through `gone`, which answers 410) and one sent row.
async fn dead_rows(h: &Harness) -> (Vec<i64>, i64) {
    notify_common::first_incident(h).await;
    let a = notify(&h.svc, "gone").await;
    let b = notify(&h.svc, "gone").await;
    let sent = notify(&h.svc, "ops").await;
    let clock = notify_common::ManualClock::new();
    let d = notify_common::dispatcher(h, &[(SECRET_VAR, &secret("outbox-retry-hook"))], clock);
    d.drain().await.unwrap();
    let dead: Vec<i64> = h
        .store
        .outbox_rows(Some(OutboxStatus::Dead), 100)
        .await
        .unwrap()
        .iter()
        .map(|r| r.id)
        .rev()
        .collect();
    assert_eq!(dead, [a, b]);
    (dead, sent)
}

async fn outbox_audit(h: &Harness) -> Vec<(String, Value)> {
    h.store
        .audit_recent(100)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "outbox")
        .map(|e| (e.actor, e.payload))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_retry_on_the_cli() {
    let rx = receiver().await;
    let h = harness(&rx, None).await;
    let (dead, _) = dead_rows(&h).await;
    let (a, b) = (dead[0], dead[1]);
    let (code, out, err) = cli(&h, &["outbox", "retry", &a.to_string()], false);
    assert_eq!(code, 0, "{err}");
    assert_eq!((&out["requeued"], &out["count"]), (&json!([a]), &json!(1)), "{out}");
    let row = h.store.outbox_row(a).await.unwrap().unwrap();
    assert_eq!(
        (row.status, row.attempts),
        (OutboxStatus::Pending, 1),
        "attempts are kept"
    );
    // Not dead any more: 409-like refusal (exit 1), nothing changed.
    let (code, _, err) = cli(&h, &["outbox", "retry", &a.to_string()], false);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!(
            "outbox row {a} is pending, not dead: only dead rows are retried; nothing was changed"
        )),
        "{err}"
    );
    let (code, _, err) = cli(&h, &["outbox", "retry", "999"], false);
    assert_eq!(code, 1);
    assert!(err.contains("no outbox row 999"), "{err}");
    let (code, _, err) = cli(&h, &["outbox", "retry"], false);
    assert_eq!(code, 1, "{err}");
    let (code, out, err) = cli(&h, &["outbox", "retry", "--dead"], false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out["requeued"], json!([b]), "{out}");
    let (code, out, _) = cli(&h, &["outbox", "retry", "--dead"], false);
    assert_eq!((code, &out["count"]), (0, &json!(0)), "none dead: nothing requeued");
    assert_eq!(
        outbox_audit(&h).await,
        [
            (
                "cli".to_owned(),
                json!({"op": "retry", "requested": "all_dead", "rows": [b]})
            ),
            ("cli".to_owned(), json!({"op": "retry", "requested": a, "rows": [a]})),
        ],
        "one entry per requeue, none for refusals or empty requeues"
    );
}

#[tokio::test]
async fn outbox_retry_over_rest() {
    let rx = receiver().await;
    let key = secret("outbox-retry-key");
    let h = harness(&rx, Some(&key)).await;
    let (dead, sent) = dead_rows(&h).await;
    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    let post = |p: String| {
        let rb = http.post(format!("{}{p}", server.base())).bearer_auth(&key);
        async move {
            let r = rb.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap())
        }
    };
    let (status, v) = post(format!("/api/outbox/{}/retry", dead[0])).await;
    assert_eq!((status, &v["requeued"]), (StatusCode::OK, &json!([dead[0]])), "{v}");
    let (status, v) = post(format!("/api/outbox/{}/retry", dead[0])).await;
    assert_eq!(
        (status, &v["error_code"]),
        (StatusCode::CONFLICT, &json!("conflict")),
        "{v}"
    );
    let (status, v) = post(format!("/api/outbox/{sent}/retry")).await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("is sent, not dead"), "{v}");
    let (status, v) = post("/api/outbox/999/retry".into()).await;
    assert_eq!(
        (status, &v["error_code"], &v["field"]),
        (StatusCode::NOT_FOUND, &json!("not_found"), &json!("id")),
        "{v}"
    );
    for bad in ["abc", "0", "-1", "%2B1"] {
        let (status, v) = post(format!("/api/outbox/{bad}/retry")).await;
        assert_eq!(
            (status, &v["field"]),
            (StatusCode::BAD_REQUEST, &json!("id")),
            "{bad}: {v}"
        );
    }
    let (status, v) = post("/api/outbox/retry-dead".into()).await;
    assert_eq!((status, &v["requeued"]), (StatusCode::OK, &json!([dead[1]])), "{v}");
    let rest: Vec<String> = outbox_audit(&h).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(rest, ["rest", "rest"]);
    // Both operations are in the served document.
    let doc: Value = http
        .get(format!("{}/api/openapi.json", server.base()))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        doc["paths"]["/api/outbox/{id}/retry"]["post"]["operationId"],
        "retryOutboxRow"
    );
    assert_eq!(
        doc["paths"]["/api/outbox/retry-dead"]["post"]["operationId"],
        "retryDeadOutbox"
    );
}

#[tokio::test]
async fn outbox_retry_over_mcp_agrees_with_the_service() {
    let rx = receiver().await;
    let h = harness(&rx, None).await;
    let (dead, _) = dead_rows(&h).await;
    let c = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await;
    let v = ok(&call(&c, "incident_outbox_retry", json!({ "id": dead[0] })).await);
    assert_eq!(v["requeued"], json!([dead[0]]));
    let again = call(&c, "incident_outbox_retry", json!({ "id": dead[0] })).await;
    // The same words as the CLI's and REST's refusal.
    let direct = h
        .svc
        .retry_outbox(RetryTarget::Row(dead[0]), Caller::MCP)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(err_text(&again), direct);
    let neither = call(&c, "incident_outbox_retry", json!({})).await;
    assert!(err_text(&neither).contains("name one dead row by `id`"), "{neither:?}");
    let v = ok(&call(&c, "incident_outbox_retry", json!({ "all_dead": true })).await);
    assert_eq!(v["requeued"], json!([dead[1]]));
    let actors: Vec<String> = outbox_audit(&h).await.into_iter().map(|(a, _)| a).collect();
    assert_eq!(actors, ["mcp", "mcp"]);
    // Under --read-only the tool is hidden.
    let ro = h
        .duplex_client(
            ToolPolicy {
                read_only: true,
                ..Default::default()
            },
            Proto::Modern,
            modern_client(),
        )
        .await;
    let names: Vec<String> = ro
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    assert!(!names.contains(&"incident_outbox_retry".to_owned()));
}
