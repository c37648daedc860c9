//! What the store records about applied plans: their TTL and whether they were reverted.

use chrono::{DateTime, Utc};

use crate::domain::IncidentId;

/// A plan that was applied; its changes and recorded inverse are in the stored plan.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedAction {
    pub plan_id: String,
    pub incident_id: Option<IncidentId>,
    pub env: String,
    pub applied_at: DateTime<Utc>,
    /// When the TTL runs out and the action is reverted automatically; `None`: never.
    pub expires_at: Option<DateTime<Utc>>,
    pub reverted_at: Option<DateTime<Utc>>,
}

/// Which applied, not yet reverted actions to list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenActions {
    /// Of one incident, newest first.
    Incident(IncidentId),
    /// Whose TTL ran out by this time, oldest expiry first.
    DueBy(DateTime<Utc>),
    /// Every one, newest first.
    All,
}
