//! What the store records for Alertmanager notifications (`POST /api/alerts`).

use super::AlertOutcome;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::ChangeKind;
use crate::domain::{IncidentId, IncidentType, Severity, Status};

/// One alert occurrence: an Alertmanager alert fingerprint and its `startsAt`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRecord {
    /// Alertmanager's fingerprint of the alert's label set.
    pub fingerprint: String,
    pub starts_at: DateTime<Utc>,
    /// `endsAt` of a resolved alert.
    pub ends_at: Option<DateTime<Utc>>,
    pub firing: bool,
    pub alertname: String,
    /// Index of the alert's incident in [`AlertIntake::incidents`].
    pub incident: usize,
    /// Sanitised labels.
    pub labels: BTreeMap<String, String>,
    /// Sanitised annotation text for the signal.
    pub message: Option<String>,
    /// The entities its signal names (`domain::entity::extract`); empty: its incident's entity
    /// alone.
    pub entities: Vec<crate::domain::entity::EntityRef>,
    /// Annotations kept for the incident (`runbook_url`, `dashboard`, `generator_url`,
    /// `description`), sanitised: URLs checked, text redacted.
    pub annotations: Vec<(String, String)>,
}

/// The incident an alert belongs to (dedup key: environment + alertname + entity).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertIncident {
    pub fingerprint: String,
    pub title: String,
    pub kind: IncidentType,
    pub severity: Severity,
    pub entity: String,
    /// Sanitised labels of the first alert, copied to a newly opened incident.
    pub labels: BTreeMap<String, String>,
}

/// One notification's worth of alerts, recorded in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertIntake {
    pub env: String,
    /// Timeline actor.
    pub actor: String,
    /// Signal source name.
    pub source: String,
    pub incidents: Vec<AlertIncident>,
    /// Unique by (fingerprint, starts_at).
    pub alerts: Vec<AlertRecord>,
    /// Outbox rows for opened/reopened incidents, committed with the alerts.
    pub hooks: super::DetectHooks,
}

/// What a notification did to one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentAlertChange {
    pub id: IncidentId,
    /// Index in [`AlertIntake::incidents`] of the first alert that touched it.
    pub slot: usize,
    pub change: ChangeKind,
    pub new_alerts: usize,
    pub resolved_alerts: usize,
    /// Alerts of the incident still firing after this notification.
    pub firing_alerts: i64,
    /// Status after this notification.
    pub status: Status,
}

/// Result of [`super::Store::record_alerts`].
#[derive(Debug, Clone, PartialEq)]
pub struct AlertIntakeResult {
    /// Parallel to [`AlertIntake::alerts`].
    pub alerts: Vec<AlertOutcome>,
    /// Every incident an alert of the notification belongs to, in order of first mention.
    pub incidents: Vec<IncidentAlertChange>,
}
