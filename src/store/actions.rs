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
    /// Automatic (TTL) revert attempts made so far.
    pub revert_attempts: u32,
    /// When the next automatic revert attempt is due after a failed one; `None`: at expiry.
    pub next_revert_at: Option<DateTime<Utc>>,
    /// When the server gave up reverting automatically (`revert_failed`).
    pub revert_failed_at: Option<DateTime<Utc>>,
}

/// Where an applied action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ActionState {
    /// In place (a TTL revert may still be pending or retrying).
    Active,
    /// Reverted (by TTL or by a recovery plan).
    Reverted,
    /// Every automatic revert attempt failed: still in place, left for a human.
    RevertFailed,
}

impl AppliedAction {
    pub fn state(&self) -> ActionState {
        match (self.reverted_at, self.revert_failed_at) {
            (Some(_), _) => ActionState::Reverted,
            (None, Some(_)) => ActionState::RevertFailed,
            (None, None) => ActionState::Active,
        }
    }
}

/// A failed automatic revert attempt: the action's retry state after it.
#[derive(Debug, Clone, PartialEq)]
pub struct RevertAttempt {
    pub plan_id: String,
    /// Attempts made, this one included.
    pub attempts: u32,
    /// When the next attempt is due; `None` with `failed_at`: no more attempts.
    pub next_at: Option<DateTime<Utc>>,
    /// Set when the server gives up (`revert_failed`).
    pub failed_at: Option<DateTime<Utc>>,
}

/// A failed apply or revert, recorded in one transaction: its audit entries (the outcome),
/// for a revert the action's retry state, and the `action_failed` notifications.
#[derive(Debug, Clone)]
pub struct ActionFailure {
    pub revert: Option<RevertAttempt>,
    pub audit: Vec<crate::domain::audit::NewAuditEntry>,
    pub outbox: Vec<super::NewOutboxRow>,
}

/// Which applied, not yet reverted actions to list.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpenActions {
    /// Of one incident, newest first.
    Incident(IncidentId),
    /// Whose TTL ran out by this time and whose next revert attempt (after a failed one) is
    /// due by then, not given up; oldest expiry first.
    DueBy(DateTime<Utc>),
    /// Every one, newest first.
    All,
}
