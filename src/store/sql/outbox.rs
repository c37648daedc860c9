//! The outbox: rows inserted inside the caller's transaction; a claim leases the due rows it
//! takes in one statement (PostgreSQL: locking them with `FOR UPDATE SKIP LOCKED`, so replicas
//! claiming at once never get the same row); completions lock their row.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Lock, SqlStore};
use crate::store::{
    outbox::{attempt_write, detect_hook_rows, recover_hook_rows, with_requeued_rows},
    rows::{attempt_from_row, from_micros, micros, outbox_from_row, webhook_from_row},
};
use crate::{
    domain::{IncidentId, Status, audit::NewAuditEntry},
    store::{
        IncidentChange, StoreError, Transition,
        outbox::{
            AttemptOutcome, DetectHooks, NewOutboxRow, OutboxAttempt, OutboxRow, OutboxStatus, OutboxStore,
            OutboxTally, RegisteredHook,
        },
    },
};

const COLUMNS: &str = "id, target, event, incident_id, payload, status, attempts, next_attempt_at, lease_until, \
                       last_status, last_error, created_at, sent_at";

impl SqlStore {
    /// Inserts rows inside an open transaction.
    pub(super) async fn insert_outbox(
        tx: &mut AnyConnection,
        rows: &[NewOutboxRow],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO outbox (target, event, incident_id, payload, next_attempt_at, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&row.target)
            .bind(&row.event)
            .bind(row.incident.map(IncidentId::row))
            .bind(row.payload.to_string())
            .bind(micros(now))
            .bind(micros(now))
            .fetch_one(&mut *tx)
            .await?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Detection hooks: one `detect` row per target for every created or reopened incident.
    pub(super) async fn insert_detect_hooks(
        tx: &mut AnyConnection,
        hooks: &DetectHooks,
        actor: &str,
        changes: &[IncidentChange],
    ) -> Result<(), StoreError> {
        let rows = detect_hook_rows(hooks, actor, changes);
        Self::insert_outbox(tx, &rows, Utc::now()).await.map(drop)
    }

    /// `recover` hooks for incidents that alert resolutions moved from contained to recovered,
    /// in the same transaction as the move.
    pub(super) async fn insert_recover_hooks(
        tx: &mut AnyConnection,
        hooks: &DetectHooks,
        actor: &str,
        recovered: &[IncidentId],
    ) -> Result<(), StoreError> {
        let rows = recover_hook_rows(hooks, actor, recovered);
        Self::insert_outbox(tx, &rows, Utc::now()).await.map(drop)
    }
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn save_webhook(&self, hook: &RegisteredHook, audit: NewAuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        sqlx::query(
            "INSERT INTO webhooks (name, url, secret_env, events, created_at, added_by) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO UPDATE SET url = excluded.url, secret_env = excluded.secret_env, \
             events = excluded.events, added_by = excluded.added_by",
        )
        .bind(&hook.name)
        .bind(&hook.url)
        .bind(&hook.secret_env)
        .bind(serde_json::to_string(&hook.events).unwrap_or_else(|_| "[]".into()))
        .bind(micros(Utc::now()))
        .bind(&hook.added_by)
        .execute(&mut *tx)
        .await?;
        Self::append_audit_in(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_webhook(&self, name: &str, audit: NewAuditEntry) -> Result<bool, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let r = sqlx::query("DELETE FROM webhooks WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let deleted = r.rows_affected() > 0;
        if deleted {
            Self::append_audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }

    async fn webhooks(&self) -> Result<Vec<RegisteredHook>, StoreError> {
        let rows = sqlx::query("SELECT name, url, secret_env, events, added_by FROM webhooks ORDER BY name")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(webhook_from_row).collect()
    }

    async fn transition_with_outbox(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
        outbox: Vec<NewOutboxRow>,
    ) -> Result<Transition, StoreError> {
        self.transition_tx(id, to, actor, note, outbox).await
    }

    async fn enqueue_outbox(&self, rows: Vec<NewOutboxRow>, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        let ids = Self::insert_outbox(&mut tx, &rows, now).await?;
        tx.commit().await?;
        Ok(ids)
    }

    async fn claim_outbox(
        &self,
        now: DateTime<Utc>,
        lease_secs: u64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        let lease = micros(now) + i64::try_from(lease_secs).unwrap_or(i64::MAX / 4) * 1_000_000;
        // PostgreSQL locks the due rows as they are chosen; rows another replica holds are
        // skipped, and a row another replica claimed and committed no longer passes the
        // re-checked condition (READ COMMITTED re-reads the newest version of a row it locks).
        let rows = sqlx::query(&format!(
            "UPDATE outbox SET status = 'inflight', lease_until = $2 WHERE id IN (
               SELECT id FROM outbox o
               WHERE ((status = 'pending' AND next_attempt_at <= $1) OR (status = 'inflight' AND lease_until <= $1))
                 -- In order per target and incident: an earlier undelivered row goes first.
                 AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.target = o.target
                                 AND e.incident_id IS NOT DISTINCT FROM o.incident_id
                                 AND e.id < o.id AND e.status IN ('pending', 'inflight'))
               ORDER BY next_attempt_at, id LIMIT $3{})
             RETURNING {COLUMNS}",
            self.dialect.skip_locked("o")
        ))
        .bind(micros(now))
        .bind(lease)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        let mut out = rows.iter().map(outbox_from_row).collect::<Result<Vec<_>, _>>()?;
        out.sort_by_key(|r| (r.next_attempt_at, r.id));
        Ok(out)
    }

    async fn finish_outbox(&self, id: i64, started: DateTime<Utc>, outcome: AttemptOutcome) -> Result<(), StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        let attempts: i64 = sqlx::query_scalar(&format!(
            "SELECT attempts FROM outbox WHERE id = $1{}",
            self.dialect.for_update()
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::Database(format!("no outbox row {id}")))?;
        let attempt = attempts + 1;
        let w = attempt_write(&outcome);
        sqlx::query(
            "UPDATE outbox SET status = $2, attempts = $3, last_status = $4, last_error = $5,
               next_attempt_at = COALESCE($6, next_attempt_at), sent_at = COALESCE($7, sent_at), lease_until = NULL
             WHERE id = $1",
        )
        .bind(id)
        .bind(w.status)
        .bind(attempt)
        .bind(w.http)
        .bind(w.error)
        .bind(w.next)
        .bind(w.sent)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO outbox_attempts (outbox_id, attempt, at, http_status, outcome, error) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (outbox_id, attempt) DO UPDATE SET at = excluded.at, http_status = excluded.http_status,
               outcome = excluded.outcome, error = excluded.error",
        )
        .bind(id)
        .bind(attempt)
        .bind(micros(started))
        .bind(w.http)
        .bind(w.outcome)
        .bind(w.error)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn requeue_dead_outbox(
        &self,
        id: Option<i64>,
        now: DateTime<Utc>,
        audit: NewAuditEntry,
    ) -> Result<Vec<i64>, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let mut ids: Vec<i64> = sqlx::query_scalar(
            "UPDATE outbox SET status = 'pending', next_attempt_at = $1, lease_until = NULL \
             WHERE status = 'dead' AND (CAST($2 AS BIGINT) IS NULL OR id = $2) RETURNING id",
        )
        .bind(micros(now))
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        ids.sort_unstable();
        if !ids.is_empty() {
            Self::append_audit_in(&mut tx, with_requeued_rows(audit, &ids)).await?;
        }
        tx.commit().await?;
        Ok(ids)
    }

    async fn outbox_rows_before(
        &self,
        status: Option<OutboxStatus>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE (CAST($1 AS TEXT) IS NULL OR status = $1) AND id < $3
             ORDER BY id DESC LIMIT $2"
        ))
        .bind(status.map(OutboxStatus::as_str))
        .bind(i64::from(limit))
        .bind(before)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_from_row).collect()
    }

    async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError> {
        let row = sqlx::query(&format!("SELECT {COLUMNS} FROM outbox WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(outbox_from_row).transpose()
    }

    async fn outbox_attempts(&self, id: i64) -> Result<Vec<OutboxAttempt>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox_attempts WHERE outbox_id = $1 ORDER BY attempt")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(attempt_from_row).collect()
    }

    async fn outbox_tally(&self) -> Result<Vec<OutboxTally>, StoreError> {
        let rows = sqlx::query(
            "SELECT target, status, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox
             WHERE status IN ('pending', 'inflight', 'dead') GROUP BY target, status",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(OutboxTally {
                    target: r.try_get("target")?,
                    status: OutboxStatus::parse(r.try_get("status")?)?,
                    rows: r.try_get("n")?,
                    oldest: from_micros(r.try_get("oldest")?)?,
                })
            })
            .collect()
    }

    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE status WHEN 'pending' THEN next_attempt_at ELSE lease_until END)
             FROM outbox WHERE status IN ('pending', 'inflight')",
        )
        .fetch_one(&self.pool)
        .await?;
        next.map(from_micros).transpose()
    }

    async fn notify_ref(&self, target: &str, incident: IncidentId) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM notify_refs WHERE target = $1 AND incident_id = $2")
                .bind(target)
                .bind(incident.row())
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn set_notify_ref(&self, target: &str, incident: IncidentId, value: &str) -> Result<String, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        // A concurrent insert of the same key makes this wait for it and then do nothing; the
        // read below (a new snapshot) sees whichever value won.
        sqlx::query(
            "INSERT INTO notify_refs (target, incident_id, value, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (target, incident_id) DO NOTHING",
        )
        .bind(target)
        .bind(incident.row())
        .bind(value)
        .bind(micros(Utc::now()))
        .execute(&mut *tx)
        .await?;
        let stored: String = sqlx::query_scalar("SELECT value FROM notify_refs WHERE target = $1 AND incident_id = $2")
            .bind(target)
            .bind(incident.row())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(stored)
    }

    async fn remember_request(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        sqlx::query("DELETE FROM seen_requests WHERE expires_at <= $1")
            .bind(micros(now))
            .execute(&mut *tx)
            .await?;
        // Two replicas inserting one key: the second waits for the first and inserts nothing.
        let added =
            sqlx::query("INSERT INTO seen_requests (key, expires_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING")
                .bind(key)
                .bind(micros(expires_at))
                .execute(&mut *tx)
                .await?
                .rows_affected();
        tx.commit().await?;
        Ok(added == 1)
    }
}
