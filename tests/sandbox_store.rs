//! The sandbox's store methods (issue 10, item 8) on both adapters: a real SQLite file and a
//! real PostgreSQL server (tests/support/pg.rs), including two replicas racing for one object
//! and the whole sandbox backend on PostgreSQL.

use std::sync::Arc;

use incident_mcp::{
    cluster::{Backend, DryRun, sandbox::SandboxBackend},
    config::Config,
    store::{SandboxKey, SandboxStore, SandboxWrite, ports::*},
};
use serde_json::{Value, json};

use crate::common::Harness;

/// The store methods, for both adapters.
pub async fn store_scenario(s: &dyn Store) {
    let pod = |n: &str| SandboxKey {
        kind: "Pod".into(),
        namespace: Some("shop".into()),
        name: n.into(),
    };
    let node = SandboxKey {
        kind: "Node".into(),
        namespace: None,
        name: "node-a".into(),
    };
    let put = |k: SandboxKey, v: i64, expected: Option<i64>| SandboxWrite::Put {
        key: k,
        body: json!({ "v": v }),
        expected,
    };
    assert!(s.sandbox_objects("dev").await.unwrap().is_empty());
    assert_eq!(
        s.sandbox_write("dev", &[put(pod("x"), 1, None)]).await.unwrap(),
        None,
        "a world that was never seeded takes no writes"
    );
    let seed = vec![(pod("web-1"), json!({"v": 1})), (node.clone(), json!({"n": 1}))];
    assert!(s.sandbox_seed("dev", &seed).await.unwrap());
    assert!(
        !s.sandbox_seed("dev", &[(pod("other"), json!({}))]).await.unwrap(),
        "seeded once"
    );
    let objs = s.sandbox_objects("dev").await.unwrap();
    let keys: Vec<(&SandboxKey, i64)> = objs.iter().map(|o| (&o.key, o.version)).collect();
    assert_eq!(keys, [(&node, 1), (&pod("web-1"), 1)]);
    assert!(
        s.sandbox_objects("prod").await.unwrap().is_empty(),
        "one world per environment"
    );

    let rev = s
        .sandbox_write("dev", &[put(pod("web-1"), 2, Some(1)), put(pod("web-9"), 9, None)])
        .await
        .unwrap();
    assert_eq!(rev, Some(2));
    // A stale expectation writes nothing, not even the writes before it.
    let stale = [put(pod("web-9"), 10, Some(2)), put(pod("web-1"), 3, Some(1))];
    assert_eq!(s.sandbox_write("dev", &stale).await.unwrap(), None);
    assert_eq!(
        s.sandbox_write("dev", &[put(pod("web-9"), 11, None)]).await.unwrap(),
        None,
        "exists"
    );
    let objs = s.sandbox_objects("dev").await.unwrap();
    let bodies: Vec<(&str, &Value, i64)> = objs.iter().map(|o| (o.key.name.as_str(), &o.body, o.version)).collect();
    assert_eq!(
        bodies,
        [
            ("node-a", &json!({"n": 1}), 1),
            ("web-1", &json!({"v": 2}), 2),
            ("web-9", &json!({"v": 9}), 2)
        ]
    );
    let del = SandboxWrite::Delete {
        key: pod("web-9"),
        expected: 2,
    };
    assert_eq!(
        s.sandbox_write("dev", std::slice::from_ref(&del)).await.unwrap(),
        Some(3)
    );
    assert_eq!(s.sandbox_write("dev", &[del]).await.unwrap(), None, "already gone");
    assert_eq!(s.sandbox_objects("dev").await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_sqlite_store_keeps_worlds_with_compare_and_swap_writes() {
    let h = Harness::new().await;
    store_scenario(h.store.as_ref()).await;
}

#[tokio::test]
async fn the_postgres_store_keeps_worlds_and_replicas_never_both_win_a_write() {
    let db = crate::store_postgres::database().await;
    let s = db.store().await;
    store_scenario(&s).await;
    // Two replicas write the same object from the same version at once: exactly one wins.
    let (a, b) = (db.store().await, db.store().await);
    let k = SandboxKey {
        kind: "Pod".into(),
        namespace: Some("shop".into()),
        name: "web-1".into(),
    };
    let w = |v: i64| {
        vec![SandboxWrite::Put {
            key: k.clone(),
            body: json!({ "v": v }),
            expected: Some(2),
        }]
    };
    let (wa, wb) = (w(100), w(200));
    let (ra, rb) = tokio::join!(a.sandbox_write("dev", &wa), b.sandbox_write("dev", &wb));
    let wins = [ra.unwrap(), rb.unwrap()].iter().filter(|r| r.is_some()).count();
    assert_eq!(wins, 1);
    // The whole backend on PostgreSQL: a containment lands in the shared world.
    let store: Arc<dyn SandboxStore> = Arc::new(db.store().await);
    let sb = SandboxBackend::new("stage", store);
    let spec = incident_mcp::cluster::ActionSpec {
        env: "stage".into(),
        incident: "INC-000001".into(),
        action: "isolate".parse().unwrap(),
        namespace: Some("shop".into()),
        resource: "web-7".into(),
        params: Default::default(),
    };
    let plan = sb.plan(&spec).await.unwrap();
    assert_eq!(plan.dry_run, DryRun::Passed);
    let policy = Config::builtin().environments["dev"].policy.clone();
    let out = sb.apply("stage", &policy, &plan.changes).await.unwrap();
    assert!(
        out.iter().all(|o| o["simulated"] == true && o["revision"] == 2),
        "{out:?}"
    );
    let stage = a.sandbox_objects("stage").await.unwrap();
    let web7 = stage.iter().find(|o| o.key.name == "web-7").unwrap();
    assert_eq!(web7.body["metadata"]["labels"]["incident-mcp/quarantine"], "INC-000001");
}
