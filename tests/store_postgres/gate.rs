//! The safety gate's storage on PostgreSQL: the audit chain (verified with `ChainVerifier`),
//! the triggers that make `audit_log` append-only, plans, single-use approvals, applied actions
//! and the keyset order of `recent_plans`.

use chrono::{TimeDelta, Utc};
use incident_mcp::{
    domain::{
        IncidentId,
        audit::{AuditEntry, AuditKind, ChainVerifier, NewAuditEntry},
        plan::{Approval, DEFAULT_APPROVAL_TTL, Plan},
    },
    store::{AppliedAction, OpenActions, PgStore, ports::*},
};
use serde_json::json;

use super::database;

pub use crate::approvals::{plan, use_req};

/// Saves `p` with an approval for its principal granted at `now`.
pub async fn approved(s: &PgStore, p: &Plan, now: chrono::DateTime<Utc>) {
    s.save_plan(p, NewAuditEntry::new(&p.principal, AuditKind::Proposal, json!({})))
        .await
        .unwrap();
    let a = Approval::grant(p, "human:alice", now, DEFAULT_APPROVAL_TTL).unwrap();
    s.save_approval(&a, NewAuditEntry::new("human:alice", AuditKind::Approval, json!({})))
        .await
        .unwrap();
}

/// Every entry, oldest first, through the verifier; the number verified.
pub async fn verify(s: &PgStore) -> Result<u64, String> {
    let mut v = ChainVerifier::default();
    let mut after = 0;
    loop {
        let page: Vec<AuditEntry> = s.audit_page(after, 100).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.seq;
        for e in &page {
            v.push(e).map_err(|b| b.to_string())?;
        }
    }
    v.finish(s.audit_head().await.unwrap().as_ref())
        .map_err(|b| b.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_chain_verifies_and_the_table_refuses_update_delete_and_truncate() {
    let db = database().await;
    let s = db.store().await;
    assert_eq!(verify(&s).await, Ok(0));
    for i in 1..=5 {
        let e = s
            .append_audit(NewAuditEntry::new(
                "cli",
                AuditKind::Proposal,
                json!({"step": i, "ratio": 0.5}),
            ))
            .await
            .unwrap();
        assert_eq!(e.seq, i);
    }
    assert_eq!(verify(&s).await, Ok(5));
    let head = s.audit_head().await.unwrap().unwrap();
    assert_eq!(head.seq, 5);
    assert_eq!(s.audit_recent(1).await.unwrap()[0].hash, head.hash);

    let mut conn = db.raw().await;
    for sql in [
        "UPDATE audit_log SET actor = 'x' WHERE seq = 1",
        "DELETE FROM audit_log WHERE seq = 5",
        "TRUNCATE audit_log",
    ] {
        let e = sqlx::query(sql).execute(&mut conn).await.unwrap_err();
        assert!(e.to_string().contains("audit_log is append-only"), "{sql}: {e}");
    }
    assert_eq!(verify(&s).await, Ok(5), "nothing changed");

    // The owner can switch the trigger off; the chain then shows the edit at its seq.
    for sql in [
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update",
        r#"UPDATE audit_log SET payload = '{"ratio":0.5,"step":33}' WHERE seq = 3"#,
    ] {
        sqlx::query(sql).execute(&mut conn).await.unwrap();
    }
    let broken = verify(&s).await.unwrap_err();
    assert!(broken.contains("broken at seq 3"), "{broken}");
}

#[tokio::test(flavor = "multi_thread")]
async fn approvals_are_single_use_principal_bound_and_every_decision_is_audited() {
    let db = database().await;
    let s = db.store().await;
    let p = plan("mcp:s1", "web-1");
    let now = crate::approvals::single_use_scenario(&s, &p).await;
    assert_eq!(
        s.get_plan(&p.id()).await.unwrap().unwrap().plan,
        p,
        "stored as proposed"
    );
    assert_eq!(
        s.latest_approval(&p.id())
            .await
            .unwrap()
            .unwrap()
            .used_at
            .map(|t| t.timestamp_micros()),
        Some(now.timestamp_micros())
    );

    let kinds: Vec<String> = s
        .plan_audit(&p.id(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "proposal", "refusal", "approval", "refusal", "refusal", "refusal", "intent", "refusal"
        ]
    );
    assert_eq!(s.plan_proposal(&p.id()).await.unwrap().unwrap().kind, "proposal");
    // The intent has no outcome yet: an interrupted apply.
    assert_eq!(s.unfinished_intents().await.unwrap(), [(p.id(), None)]);
    assert_eq!(
        verify(&s).await,
        Ok(9),
        "the unknown plan's refusal is in the chain too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn applied_actions_count_against_budgets_and_revert_once() {
    let db = database().await;
    let s = db.store().await;
    let p = plan("mcp:s1", "web-1");
    let now = Utc::now();
    approved(&s, &p, now).await;
    s.use_approval(use_req(&p.id(), "mcp:s1", now, None))
        .await
        .unwrap()
        .unwrap();
    let inc = IncidentId::from_row(4);
    let action = AppliedAction {
        plan_id: p.id(),
        incident_id: Some(inc),
        env: "prod".into(),
        applied_at: now,
        expires_at: Some(now + TimeDelta::minutes(10)),
        reverted_at: None,
        revert_attempts: 0,
        next_revert_at: None,
        revert_failed_at: None,
    };
    let entries = vec![
        NewAuditEntry::new(
            "mcp:s1",
            AuditKind::Application,
            json!({"env": "prod", "destructive": true}),
        )
        .plan(p.id())
        .incident(inc),
        NewAuditEntry::new("mcp:s1", AuditKind::Outcome, json!({"ok": true})).plan(p.id()),
    ];
    s.finish_action(Some(&action), entries).await.unwrap();
    assert!(
        s.unfinished_intents().await.unwrap().is_empty(),
        "the outcome closes the intent"
    );
    let usage = s
        .destructive_usage("prod", Some(inc), now - TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!((usage.destructive_for_incident, usage.destructive_last_hour), (1, 1));
    let other = s
        .destructive_usage("stage", None, now - TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!((other.destructive_for_incident, other.destructive_last_hour), (0, 0));
    let later = s
        .destructive_usage("prod", None, now + TimeDelta::hours(1))
        .await
        .unwrap();
    assert_eq!(later.destructive_last_hour, 0);

    assert_eq!(s.open_actions(OpenActions::Incident(inc)).await.unwrap().len(), 1);
    assert!(s.open_actions(OpenActions::DueBy(now)).await.unwrap().is_empty());
    let due = s
        .open_actions(OpenActions::DueBy(now + TimeDelta::minutes(11)))
        .await
        .unwrap();
    assert_eq!(due.iter().map(|a| a.plan_id.clone()).collect::<Vec<_>>(), [p.id()]);
    let revert = || NewAuditEntry::new("ttl", AuditKind::Revert, json!({})).plan(p.id());
    assert!(s.mark_reverted(&p.id(), "ttl", now, revert()).await.unwrap());
    assert!(
        !s.mark_reverted(&p.id(), "ttl", now, revert()).await.unwrap(),
        "only once"
    );
    assert!(s.open_actions(OpenActions::Incident(inc)).await.unwrap().is_empty());
    let kinds: Vec<String> = s.audit_recent(3).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["revert", "outcome", "application"], "one revert entry");
    assert!(verify(&s).await.is_ok());
}

#[tokio::test(flavor = "multi_thread")]
async fn recent_plans_page_newest_first_by_time_then_id() {
    let db = database().await;
    let s = db.store().await;
    let mut ids = Vec::new();
    for r in ["a-1", "b-2", "c-3", "d-4", "e-5"] {
        let p = plan("mcp:s1", r);
        s.save_plan(&p, NewAuditEntry::new("mcp:s1", AuditKind::Proposal, json!({})))
            .await
            .unwrap();
        ids.push(p.id());
    }
    // Proposing a plan again stores it once (and audits the proposal).
    let again = s
        .save_plan(
            &plan("mcp:s1", "a-1"),
            NewAuditEntry::new("mcp:s1", AuditKind::Proposal, json!({})),
        )
        .await
        .unwrap();
    assert_eq!(again.id, ids[0]);
    // Fix the times: three plans share one instant, so the id breaks the tie.
    let mut conn = db.raw().await;
    for (id, t) in ids.iter().zip([100_i64, 200, 200, 200, 300]) {
        sqlx::query("UPDATE plans SET created_at = $1 WHERE id = $2")
            .bind(t)
            .bind(id)
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let mut tied = ids[1..4].to_vec();
    tied.sort();
    let expected: Vec<String> = [vec![ids[4].clone()], tied, vec![ids[0].clone()]].concat();
    let mut paged = Vec::new();
    let mut before: Option<String> = None;
    loop {
        let page = s.recent_plans(before.as_deref(), 2).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 2);
        before = page.last().map(|p| p.id.clone());
        paged.extend(page.into_iter().map(|p| p.id));
    }
    assert_eq!(paged, expected);
    assert!(s.recent_plans(Some("plan-unknown"), 10).await.unwrap().is_empty());
    assert_eq!(s.get_plan(&ids[2]).await.unwrap().unwrap().id, ids[2]);
    assert!(s.get_plan("plan-unknown").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn incident_audit_lists_one_incidents_newest_entries() {
    let db = database().await;
    let s = db.store().await;
    crate::approvals::incident_audit_scenario(&s).await;
}
