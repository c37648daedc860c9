//! Issue 10: a failing TTL undo is retried with exponential backoff and a cap, then the action
//! is marked `revert_failed`, notified once (`action_failed`) and left for a human. Real
//! scripts: the containment script succeeds, its inverse counts its runs and exits 1. Time is
//! driven through `revert_due(now)`, never by sleeping. Both stores (SQLite, PostgreSQL).
//! A failed apply of an approved plan queues `action_failed` too.

use crate::{common, notify_common, pg, respond};

use std::{collections::HashMap, os::unix::fs::PermissionsExt, path::Path, sync::Arc};

use chrono::{DateTime, TimeDelta, Utc};
use common::*;
use incident_mcp::{
    IncidentService,
    config::Config,
    domain::{IncidentId, sha256_hex},
    notify::{Dispatcher, HttpNotifier, outbox::RetryPolicy},
    service::{Backends, ContainRequest, TTL_ACTOR},
    store::{ActionState, OpenActions, SqliteStore, ports::*},
};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

fn script(dir: &Path, id: &str, body: &str) -> String {
    let path = dir.join(format!("{id}.sh"));
    std::fs::write(&path, body).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    format!(
        "[[scripts]]\nid = '{id}'\npath = '{}'\nsha256 = '{}'\n",
        path.display(),
        sha256_hex(body.as_bytes())
    )
}

/// `web-block` (succeeds, undone by `web-unblock`, which counts its runs and fails) and
/// `web-broken` (fails), allowlisted in `dev`; a webhook subscribed to `action_failed`.
fn config(dir: &Path, hook_url: &str) -> Config {
    let count = dir.join("undo-runs");
    let block = script(dir, "web-block", "#!/bin/sh\nexit 0\n") + "inverse = { script = 'web-unblock' }\n";
    let unblock = script(
        dir,
        "web-unblock",
        &format!(
            "#!/bin/sh\necho run >> '{}'\necho 'firewall said no' >&2\nexit 1\n",
            count.display()
        ),
    );
    let broken = script(dir, "web-broken", "#!/bin/sh\nexit 4\n");
    respond::config(&format!(
        "{block}\n{unblock}\n{broken}\n\
         [respond]\nrevert_max_attempts = 4\nrevert_backoff_secs = 5\nrevert_backoff_max_secs = 15\n\n\
         [environments.dev.policy]\nallowed_actions = ['block', 'revert']\nallowed_namespaces = ['shop']\n\
         resource_patterns = ['web-*']\nscripts = ['web-block', 'web-unblock', 'web-broken']\n\n\
         [notify]\nallow_insecure_loopback = true\n\
         [[notify.webhooks]]\nname = \"oncall\"\nurl = \"{hook_url}/failed\"\nsecret_env = \"ONCALL_SECRET\"\n\
         events = [\"action_failed\"]\n"
    ))
}

fn undo_runs(dir: &Path) -> usize {
    std::fs::read_to_string(dir.join("undo-runs"))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

fn contain(resource: &str, ttl: Option<u64>) -> ContainRequest {
    let mut v = respond::contain_args(resource, "shop");
    v["action"] = json!("block");
    v["ttl_secs"] = json!(ttl);
    serde_json::from_value(v).unwrap()
}

async fn the_action(store: &dyn Store, id: IncidentId, plan: &str) -> incident_mcp::store::AppliedAction {
    store
        .open_actions(OpenActions::Incident(id))
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.plan_id == plan)
        .expect("the applied action")
}

fn dispatcher(store: Arc<dyn Store>, cfg: &Config, secret: &str) -> Dispatcher {
    let map: HashMap<String, String> = HashMap::from([("ONCALL_SECRET".into(), secret.into())]);
    let cfg = cfg.notify.clone();
    let notifier =
        HttpNotifier::new(cfg.clone(), store.clone(), Arc::new(move |k: &str| map.get(k).cloned())).expect("client");
    // The scenario's own clock ran ahead of the real one (`revert_due(now)`): so does this one.
    let clock = notify_common::ManualClock::new();
    clock.advance(86_400);
    Dispatcher::new(store, Arc::new(notifier), clock, RetryPolicy::from_config(&cfg))
}

/// The whole scenario over `store`.
async fn bounded_retries_then_revert_failed(store: Arc<dyn Store>, dir: &Path) {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&rx)
        .await;
    let cfg = config(dir, &rx.uri());
    let svc =
        IncidentService::new(store.clone(), Arc::new(cfg.clone())).with_backends(Backends::from_config(&cfg, &store));
    let detect: incident_mcp::service::DetectRequest = serde_json::from_value(json!({"env": "dev"})).unwrap();
    svc.detect(detect, incident_mcp::Caller::CLI).await.unwrap();
    let id: IncidentId = "INC-000001".parse().unwrap();

    let p = svc
        .propose_contain(&contain("script/web-block", Some(60)), "mcp")
        .await
        .unwrap();
    svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
    svc.apply_plan(&p.plan_id, "mcp").await.unwrap();
    let applied = the_action(store.as_ref(), id, &p.plan_id).await;
    assert_eq!(applied.state(), ActionState::Active);
    let expiry: DateTime<Utc> = applied.expires_at.unwrap();
    assert_eq!(
        svc.revert_due(expiry - TimeDelta::seconds(1)).await.unwrap(),
        0,
        "not expired yet"
    );
    assert_eq!(undo_runs(dir), 0);

    // Attempt n fails at `t`; the next is due 5 s later, doubling, at most 15 s; 4 at most.
    let mut t = expiry + TimeDelta::seconds(1);
    let mut expected_delay = 5;
    for n in 1..=4u32 {
        assert_eq!(svc.revert_due(t).await.unwrap(), 0);
        assert_eq!(undo_runs(dir), n as usize, "attempt {n} ran the undo once");
        let a = the_action(store.as_ref(), id, &p.plan_id).await;
        assert_eq!(a.revert_attempts, n);
        if n < 4 {
            assert_eq!(a.state(), ActionState::Active);
            let next = a.next_revert_at.expect("a next attempt");
            assert_eq!((next - t).num_seconds(), expected_delay, "backoff after attempt {n}");
            // Before the backoff ran out nothing is tried.
            assert_eq!(svc.revert_due(next - TimeDelta::seconds(1)).await.unwrap(), 0);
            assert_eq!(undo_runs(dir), n as usize, "no attempt inside the backoff");
            t = next;
            expected_delay = (expected_delay * 2).min(15);
        } else {
            assert_eq!(a.state(), ActionState::RevertFailed);
            assert!(a.revert_failed_at.is_some() && a.next_revert_at.is_none());
        }
    }
    // Left for a human: no more automatic attempts, ever.
    assert_eq!(svc.revert_due(t + TimeDelta::days(30)).await.unwrap(), 0);
    assert_eq!(undo_runs(dir), 4);
    assert!(
        store
            .open_actions(OpenActions::DueBy(t + TimeDelta::days(30)))
            .await
            .unwrap()
            .is_empty()
    );

    // Each attempt is one intent and one outcome, numbered; then one `revert_failed` outcome.
    let mut log = store.audit_recent(1000).await.unwrap();
    log.reverse();
    let ttl: Vec<&incident_mcp::domain::audit::AuditEntry> = log.iter().filter(|e| e.actor == TTL_ACTOR).collect();
    let outcomes: Vec<&Value> = ttl.iter().filter(|e| e.kind == "outcome").map(|e| &e.payload).collect();
    assert_eq!(ttl.iter().filter(|e| e.kind == "intent").count(), 4);
    assert_eq!(outcomes.len(), 4, "{outcomes:#?}");
    for (i, o) in outcomes.iter().enumerate() {
        assert_eq!(o["status"], "failed");
        assert_eq!(o["attempt"], i + 1);
        assert_eq!(o["max_attempts"], 4);
    }
    assert_eq!(outcomes[3]["state"], "revert_failed");
    assert!(!ttl.iter().any(|e| e.kind == "revert"), "never marked reverted");

    // Exactly one notification, to the subscriber of `action_failed`, which receives it.
    let rows: Vec<_> = store
        .outbox_rows(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "action_failed")
        .collect();
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].target, "oncall");
    assert_eq!(rows[0].payload["plan_id"], p.plan_id);
    assert_eq!(rows[0].payload["reason"], "revert_failed");
    let secret = common::secret("oncall-hook-secret");
    assert_eq!(dispatcher(store.clone(), &cfg, &secret).drain().await.unwrap().sent, 1);
    let got = rx.received_requests().await.unwrap();
    assert_eq!(got.len(), 1);
    let body: Value = got[0].body_json().unwrap();
    assert_eq!(body["event"], "action_failed", "{body}");
    assert!(svc.audit_verify(&[]).await.unwrap().intact);

    // A failing apply of an approved plan is notified as well.
    let broken = svc
        .propose_contain(&contain("script/web-broken", None), "mcp")
        .await
        .unwrap();
    svc.approve_plan(&broken.plan_id, "human:alice", 300).await.unwrap();
    let e = svc.apply_plan(&broken.plan_id, "mcp").await.unwrap_err();
    assert!(e.to_string().contains("exit"), "{e}");
    let failed: Vec<_> = store
        .outbox_rows(None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "action_failed")
        .collect();
    assert_eq!(failed.len(), 2);
    assert_eq!(failed[0].payload["plan_id"], broken.plan_id, "newest first");
    assert_eq!(failed[0].payload["reason"], "apply_failed");
}

#[tokio::test]
async fn a_failing_undo_is_retried_with_backoff_then_left_for_a_human_sqlite() {
    init_logs();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("incidents.db")).await.unwrap());
    bounded_retries_then_revert_failed(store, dir.path()).await;
}

#[tokio::test]
async fn a_failing_undo_is_retried_with_backoff_then_left_for_a_human_postgres() {
    init_logs();
    let cluster = pg::PgCluster::start().await;
    cluster.exec("CREATE DATABASE incidents").await;
    let url = cluster.url("postgres", None, "incidents");
    let store = Arc::new(incident_mcp::store::PgStore::connect(&url).await.unwrap());
    let dir = tempfile::tempdir().unwrap();
    bounded_retries_then_revert_failed(store, dir.path()).await;
}
