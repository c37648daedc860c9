//! The sandbox's simulated worlds (migration 0010) in SQLite. Writes run in `BEGIN IMMEDIATE`,
//! so checking the expected versions and writing happen under SQLite's one writer lock.

use async_trait::async_trait;
use chrono::Utc;
use serde_json::Value;

use super::{SqliteStore, micros};
use crate::store::{
    StoreError,
    sandbox::{SandboxKey, SandboxObject, SandboxStore, SandboxWrite, ns_col, object_from_row},
};

#[async_trait]
impl SandboxStore for SqliteStore {
    async fn sandbox_seed(&self, env: &str, objects: &[(SandboxKey, Value)]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let now = micros(Utc::now());
        let created = sqlx::query("INSERT OR IGNORE INTO sandbox_worlds (env, revision, seeded_at) VALUES (?, 1, ?)")
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
                     VALUES (?, ?, ?, ?, 1, ?, ?)",
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
        let rows = sqlx::query("SELECT * FROM sandbox_objects WHERE env = ? ORDER BY kind, namespace, name")
            .bind(env)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(object_from_row).collect()
    }

    async fn sandbox_write(&self, env: &str, writes: &[SandboxWrite]) -> Result<Option<i64>, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        for w in writes {
            let k = w.key();
            let have: Option<i64> = sqlx::query_scalar(
                "SELECT version FROM sandbox_objects WHERE env = ? AND kind = ? AND namespace = ? AND name = ?",
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
        let Some(revision) = sqlx::query_scalar::<_, i64>(
            "UPDATE sandbox_worlds SET revision = revision + 1 WHERE env = ? RETURNING revision",
        )
        .bind(env)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let now = micros(Utc::now());
        for w in writes {
            let k = w.key();
            match w {
                SandboxWrite::Put { body, .. } => {
                    sqlx::query(
                        "INSERT INTO sandbox_objects (env, kind, namespace, name, version, body, updated_at)
                         VALUES (?, ?, ?, ?, ?, ?, ?)
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
                        "DELETE FROM sandbox_objects WHERE env = ? AND kind = ? AND namespace = ? AND name = ?",
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
