//! One leader for the response tasks across replicas (issue 15, item 2), on a real PostgreSQL
//! server and the real binary: three `serve` replicas on one database, containments with TTLs in
//! the built-in `dev` environment's sandbox (its simulated cluster lives in that database, so
//! every replica acts on the same one). Each expired containment is reverted exactly once, by
//! the replica holding the leader lock; after `kill -9` of the leader another replica takes the
//! lock and reverts the next expired containment within the documented bound
//! (`leader::POLL` plus one revert pass; the deadline below leaves room for a loaded machine).
//! Expiry is simulated by moving `actions.expires_at` into the past, never by sleeping.

use std::{
    process::{Child, Command},
    sync::{Arc, mpsc},
    time::{Duration, Instant},
};

use incident_mcp::{
    IncidentService,
    config::Config,
    domain::audit::AuditKind,
    service::{Backends, ContainRequest, PlanReport, TTL_ACTOR},
    store::{AuditStore, PgStore, Store},
};
use serde_json::json;

use crate::{common, pg};

/// How long a takeover may take here: `leader::POLL` (1 s), the new leader's start-up revert
/// pass, and slack for a machine running the whole suite.
const TAKEOVER: Duration = Duration::from_secs(20);

struct Replica {
    child: Child,
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `serve` replica on `url`; its stderr lines go to `tx` tagged with `n`.
fn replica(n: usize, url: &str, tx: mpsc::Sender<(usize, String)>) -> Replica {
    let mut cmd = Command::new(common::bin());
    cmd.args(["serve", "--http", "127.0.0.1:0"])
        .env("INCIDENT_MCP_DB", url)
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("RUST_LOG", "info");
    let (child, _url) = common::spawn_http_server(cmd, move |line| {
        let _ = tx.send((n, line.to_owned()));
    });
    Replica { child }
}

/// Waits for a line matching `want` from any replica; returns which one said it.
fn wait_for(rx: &mpsc::Receiver<(usize, String)>, what: &str, within: Duration, want: impl Fn(&str) -> bool) -> usize {
    let end = Instant::now() + within;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((n, line)) if want(&line) => return n,
            Ok(_) => {}
            Err(e) => panic!("no replica said {what} within {within:?} ({e})"),
        }
    }
}

async fn contained(svc: &IncidentService, args: serde_json::Value) -> PlanReport {
    let mut args = args;
    args["ttl_secs"] = json!(60);
    let req: ContainRequest = serde_json::from_value(args).unwrap();
    let p = svc.propose_contain(&req, "mcp:agent").await.expect("plan");
    svc.approve_plan(&p.plan_id, "human:alice", 300).await.expect("approve");
    svc.apply_plan(&p.plan_id, "mcp:agent").await.expect("apply")
}

/// (TTL intents, revert entries) recorded for `plan_id`.
async fn reverts(store: &PgStore, plan_id: &str) -> (usize, usize) {
    let log = store.audit_recent(10_000).await.unwrap();
    let of = |k: AuditKind| {
        log.iter()
            .filter(|e| e.kind == k.as_str() && e.actor == TTL_ACTOR && e.plan_id.as_deref() == Some(plan_id))
            .count()
    };
    (of(AuditKind::Intent), of(AuditKind::Revert))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_replicas_revert_each_expired_containment_once_and_survive_kill_9_of_the_leader() {
    common::init_logs();
    let cluster = pg::PgCluster::start().await;
    cluster.exec("CREATE DATABASE incidents").await;
    let url = cluster.url("postgres", None, "incidents");

    // The incidents and containments, made in process on the same database.
    let store = Arc::new(PgStore::connect(&url).await.expect("connect"));
    let cfg = Config::builtin();
    let dyn_store: Arc<dyn Store> = store.clone();
    let svc = IncidentService::new(dyn_store.clone(), Arc::new(cfg.clone()))
        .with_backends(Backends::from_config(&cfg, &dyn_store));
    let req = serde_json::from_value(json!({"env": "dev"})).unwrap();
    svc.detect(req, incident_mcp::Caller::CLI).await.expect("detect");
    let first = [
        contained(
            &svc,
            json!({"id": "INC-000001", "action": "isolate", "resource": "web-1", "namespace": "shop"}),
        )
        .await,
        contained(
            &svc,
            json!({"id": "INC-000002", "action": "block", "resource": "203.0.113.9", "namespace": "bastion"}),
        )
        .await,
    ];
    let later = contained(
        &svc,
        json!({"id": "INC-000001", "action": "cordon", "resource": "node-a"}),
    )
    .await;

    let (tx, rx) = mpsc::channel();
    let mut replicas: Vec<Option<Replica>> = (0..3).map(|n| Some(replica(n, &url, tx.clone()))).collect();
    let leader = wait_for(&rx, "it runs the response tasks", TAKEOVER, |l| {
        l.contains("this replica runs the response tasks") || l.contains("took over the response tasks")
    });

    let expire =
        |plan: &str| format!("UPDATE actions SET expires_at = expires_at - 3600000000 WHERE plan_id = '{plan}'");
    let db = sqlx::PgPool::connect(&url).await.unwrap();
    for p in &first {
        sqlx::query(&expire(&p.plan_id)).execute(&db).await.unwrap();
    }
    let mut reverted_by = Vec::new();
    for _ in &first {
        reverted_by.push(wait_for(&rx, "it reverted an expired containment", TAKEOVER, |l| {
            l.contains("reverted an expired containment")
        }));
    }
    assert!(
        reverted_by.iter().all(|n| *n == leader),
        "reverted by {reverted_by:?}, leader {leader}"
    );
    for p in &first {
        assert_eq!(reverts(&store, &p.plan_id).await, (1, 1), "{}", p.plan_id);
    }

    // kill -9 of the leader: its session ends, another replica takes the lock and reverts.
    let mut dead = replicas[leader].take().unwrap();
    dead.child.kill().unwrap();
    dead.child.wait().unwrap();
    sqlx::query(&expire(&later.plan_id)).execute(&db).await.unwrap();
    let killed_at = Instant::now();
    let next = wait_for(&rx, "it took over", TAKEOVER, |l| {
        l.contains("took over the response tasks")
    });
    assert_ne!(next, leader);
    let by = wait_for(&rx, "it reverted the next expired containment", TAKEOVER, |l| {
        l.contains("reverted an expired containment") && l.contains(&later.plan_id)
    });
    assert_eq!(by, next);
    eprintln!("takeover and revert {:?} after kill -9", killed_at.elapsed());
    for p in first.iter().chain([&later]) {
        assert_eq!(reverts(&store, &p.plan_id).await, (1, 1), "{}", p.plan_id);
    }
    drop(replicas);
}
