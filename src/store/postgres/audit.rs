//! The audit chain, plans and approvals for PostgreSQL. Every transaction that appends to the
//! chain first takes the advisory lock [`AUDIT_LOCK`]: appends from any replica run one at a
//! time, each reading the head the previous one committed, so the chain never forks. Spending
//! an approval runs under the same lock and is also conditional (`used_at IS NULL`, one row).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::{AUDIT_LOCK, PgStore, lock, micros};
use crate::store::{
    audit::{approval_verdict, refusal_entry},
    rows::{approval_from_row, audit_from_row, plan_from_row},
};
use crate::{
    domain::{
        IncidentId,
        audit::{AuditEntry, AuditHead, NewAuditEntry},
        canonical_json,
        plan::{Approval, Plan},
        policy::Usage,
    },
    store::{ApprovalUse, ApprovalUseResult, StoreError, StoredPlan},
};

impl PgStore {
    /// Opens a transaction holding the audit lock: the head it reads stays the head until commit.
    pub(super) async fn begin_audited(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, AUDIT_LOCK).await?;
        Ok(tx)
    }

    /// Appends `entry` inside the caller's transaction, which must hold [`AUDIT_LOCK`].
    pub(super) async fn append_audit_in(tx: &mut PgConnection, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
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

    async fn audit_head_in(conn: &mut PgConnection) -> Result<Option<AuditHead>, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM audit_head WHERE id = 1")
            .fetch_optional(&mut *conn)
            .await?;
        Ok(row.map(|r| AuditHead {
            seq: r.get("seq"),
            hash: r.get("hash"),
        }))
    }

    pub(super) async fn append_audit_tx(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        let mut tx = self.begin_audited().await?;
        let e = Self::append_audit_in(&mut tx, entry).await?;
        tx.commit().await?;
        Ok(e)
    }

    pub(super) async fn audit_page_q(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2")
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    pub(super) async fn audit_recent_q(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log ORDER BY seq DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    pub(super) async fn audit_head_q(&self) -> Result<Option<AuditHead>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        Self::audit_head_in(&mut conn).await
    }

    pub(super) async fn save_plan_tx(&self, plan: &Plan, audit: NewAuditEntry) -> Result<StoredPlan, StoreError> {
        let body = plan.canonical();
        let (id, hash) = (plan.id(), plan.hash());
        let mut tx = self.begin_audited().await?;
        sqlx::query(
            "INSERT INTO plans (id, hash, env, incident_id, principal, tool, body, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&id)
        .bind(&hash)
        .bind(plan.env.as_str())
        .bind(plan.incident_id.map(|i| i.row()))
        .bind(&plan.principal)
        .bind(plan.kind.as_str())
        .bind(&body)
        .bind(micros(Utc::now()))
        .execute(&mut *tx)
        .await?;
        Self::append_audit_in(&mut tx, audit.plan(id.clone())).await?;
        let row = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        plan_from_row(&row)
    }

    pub(super) async fn get_plan_q(&self, id: &str) -> Result<Option<StoredPlan>, StoreError> {
        let row = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    pub(super) async fn recent_plans_q(&self, before: Option<&str>, limit: u32) -> Result<Vec<StoredPlan>, StoreError> {
        // Keyset paging on (created_at DESC, id): after `before`'s place in that order. An
        // unknown `before` has no place, so nothing follows it.
        let rows = sqlx::query(
            "SELECT * FROM plans
             WHERE $1::text IS NULL
                OR created_at < (SELECT created_at FROM plans WHERE id = $1)
                OR (created_at = (SELECT created_at FROM plans WHERE id = $1) AND id > $1)
             ORDER BY created_at DESC, id LIMIT $2",
        )
        .bind(before)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(plan_from_row).collect()
    }

    pub(super) async fn latest_approval_q(&self, plan_id: &str) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query("SELECT * FROM approvals WHERE plan_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(plan_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(approval_from_row).transpose()?.map(|(_, a)| a))
    }

    pub(super) async fn plan_audit_q(&self, plan_id: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM audit_log WHERE plan_id = $1 ORDER BY seq LIMIT $2")
            .bind(plan_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(audit_from_row).collect()
    }

    pub(super) async fn incident_audit_q(&self, id: IncidentId, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
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

    pub(super) async fn save_approval_tx(&self, a: &Approval, audit: NewAuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin_audited().await?;
        sqlx::query(
            "INSERT INTO approvals (plan_id, plan_hash, principal, approver, approved_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&a.plan_id)
        .bind(&a.plan_hash)
        .bind(&a.principal)
        .bind(&a.approver)
        .bind(micros(a.approved_at))
        .bind(micros(a.expires_at))
        .execute(&mut *tx)
        .await?;
        Self::append_audit_in(&mut tx, audit.plan(a.plan_id.clone())).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn use_approval_tx(&self, req: ApprovalUse) -> Result<ApprovalUseResult, StoreError> {
        // The audit lock is taken before anything is read: a racing replica's spend is then
        // either committed (and seen as `used`) or not started.
        let mut tx = self.begin_audited().await?;
        let stored = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(&req.plan_id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(plan_from_row)
            .transpose()?;
        let approval_row =
            sqlx::query("SELECT * FROM approvals WHERE plan_id = $1 ORDER BY id DESC LIMIT 1 FOR UPDATE")
                .bind(&req.plan_id)
                .fetch_optional(&mut *tx)
                .await?;
        let approval = approval_row.as_ref().map(approval_from_row).transpose()?;
        let verdict = approval_verdict(&req, stored.as_ref(), approval.as_ref().map(|(_, a)| a));
        let out = match verdict {
            Ok(()) => {
                let (row_id, mut a) = approval.expect("verified approvals exist");
                let spent = sqlx::query("UPDATE approvals SET used_at = $1 WHERE id = $2 AND used_at IS NULL")
                    .bind(micros(req.now))
                    .bind(row_id)
                    .execute(&mut *tx)
                    .await?;
                if spent.rows_affected() != 1 {
                    return Err(StoreError::Database("approval spent concurrently".into()));
                }
                a.used_at = Some(req.now);
                Self::append_audit_in(&mut tx, req.intent.plan(req.plan_id.clone())).await?;
                Ok(a)
            }
            Err(refusal) => {
                let entry = refusal_entry(&req, &refusal);
                Self::append_audit_in(&mut tx, entry).await?;
                Err(refusal)
            }
        };
        tx.commit().await?;
        Ok(out)
    }

    pub(super) async fn destructive_usage_q(
        &self,
        env: &str,
        incident: Option<IncidentId>,
        since: DateTime<Utc>,
    ) -> Result<Usage, StoreError> {
        // `destructive` is true (or 1, as SQLite's json_extract compares). Only `application`
        // payloads are parsed (the materialised CTE filters first), as in SQLite.
        let row = sqlx::query(
            "WITH app AS MATERIALIZED (SELECT incident_id, at, payload FROM audit_log WHERE kind = 'application')
             SELECT COUNT(*) FILTER (WHERE incident_id IS NOT NULL AND incident_id = $2) AS per_incident,
                    COUNT(*) FILTER (WHERE at >= $3) AS last_hour
             FROM app
             WHERE payload::jsonb ->> 'env' = $1
               AND payload::jsonb -> 'destructive' IN ('true'::jsonb, '1'::jsonb)",
        )
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
}
