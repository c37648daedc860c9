//! Plans and approvals through the SQLite store and the real binary: approvals are
//! single-use, bound to the plan hash and principal, expiring, and every decision is audited.

use crate::common;

use std::path::Path;

use assert_cmd::Command as Cmd;
use chrono::{TimeDelta, Utc};
use common::{at_terminal, bin};
use incident_mcp::{
    domain::{
        Env,
        audit::{AuditKind, NewAuditEntry},
        change::{Change, KubeVerb},
        plan::{Approval, ApprovalRefusal, BlastRadius, DEFAULT_APPROVAL_TTL, Plan, PlanKind, TargetVersion},
        policy::{Action, ActionRequest},
    },
    store::{ApprovalUse, SqliteStore, ports::*},
};
use serde_json::{Value, json};
use sqlx::{Connection, SqliteConnection};

async fn empty_store() -> (tempfile::TempDir, std::path::PathBuf, SqliteStore) {
    common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let store = SqliteStore::open(&db).await.unwrap();
    (dir, db, store)
}

/// Raw SQL on the database file, as someone with write access to it could run.
async fn tamper(db: &Path, statement: &str) {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query(statement).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
}

/// A containment plan of pod `resource` in namespace shop, for `principal`.
pub fn plan(principal: &str, resource: &str) -> Plan {
    let policy = |verb: KubeVerb| Change::Kube {
        verb,
        api_version: "networking.k8s.io/v1".into(),
        kind: "NetworkPolicy".into(),
        namespace: Some("shop".into()),
        name: format!("quarantine-{resource}"),
        patch: None,
        body: None,
        resource_version: None,
    };
    Plan {
        kind: PlanKind::Contain,
        env: Env::parse("prod").unwrap(),
        incident_id: None,
        principal: principal.into(),
        resource: resource.into(),
        request: ActionRequest {
            action: Action::Isolate,
            namespace: Some("shop".into()),
            name: resource.into(),
            labels: Default::default(),
            script: None,
            pods: 1,
            nodes: 0,
            healthy_replicas_after: None,
        },
        params: Default::default(),
        targets: vec![TargetVersion {
            kind: "Pod".into(),
            namespace: Some("shop".into()),
            name: resource.into(),
            resource_version: "10".into(),
        }],
        changes: vec![policy(KubeVerb::Create)],
        inverse: vec![policy(KubeVerb::Delete)],
        blast_radius: BlastRadius::default(),
        ttl_secs: None,
        reverts: None,
    }
}

pub fn use_req(plan_id: &str, caller: &str, now: chrono::DateTime<Utc>, current: Option<Plan>) -> ApprovalUse {
    ApprovalUse {
        plan_id: plan_id.into(),
        caller: caller.into(),
        current,
        now,
        intent: NewAuditEntry::new(caller, AuditKind::Intent, json!({"action": "isolate"})),
    }
}

/// What every store must do with approvals (SQLite here, PostgreSQL in `store_postgres::gate`):
/// for plan `p` of `mcp:s1`, the decisions unknown → (approval) → other principal, hash
/// mismatch, expired, unknown plan → spent once → used, each answered as expected. Returns
/// when the approval was spent.
pub async fn single_use_scenario(store: &dyn Store, p: &Plan) -> chrono::DateTime<Utc> {
    let stored = store
        .save_plan(p, NewAuditEntry::new("mcp:s1", AuditKind::Proposal, json!({})))
        .await
        .unwrap();
    assert_eq!((stored.id.clone(), stored.hash.clone()), (p.id(), p.hash()));
    let now = Utc::now();
    let refused = |r: Result<Approval, ApprovalRefusal>| r.unwrap_err().code();
    // No approval yet.
    assert_eq!(
        refused(store.use_approval(use_req(&p.id(), "mcp:s1", now, None)).await.unwrap()),
        "unknown"
    );
    let a = Approval::grant(p, "human:alice", now, DEFAULT_APPROVAL_TTL).unwrap();
    store
        .save_approval(&a, NewAuditEntry::new("human:alice", AuditKind::Approval, json!({})))
        .await
        .unwrap();
    let mut moved = p.clone();
    moved.targets[0].resource_version = "11".into();
    let attempts = [
        (use_req(&p.id(), "mcp:s2", now, None), "other_principal"),
        (use_req(&p.id(), "mcp:s1", now, Some(moved)), "hash_mismatch"),
        (use_req(&p.id(), "mcp:s1", now + TimeDelta::minutes(6), None), "expired"),
        (use_req("plan-unknown", "mcp:s1", now, None), "unknown"),
    ];
    for (req, code) in attempts {
        assert_eq!(refused(store.use_approval(req).await.unwrap()), code);
    }
    let used = store
        .use_approval(use_req(&p.id(), "mcp:s1", now, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(used.used_at, Some(now));
    assert_eq!(
        refused(store.use_approval(use_req(&p.id(), "mcp:s1", now, None)).await.unwrap()),
        "used"
    );

    now
}

/// `incident_audit`: an incident's newest entries, oldest first, none of another incident's
/// (the approval page's incident timeline). Shared by both stores.
pub async fn incident_audit_scenario(store: &dyn Store) {
    use incident_mcp::domain::IncidentId;
    let (one, two) = (IncidentId::from_row(1), IncidentId::from_row(2));
    for (i, inc) in [one, two, one, one, two, one].into_iter().enumerate() {
        let e = NewAuditEntry::new("cli", AuditKind::Refusal, serde_json::json!({"step": i})).incident(inc);
        store.append_audit(e).await.unwrap();
    }
    store
        .append_audit(NewAuditEntry::new("cli", AuditKind::Refusal, serde_json::json!({})))
        .await
        .unwrap();
    let steps = |v: Vec<incident_mcp::domain::audit::AuditEntry>| -> Vec<i64> {
        v.iter().map(|e| e.payload["step"].as_i64().unwrap()).collect()
    };
    assert_eq!(steps(store.incident_audit(one, 10).await.unwrap()), [0, 2, 3, 5]);
    assert_eq!(
        steps(store.incident_audit(one, 2).await.unwrap()),
        [3, 5],
        "the newest, oldest first"
    );
    assert_eq!(steps(store.incident_audit(two, 10).await.unwrap()), [1, 4]);
    assert!(
        store
            .incident_audit(IncidentId::from_row(3), 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn incident_audit_lists_one_incidents_newest_entries() {
    let (_dir, _db, store) = empty_store().await;
    incident_audit_scenario(&store).await;
}

#[tokio::test]
async fn approvals_are_single_use_principal_bound_and_every_decision_is_audited() {
    let (_dir, db, store) = empty_store().await;
    let p = plan("mcp:s1", "web-1");
    single_use_scenario(&store, &p).await;
    let log = store.audit_recent(100).await.unwrap();
    let kinds: Vec<&str> = log.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "proposal", "refusal", "approval", "refusal", "refusal", "refusal", "refusal", "intent", "refusal"
        ]
    );
    assert!(log.iter().all(|e| e.plan_id.is_some()));
    assert_eq!(log[0].payload["reason"], "used");
    let (code, out, err) = cli(&db, &["audit", "verify", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("9 entries, chain intact"), "{out}");
}

#[tokio::test]
async fn a_tampered_stored_plan_no_longer_matches_its_approval() {
    let (_dir, db, store) = empty_store().await;
    let p = plan("mcp:s1", "web-1");
    store
        .save_plan(&p, NewAuditEntry::new("mcp:s1", AuditKind::Proposal, json!({})))
        .await
        .unwrap();
    let now = Utc::now();
    let a = Approval::grant(&p, "human:alice", now, DEFAULT_APPROVAL_TTL).unwrap();
    store
        .save_approval(&a, NewAuditEntry::new("human:alice", AuditKind::Approval, json!({})))
        .await
        .unwrap();
    tamper(&db, "UPDATE plans SET body = replace(body, 'web-1', 'db-1')").await;
    let r = store.use_approval(use_req(&p.id(), "mcp:s1", now, None)).await.unwrap();
    assert_eq!(r.unwrap_err(), ApprovalRefusal::HashMismatch);
}

/// Runs `incident-mcp ARGS` against `db` as user `alice`.
fn cli(db: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Cmd::new(bin())
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", db)
        .env("USER", "alice")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `approve PLAN --ttl-secs 60 --format json` against `db` as user `alice`, for [`at_terminal`].
fn approve_cmd(db: &Path, plan: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(bin());
    cmd.env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", db)
        .env("USER", "alice")
        .args(["approve", plan, "--ttl-secs", "60", "--format", "json"]);
    cmd
}

#[tokio::test]
async fn a_human_approves_out_of_band_with_the_cli() {
    let (_dir, db, store) = empty_store().await;
    let p = plan("mcp:s1", "web-1");
    store
        .save_plan(&p, NewAuditEntry::new("mcp:s1", AuditKind::Proposal, json!({})))
        .await
        .unwrap();
    let (code, _, err) = cli(&db, &["approve", "plan-0000000000000000"]);
    assert_eq!(code, 1);
    assert!(err.contains("no plan plan-0000000000000000"), "{err}");
    let (code, _, err) = cli(&db, &["approve", &p.id(), "--ttl-secs", "0"]);
    assert_eq!(code, 1);
    assert!(err.contains("ttl"), "{err}");
    // Not at a terminal (an agent's tool call, a pipe): refused, nothing granted.
    let (code, _, err) = cli(&db, &["approve", &p.id(), "--ttl-secs", "60"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not a terminal") && err.contains("Agents cannot approve"),
        "{err}"
    );
    // At a terminal, typing anything but the target's name grants nothing either.
    let (code, _, err) = at_terminal(approve_cmd(&db, &p.id()), "web-2");
    assert_eq!(code, 1);
    assert!(
        err.contains("not the target `web-1`") && err.contains("nothing was changed"),
        "{err}"
    );
    assert!(store.latest_approval(&p.id()).await.unwrap().is_none());
    // The human sees the plan, types its target's name: approved.
    let (code, out, err) = at_terminal(approve_cmd(&db, &p.id()), "web-1");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("proposed for: mcp:s1") && err.contains("Type the target's name `web-1`"),
        "{err}"
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["principal"].as_str(), v["approver"].as_str()),
        (Some("mcp:s1"), Some("human:alice"))
    );
    assert_eq!(v["plan_hash"], p.hash());
    let now = Utc::now();
    let a = store
        .use_approval(use_req(&p.id(), "mcp:s1", now, None))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.approver, "human:alice");
    assert!(a.expires_at <= now + TimeDelta::seconds(60));
    let log = store.audit_recent(10).await.unwrap();
    assert_eq!(
        (log[1].kind.as_str(), log[1].actor.as_str()),
        ("approval", "human:alice")
    );
    // A plan proposed for a human cannot be approved by that same human.
    let own = plan("human:alice", "web-1");
    store
        .save_plan(&own, NewAuditEntry::new("human:alice", AuditKind::Proposal, json!({})))
        .await
        .unwrap();
    let (code, _, err) = cli(&db, &["approve", &own.id()]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot approve its own plan"), "{err}");
}

/// A plan stored by a build from before plans were typed is refused naming what to do, not
/// guessed at (and nothing crashes).
#[tokio::test]
async fn a_plan_stored_by_an_older_version_is_refused_with_a_clear_error() {
    let (_dir, db, store) = empty_store().await;
    let p = plan("mcp:s1", "web-1");
    store
        .save_plan(&p, NewAuditEntry::new("mcp:s1", AuditKind::Proposal, json!({})))
        .await
        .unwrap();
    let old = json!({"env": "prod", "incident_id": null, "principal": "mcp:s1", "tool": "incident_contain",
                     "arguments": {"action": "isolate", "resource": "web-1"}, "targets": [], "changes": [],
                     "inverse": [], "blast_radius": {"pods": 0, "nodes": 0, "workloads": [], "namespaces": []}});
    tamper(&db, &format!("UPDATE plans SET body = '{old}'")).await;
    let e = store.get_plan(&p.id()).await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("plan {} was recorded by an older version; propose it again", p.id())
    );
    let e = incident_mcp::service::ServiceError::from(e);
    assert_eq!(e.class(), incident_mcp::service::ErrorClass::Conflict);
}
