//! Two `PgStore`s on one database, as two replicas of the server: each has its own pool, so
//! nothing in-process serialises them; only the database does.

use std::{collections::HashSet, sync::Arc};

use chrono::Utc;
use incident_mcp::{
    domain::{
        IncidentId, Severity,
        audit::{AuditKind, NewAuditEntry},
    },
    store::{AlertOutcome, ChangeKind, NewOutboxRow, OutboxStore, PgStore, ports::*},
};
use serde_json::json;
use tokio::sync::Barrier;

use super::{batch, database, finding, gate, signal};

async fn two_replicas() -> (super::Db, Arc<PgStore>, Arc<PgStore>) {
    let db = database().await;
    let (a, b) = tokio::join!(db.store(), db.store());
    (db, Arc::new(a), Arc::new(b))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_audit_appends_from_two_replicas_never_fork_the_chain() {
    let (_db, a, b) = two_replicas().await;
    let start = Arc::new(Barrier::new(2));
    let append = |s: Arc<PgStore>, who: &'static str| {
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            let mut seqs = Vec::new();
            for i in 0..50 {
                let e = NewAuditEntry::new(who, AuditKind::Proposal, json!({"i": i}));
                seqs.push(s.append_audit(e).await.unwrap().seq);
            }
            seqs
        })
    };
    let (sa, sb) = tokio::join!(append(a.clone(), "replica-a"), append(b.clone(), "replica-b"));
    let (sa, sb) = (sa.unwrap(), sb.unwrap());
    let all: HashSet<i64> = sa.iter().chain(&sb).copied().collect();
    assert_eq!(all, (1..=100).collect(), "every append got its own seq");
    assert_eq!(gate::verify(&a).await, Ok(100));
    assert_eq!(b.audit_head().await.unwrap().unwrap().seq, 100);
    // Both replicas really interleaved (otherwise this test proves little).
    assert!(sa.windows(2).any(|w| w[1] != w[0] + 1), "no interleaving: {sa:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claims_from_two_replicas_never_hand_out_a_row_twice() {
    let (_db, a, b) = two_replicas().await;
    let now = Utc::now();
    let rows = (1..=200)
        .map(|i| NewOutboxRow {
            target: "ops".into(),
            event: "detect".into(),
            incident: Some(IncidentId::from_row(i)),
            payload: json!({"i": i}),
        })
        .collect();
    let ids: HashSet<i64> = a.enqueue_outbox(rows, now).await.unwrap().into_iter().collect();
    let start = Arc::new(Barrier::new(2));
    let claim = |s: Arc<PgStore>| {
        let start = start.clone();
        tokio::spawn(async move {
            start.wait().await;
            let mut got = Vec::new();
            loop {
                let batch = s.claim_outbox(now, 300, 7).await.unwrap();
                if batch.is_empty() {
                    return got;
                }
                got.extend(batch.into_iter().map(|r| r.id));
            }
        })
    };
    let (ga, gb) = tokio::join!(claim(a.clone()), claim(b.clone()));
    let (ga, gb) = (ga.unwrap(), gb.unwrap());
    let mut seen = HashSet::new();
    for id in ga.iter().chain(&gb) {
        assert!(seen.insert(*id), "row {id} was claimed twice");
    }
    assert_eq!(seen, ids, "every row claimed once");
    assert!(
        !ga.is_empty() && !gb.is_empty(),
        "both replicas claimed (a: {}, b: {})",
        ga.len(),
        gb.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_replicas_spend_an_approval_exactly_once() {
    let (_db, a, b) = two_replicas().await;
    let now = Utc::now();
    for round in 0..20 {
        let p = gate::plan("mcp:s1", &format!("web-{round}"));
        gate::approved(&a, &p, now).await;
        let (ra, rb) = tokio::join!(
            a.use_approval(gate::use_req(&p.id(), "mcp:s1", now, None)),
            b.use_approval(gate::use_req(&p.id(), "mcp:s1", now, None)),
        );
        let results = [ra.unwrap(), rb.unwrap()];
        let spent = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(spent, 1, "round {round}: {results:?}");
        let refused = results.iter().find_map(|r| r.as_ref().err()).unwrap();
        assert_eq!(refused.code(), "used", "round {round}");
    }
    let intents = a
        .audit_recent(1000)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "intent")
        .count();
    assert_eq!(intents, 20, "one intent per plan");
    assert_eq!(gate::verify(&b).await.map(|n| n > 0), Ok(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_scans_on_two_replicas_open_one_incident_per_fingerprint() {
    let (_db, a, b) = two_replicas().await;
    for round in 0..10 {
        let fp = format!("host-{round}");
        let f = || {
            finding(
                &fp,
                Severity::Medium,
                vec![signal("host/x", 0, 90.0), signal("host/x", 1, 95.0)],
            )
        };
        let (ca, cb) = tokio::join!(
            a.record_detection(batch(vec![f()], 3600)),
            b.record_detection(batch(vec![f()], 3600))
        );
        let (ca, cb) = (ca.unwrap().remove(0), cb.unwrap().remove(0));
        assert_eq!(ca.id, cb.id, "round {round}: one incident");
        let mut kinds = [ca.change, cb.change];
        kinds.sort_by_key(|k| *k as u8);
        assert_eq!(kinds, [ChangeKind::Created, ChangeKind::Unchanged], "round {round}");
        assert_eq!(a.get_incident(ca.id).await.unwrap().unwrap().signal_count, 2);
    }
    let all = a
        .list_incidents(&incident_mcp::store::IncidentFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 10);
    assert_eq!(
        a.outbox_rows(None, 100).await.unwrap().len(),
        10,
        "one detect row per incident"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_notification_posted_to_two_replicas_is_recorded_once() {
    let (_db, a, b) = two_replicas().await;
    for round in 0..10 {
        let mut n = super::intake(vec![super::alert(&format!("f{round}"), round, true)]);
        n.incidents[0].fingerprint = format!("prod/HighLatency/{round}");
        let (ra, rb) = tokio::join!(a.record_alerts(&n), b.record_alerts(&n));
        let (ra, rb) = (ra.unwrap(), rb.unwrap());
        let mut outcomes = [ra.alerts[0], rb.alerts[0]];
        outcomes.sort_by_key(|o| *o as u8);
        assert_eq!(outcomes, [AlertOutcome::New, AlertOutcome::Repeat], "round {round}");
        assert_eq!(ra.incidents[0].id, rb.incidents[0].id, "round {round}: one incident");
        assert_eq!(
            a.get_incident(ra.incidents[0].id).await.unwrap().unwrap().signal_count,
            1
        );
    }
}
