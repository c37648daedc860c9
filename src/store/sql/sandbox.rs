//! The sandbox's simulated worlds. A write locks its world's row (SQLite: the one writer;
//! PostgreSQL: `FOR UPDATE`) before checking the expected versions, so writers of the same world
//! take turns; seeding relies on the world's primary key (`ON CONFLICT DO NOTHING`).

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

use super::{Lock, SqlStore};
use crate::store::{
    StoreError,
    rows::micros,
    sandbox::{SandboxKey, SandboxObject, SandboxStore, SandboxWrite, ns_col, object_from_row},
};

#[async_trait]
impl SandboxStore for SqlStore {
    async fn sandbox_seed(&self, env: &str, objects: &[(SandboxKey, Value)]) -> Result<bool, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        let now = micros(Utc::now());
        let created = sqlx::query(
            "INSERT INTO sandbox_worlds (env, revision, seeded_at) VALUES ($1, 1, $2) ON CONFLICT (env) DO NOTHING",
        )
        .bind(env)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if created {
            for (key, body) in objects {
                sqlx::query(
                    "INSERT INTO sandbox_objects (env, kind, namespace, name, version, body, updated_at)
                     VALUES ($1, $2, $3, $4, 1, $5, $6)",
                )
                .bind(env)
                .bind(&key.kind)
                .bind(ns_col(key))
                .bind(&key.name)
                .bind(body.to_string())
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
        Ok(created)
    }

    async fn sandbox_objects(&self, env: &str) -> Result<Vec<SandboxObject>, StoreError> {
        let rows = sqlx::query("SELECT * FROM sandbox_objects WHERE env = $1 ORDER BY kind, namespace, name")
            .bind(env)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(object_from_row).collect()
    }

    async fn sandbox_write(&self, env: &str, writes: &[SandboxWrite]) -> Result<Option<i64>, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        let world: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT revision FROM sandbox_worlds WHERE env = $1{}",
            self.dialect.for_update()
        ))
        .bind(env)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(revision) = world.map(|r| r + 1) else {
            return Ok(None);
        };
        for w in writes {
            let k = w.key();
            let have: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM sandbox_objects WHERE env = $1 AND kind = $2 AND namespace = $3 AND name = $4",
            )
            .bind(env)
            .bind(&k.kind)
            .bind(ns_col(k))
            .bind(&k.name)
            .fetch_optional(&mut *tx)
            .await?;
            if have != w.expected() {
                return Ok(None);
            }
        }
        sqlx::query("UPDATE sandbox_worlds SET revision = $2 WHERE env = $1")
            .bind(env)
            .bind(revision)
            .execute(&mut *tx)
            .await?;
        let now = micros(Utc::now());
        for w in writes {
            let k = w.key();
            match w {
                SandboxWrite::Put { body, .. } => {
                    sqlx::query(
                        "INSERT INTO sandbox_objects (env, kind, namespace, name, version, body, updated_at)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (env, kind, namespace, name)
                         DO UPDATE SET version = excluded.version, body = excluded.body, updated_at = excluded.updated_at",
                    )
                    .bind(env)
                    .bind(&k.kind)
                    .bind(ns_col(k))
                    .bind(&k.name)
                    .bind(revision)
                    .bind(body.to_string())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                }
                SandboxWrite::Delete { .. } => {
                    sqlx::query(
                        "DELETE FROM sandbox_objects WHERE env = $1 AND kind = $2 AND namespace = $3 AND name = $4",
                    )
                    .bind(env)
                    .bind(&k.kind)
                    .bind(ns_col(k))
                    .bind(&k.name)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        tx.commit().await?;
        Ok(Some(revision))
    }
}
