//! A database written before the entity tables existed: the migration gives each recorded
//! signal its subject entity, typed by its prefix, so related and similar incidents work for
//! old incidents too.

use std::borrow::Cow;

use incident_mcp::{
    domain::{IncidentId, entity::EntityKind},
    store::{EntityStore, SqlStore, ports::IncidentStore},
};
use sqlx::{Connection, SqliteConnection};

use crate::store_postgres;

/// Incidents 1 and 2 on one address, 3 on a service, 4 on text without a `kind/` prefix, two
/// signals each, as a build before the entity tables wrote them.
const SEED: &[(i64, &str, &str)] = &[
    (1, "a", "ip/203.0.113.9"),
    (2, "b", "ip/203.0.113.9"),
    (3, "c", "svc/checkout"),
    (4, "d", "no-prefix"),
];
const INCIDENT: &str =
    "INSERT INTO incidents (id, title, kind, env, severity, status, fingerprint, first_seen, last_seen,
                                    labels, created_at, updated_at)
             VALUES ($1, 'old', 'auth', 'prod', 'high', 'open', $2, 1, 1, '{}', $1, $1)";
const SIGNAL: &str = "INSERT INTO signals (incident_id, kind, source, rule, series, entity, value, score, observed_at)
                 VALUES ($1, 'log', 'auth', 'r', 's', $2, 1.0, 1.0, $3)";

/// What the upgraded store reads of the seed.
async fn upgraded(store: SqlStore) {
    let id = IncidentId::from_row;
    let own = store.incident_entities(id(1), &[]).await.unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(
        (own[0].kind, own[0].entity.as_str()),
        (EntityKind::Ip, "ip/203.0.113.9")
    );
    let svc = store.incident_entities(id(3), &[]).await.unwrap();
    assert_eq!(
        (svc[0].kind, svc[0].entity.as_str()),
        (EntityKind::Service, "svc/checkout")
    );
    assert!(
        store.incident_entities(id(4), &[]).await.unwrap().is_empty(),
        "no kind/ prefix: no entity"
    );
    let related: Vec<IncidentId> = store.related(id(1), 10).await.unwrap().iter().map(|i| i.id).collect();
    assert_eq!(related, [id(2)]);
    let window = incident_mcp::store::entities::Window {
        from: chrono::DateTime::from_timestamp_micros(0).unwrap(),
        to: chrono::DateTime::from_timestamp_micros(100).unwrap(),
    };
    let tallies = store.entity_tallies(&[own[0].id], window).await.unwrap();
    assert_eq!(
        tallies.iter().map(|t| t.signals).sum::<i64>(),
        4,
        "both incidents' two signals each"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn signals_recorded_before_the_upgrade_name_their_subject_on_postgres() {
    let db = store_postgres::database().await;
    let mut conn = db.raw().await;
    let mut old = sqlx::migrate!("./migrations/postgres");
    old.migrations = Cow::Owned(old.migrations.iter().filter(|m| m.version < 7).cloned().collect());
    assert_eq!(old.migrations.len(), 6);
    old.run(&mut conn).await.unwrap();
    for (id, fp, entity) in SEED {
        sqlx::query(INCIDENT)
            .bind(id)
            .bind(fp)
            .execute(&mut conn)
            .await
            .unwrap();
        for t in [10_i64, 20] {
            sqlx::query(SIGNAL)
                .bind(id)
                .bind(entity)
                .bind(t)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    conn.close().await.unwrap();
    upgraded(db.store().await).await;
}

#[tokio::test]
async fn signals_recorded_before_the_upgrade_name_their_subject() {
    crate::common::init_logs();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}?mode=rwc", path.display()))
        .await
        .unwrap();
    let mut old = sqlx::migrate!("./migrations/sqlite");
    old.migrations = Cow::Owned(old.migrations.iter().filter(|m| m.version < 15).cloned().collect());
    assert_eq!(old.migrations.len(), 14);
    old.run(&mut conn).await.unwrap();
    for (id, fp, entity) in SEED {
        sqlx::query(INCIDENT)
            .bind(id)
            .bind(fp)
            .execute(&mut conn)
            .await
            .unwrap();
        for t in [10_i64, 20] {
            sqlx::query(SIGNAL)
                .bind(id)
                .bind(entity)
                .bind(t)
                .execute(&mut conn)
                .await
                .unwrap();
        }
    }
    conn.close().await.unwrap();

    upgraded(SqlStore::open(&path).await.expect("the upgrade migrates")).await;
}
