//! Acceptance 1: depth 0/1/2/3 grow exactly as the graph says, on SQLite and on PostgreSQL.

use incident_mcp::store::SqlStore;

use super::fixture::*;
use crate::store_postgres;

/// The attacker's incident: the IP, the users it tried and the host it hit, the session of the
/// user who then logged in from elsewhere (and that address), the host the session touched.
fn attack_depths() -> Vec<std::collections::BTreeSet<String>> {
    vec![
        set(&["ip/203.0.113.9"]),
        set(&["host/bastion-1", "user/alice", "user/bob", "user/carol"]),
        set(&["ip/198.51.100.7", "session/4711"]),
        set(&["host/db-1"]),
    ]
}

/// The crash loop: the pod; its deployment, namespace (not walked through) and node; what else
/// crashed on the node; the other pod of that deployment and its node.
fn crash_depths() -> Vec<std::collections::BTreeSet<String>> {
    vec![
        set(&["pod/shop/web-7d9f-abcde"]),
        set(&["deployment/shop/web", "namespace/shop", "node/node-2"]),
        set(&["deployment/shop/cart", "pod/shop/cart-5f6-xyz"]),
        set(&["node/node-3", "pod/shop/cart-5f6-qqq"]),
    ]
}

async fn depths_grow_as_the_graph_says(store: SqlStore) {
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path());
    let (svc, ids) = load(store, config(&log, "")).await;
    let attacker = id_of(&ids, "ip/203.0.113.9");
    let crash = id_of(&ids, "pod/shop/web-7d9f-abcde");
    for (id, want) in [(attacker, attack_depths()), (crash, crash_depths())] {
        for depth in 0..=3 {
            let a = analyze(&svc, id, depth).await;
            let got = by_depth(&a);
            assert_eq!(got, want[..=depth as usize], "{id} at depth {depth}");
            let c = a.correlation.as_ref().unwrap();
            let added: Vec<usize> = want[..=depth as usize].iter().map(|s| s.len()).collect();
            assert_eq!(c.added_per_depth, added);
            assert!(!c.truncated);
        }
    }

    let a = analyze(&svc, attacker, 3).await;
    let c = a.correlation.as_ref().unwrap();
    let entity = |key: &str| c.entities.iter().find(|e| e.entity == key).unwrap();
    // Each entity says how it was reached, and a signal shows it.
    let session = entity("session/4711");
    assert_eq!(session.via, ["host/bastion-1", "user/alice"], "{session:?}");
    let link = session.link.as_ref().expect("an example signal");
    assert_eq!(link.rule, "login-accepted");
    assert!(
        link.message
            .as_deref()
            .unwrap()
            .contains("Accepted password for alice from 198.51.100.7")
    );
    assert_eq!(link.incident_id, id_of(&ids, "user/alice"));
    // Counts: alice is named by 2 failed logins and her login, bob only by his failed login
    // (his login two days later is outside the window).
    assert_eq!((entity("user/alice").signals, entity("user/alice").incidents), (3, 2));
    assert_eq!((entity("user/bob").signals, entity("user/bob").incidents), (1, 1));
    assert_eq!(entity("host/db-1").via, ["session/4711"]);
    // The other incidents the graph touches, with counts; session 5000 (depth 4) only through
    // the database host it shares.
    let touched: Vec<(String, i64, u8)> = c
        .incidents
        .iter()
        .map(|i| (i.title.clone(), i.shared_entities, i.nearest_depth))
        .collect();
    assert_eq!(
        touched,
        [
            ("Login on user/alice".to_string(), 4, 1),
            ("Session activity on session/4711".to_string(), 2, 2),
            ("Session activity on session/5000".to_string(), 1, 3),
        ]
    );
    assert!(
        c.window_from < a.incident.first_seen && c.window_to > a.incident.last_seen,
        "the window is the incident's, widened by the margin"
    );

    // The crash loop touches the rollout at depth 1 (through the deployment).
    let a = analyze(&svc, crash, 1).await;
    let c = a.correlation.as_ref().unwrap();
    assert!(
        c.incidents
            .iter()
            .any(|i| i.title == "DeploymentRolledOut on deployment/shop/web" && i.nearest_depth == 1),
        "{:?}",
        c.incidents
    );
    assert!(c.entities.iter().any(|e| e.entity == "namespace/shop" && e.stop));

    // The existing fields are unchanged: depth 0 has no groups, 3 has raw signals.
    let d0 = analyze(&svc, attacker, 0).await;
    assert!(d0.signal_groups.is_none() && d0.timeline.is_none() && d0.signals.is_none());
    assert_eq!(d0.affected_resources[0].entity, "ip/203.0.113.9");
    let d3 = analyze(&svc, attacker, 3).await;
    assert_eq!(d3.signals.as_ref().unwrap().len(), 4);
}

#[tokio::test]
async fn depths_grow_as_the_graph_says_on_sqlite() {
    crate::common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let store = SqlStore::open(&dir.path().join("incidents.db")).await.unwrap();
    depths_grow_as_the_graph_says(store).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn depths_grow_as_the_graph_says_on_postgres() {
    let db = store_postgres::database().await;
    depths_grow_as_the_graph_says(db.store().await).await;
}

/// The margin is configuration: with none, only signals within the attack's 15 seconds link
/// entities, so alice's login five minutes later is no longer reached.
#[tokio::test]
async fn the_time_window_is_the_incidents_widened_by_the_configured_margin() {
    crate::common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let log = write_log(dir.path());
    let mut cfg = config(&log, "");
    cfg.analysis.margin_secs = 0;
    let store = SqlStore::open(&dir.path().join("incidents.db")).await.unwrap();
    let (svc, ids) = load(store, cfg).await;
    let a = analyze(&svc, id_of(&ids, "ip/203.0.113.9"), 3).await;
    let got = by_depth(&a);
    assert_eq!(got[..2], attack_depths()[..2]);
    assert!(got[2].is_empty() && got[3].is_empty(), "{got:?}");
}
