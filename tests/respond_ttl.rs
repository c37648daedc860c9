//! Issue 4, acceptance 5: a containment with a TTL is reverted (its recorded inverse applied,
//! audited) once the TTL runs out, also when it ran out while the server was down; an action
//! interrupted between its `intent` and its `outcome` is reconciled at start-up.
//! Expiry is simulated by moving `actions.expires_at` into the past, never by sleeping.

use crate::common;
use crate::recording_backend;
use crate::respond;

use std::sync::Arc;

use common::*;
use incident_mcp::{
    IncidentService,
    cluster::Change,
    service::{ContainRequest, GetRequest, PlanReport, RECONCILE_ACTOR, TTL_ACTOR},
    store::SqliteStore,
};
use recording_backend::RecordingBackend;
use respond::*;
use serde_json::json;

async fn contained_with_ttl(h: &Harness, resource: &str, ttl: Option<u64>) -> PlanReport {
    let mut args = contain_args(resource, "shop");
    args["ttl_secs"] = json!(ttl);
    let req: ContainRequest = serde_json::from_value(args).unwrap();
    let p = h.svc.propose_contain(&req, "mcp").await.unwrap();
    assert_eq!(p.ttl_secs, ttl);
    h.svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&p.plan_id, "mcp").await.unwrap()
}

/// The clock moves past the TTL of `plan_id`.
async fn expire(h: &Harness, plan_id: &str) {
    tamper(
        &h.db,
        &format!("UPDATE actions SET expires_at = expires_at - 3600000000 WHERE plan_id = '{plan_id}'"),
    )
    .await;
}

fn changes(v: &[Change]) -> Vec<Change> {
    v.to_vec()
}

async fn status(svc: &IncidentService) -> String {
    let d = svc
        .get(GetRequest {
            id: "INC-000001".parse().unwrap(),
        })
        .await
        .unwrap();
    d.incident.status.to_string()
}

#[tokio::test]
async fn an_expired_containment_is_reverted_once_and_audited() {
    let (h, b) = setup().await;
    let with_ttl = contained_with_ttl(&h, "web-1", Some(600)).await;
    let forever = contained_with_ttl(&h, "web-2", None).await;
    assert_eq!(h.svc.revert_expired().await.unwrap(), 0, "nothing has expired yet");
    expire(&h, &with_ttl.plan_id).await;
    assert_eq!(h.svc.revert_expired().await.unwrap(), 1);
    assert_eq!(h.svc.revert_expired().await.unwrap(), 0, "reverted once");
    let applied = b.applied();
    assert_eq!(applied.len(), 3);
    assert_eq!(applied[2], changes(&with_ttl.inverse));
    assert_ne!(applied[2], changes(&forever.inverse));
    let log = audit(&h).await;
    let ttl: Vec<&str> = log
        .iter()
        .filter(|e| e.actor == TTL_ACTOR)
        .map(|e| e.kind.as_str())
        .collect();
    assert_eq!(ttl, ["intent", "outcome", "revert"]);
    assert!(
        log.iter()
            .filter(|e| e.actor == TTL_ACTOR)
            .all(|e| e.plan_id.as_deref() == Some(&with_ttl.plan_id))
    );
    assert_eq!(status(&h.svc).await, "recovered");
    assert!(h.svc.audit_verify(&[]).await.unwrap().intact);
}

#[tokio::test]
async fn a_ttl_that_ran_out_while_the_server_was_down_is_reverted_at_start_up() {
    let (h, b) = setup().await;
    let p = contained_with_ttl(&h, "web-1", Some(60)).await;
    // The server stops; the TTL runs out; a new server starts on the same database.
    let db = h.db.clone();
    expire(&h, &p.plan_id).await;
    let b2 = RecordingBackend::new();
    let store = Arc::new(SqliteStore::open(&db).await.unwrap());
    let restarted = IncidentService::new(store, Arc::new(config(POLICY))).with_backends(backends(&b2));
    let guard = restarted.start_response_tasks().await.unwrap();
    assert_eq!(b2.applied(), [changes(&p.inverse)], "reverted during start-up");
    assert_eq!(b.apply_count(), 1, "the old process only applied the containment");
    assert_eq!(status(&restarted).await, "recovered");
    drop(guard);
}

#[tokio::test]
async fn an_action_interrupted_between_intent_and_outcome_is_reconciled_at_start_up() {
    let (stuck, entered) = RecordingBackend::stuck();
    let (h, _) = setup_with(stuck.clone()).await;
    let req: ContainRequest = serde_json::from_value(contain_args("web-1", "shop")).unwrap();
    let p = h.svc.propose_contain(&req, "mcp").await.unwrap();
    h.svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
    let svc = h.svc.clone();
    let id = p.plan_id.clone();
    let call = tokio::spawn(async move { svc.apply_plan(&id, "mcp").await });
    entered.notified().await;
    // The process dies inside the backend call: the task is gone, nothing else is written.
    call.abort();
    assert!(call.await.unwrap_err().is_cancelled());
    let kinds: Vec<String> = audit(&h).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("intent"), "{kinds:?}");

    let store = Arc::new(SqliteStore::open(&h.db).await.unwrap());
    let restarted =
        IncidentService::new(store, Arc::new(config(POLICY))).with_backends(backends(&RecordingBackend::new()));
    let _guard = restarted.start_response_tasks().await.unwrap();
    let log = audit(&h).await;
    let tail: Vec<(&str, &str)> = log[log.len() - 2..]
        .iter()
        .map(|e| (e.kind.as_str(), e.actor.as_str()))
        .collect();
    assert_eq!(tail, [("intent", "mcp"), ("reconcile", RECONCILE_ACTOR)]);
    assert_eq!(log.last().unwrap().plan_id.as_deref(), Some(p.plan_id.as_str()));
    assert_eq!(log.last().unwrap().payload["status"], "interrupted");
    // A second start-up does not reconcile it again, and the approval stays spent.
    assert!(restarted.reconcile_interrupted().await.unwrap().is_empty());
    let again = restarted.apply_plan(&p.plan_id, "mcp").await.unwrap_err();
    assert!(again.to_string().contains("already used"), "{again}");
    assert!(restarted.audit_verify(&[]).await.unwrap().intact);
}
