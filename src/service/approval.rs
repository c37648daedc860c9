//! Out-of-band human approval of a pending plan (`incident-mcp approve <plan-id>` at a terminal,
//! or REST with an approver's key). Only adapters a human drives call this; no MCP tool does.

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::Serialize;
use serde_json::json;

use super::{IncidentService, PlanReport, PlanStatus, PlanView, ServiceError};
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
    ) -> Result<PlanView, ServiceError> {
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
                "kind": stored.plan.kind,
                "env": stored.plan.env,
                "expires_at": approval.expires_at,
            }),
        );
        if let Some(id) = stored.plan.incident_id {
            audit = audit.incident(id);
        }
        self.store.save_approval(&approval, audit).await?;
        crate::metrics::global().approval(self.channel, crate::metrics::Decision::Approved);
        Ok(ApprovalReport {
            summary: format!(
                "approved {} for {} until {}",
                approval.plan_id,
                approval.principal,
                crate::domain::display_time(&approval.expires_at)
            ),
            plan_id: approval.plan_id,
            plan_hash: approval.plan_hash,
            principal: approval.principal,
            approver: approval.approver,
            expires_at: approval.expires_at,
        })
    }

    /// A human denies a pending plan, with a reason: final, audited (`denial`), shown as
    /// `denied` in the plan view, so the agent learns a human said no. A valid approval given
    /// earlier is void from then on (applying checks for the denial).
    pub async fn deny_plan(&self, plan_id: &str, approver: &str, reason: &str) -> Result<PlanView, ServiceError> {
        let shown = reason.chars().any(|c| !c.is_control() && !is_schema_space(c));
        let reason = crate::domain::clip(&crate::domain::sanitize_untrusted(reason.trim()), 500);
        if !shown || reason.trim().is_empty() {
            return Err(DomainError::invalid("reason", "say why the plan is denied (1-500 characters)").into());
        }
        let view = self.plan_view(plan_id).await?;
        if !matches!(view.plan.status, PlanStatus::Pending | PlanStatus::NotApplied) {
            return Err(ServiceError::Conflict(format!(
                "plan {} is {}; only a pending plan can be denied",
                view.plan.plan_id,
                status_word(view.plan.status)
            )));
        }
        if approver == view.principal {
            return Err(ServiceError::Conflict(format!(
                "{approver} cannot decide on its own plan"
            )));
        }
        let mut audit = NewAuditEntry::new(
            approver,
            AuditKind::Denial,
            json!({"env": view.plan.env, "principal": view.principal, "reason": reason}),
        )
        .plan(plan_id);
        if let Some(id) = view.plan.incident_id {
            audit = audit.incident(id);
        }
        self.store.append_audit(audit).await?;
        crate::metrics::global().approval(self.channel, crate::metrics::Decision::Denied);
        self.plan_view(plan_id).await
    }

    /// A human approves a plan and has the server apply it at once, as the proposer's plan:
    /// the `intent`, `application` and `outcome` entries name the human as actor and the
    /// proposer as principal.
    pub async fn approve_and_apply(&self, plan_id: &str, approver: &str) -> Result<PlanReport, ServiceError> {
        let granted = self.approve_plan(plan_id, approver, 120).await?;
        self.apply_plan_as(plan_id, &granted.principal, approver).await
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
        if !(super::is_human(approver) || approver.starts_with("client:")) {
            return Err(ServiceError::Conflict(format!(
                "{} is not a human approver; nothing was approved",
                crate::domain::clip(approver, 80)
            )));
        }
        let status = self.view_of(stored.clone()).await?.plan.status;
        if !matches!(status, PlanStatus::Pending | PlanStatus::NotApplied) {
            return Err(ServiceError::Conflict(format!(
                "plan {} is {}; only a pending plan can be approved",
                stored.id,
                status_word(status)
            )));
        }
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

/// How a status reads in a sentence.
fn status_word(s: PlanStatus) -> &'static str {
    match s {
        PlanStatus::Pending => "pending",
        PlanStatus::Applied => "already applied",
        PlanStatus::NotApplied => "not applied (its apply failed)",
        PlanStatus::Denied => "denied",
    }
}

/// Schema pattern of a denial's reason: one character that is neither white space (as JSON
/// Schema's `\s` counts it) nor a control character, which is what `deny_plan` requires.
pub const REASON_PATTERN: &str = r"[^\s\x00-\x1f\x7f-\x9f]";

/// White space as ECMAScript's `\s` (JSON Schema patterns) counts it.
fn is_schema_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}
