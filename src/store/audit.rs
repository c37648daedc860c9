//! What the store records for the safety gate: the audit chain, plans and approvals.

use chrono::{DateTime, Utc};

use crate::domain::{
    audit::NewAuditEntry,
    plan::{Approval, ApprovalRefusal, Plan},
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
