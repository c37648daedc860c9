//! Outbox delivery, driven by a hand-set clock (no sleeps): retries on 5xx with backoff,
//! dead letters on 4xx, `Retry-After` honoured, hooks written with the incident change,
//! and no duplicate Jira ticket after a crash between sending and marking sent.

use crate::common;
use crate::notify_common;

use std::{
    sync::{
        Arc, LazyLock,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use common::{Harness, secret};
use incident_mcp::{
    Caller,
    notify::{Clock, HttpNotifier, Notifier},
    service::{AckRequest, NotifyRequest},
    store::{OutboxStatus, OutboxStore, ports::*},
};
use notify_common::*;
use serde_json::json;
use wiremock::{
    Mock, MockServer, Request, Respond, ResponseTemplate,
    matchers::{method, path},
};

fn hook_config(url: &str, events: &str) -> incident_mcp::config::Config {
    config(&format!(
        "[notify]\nallow_insecure_loopback = true\nretry_base_secs = 2\nmax_attempts = 6\nlease_secs = 30\n\
         [[notify.webhooks]]\nname = \"ops\"\nurl = \"{url}/hook\"\nsecret_env = \"HOOK_SECRET\"\n\
         events = [{events}]\n"
    ))
}

/// The webhook signing secret, derived from the suite-wide canary.
static HOOK_SECRET: LazyLock<String> = LazyLock::new(|| secret("outbox-hook-secret"));

fn secrets() -> [(&'static str, &'static str); 1] {
    [("HOOK_SECRET", HOOK_SECRET.as_str())]
}

async fn notify_ops(h: &Harness) -> i64 {
    let id = first_incident(h).await;
    h.svc
        .notify(
            NotifyRequest {
                id,
                service: "ops".into(),
                message: None,
            },
            Caller::MCP,
        )
        .await
        .unwrap()
        .outbox_id
}

/// A receiver that answers `failure` to the first `times` POSTs, then `then`.
async fn failing_then(failure: ResponseTemplate, times: u64, then: u16) -> MockServer {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(failure)
        .up_to_n_times(times)
        .mount(&rx)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(then))
        .mount(&rx)
        .await;
    rx
}

#[tokio::test]
async fn three_500s_then_202_is_four_attempts_and_one_delivery() {
    let rx = failing_then(ResponseTemplate::new(500), 3, 202).await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\nretry_base_secs = 2\n[[notify.webhooks]]\nname = \"ops\"\n\
         url = \"{}/hook\"\nsecret_env = \"HOOK_SECRET\"\n",
        rx.uri()
    )))
    .await;
    let row = notify_ops(&h).await;
    let clock = ManualClock::new();
    let d = dispatcher(&h, &secrets(), clock.clone());
    for _ in 0..10 {
        d.run_once().await.unwrap();
        let r = h.store.outbox_row(row).await.unwrap().unwrap();
        if r.status != OutboxStatus::Pending {
            break;
        }
        // Just before the scheduled retry nothing is due; at it, the retry goes out.
        clock.set(r.next_attempt_at - chrono::Duration::milliseconds(1));
        assert_eq!(d.run_once().await.unwrap().attempted, 0);
        clock.set(r.next_attempt_at);
    }
    let r = h.store.outbox_row(row).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.attempts, r.last_status),
        (OutboxStatus::Sent, 4, Some(202))
    );
    let attempts = h.store.outbox_attempts(row).await.unwrap();
    let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["retry", "retry", "retry", "sent"]);
    // Exponential backoff with equal jitter: gaps of at least 1 s, 2 s, 4 s (base 2 s).
    for (i, w) in attempts.windows(2).enumerate() {
        let gap = (w[1].at - w[0].at).num_milliseconds();
        assert!(gap >= 1000 << i && gap <= 2000 << i, "gap {i}: {gap} ms");
    }
    let got = rx.received_requests().await.unwrap();
    assert_eq!(got.len(), 4);
    let keys: Vec<_> = got
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert!(
        keys.iter().all(|k| *k == row.to_string()),
        "one logical delivery: {keys:?}"
    );
}

#[tokio::test]
async fn a_400_is_a_dead_letter_and_never_retried() {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string("bad payload"))
        .mount(&rx)
        .await;
    let h = Harness::with_config(hook_config(&rx.uri(), "\"detect\"")).await;
    let row = notify_ops(&h).await;
    let clock = ManualClock::new();
    let d = dispatcher(&h, &secrets(), clock.clone());
    let r = d.drain().await.unwrap();
    assert!(r.dead >= 1 && r.retrying == 0, "{r:?}");
    clock.advance(86_400);
    assert_eq!(d.drain().await.unwrap().attempted, 0, "nothing retried");
    let dead = h.svc.outbox_list(true, 10, None).await.unwrap();
    let ours = dead.rows.iter().find(|r| r.id == row).expect("in the dead letters");
    assert_eq!((ours.attempts, ours.last_status), (1, Some(400)));
    assert!(
        ours.last_error
            .as_deref()
            .unwrap()
            .contains("answered 400: bad payload")
    );
    let got = rx.received_requests().await.unwrap();
    let ours: Vec<_> = got
        .iter()
        .filter(|r| r.headers["idempotency-key"] == row.to_string().as_str())
        .collect();
    assert_eq!(ours.len(), 1);
}

#[tokio::test]
async fn retry_after_seconds_and_http_dates_are_honoured() {
    let rx = MockServer::start().await;
    let h = Harness::with_config(hook_config(&rx.uri(), "")).await;
    let clock = ManualClock::new();
    let later = clock.now() + chrono::Duration::seconds(600);
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "120"))
        .up_to_n_times(1)
        .mount(&rx)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503).insert_header("Retry-After", httpdate::fmt_http_date(later.into())))
        .up_to_n_times(1)
        .mount(&rx)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&rx)
        .await;
    let row = notify_ops(&h).await;
    let d = dispatcher(&h, &secrets(), clock.clone());

    let first = clock.now();
    while h.store.outbox_row(row).await.unwrap().unwrap().attempts == 0 {
        d.run_once().await.unwrap();
    }
    let r = h.store.outbox_row(row).await.unwrap().unwrap();
    assert_eq!(r.last_status, Some(429));
    assert!(r.next_attempt_at >= first + chrono::Duration::seconds(120), "{r:?}");
    clock.set(first + chrono::Duration::seconds(119));
    d.drain().await.unwrap();
    assert_eq!(
        h.store.outbox_row(row).await.unwrap().unwrap().attempts,
        1,
        "not before Retry-After"
    );
    clock.set(r.next_attempt_at);
    d.run_once().await.unwrap();
    let r = h.store.outbox_row(row).await.unwrap().unwrap();
    assert_eq!((r.attempts, r.last_status), (2, Some(503)));
    assert!(
        r.next_attempt_at >= later - chrono::Duration::seconds(1),
        "HTTP-date Retry-After: {r:?}"
    );
    clock.set(r.next_attempt_at);
    d.drain().await.unwrap();
    let r = h.store.outbox_row(row).await.unwrap().unwrap();
    assert_eq!((r.status, r.attempts), (OutboxStatus::Sent, 3));
    let at: Vec<_> = h
        .store
        .outbox_attempts(row)
        .await
        .unwrap()
        .iter()
        .map(|a| a.at)
        .collect();
    assert!(at[1] - at[0] >= chrono::Duration::seconds(120) && at[2] >= later - chrono::Duration::seconds(1));
}

#[tokio::test]
async fn hooks_are_committed_with_the_incident_change() {
    let rx = MockServer::start().await;
    let h = Harness::with_config(hook_config(&rx.uri(), "\"detect\", \"acknowledge\"")).await;
    let id = first_incident(&h).await;
    let rows = h.store.outbox_rows(None, 100).await.unwrap();
    let created = h.svc.list(Default::default()).await.unwrap().count;
    assert_eq!(rows.len(), created, "one detect row per created incident");
    assert!(rows.iter().all(|r| r.event == "detect" && r.target == "ops"));
    // Re-running detection over the same data changes nothing and queues nothing.
    first_incident(&h).await;
    assert_eq!(h.store.outbox_rows(None, 100).await.unwrap().len(), created);
    h.svc.ack(AckRequest { id, note: None }, Caller::CLI).await.unwrap();
    h.svc.ack(AckRequest { id, note: None }, Caller::CLI).await.unwrap();
    let acks: Vec<_> = h
        .store
        .outbox_rows(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "acknowledge")
        .collect();
    assert_eq!(acks.len(), 1, "a repeated ack changes nothing and queues nothing");
    assert_eq!(acks[0].incident, Some(id));
}

/// Creates answer 201 after a delay; the search finds the issue once a create has arrived.
struct JiraState(Arc<AtomicBool>);

impl Respond for JiraState {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if req.method.as_str() == "POST" {
            self.0.store(true, Ordering::SeqCst);
            return ResponseTemplate::new(201)
                .set_body_json(json!({"id": "1", "key": "OPS-7"}))
                .set_delay(Duration::from_secs(5));
        }
        let issues = if self.0.load(Ordering::SeqCst) {
            json!([{"key": "OPS-7"}])
        } else {
            json!([])
        };
        ResponseTemplate::new(200).set_body_json(json!({ "issues": issues, "isLast": true }))
    }
}

#[tokio::test]
async fn no_duplicate_jira_ticket_after_a_crash_between_send_and_mark_sent() {
    let jira = MockServer::start().await;
    let created = Arc::new(AtomicBool::new(false));
    Mock::given(path("/rest/api/2/search/jql"))
        .respond_with(JiraState(created.clone()))
        .mount(&jira)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .respond_with(JiraState(created.clone()))
        .expect(1)
        .mount(&jira)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/OPS-7/comment"))
        .respond_with(ResponseTemplate::new(201))
        .expect(1)
        .mount(&jira)
        .await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\nlease_secs = 30\n[notify.jira]\nbase_url = \"{}\"\n\
         project_key = \"OPS\"\nemail_env = \"E\"\ntoken_env = \"T\"\n",
        jira.uri()
    )))
    .await;
    let id = first_incident(&h).await;
    let notify = || NotifyRequest {
        id,
        service: "jira".into(),
        message: None,
    };
    let row = h.svc.notify(notify(), Caller::MCP).await.unwrap().outbox_id;
    let clock = ManualClock::new();
    static JIRA_TOKEN: LazyLock<String> = LazyLock::new(|| secret("outbox-jira-token"));
    let secrets = [("E", "a@b.c"), ("T", JIRA_TOKEN.as_str())];

    // The sender claims the row and sends the create; it dies before the answer arrives.
    let claimed = h.store.claim_outbox(clock.now(), 30, 10).await.unwrap();
    let store: Arc<dyn Store> = h.store.clone();
    let env = Arc::new(move |k: &str| secrets.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string()));
    let notifier = HttpNotifier::new(h.svc.config().notify.clone(), store, env).unwrap();
    let crashed = tokio::time::timeout(Duration::from_millis(500), notifier.deliver(&claimed[0])).await;
    assert!(
        crashed.is_err() && created.load(Ordering::SeqCst),
        "the create reached Jira, then the sender died"
    );
    assert_eq!(
        h.store.outbox_row(row).await.unwrap().unwrap().status,
        OutboxStatus::Inflight
    );

    // After the lease runs out another sender finds the ticket by its label instead of creating one.
    let d = dispatcher(&h, &secrets, clock.clone());
    assert_eq!(d.run_once().await.unwrap().attempted, 0, "leased rows wait");
    clock.advance(31);
    assert_eq!(d.drain().await.unwrap().sent, 1);
    assert_eq!(
        h.store.outbox_row(row).await.unwrap().unwrap().status,
        OutboxStatus::Sent
    );
    assert_eq!(h.store.notify_ref("jira", id).await.unwrap().as_deref(), Some("OPS-7"));
    // A later notification comments on that ticket.
    h.svc.notify(notify(), Caller::MCP).await.unwrap();
    assert_eq!(d.drain().await.unwrap().sent, 1);
}

#[tokio::test]
async fn notifications_of_one_incident_reach_a_target_in_order() {
    let rx = failing_then(ResponseTemplate::new(503), 1, 200).await;
    let h = Harness::with_config(hook_config(&rx.uri(), "")).await;
    let first = notify_ops(&h).await;
    let second = notify_ops(&h).await;
    let clock = ManualClock::new();
    let d = dispatcher(&h, &secrets(), clock.clone());
    assert_eq!(
        d.drain().await.unwrap().attempted,
        1,
        "the second waits behind the failed first"
    );
    assert_eq!(h.store.outbox_row(second).await.unwrap().unwrap().attempts, 0);
    clock.advance(3600);
    assert_eq!(d.drain().await.unwrap().sent, 2);
    let keys: Vec<String> = rx
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, [first.to_string(), first.to_string(), second.to_string()]);
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let rx = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(307).insert_header("Location", format!("{}/steal", elsewhere.uri())))
        .mount(&rx)
        .await;
    let h = Harness::with_config(hook_config(&rx.uri(), "")).await;
    let row = notify_ops(&h).await;
    let d = dispatcher(&h, &secrets(), ManualClock::new());
    assert_eq!(d.drain().await.unwrap().dead, 1);
    let r = h.store.outbox_row(row).await.unwrap().unwrap();
    assert_eq!((r.status, r.last_status), (OutboxStatus::Dead, Some(307)));
    assert!(
        elsewhere.received_requests().await.unwrap().is_empty(),
        "the redirect target saw nothing"
    );
}
