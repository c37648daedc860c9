//! Applied actions and the audit query that finds interrupted ones. Every write carries audit
//! entries, so it holds [`Lock::Audit`]; only one replica's revert wins (the conditional
//! update under that lock).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Lock, SqlStore};
use crate::{
    domain::{IncidentId, audit::NewAuditEntry},
    store::{
        ActionFailure, ActionStore, AppliedAction, OpenActions, StoreError,
        rows::{action_from_row, intent_from_row, micros},
    },
};

#[async_trait]
impl ActionStore for SqlStore {
    async fn finish_action(&self, action: Option<&AppliedAction>, audit: Vec<NewAuditEntry>) -> Result<(), StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        for entry in audit {
            Self::append_audit_in(&mut tx, entry).await?;
        }
        if let Some(a) = action {
            sqlx::query(
                "INSERT INTO actions (plan_id, incident_id, env, applied_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (plan_id) DO NOTHING",
            )
            .bind(&a.plan_id)
            .bind(a.incident_id.map(|i| i.row()))
            .bind(&a.env)
            .bind(micros(a.applied_at))
            .bind(a.expires_at.map(micros))
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn open_actions(&self, q: OpenActions) -> Result<Vec<AppliedAction>, StoreError> {
        let order = self.dialect.actions_order();
        let rows = match q {
            OpenActions::Incident(id) => {
                sqlx::query(&format!(
                    "SELECT * FROM actions WHERE reverted_at IS NULL AND incident_id = $1
                     ORDER BY applied_at DESC, {order} DESC"
                ))
                .bind(id.row())
                .fetch_all(&self.pool)
                .await?
            }
            OpenActions::All => {
                sqlx::query(&format!(
                    "SELECT * FROM actions WHERE reverted_at IS NULL ORDER BY applied_at DESC, {order} DESC"
                ))
                .fetch_all(&self.pool)
                .await?
            }
            OpenActions::DueBy(t) => {
                sqlx::query(&format!(
                    "SELECT * FROM actions WHERE reverted_at IS NULL AND revert_failed_at IS NULL
                     AND expires_at IS NOT NULL AND expires_at <= $1
                     AND (next_revert_at IS NULL OR next_revert_at <= $1) ORDER BY expires_at, {order}"
                ))
                .bind(micros(t))
                .fetch_all(&self.pool)
                .await?
            }
        };
        rows.iter().map(action_from_row).collect()
    }

    async fn record_action_failure(&self, f: ActionFailure, now: DateTime<Utc>) -> Result<(), StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        for entry in f.audit {
            Self::append_audit_in(&mut tx, entry).await?;
        }
        if let Some(r) = &f.revert {
            sqlx::query(
                "UPDATE actions SET revert_attempts = $1, next_revert_at = $2, revert_failed_at = $3
                 WHERE plan_id = $4 AND reverted_at IS NULL",
            )
            .bind(i64::from(r.attempts))
            .bind(r.next_at.map(micros))
            .bind(r.failed_at.map(micros))
            .bind(&r.plan_id)
            .execute(&mut *tx)
            .await?;
        }
        Self::insert_outbox(&mut tx, &f.outbox, now).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn mark_reverted(
        &self,
        plan_id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let done = sqlx::query(
            "UPDATE actions SET reverted_at = $1, reverted_by = $2 WHERE plan_id = $3 AND reverted_at IS NULL",
        )
        .bind(micros(at))
        .bind(by)
        .bind(plan_id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if done {
            Self::append_audit_in(&mut tx, audit).await?;
        }
        tx.commit().await?;
        Ok(done)
    }

    /// Plan ids with an `intent` entry but no later `outcome` or `reconcile` entry.
    async fn unfinished_intents(&self) -> Result<Vec<(String, Option<IncidentId>)>, StoreError> {
        let rows = sqlx::query(
            "SELECT i.plan_id, i.incident_id FROM audit_log i
             WHERE i.kind = 'intent' AND i.plan_id IS NOT NULL AND NOT EXISTS (
                 SELECT 1 FROM audit_log o WHERE o.plan_id = i.plan_id AND o.seq > i.seq
                 AND o.kind IN ('outcome', 'reconcile'))
             ORDER BY i.seq",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(intent_from_row).collect()
    }
}
