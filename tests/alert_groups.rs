//! Concurrent Alertmanager notifications are written in groups (one transaction for the
//! notifications that queued up meanwhile): every caller still gets its own, exact answer and
//! nothing is lost or counted twice, on SQLite and on PostgreSQL (tests/support/pg.rs).

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use incident_mcp::store::{AlertIntake, AlertOutcome, AlertRecord, ChangeKind, IncidentFilter, SqlStore, ports::*};

use crate::{alert_fixtures, common, store_postgres};

const CALLERS: usize = 24;

fn alert(fp: &str, min: u32) -> AlertRecord {
    alert_fixtures::high_latency(fp, Utc.with_ymd_and_hms(2026, 11, 1, 10, min, 0).unwrap())
}

fn intake(k: usize) -> AlertIntake {
    // Two alerts of this caller's own, and one every caller sends (a re-sent occurrence).
    alert_fixtures::checkout_intake(vec![
        alert(&format!("own-{k}-a"), 1),
        alert(&format!("own-{k}-b"), 2),
        alert("shared", 0),
    ])
}

async fn concurrent_callers_get_their_own_answers(store: Arc<SqlStore>) {
    let tasks: Vec<_> = (0..CALLERS)
        .map(|k| {
            let store = store.clone();
            tokio::spawn(async move { store.record_alerts(&intake(k)).await })
        })
        .collect();
    let mut shared_new = 0;
    let mut created = 0;
    for t in tasks {
        let r = t.await.unwrap().expect("record_alerts");
        assert_eq!(r.alerts[..2], [AlertOutcome::New, AlertOutcome::New]);
        shared_new += usize::from(r.alerts[2] == AlertOutcome::New);
        assert_eq!(r.incidents.len(), 1);
        created += usize::from(r.incidents[0].change == ChangeKind::Created);
    }
    assert_eq!(shared_new, 1, "the shared occurrence is new exactly once");
    assert_eq!(created, 1, "one incident is opened, once");
    let incidents = store
        .list_incidents(&IncidentFilter {
            limit: 10,
            ..IncidentFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(incidents.len(), 1);
    assert_eq!(
        incidents[0].signal_count,
        (2 * CALLERS + 1) as i64,
        "a signal per new occurrence"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_groups_concurrent_notifications_without_loss() {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&dir.path().join("incidents.db")).await.unwrap();
    concurrent_callers_get_their_own_answers(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_groups_concurrent_notifications_without_loss() {
    let db = store_postgres::database().await;
    concurrent_callers_get_their_own_answers(Arc::new(db.store().await)).await;
}
