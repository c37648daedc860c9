//! Lifecycle hooks from containment and recovery: applying an approved plan moves the
//! incident and queues `contain` / `recover` rows in the same transaction; the dispatcher
//! delivers them, signed, to the subscribed webhook only.

use crate::common;
use crate::notify_common;
use crate::recording_backend;
use crate::respond;

use incident_mcp::{
    Caller,
    notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify},
    service::{ContainRequest, RecoverRequest, ResolveRequest},
    store::{OutboxStatus, OutboxStore},
};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

#[tokio::test]
async fn contain_recover_and_resolve_fire_subscribed_hooks_through_the_outbox() {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&rx)
        .await;
    let hooks = format!(
        "[notify]\nallow_insecure_loopback = true\n\
         [[notify.webhooks]]\nname = \"ops\"\nurl = \"{0}/ops\"\nsecret_env = \"OPS_SECRET\"\n\
         events = [\"contain\", \"recover\", \"resolve\"]\n\
         [[notify.webhooks]]\nname = \"audit-sink\"\nurl = \"{0}/sink\"\nsecret_env = \"SINK_SECRET\"\n\
         events = [\"resolve\"]\n",
        rx.uri()
    );
    let backend = recording_backend::RecordingBackend::new();
    let mut h = common::Harness::with_config(respond::config(&format!("{}\n{hooks}", respond::POLICY))).await;
    h.svc = h.svc.clone().with_backends(respond::backends(&backend));
    respond::detect(&h).await;
    let id = "INC-000001".parse().unwrap();

    let contain: ContainRequest = serde_json::from_value(respond::contain_args("web-1", "shop")).unwrap();
    let p = h.svc.propose_contain(&contain, "mcp").await.unwrap();
    assert!(
        h.store.outbox_rows(None, 10).await.unwrap().is_empty(),
        "a plan alone notifies nobody"
    );
    h.svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&p.plan_id, "mcp").await.unwrap();
    let recover: RecoverRequest = serde_json::from_value(json!({"id": "INC-000001", "method": "revert"})).unwrap();
    let r = h.svc.propose_recover(&recover, "mcp").await.unwrap();
    h.svc.approve_plan(&r.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&r.plan_id, "mcp").await.unwrap();
    h.svc
        .resolve(
            ResolveRequest {
                id,
                note: "isolated, then restored".into(),
                keep_containments: false,
            },
            Caller::CLI,
        )
        .await
        .unwrap();

    let mut rows = h.store.outbox_rows(None, 10).await.unwrap();
    rows.reverse();
    let queued: Vec<(&str, &str)> = rows.iter().map(|r| (r.target.as_str(), r.event.as_str())).collect();
    assert_eq!(
        queued,
        [
            ("ops", "contain"),
            ("ops", "recover"),
            ("ops", "resolve"),
            ("audit-sink", "resolve")
        ]
    );
    assert!(rows.iter().all(|r| r.incident == Some(id)));

    let clock = notify_common::ManualClock::new();
    let (ops_secret, sink_secret) = (common::secret("ops-hook-secret"), common::secret("sink-hook-secret"));
    let d = notify_common::dispatcher(
        &h,
        &[
            ("OPS_SECRET", ops_secret.as_str()),
            ("SINK_SECRET", sink_secret.as_str()),
        ],
        clock,
    );
    assert_eq!(d.drain().await.unwrap().sent, 4);
    assert!(
        h.store
            .outbox_rows(None, 10)
            .await
            .unwrap()
            .iter()
            .all(|r| r.status == OutboxStatus::Sent)
    );
    let now = chrono::Utc::now().timestamp();
    let got = rx.received_requests().await.unwrap();
    let ops: Vec<String> = got
        .iter()
        .filter(|q| q.url.path() == "/ops")
        .map(|q| {
            let ts = q.headers[TIMESTAMP_HEADER].to_str().unwrap();
            let sig = q.headers[SIGNATURE_HEADER].to_str().unwrap();
            assert!(
                verify(ops_secret.as_bytes(), ts, &q.body, sig, now, 300),
                "signed with the ops secret"
            );
            assert!(!verify(sink_secret.as_bytes(), ts, &q.body, sig, now, 300));
            let b: Value = q.body_json().unwrap();
            assert_eq!(b["incident"]["id"], "INC-000001");
            b["event"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ops, ["contain", "recover", "resolve"]);
    assert_eq!(got.iter().filter(|q| q.url.path() == "/sink").count(), 1);
}

#[tokio::test]
async fn alerts_that_open_incidents_queue_detect_hooks_in_the_same_transaction() {
    let h = common::Harness::with_config(notify_common::config(
        "[notify]\n[[notify.webhooks]]\nname = \"ops\"\nurl = \"https://hooks.example.com/x\"\n\
         secret_env = \"S\"\nevents = [\"detect\"]\n",
    ))
    .await;
    let alert = |fp: &str, pod: &str| {
        json!({"status": "firing", "labels": {"alertname": "HighErrorRate", "pod": pod, "severity": "critical"},
               "annotations": {}, "startsAt": "2026-11-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
               "generatorURL": "", "fingerprint": fp})
    };
    let payload = |alerts: Vec<Value>| {
        incident_mcp::service::AlertmanagerPayload::from_json(&json!({
            "version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing", "receiver": "r",
            "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "", "alerts": alerts,
        }))
        .unwrap()
    };
    let env = incident_mcp::domain::Env::parse("dev").unwrap();
    let first = payload(vec![alert("a1", "web-1"), alert("a2", "web-2")]);
    let r = h.svc.ingest_alerts(&env, first).await.unwrap();
    let rows = h.store.outbox_rows(None, 10).await.unwrap();
    assert!(!rows.is_empty());
    assert_eq!(rows.len(), r.incidents.len(), "{r:?}");
    assert!(rows.iter().all(|row| row.event == "detect" && row.target == "ops"));
    // The same notification again changes nothing and queues nothing.
    h.svc
        .ingest_alerts(&env, payload(vec![alert("a1", "web-1")]))
        .await
        .unwrap();
    assert_eq!(h.store.outbox_rows(None, 10).await.unwrap().len(), rows.len());
}

/// A plan that stays pending tells the `approval` subscribers how to approve it (MCP without a
/// dialog, a declined dialog, REST); a plan the human confirms in the dialog is applied at once
/// and announces nothing.
#[tokio::test]
async fn pending_plans_announce_themselves_to_approval_subscribers() {
    use incident_mcp::mcp::ToolPolicy;
    use respond::{DialogClient, Human, PlainClient, contain_args};

    let hooks = "[notify]\nallow_insecure_loopback = true\n[[notify.webhooks]]\nname = \"approvers\"\n\
                 url = \"http://127.0.0.1:9/approve\"\nsecret_env = \"APPROVERS_SECRET\"\nevents = [\"approval\"]\n";
    let backend = recording_backend::RecordingBackend::new();
    let mut h = common::Harness::with_config(respond::config(&format!("{}\n{hooks}", respond::POLICY))).await;
    h.svc = h.svc.clone().with_backends(respond::backends(&backend));
    respond::detect(&h).await;
    let approvals = || async {
        let rows = h.store.outbox_rows(None, 50).await.unwrap();
        rows.into_iter().filter(|r| r.event == "approval").collect::<Vec<_>>()
    };
    let proto = common::Proto::Legacy;

    // A client without confirmation dialogs: the plan stays pending and is announced.
    let client = h.duplex_client(ToolPolicy::default(), proto, PlainClient).await;
    let plan = common::ok(&common::call(&client, "incident_contain", contain_args("web-1", "shop")).await);
    client.cancel().await.unwrap();
    let rows = approvals().await;
    assert_eq!(rows.len(), 1);
    let (row, id) = (&rows[0], plan["plan_id"].as_str().unwrap());
    assert_eq!(
        (row.target.as_str(), &row.payload["plan_id"]),
        ("approvers", &json!(id))
    );
    let note = row.payload["note"].as_str().unwrap();
    assert!(
        note.contains(&format!("incident-mcp approve {id}")) && note.contains("/approve"),
        "{note}"
    );

    // A dialog asks for an approver's one-time code: the approvers are told at once (where to
    // get a code); once one types it, the plan is applied in the same call.
    let client = respond::confirming_client(&h, proto, "web-2").await;
    let applied = common::ok(&common::call(&client, "incident_contain", contain_args("web-2", "shop")).await);
    client.cancel().await.unwrap();
    assert_eq!(applied["status"], "applied");
    assert_eq!(approvals().await.len(), 2);

    // Declined in the dialog: the plan stays pending for an out-of-band approval; announced.
    let client = h
        .duplex_client(ToolPolicy::default(), proto, DialogClient::new(Human::Declines))
        .await;
    let declined = common::ok(&common::call(&client, "incident_contain", contain_args("web-3", "shop")).await);
    client.cancel().await.unwrap();
    assert_eq!(declined["status"], "not_applied");
    assert_eq!(approvals().await.len(), 3);

    // REST plans always wait for a human.
    let server = h.http_server(ToolPolicy::default()).await;
    let resp = reqwest::Client::new()
        .put(format!("{}/api/incident/contain/INC-000001", server.base()))
        .json(&json!({"action": "isolate", "resource": "web-4", "namespace": "shop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let rest_plan: Value = resp.json().await.unwrap();
    let rows = approvals().await;
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .any(|r| r.payload["plan_id"] == rest_plan["plan_id"] && r.payload["actor"] == "rest")
    );
    assert_eq!(backend.apply_count(), 1, "only the confirmed plan changed anything");
}
