//! The audit chain. Every transaction that appends to it holds [`Lock::Audit`] (SQLite: the
//! one writer of `BEGIN IMMEDIATE`; PostgreSQL: an advisory lock every replica honours): appends
//! run one at a time, each reading the head the previous one committed, so the chain never forks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Lock, SqlStore};
use crate::{
    domain::{
        IncidentId,
        audit::{AuditEntry, AuditHead, NewAuditEntry},
        canonical_json,
        policy::Usage,
    },
    store::{
        AuditStore, StoreError,
        rows::{audit_from_row, micros},
    },
};

impl SqlStore {
    /// Appends `entry` inside the caller's transaction, which must hold [`Lock::Audit`].
    pub(super) async fn append_audit_in(
        tx: &mut AnyConnection,
        entry: NewAuditEntry,
    ) -> Result<AuditEntry, StoreError> {
        let head = Self::audit_head_in(tx).await?;
        let e = entry.chain(head.as_ref().map(|h| (h.seq, h.hash.as_str())), Utc::now());
        sqlx::query(
            "INSERT INTO audit_log (seq, at, actor, kind, incident_id, plan_id, payload, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(e.seq)
        .bind(micros(e.at))
        .bind(&e.actor)
        .bind(&e.kind)
        .bind(e.incident_id.map(|i| i.row()))
        .bind(&e.plan_id)
        .bind(canonical_json(&e.payload))
        .bind(&e.prev_hash)
        .bind(&e.hash)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO audit_head (id, seq, hash) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
        )
        .bind(e.seq)
        .bind(&e.hash)
        .execute(&mut *tx)
        .await?;
        tracing::debug!(seq = e.seq, actor = %e.actor, kind = %e.kind, payload = %canonical_json(&e.payload), "audit row");
        Ok(e)
    }

    async fn audit_head_in(conn: &mut AnyConnection) -> Result<Option<AuditHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
        Ok(row.map(|r| AuditHead {
            seq: r.get("seq"),
            hash: r.get("hash"),
        }))
    }
}

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let e = Self::append_audit_in(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(e)
    }

    async fn audit_page(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_older(&self, before: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2")
            .bind(before)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::audit_head_in(&mut conn).await
    }

    async fn destructive_usage(
        &self,
        env: &str,
        incident: Option<IncidentId>,
        since: DateTime<Utc>,
    ) -> Result<Usage, StoreError> {
        // Only `application` payloads are parsed (the materialised CTE filters first).
        let row = sqlx::query(&format!(
            "WITH app AS MATERIALIZED (SELECT incident_id, at, payload FROM audit_log WHERE kind = 'application')
             SELECT COUNT(*) FILTER (WHERE incident_id IS NOT NULL AND incident_id = $2) AS per_incident,
                    COUNT(*) FILTER (WHERE at >= $3) AS last_hour
             FROM app WHERE {}",
            self.dialect.destructive_in_env("payload", "$1")
        ))
        .bind(env)
        .bind(incident.map(|i| i.row()))
        .bind(micros(since))
        .fetch_one(&self.pool)
        .await?;
        let count = |c: &str| u32::try_from(row.get::<i64, _>(c)).unwrap_or(u32::MAX);
        Ok(Usage {
            destructive_for_incident: count("per_incident"),
            destructive_last_hour: count("last_hour"),
        })
    }

    async fn plan_audit(&self, plan_id: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE plan_id = $1 ORDER BY seq LIMIT $2")
            .bind(plan_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    async fn spend_code(&self, used: NewAuditEntry, code_hash: &str) -> Result<bool, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let rows = sqlx::query("SELECT * FROM audit_log WHERE plan_id = $1 AND kind = 'code'")
            .bind(&used.plan_id)
            .fetch_all(&mut *tx)
            .await?;
        for row in &rows {
            let e = audit_from_row(row)?;
            if e.payload["event"] == "used" && e.payload["code_hash"] == code_hash {
                return Ok(false);
            }
        }
        Self::append_audit_in(&mut tx, used).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn incident_audit(&self, id: IncidentId, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM (SELECT * FROM audit_log WHERE incident_id = $1 ORDER BY seq DESC LIMIT $2) AS newest \
             ORDER BY seq",
        )
        .bind(id.row())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(audit_from_row).collect()
    }
}
