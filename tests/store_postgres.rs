//! `PgStore` against a real PostgreSQL server (tests/support/pg.rs): the store-level behaviours
//! the SQLite tests cover (detection and dedup, transitions, alert intake, the audit chain and
//! its append-only table, plans and approvals, the outbox, notify refs, plan paging), then
//! several `PgStore`s on one database as replicas (`replicas`), then the real binary with
//! `--db postgres://...` (`cli`).

use crate::{alert_fixtures, common, pg};

mod cli;
mod gate;
mod replicas;
mod unreachable;

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use incident_mcp::{
    domain::{IncidentId, IncidentType, Severity, Signal, SignalKind, Status, TimelineKind},
    store::{
        AlertIntake, AlertOutcome, AlertRecord, AttemptOutcome, ChangeKind, DetectHooks, DetectionBatch,
        DetectorSnapshot, IncidentFilter, MetricPoint, NewFinding, NewOutboxRow, OutboxStatus, OutboxStore, PgStore,
        SourceCursor, StoreError, ports::*,
    },
};
use serde_json::json;
use sqlx::{Connection, PgConnection};

/// A throw-away server with an empty `incidents` database; the superuser connects by trust.
pub struct Db {
    /// Kept alive: the server stops when this is dropped.
    _cluster: pg::PgCluster,
    pub url: String,
}

pub async fn database() -> Db {
    common::init_logs();
    let cluster = pg::PgCluster::start().await;
    cluster.exec("CREATE DATABASE incidents").await;
    let url = cluster.url("postgres", None, "incidents");
    Db { _cluster: cluster, url }
}

impl Db {
    /// One replica: its own pool, migrations run (again) on connect.
    pub async fn store(&self) -> PgStore {
        PgStore::connect(&self.url).await.expect("connect PgStore")
    }

    /// A plain connection, as an operator with psql would have.
    pub async fn raw(&self) -> PgConnection {
        PgConnection::connect(&self.url).await.expect("connect")
    }
}

fn at(min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, min, 0).unwrap()
}

fn signal(entity: &str, min: u32, value: f64) -> Signal {
    Signal {
        kind: SignalKind::Metric,
        source: "node-metrics".into(),
        rule: "cpu-hot".into(),
        series: "cpu".into(),
        entity: entity.into(),
        value,
        score: 0.9,
        observed_at: at(min),
        message: None,
    }
}

fn finding(fingerprint: &str, severity: Severity, signals: Vec<Signal>) -> NewFinding {
    NewFinding {
        fingerprint: fingerprint.into(),
        title: format!("cpu hot on {fingerprint}"),
        kind: IncidentType::Resource,
        severity,
        labels: BTreeMap::from([("host".into(), fingerprint.into())]),
        signals,
        entities: Vec::new(),
    }
}

fn batch(findings: Vec<NewFinding>, window_secs: u64) -> DetectionBatch {
    DetectionBatch {
        env: "prod".into(),
        actor: "cli".into(),
        findings,
        metrics: vec![],
        cursors: vec![],
        detector_states: vec![],
        dedup_window_secs: window_secs,
        hooks: DetectHooks {
            targets: vec!["ops".into()],
            recover_targets: vec![],
        },
    }
}

async fn record(s: &PgStore, f: NewFinding, window_secs: u64) -> (IncidentId, ChangeKind, usize) {
    let c = s.record_detection(batch(vec![f], window_secs)).await.unwrap();
    (c[0].id, c[0].change, c[0].new_signals)
}

#[tokio::test(flavor = "multi_thread")]
async fn detection_dedups_escalates_reopens_and_links() {
    let db = database().await;
    let s = db.store().await;
    let (id, change, n) = record(
        &s,
        finding("a", Severity::Medium, vec![signal("host/a", 0, 90.0)]),
        3600,
    )
    .await;
    assert_eq!((change, n), (ChangeKind::Created, 1));
    // The same signal again changes nothing.
    let again = record(
        &s,
        finding("a", Severity::Medium, vec![signal("host/a", 0, 90.0)]),
        3600,
    )
    .await;
    assert_eq!(again, (id, ChangeKind::Unchanged, 0));
    // A stronger finding adds its new signal and raises the severity; a weaker one never lowers it.
    let up = record(
        &s,
        finding(
            "a",
            Severity::High,
            vec![signal("host/a", 0, 90.0), signal("host/a", 1, 97.0)],
        ),
        3600,
    )
    .await;
    assert_eq!(up, (id, ChangeKind::Updated, 1));
    record(&s, finding("a", Severity::Low, vec![signal("host/a", 2, 91.0)]), 3600).await;
    let inc = s.get_incident(id).await.unwrap().unwrap();
    assert_eq!(
        (inc.severity, inc.signal_count, inc.status),
        (Severity::High, 3, Status::Open)
    );
    assert_eq!((inc.first_seen, inc.last_seen), (at(0), at(2)));
    assert_eq!(s.signals(id, 10).await.unwrap()[0].observed_at, at(2), "newest first");
    let groups = s.signal_groups(id).await.unwrap();
    assert_eq!((groups.len(), groups[0].count, groups[0].max_value), (1, 3, 97.0));

    // Resolved: re-read data is not a re-fire; new data within the window reopens it.
    s.transition(id, Status::Resolved, "cli", Some("fixed")).await.unwrap();
    let reread = record(
        &s,
        finding("a", Severity::Medium, vec![signal("host/a", 1, 97.0)]),
        3600,
    )
    .await;
    assert_eq!(reread, (id, ChangeKind::Unchanged, 0));
    let reopened = record(
        &s,
        finding("a", Severity::Medium, vec![signal("host/a", 5, 95.0)]),
        3600,
    )
    .await;
    assert_eq!(reopened, (id, ChangeKind::Reopened, 1));
    let tl = s.timeline(id).await.unwrap();
    assert_eq!(tl.first().unwrap().kind, TimelineKind::Created);
    assert_eq!(tl.last().unwrap().kind, TimelineKind::Reopened);

    // With a zero window a re-fire after resolve opens a new incident linked to the old one.
    s.transition(id, Status::Resolved, "cli", None).await.unwrap();
    let (new, change, _) = record(&s, finding("a", Severity::Medium, vec![signal("host/a", 9, 99.0)]), 0).await;
    assert_eq!(change, ChangeKind::Created);
    assert_ne!(new, id);
    assert_eq!(s.get_incident(new).await.unwrap().unwrap().previous_id, Some(id));
    // Shares the entity: related both ways. Old signals stay dedup'd across the chain.
    assert_eq!(s.related(new, 5).await.unwrap()[0].id, id);
    let old = record(&s, finding("a", Severity::Medium, vec![signal("host/a", 0, 90.0)]), 0).await;
    assert_eq!(old, (new, ChangeKind::Unchanged, 0));

    // One detect outbox row per created or reopened incident: a, a reopened, the linked one.
    let rows = s.outbox_rows(None, 100).await.unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r.event == "detect" && r.target == "ops"));

    let open = IncidentFilter {
        status: Some(Status::Open),
        limit: 10,
        ..Default::default()
    };
    let listed = s.list_incidents(&open).await.unwrap();
    assert_eq!(listed.iter().map(|i| i.id).collect::<Vec<_>>(), [new]);
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_cursors_and_detector_state_are_committed_with_the_findings() {
    let db = database().await;
    let s = db.store().await;
    let mut b = batch(vec![], 0);
    b.metrics = (0..3)
        .map(|m| MetricPoint {
            env: "prod".into(),
            source: "node-metrics".into(),
            name: "cpu".into(),
            labels: BTreeMap::from([("host".into(), "a".into())]),
            value: f64::from(m),
            observed_at: at(m),
        })
        .collect();
    b.cursors = vec![SourceCursor {
        source: "pg".into(),
        cursor: "c1".into(),
    }];
    b.detector_states = vec![DetectorSnapshot {
        rule: "r".into(),
        series: "s".into(),
        state: "{\"n\":1}".into(),
    }];
    s.record_detection(b.clone()).await.unwrap();
    b.cursors[0].cursor = "c2".into();
    s.record_detection(b).await.unwrap();
    let m = s.recent_metrics(10).await.unwrap();
    assert_eq!(m.len(), 3, "a point is stored once");
    assert_eq!(m[0].observed_at, at(2));
    assert_eq!(s.source_cursor("prod", "pg").await.unwrap().as_deref(), Some("c2"));
    assert_eq!(s.source_cursor("stage", "pg").await.unwrap(), None);
    assert_eq!(s.detector_states("prod").await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn transitions_are_checked_repeats_are_no_ops_and_outbox_rows_ride_along() {
    let db = database().await;
    let s = db.store().await;
    let (id, ..) = record(&s, finding("a", Severity::Medium, vec![signal("host/a", 0, 90.0)]), 0).await;
    let e = s.transition(id, Status::Recovered, "cli", None).await.unwrap_err();
    assert!(
        matches!(
            e,
            StoreError::IllegalTransition {
                from: Status::Open,
                to: Status::Recovered,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("allowed from: contained"), "{e}");
    let missing = IncidentId::from_row(999);
    assert!(matches!(
        s.transition(missing, Status::Resolved, "cli", None).await,
        Err(StoreError::NotFound(m)) if m == missing
    ));
    let row = |event: &str| NewOutboxRow {
        target: "ops".into(),
        event: event.into(),
        incident: Some(id),
        payload: json!({"event": event}),
    };
    let t = s
        .transition_with_outbox(id, Status::Acknowledged, "cli", Some("on it"), vec![row("acknowledge")])
        .await
        .unwrap();
    assert!(t.changed && t.previous == Status::Open && t.incident.status == Status::Acknowledged);
    let t = s
        .transition_with_outbox(id, Status::Acknowledged, "cli", None, vec![row("acknowledge")])
        .await
        .unwrap();
    assert!(!t.changed, "a repeat is a no-op");
    let acks = s
        .outbox_rows(None, 10)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.event == "acknowledge")
        .count();
    assert_eq!(acks, 1, "a repeat queues nothing");
    let last = s.timeline(id).await.unwrap().pop().unwrap();
    assert_eq!(
        (last.kind, last.message.as_str()),
        (TimelineKind::StatusChange, "open → acknowledged: on it")
    );
    // An illegal move rolls back: nothing changed.
    assert!(s.transition(id, Status::Open, "cli", None).await.is_err());
    assert_eq!(s.get_incident(id).await.unwrap().unwrap().status, Status::Acknowledged);
}

fn alert(fp: &str, min: u32, firing: bool) -> AlertRecord {
    AlertRecord {
        ends_at: (!firing).then(|| at(min + 30)),
        firing,
        labels: BTreeMap::from([("service".into(), "checkout".into())]),
        message: Some("p99 above 2s".into()),
        ..alert_fixtures::high_latency(fp, at(min))
    }
}

fn intake(alerts: Vec<AlertRecord>) -> AlertIntake {
    AlertIntake {
        hooks: DetectHooks {
            targets: vec!["ops".into()],
            recover_targets: vec!["ops".into()],
        },
        ..alert_fixtures::checkout_intake(alerts)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn alert_intake_records_once_repeats_nothing_and_resolutions_recover_a_contained_incident() {
    let db = database().await;
    let s = db.store().await;
    let first = s
        .record_alerts(&intake(vec![alert("f1", 0, true), alert("f2", 1, true)]))
        .await
        .unwrap();
    assert_eq!(first.alerts, [AlertOutcome::New, AlertOutcome::New]);
    let inc = &first.incidents[0];
    assert_eq!(
        (inc.change, inc.new_alerts, inc.firing_alerts),
        (ChangeKind::Created, 2, 2)
    );
    let id = inc.id;
    // The same notification again: repeats, nothing changes.
    let again = s
        .record_alerts(&intake(vec![alert("f1", 0, true), alert("f2", 1, true)]))
        .await
        .unwrap();
    assert_eq!(again.alerts, [AlertOutcome::Repeat, AlertOutcome::Repeat]);
    assert_eq!(again.incidents[0].change, ChangeKind::Unchanged);
    assert_eq!(s.get_incident(id).await.unwrap().unwrap().signal_count, 2);

    s.transition(id, Status::Contained, "cli", None).await.unwrap();
    let one = s.record_alerts(&intake(vec![alert("f1", 0, false)])).await.unwrap();
    assert_eq!(one.alerts, [AlertOutcome::Resolved]);
    assert_eq!(
        (one.incidents[0].firing_alerts, one.incidents[0].status),
        (1, Status::Contained)
    );
    // The last firing alert resolves: contained → recovered, with a recover outbox row.
    let all = s.record_alerts(&intake(vec![alert("f2", 1, false)])).await.unwrap();
    assert_eq!(
        (all.incidents[0].firing_alerts, all.incidents[0].status),
        (0, Status::Recovered)
    );
    assert_eq!(s.get_incident(id).await.unwrap().unwrap().status, Status::Recovered);
    let events: Vec<String> = s
        .outbox_rows(None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.event)
        .collect();
    assert_eq!(events, ["recover", "detect"], "newest first");
    // Alerts never resolve an incident; a new occurrence of a resolved incident reopens it.
    s.transition(id, Status::Resolved, "cli", None).await.unwrap();
    let refire = s.record_alerts(&intake(vec![alert("f1", 40, true)])).await.unwrap();
    assert_eq!(
        (refire.incidents[0].id, refire.incidents[0].change),
        (id, ChangeKind::Reopened)
    );
    assert_eq!(s.get_incident(id).await.unwrap().unwrap().signal_count, 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_outbox_claims_with_a_lease_retries_and_keeps_dead_letters() {
    let db = database().await;
    let s = db.store().await;
    let now = at(0);
    let inc = IncidentId::from_row(7);
    let row = |event: &str| NewOutboxRow {
        target: "ops".into(),
        event: event.into(),
        incident: Some(inc),
        payload: json!({"event": event}),
    };
    let ids = s
        .enqueue_outbox(vec![row("detect"), row("acknowledge")], now)
        .await
        .unwrap();
    // In order per target and incident: only the first is claimable.
    let c = s.claim_outbox(now, 60, 10).await.unwrap();
    assert_eq!(c.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[0]]);
    assert_eq!(
        (c[0].status, c[0].lease_until),
        (OutboxStatus::Inflight, Some(now + TimeDelta::seconds(60)))
    );
    assert!(
        s.claim_outbox(now, 60, 10).await.unwrap().is_empty(),
        "leased and blocking"
    );
    // The waiting second row counts as due (the dispatcher wakes and finds it blocked).
    assert_eq!(s.outbox_next_due().await.unwrap(), Some(now));
    // The lease runs out (a dead sender): the row is claimed again.
    let later = now + TimeDelta::seconds(61);
    assert_eq!(s.claim_outbox(later, 60, 10).await.unwrap()[0].id, ids[0]);
    let retry_at = later + TimeDelta::seconds(30);
    let retry = AttemptOutcome::Retry {
        http_status: Some(503),
        error: "unavailable".into(),
        next_at: retry_at,
    };
    s.finish_outbox(ids[0], later, retry).await.unwrap();
    let r = s.outbox_row(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (r.status, r.attempts, r.next_attempt_at, r.lease_until),
        (OutboxStatus::Pending, 1, retry_at, None)
    );
    assert!(s.claim_outbox(later, 60, 10).await.unwrap().is_empty(), "backing off");
    assert_eq!(s.claim_outbox(retry_at, 60, 10).await.unwrap()[0].id, ids[0]);
    s.finish_outbox(ids[0], retry_at, AttemptOutcome::Sent { http_status: Some(202) })
        .await
        .unwrap();
    // Now the second row goes; a 400 makes it a dead letter that blocks nothing.
    let c = s.claim_outbox(retry_at, 60, 10).await.unwrap();
    assert_eq!(c.iter().map(|r| r.id).collect::<Vec<_>>(), [ids[1]]);
    let dead = AttemptOutcome::Dead {
        http_status: Some(400),
        error: "bad request".into(),
    };
    s.finish_outbox(ids[1], retry_at, dead).await.unwrap();
    assert_eq!(s.outbox_rows(Some(OutboxStatus::Dead), 10).await.unwrap()[0].id, ids[1]);
    assert_eq!(s.outbox_rows(Some(OutboxStatus::Sent), 10).await.unwrap()[0].id, ids[0]);
    let attempts = s.outbox_attempts(ids[0]).await.unwrap();
    let outcomes: Vec<(i64, &str, Option<i64>)> = attempts
        .iter()
        .map(|a| (a.attempt, a.outcome.as_str(), a.http_status))
        .collect();
    assert_eq!(outcomes, [(1, "retry", Some(503)), (2, "sent", Some(202))]);
    assert_eq!(s.outbox_next_due().await.unwrap(), None);
    let later_row = s.enqueue_outbox(vec![row("resolve")], retry_at).await.unwrap();
    assert_eq!(
        s.claim_outbox(retry_at, 60, 10).await.unwrap()[0].id,
        later_row[0],
        "dead rows do not block"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_refs_keep_the_first_value_and_webhooks_are_replaced_by_name() {
    let db = database().await;
    let s = db.store().await;
    let inc = IncidentId::from_row(3);
    assert_eq!(s.notify_ref("jira", inc).await.unwrap(), None);
    assert_eq!(s.set_notify_ref("jira", inc, "OPS-1").await.unwrap(), "OPS-1");
    assert_eq!(
        s.set_notify_ref("jira", inc, "OPS-2").await.unwrap(),
        "OPS-1",
        "an existing reference wins"
    );
    assert_eq!(s.notify_ref("jira", inc).await.unwrap().as_deref(), Some("OPS-1"));
    assert_eq!(s.notify_ref("slack", inc).await.unwrap(), None);

    let mut hook = incident_mcp::store::RegisteredHook {
        name: "siem".into(),
        url: "https://siem.example/hook".into(),
        secret_env: "SIEM_SECRET".into(),
        events: vec!["detect".into()],
        added_by: Some("cli".into()),
    };
    let entry = |op: &str| {
        incident_mcp::domain::audit::NewAuditEntry::new(
            "cli",
            incident_mcp::domain::audit::AuditKind::Hook,
            json!({ "op": op, "name": "siem" }),
        )
    };
    s.save_webhook(&hook, entry("add")).await.unwrap();
    hook.events.push("resolve".into());
    hook.added_by = Some("rest".into());
    s.save_webhook(&hook, entry("add")).await.unwrap();
    assert_eq!(s.webhooks().await.unwrap(), [hook], "replaced, with who replaced it");
    assert!(s.delete_webhook("siem", entry("remove")).await.unwrap());
    assert!(!s.delete_webhook("siem", entry("remove")).await.unwrap());
    // Each change is audited in its own transaction; a delete of nothing is not.
    let kinds: Vec<String> = s
        .audit_recent(10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.payload["op"].to_string())
        .collect();
    assert_eq!(kinds, ["\"remove\"", "\"add\"", "\"add\""]);
}

/// Issue 12 item 5 on PostgreSQL: incidents page by keyset (ties on `updated_at` broken by id),
/// the audit log and the outbox by `before`; every row once, newest first.
#[tokio::test(flavor = "multi_thread")]
async fn incidents_audit_and_outbox_page_on_postgres() {
    let db = database().await;
    let s = db.store().await;
    let findings = (0..25)
        .map(|i| {
            finding(
                &format!("host-{i:02}"),
                Severity::Low,
                vec![signal(&format!("node/host-{i:02}"), 1, 0.9)],
            )
        })
        .collect();
    s.record_detection(batch(findings, 3600)).await.unwrap();
    let (mut seen, mut after) = (Vec::new(), None);
    loop {
        let page = s
            .list_incidents(&IncidentFilter {
                limit: 10,
                after,
                ..Default::default()
            })
            .await
            .unwrap();
        seen.extend(page.iter().map(|i| i.id));
        match page.last() {
            Some(last) if page.len() == 10 => after = Some(incident_mcp::domain::IncidentCursor::after(last)),
            _ => break,
        }
    }
    let mut unique = seen.clone();
    unique.sort();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (25, 25), "{seen:?}");

    for i in 0..8 {
        s.append_audit(incident_mcp::domain::audit::NewAuditEntry::new(
            "cli",
            incident_mcp::domain::audit::AuditKind::Hook,
            json!({ "n": i }),
        ))
        .await
        .unwrap();
    }
    let head = s.audit_recent(5).await.unwrap();
    let older = s.audit_older(head.last().unwrap().seq, 1000).await.unwrap();
    assert!(
        older.iter().all(|e| e.seq < head[4].seq) && older.len() == 3,
        "{older:?}"
    );
    assert_eq!(head.len() + older.len(), s.audit_recent(1000).await.unwrap().len());

    let rows = s.outbox_rows(None, 2).await.unwrap();
    let rest = s.outbox_rows_before(None, rows[1].id, 1000).await.unwrap();
    assert!(
        rest.iter().all(|r| r.id < rows[1].id) && rest.len() == 23,
        "one detect row per incident"
    );
}
