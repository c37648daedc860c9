//! What the store records for the safety gate: the audit chain, plans and approvals.

use chrono::{DateTime, Utc};

use crate::domain::{
    audit::{AuditKind, NewAuditEntry},
    plan::{Approval, ApprovalRefusal, Plan, verify_approval},
};

/// A stored plan with its id and hash as recorded when it was proposed.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPlan {
    pub id: String,
    pub hash: String,
    pub plan: Plan,
    pub created_at: DateTime<Utc>,
}

/// Using an approval to apply a plan: checked and spent in one transaction with its audit entry.
#[derive(Debug, Clone)]
pub struct ApprovalUse {
    pub plan_id: String,
    /// The principal asking to apply.
    pub caller: String,
    /// The plan recomputed at apply time (fresh target versions); `None` checks the stored plan.
    pub current: Option<Plan>,
    pub now: DateTime<Utc>,
    /// Appended (kind `intent`) when the approval is valid and spent.
    pub intent: NewAuditEntry,
}

/// Outcome of [`ApprovalUse`]: the spent approval, or why it was refused (the refusal is audited).
pub type ApprovalUseResult = Result<Approval, ApprovalRefusal>;

/// Whether `req` may spend `approval`, the latest approval of the plan `stored` (`None`: no
/// such plan).
pub(super) fn approval_verdict(
    req: &ApprovalUse,
    stored: Option<&StoredPlan>,
    approval: Option<&Approval>,
) -> Result<(), ApprovalRefusal> {
    match (stored, req.current.as_ref()) {
        (None, _) => Err(ApprovalRefusal::Unknown {
            plan_id: req.plan_id.clone(),
        }),
        (Some(s), current) => verify_approval(approval, &req.plan_id, current.unwrap_or(&s.plan), &req.caller, req.now),
    }
}

/// The audit entry recording a refused [`ApprovalUse`].
pub(super) fn refusal_entry(req: &ApprovalUse, refusal: &ApprovalRefusal) -> NewAuditEntry {
    let entry = NewAuditEntry::new(
        req.caller.clone(),
        AuditKind::Refusal,
        serde_json::json!({"reason": refusal.code(), "message": refusal.to_string()}),
    )
    .plan(req.plan_id.clone());
    match req.intent.incident_id {
        Some(id) => entry.incident(id),
        None => entry,
    }
}
