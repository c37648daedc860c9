//! `incident_with_signals` (the one-statement read behind `incident_get`) returns what the three
//! separate reads return (`get_incident`, `signals`, `annotations`), on a real SQLite file and a
//! real PostgreSQL server: the newest signals first with ties broken by row id, the limit, values
//! to the last bit, messages present and absent, annotations by name, none for an incident not
//! opened from alerts, none for an unknown id.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeZone, Utc};
use incident_mcp::{
    domain::{IncidentId, IncidentType, Severity, Signal, SignalKind},
    store::{
        AlertIntake, AlertRecord, DetectHooks, DetectionBatch, IncidentFilter, ManageStore, NewFinding, SqlStore,
        SqliteStore, ports::*,
    },
};

use crate::{alert_fixtures, store_postgres};

fn at(sec: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, sec).unwrap()
}

fn signal(sec: u32, value: f64, message: Option<&str>) -> Signal {
    Signal {
        kind: SignalKind::Metric,
        source: "node-metrics".into(),
        rule: "cpu-hot".into(),
        series: format!("cpu{sec}-{value}"),
        entity: "host/db-1".into(),
        value,
        score: value / 7.0,
        observed_at: at(sec),
        message: message.map(Into::into),
    }
}

fn detection(fingerprint: &str, signals: Vec<Signal>) -> DetectionBatch {
    DetectionBatch {
        env: "prod".into(),
        actor: "cli".into(),
        findings: vec![NewFinding {
            fingerprint: fingerprint.into(),
            title: format!("cpu hot on {fingerprint}"),
            kind: IncidentType::Resource,
            severity: Severity::High,
            labels: BTreeMap::from([("host".into(), fingerprint.into())]),
            signals,
            entities: Vec::new(),
        }],
        metrics: vec![],
        cursors: vec![],
        detector_states: vec![],
        dedup_window_secs: 3600,
        hooks: DetectHooks {
            targets: vec![],
            recover_targets: vec![],
        },
    }
}

fn alerts() -> AlertIntake {
    let alert = |fp: &str, sec: u32, annotations: &[(&str, &str)]| AlertRecord {
        labels: BTreeMap::from([("service".into(), "checkout".into())]),
        message: sec.is_multiple_of(2).then(|| format!("p99 above 2s ({fp})")),
        annotations: annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..alert_fixtures::high_latency(fp, at(sec))
    };
    let mut intake = alert_fixtures::checkout_intake(vec![
        alert("f1", 1, &[("runbook_url", "https://runbooks.example.com/latency")]),
        alert("f2", 2, &[("dashboard", "https://grafana.example.com/d/checkout")]),
    ]);
    intake.incidents[0].labels = BTreeMap::from([("alertname".into(), "HighLatency".into())]);
    intake
}

/// Checks the one-statement read against the three separate reads for `id` and `limit`.
async fn same_as_separate_reads(s: &SqlStore, id: IncidentId, limit: u32) -> usize {
    let one = s.incident_with_signals(id, limit).await.unwrap().expect("the incident");
    assert_eq!(Some(&one.incident), s.get_incident(id).await.unwrap().as_ref());
    assert_eq!(
        one.signals,
        s.signals(id, limit).await.unwrap(),
        "signals, limit {limit}"
    );
    let annotations = if one.incident.from_alerts() {
        s.annotations(id).await.unwrap()
    } else {
        vec![]
    };
    assert_eq!(one.annotations, annotations);
    one.signals.len()
}

async fn reads_agree(s: &SqlStore) {
    // Two signals share a time (the id breaks the tie), one has a message, the values need all
    // 17 digits (0.1 + 0.2), one is negative and tiny.
    let signals = vec![
        signal(5, 0.1 + 0.2, Some("hot")),
        signal(9, 123_456_789.123_456_79, None),
        signal(9, -5e-324, Some("tie")),
        signal(3, 1.0 / 3.0, None),
    ];
    let changes = s
        .record_detection(detection("db-1 \"q\" \\ \u{2028}\n", signals.clone()))
        .await
        .unwrap();
    let id = changes[0].id;
    assert_eq!(same_as_separate_reads(s, id, 50).await, 4);
    assert_eq!(same_as_separate_reads(s, id, 2).await, 2);
    let one = s.incident_with_signals(id, 50).await.unwrap().unwrap();
    assert_eq!(one.signals[3].value, 1.0 / 3.0, "to the last bit");
    assert!(
        one.signals.windows(2).all(|w| w[0].observed_at >= w[1].observed_at),
        "newest first"
    );
    assert!(one.annotations.is_empty(), "not opened from alerts");

    let from_alerts = s.record_alerts(&alerts()).await.unwrap().incidents[0].id;
    assert_eq!(same_as_separate_reads(s, from_alerts, 50).await, 2);
    let one = s.incident_with_signals(from_alerts, 50).await.unwrap().unwrap();
    let names: Vec<_> = one.annotations.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["dashboard", "runbook_url"], "by name");
    assert_eq!(one.annotations[1].value, "https://runbooks.example.com/latency");

    // The list: the same incidents as the point reads, newest
    // first, with a title JSON has to escape.
    let page = s
        .list_incidents(&IncidentFilter {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.iter().map(|i| i.id).collect::<Vec<_>>(), [from_alerts, id]);
    for i in &page {
        assert_eq!(Some(i), s.get_incident(i.id).await.unwrap().as_ref());
    }
    assert!(page[1].title.contains("\"q\" \\ \u{2028}\n"), "{:?}", page[1].title);

    let unknown = IncidentId::from_row(from_alerts.row() + 1000);
    assert_eq!(s.incident_with_signals(unknown, 50).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread")]
async fn one_statement_read_matches_the_separate_reads_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(&dir.path().join("incidents.db")).await.unwrap();
    reads_agree(&s).await;
}

/// SQLite's hottest reads run on the caller's thread (`rusqlite`), every other read and every
/// fallback through the sqlx pool: both give the same answers.
#[tokio::test(flavor = "multi_thread")]
async fn direct_reads_match_the_pool_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let direct = SqliteStore::open(&dir.path().join("incidents.db")).await.unwrap();
    let pool = direct.reading_through_the_pool();
    assert_eq!(pool.direct_read_counts(), None);
    reads_agree(&pool).await;
    assert_eq!(
        direct.direct_read_counts(),
        Some((0, 0)),
        "the pool's reads are not direct"
    );
    let all = IncidentFilter {
        limit: 10,
        ..Default::default()
    };
    let page = direct.list_incidents(&all).await.unwrap();
    assert_eq!(page.len(), 2);
    assert_eq!(page, pool.list_incidents(&all).await.unwrap());
    for i in &page {
        for limit in [1, 50] {
            assert_eq!(
                direct.incident_with_signals(i.id, limit).await.unwrap(),
                pool.incident_with_signals(i.id, limit).await.unwrap()
            );
        }
    }
    // Filters and the cursor bind by name ($5 and $6 come before $4 in the statement).
    let first = IncidentFilter {
        env: Some(page[0].env.clone()),
        status: Some(page[0].status),
        limit: 1,
        ..Default::default()
    };
    let first_page = direct.list_incidents(&first).await.unwrap();
    assert_eq!(first_page.len(), 1);
    assert_eq!(first_page, pool.list_incidents(&first).await.unwrap());
    let next = IncidentFilter {
        limit: 1,
        after: Some(incident_mcp::domain::IncidentCursor::after(&first_page[0])),
        ..Default::default()
    };
    let second = direct.list_incidents(&next).await.unwrap();
    assert_eq!(second, pool.list_incidents(&next).await.unwrap());
    assert_eq!(second[0].id, page[1].id, "the page after the cursor");
    // Every one of those reads was answered on the caller's thread, none declined.
    assert_eq!(direct.direct_read_counts(), Some((7, 0)));
}

#[tokio::test(flavor = "multi_thread")]
async fn one_statement_read_matches_the_separate_reads_on_postgres() {
    let db = store_postgres::database().await;
    reads_agree(&db.store().await).await;
}

/// A direct read while another connection holds SQLite's write lock mid-transaction (the alert
/// writer during a burst): answered at once from the last commit, without waiting and without
/// the uncommitted change; after the commit the next read sees it.
#[tokio::test(flavor = "multi_thread")]
async fn direct_reads_answer_during_a_write_and_see_only_commits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("incidents.db");
    let s = SqliteStore::open(&path).await.unwrap();
    let id = s.record_alerts(&alerts()).await.unwrap().incidents[0].id;
    let before = s.incident_with_signals(id, 10).await.unwrap().unwrap().incident.title;

    let writer = rusqlite::Connection::open(&path).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    writer
        .execute("UPDATE incidents SET title = 'renamed' WHERE id = ?1", [id.row()])
        .unwrap();
    let counts = s.direct_read_counts().unwrap();
    let during = s.incident_with_signals(id, 10).await.unwrap().unwrap();
    assert_eq!(during.incident.title, before, "no uncommitted change");
    let listed = s
        .list_incidents(&IncidentFilter {
            limit: 5,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed[0].title, before);
    assert_eq!(
        s.direct_read_counts().unwrap(),
        (counts.0 + 2, counts.1),
        "answered directly"
    );

    writer.execute_batch("COMMIT").unwrap();
    let after = s.incident_with_signals(id, 10).await.unwrap().unwrap();
    assert_eq!(after.incident.title, "renamed");
}
