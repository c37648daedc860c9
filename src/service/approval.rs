//! Out-of-band human approval of a pending plan (`incident-mcp approve <plan-id>` at a terminal,
//! or REST with an approver's key). Only adapters a human drives call this; no MCP tool does.

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::{IncidentService, ServiceError};
use crate::domain::{
    DomainError,
    audit::{AuditKind, NewAuditEntry},
    plan::Approval,
};

/// Longest approval validity a human may grant.
pub const MAX_APPROVAL_TTL_SECS: u64 = 3600;

/// What was approved, for whom and until when.
#[derive(Debug, Clone, Serialize, serde::Deserialize, JsonSchema)]
pub struct ApprovalReport {
    pub plan_id: String,
    pub plan_hash: String,
    /// The principal that may apply the plan.
    pub principal: String,
    pub approver: String,
    pub expires_at: DateTime<Utc>,
    pub summary: String,
}

impl IncidentService {
    /// What `approver` would approve, checked as [`Self::approve_plan`] checks it (validity, the
    /// plan and its hash, not their own plan) without granting anything: shown to a human
    /// before they confirm.
    pub async fn approval_preview(
        &self,
        plan_id: &str,
        approver: &str,
        ttl_secs: u64,
    ) -> Result<super::PlanView, ServiceError> {
        self.checked_grant(plan_id, approver, ttl_secs).await?;
        self.plan_view(plan_id).await
    }

    /// Grants a single-use approval of the stored plan's exact hash, valid for `ttl_secs`.
    pub async fn approve_plan(
        &self,
        plan_id: &str,
        approver: &str,
        ttl_secs: u64,
    ) -> Result<ApprovalReport, ServiceError> {
        let (stored, approval) = self.checked_grant(plan_id, approver, ttl_secs).await?;
        let mut audit = NewAuditEntry::new(
            approver,
            AuditKind::Approval,
            json!({
                "plan_hash": approval.plan_hash,
                "principal": approval.principal,
                "tool": stored.plan.tool,
                "env": stored.plan.env,
                "expires_at": approval.expires_at,
            }),
        );
        if let Some(id) = stored.plan.incident_id {
            audit = audit.incident(id);
        }
        self.store.save_approval(&approval, audit).await?;
        Ok(ApprovalReport {
            summary: format!(
                "approved {} for {} until {}",
                approval.plan_id,
                approval.principal,
                approval.expires_at.to_rfc3339()
            ),
            plan_id: approval.plan_id,
            plan_hash: approval.plan_hash,
            principal: approval.principal,
            approver: approval.approver,
            expires_at: approval.expires_at,
        })
    }

    /// The approval `approver` may grant for the stored plan, or why not.
    async fn checked_grant(
        &self,
        plan_id: &str,
        approver: &str,
        ttl_secs: u64,
    ) -> Result<(crate::store::StoredPlan, Approval), ServiceError> {
        if !(1..=MAX_APPROVAL_TTL_SECS).contains(&ttl_secs) {
            return Err(DomainError::invalid(
                "ttl_secs",
                format!("{ttl_secs}s is outside 1..={MAX_APPROVAL_TTL_SECS} seconds"),
            )
            .into());
        }
        let Some(stored) = self.store.get_plan(plan_id).await? else {
            return Err(ServiceError::UnknownPlan(crate::domain::clip(plan_id, 40)));
        };
        let hash = stored.plan.hash();
        if hash != stored.hash || stored.plan.id() != stored.id {
            return Err(ServiceError::Conflict(format!(
                "plan {} does not match its recorded hash; it will not be approved",
                stored.id
            )));
        }
        let ttl = TimeDelta::seconds(ttl_secs as i64);
        let approval = Approval::grant(&stored.plan, approver, Utc::now(), ttl)
            .map_err(|r| ServiceError::Conflict(r.to_string()))?;
        Ok((stored, approval))
    }
}
