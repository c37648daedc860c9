//! Plans and approvals, each write with its audit entry under [`Lock::Audit`]. Spending an
//! approval runs under the same lock, locks the approval row and is conditional
//! (`used_at IS NULL`, one row), so two replicas never spend one approval.

use async_trait::async_trait;
use chrono::Utc;

use super::{Lock, SqlStore};
use crate::{
    domain::{
        audit::{AuditEntry, NewAuditEntry},
        plan::{Approval, Plan},
    },
    store::{
        ApprovalUse, ApprovalUseResult, PlanStore, StoreError, StoredPlan,
        audit::{approval_verdict, refusal_entry},
        rows::{approval_from_row, audit_from_row, micros, plan_from_row},
    },
};

#[async_trait]
impl PlanStore for SqlStore {
    async fn save_plan(&self, plan: &Plan, audit: NewAuditEntry) -> Result<StoredPlan, StoreError> {
        let body = plan.canonical();
        let (id, hash) = (plan.id(), plan.hash());
        let mut tx = self.begin(Lock::Audit).await?;
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

    async fn get_plan(&self, id: &str) -> Result<Option<StoredPlan>, StoreError> {
        let row = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(plan_from_row).transpose()
    }

    async fn save_approval(&self, a: &Approval, audit: NewAuditEntry) -> Result<(), StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
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

    async fn use_approval(&self, req: ApprovalUse) -> Result<ApprovalUseResult, StoreError> {
        // The audit lock is taken before anything is read: a racing replica's spend is then
        // either committed (and seen as `used`) or not started.
        let mut tx = self.begin(Lock::Audit).await?;
        let stored = sqlx::query("SELECT * FROM plans WHERE id = $1")
            .bind(&req.plan_id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(plan_from_row)
            .transpose()?;
        let approval_row = sqlx::query(&format!(
            "SELECT * FROM approvals WHERE plan_id = $1 ORDER BY id DESC LIMIT 1{}",
            self.dialect.for_update()
        ))
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

    async fn plan_proposal(&self, plan_id: &str) -> Result<Option<AuditEntry>, StoreError> {
        let row =
            sqlx::query("SELECT * FROM audit_log WHERE plan_id = $1 AND kind = 'proposal' ORDER BY seq DESC LIMIT 1")
                .bind(plan_id)
                .fetch_optional(&self.pool)
                .await?;
        row.as_ref().map(audit_from_row).transpose()
    }

    async fn recent_plans(&self, before: Option<&str>, limit: u32) -> Result<Vec<StoredPlan>, StoreError> {
        // Keyset paging on (created_at DESC, id): after `before`'s place in that order. An
        // unknown `before` has no place, so nothing follows it.
        let rows = sqlx::query(
            "SELECT * FROM plans
             WHERE CAST($1 AS TEXT) IS NULL
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

    async fn latest_approval(&self, plan_id: &str) -> Result<Option<Approval>, StoreError> {
        let row = sqlx::query("SELECT * FROM approvals WHERE plan_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(plan_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(approval_from_row).transpose()?.map(|(_, a)| a))
    }
}
