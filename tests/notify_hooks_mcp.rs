//! Issue 5, acceptance 5: lifecycle hooks fire from detect, contain, recover and resolve through
//! the outbox, end to end over MCP. An in-process MCP client with a confirmation dialog drives
//! detect → contain (approved in the dialog) → recover (revert) → resolve against a recording
//! backend; draining the outbox delivers each event once, in order, signed, with an
//! `Idempotency-Key`, to a local receiver.

use crate::common;
use crate::notify_common;
use crate::recording_backend;
use crate::respond;

use std::sync::{Arc, LazyLock, Mutex};

use axum::{
    Router,
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    routing::post,
};
use common::*;
use incident_mcp::{
    domain::audit::AuditAnchor,
    notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify},
    store::{OutboxStatus, OutboxStore},
};
use serde_json::{Value, json};

/// The webhook signing secret, derived from the suite-wide canary.
static SECRET: LazyLock<String> = LazyLock::new(|| secret("mcp-hooks-secret"));

/// What the receiver got: headers and the raw body, in arrival order.
type Received = Arc<Mutex<Vec<(HeaderMap, Bytes)>>>;

async fn record(State(got): State<Received>, headers: HeaderMap, body: Bytes) -> StatusCode {
    got.lock().unwrap().push((headers, body));
    StatusCode::NO_CONTENT
}

/// A webhook receiver on 127.0.0.1:0; it stops when the returned token is cancelled.
async fn receiver() -> (String, Received, tokio_util::sync::CancellationToken) {
    let got: Received = Arc::default();
    let app = Router::new().route("/hook", post(record)).with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let stop = tokio_util::sync::CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { s.cancelled().await })
            .await;
    });
    (url, got, stop)
}

#[tokio::test]
async fn detect_contain_recover_resolve_over_mcp_reach_a_signed_webhook_once_each_in_order() {
    let (url, got, stop) = receiver().await;
    let hooks = format!(
        "[notify]\nallow_insecure_loopback = true\n\
         [[notify.webhooks]]\nname = \"ops\"\nurl = \"{url}\"\nsecret_env = \"OPS_SECRET\"\n\
         events = [\"detect\", \"contain\", \"recover\", \"resolve\"]\n"
    );
    let backend = recording_backend::RecordingBackend::new();
    let mut h = Harness::with_config(respond::config(&format!("{}\n{hooks}", respond::POLICY))).await;
    h.svc = h.svc.clone().with_backends(respond::backends(&backend));
    let client = respond::confirming_client(&h, Proto::Legacy, "web-1").await;

    let detected = ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let incidents: Vec<String> = detected["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(incidents.contains(&"INC-000001".to_owned()), "{detected}");
    let contained = ok(&call(&client, "incident_contain", respond::contain_args("web-1", "shop")).await);
    assert_eq!(contained["status"], "applied", "{contained}");
    let recovered = ok(&call(
        &client,
        "incident_recover",
        json!({"id": "INC-000001", "method": "revert"}),
    )
    .await);
    assert_eq!(recovered["status"], "applied", "{recovered}");
    let resolved = ok(&call(
        &client,
        "incident_resolve",
        json!({"id": "INC-000001", "note": "isolated web-1, then reverted"}),
    )
    .await);
    assert_eq!(resolved["incident"]["status"], "resolved", "{resolved}");
    client.cancel().await.unwrap();
    assert_eq!(backend.applied().len(), 2, "the containment and its revert");
    assert!(
        got.lock().unwrap().is_empty(),
        "nothing is sent before the outbox is drained"
    );

    // Every change queued its rows with it; draining delivers them all.
    let rows = h.store.outbox_rows(None, 100).await.unwrap();
    assert_eq!(
        rows.len(),
        incidents.len() + 3,
        "one detect per incident, then contain, recover, resolve"
    );
    let d = notify_common::dispatcher(
        &h,
        &[("OPS_SECRET", SECRET.as_str())],
        notify_common::ManualClock::new(),
    );
    let report = d.drain().await.unwrap();
    assert_eq!(
        (report.sent, report.retrying, report.dead),
        (rows.len(), 0, 0),
        "{report:?}"
    );
    let rows = h.store.outbox_rows(None, 100).await.unwrap();
    assert!(rows.iter().all(|r| r.status == OutboxStatus::Sent && r.attempts == 1));
    // A second drain sends nothing again.
    assert_eq!(d.drain().await.unwrap().attempted, 0);
    stop.cancel();

    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), rows.len(), "each row delivered exactly once");
    let now = chrono::Utc::now().timestamp();
    let mut keys = Vec::new();
    let mut events_of_first = Vec::new();
    let mut detects = Vec::new();
    let mut anchors = Vec::new();
    for (headers, body) in &got {
        let ts = headers[TIMESTAMP_HEADER].to_str().unwrap();
        let sig = headers[SIGNATURE_HEADER].to_str().unwrap();
        assert!(verify(SECRET.as_bytes(), ts, body, sig, now, 300), "valid signature");
        assert!(!verify(b"another-secret", ts, body, sig, now, 300));
        let mut tampered = body.to_vec();
        tampered.extend_from_slice(b" ");
        assert!(
            !verify(SECRET.as_bytes(), ts, &tampered, sig, now, 300),
            "tampering detected"
        );
        let b: Value = serde_json::from_slice(body).unwrap();
        let key = headers["idempotency-key"].to_str().unwrap();
        assert_eq!(key, b["id"].to_string(), "the key is the outbox row id");
        keys.push(b["id"].as_i64().unwrap());
        let incident = b["incident"]["id"].as_str().unwrap().to_owned();
        assert_eq!(b["data"]["incident"], incident.as_str());
        anchors.push(b["audit_anchor"].as_str().unwrap().to_owned());
        if b["event"] == "detect" {
            detects.push(incident.clone());
        }
        if incident == "INC-000001" {
            events_of_first.push(b["event"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(events_of_first, ["detect", "contain", "recover", "resolve"]);
    // Each body carries the audit chain's head as it was when it left: receivers keep an anchor
    // that the database's writers cannot rewrite, and it verifies against the chain.
    let head = h
        .svc
        .audit_anchor()
        .await
        .unwrap()
        .expect("the containment was audited");
    assert!(anchors.iter().all(|a| *a == head.to_string()), "{anchors:?} vs {head}");
    let kept: AuditAnchor = anchors[0].parse().unwrap();
    let v = h.svc.audit_verify(&[kept]).await.unwrap();
    assert!(v.intact && v.anchors == 1, "{v:?}");
    detects.sort();
    assert_eq!(detects, incidents, "one detect per incident the scan opened");
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), keys.len(), "distinct idempotency keys");
    let mut ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    ids.sort();
    assert_eq!(unique, ids, "the keys are exactly the outbox rows");
}
