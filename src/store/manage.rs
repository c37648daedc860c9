//! Incident management port: incidents declared by hand, the changes people make to an incident
//! (notes, assignments, severity, acknowledgement: `domain::manage` decides what each writes),
//! and what the incident's history and runbooks are read from. Every write here commits its
//! audit entry in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{DetectHooks, NewFinding, NewOutboxRow, OutboxRow, StoreError};
use crate::domain::{Incident, IncidentId, Status, audit::NewAuditEntry, manage::ManageOp};

/// An incident a person declares: opened with its signals, an optional note, the `detect`
/// hooks and its `declaration` audit entry (the incident id is added to it), atomically.
#[derive(Debug, Clone)]
pub struct Declaration {
    pub env: String,
    pub actor: String,
    /// Its fingerprint is unique: a declaration never merges into another incident.
    pub finding: NewFinding,
    pub note: Option<String>,
    pub hooks: DetectHooks,
    pub audit: NewAuditEntry,
}

/// A change a person makes to one incident.
#[derive(Debug, Clone)]
pub struct ManageWrite {
    pub id: IncidentId,
    pub actor: String,
    pub op: ManageOp,
    /// Outbox rows queued when the change is made (an acknowledgement's `ack` hooks).
    pub outbox: Vec<NewOutboxRow>,
}

/// What a [`ManageWrite`] did.
#[derive(Debug, Clone)]
pub struct ManageOutcome {
    /// The incident afterwards.
    pub incident: Incident,
    /// Its status before.
    pub previous: Status,
    /// False when it changed nothing (a repeat): then nothing was written.
    pub changed: bool,
    pub message: String,
}

/// An Alertmanager annotation kept for an incident (sanitised: URLs checked, text redacted).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAnnotation {
    /// `runbook_url`, `dashboard`, `generator_url` or `description`.
    pub name: String,
    pub value: String,
    /// The alert that carried it last.
    pub alertname: String,
    pub updated_at: DateTime<Utc>,
}

/// What `incident_get` reads: the incident, its newest signals and its alert annotations (empty
/// unless it was opened from alerts).
#[derive(Debug, Clone, PartialEq)]
pub struct IncidentWithSignals {
    pub incident: crate::domain::Incident,
    pub signals: Vec<crate::domain::Signal>,
    pub annotations: Vec<StoredAnnotation>,
}

/// People's changes to incidents, and the reads behind an incident's history and runbooks.
#[async_trait]
pub trait ManageStore: Send + Sync {
    /// Opens a declared incident (see [`Declaration`]) and returns its id.
    async fn declare(&self, d: Declaration) -> Result<IncidentId, StoreError>;
    /// Applies `w` under the incident's row lock as `domain::manage::decide` says: the
    /// incident's fields, its timeline entries, the outbox rows and the audit entry, in one
    /// transaction; a change of nothing writes nothing.
    async fn manage(&self, w: ManageWrite) -> Result<ManageOutcome, StoreError>;
    /// The annotations kept from the incident's alerts, by name.
    async fn annotations(&self, id: IncidentId) -> Result<Vec<StoredAnnotation>, StoreError>;
    /// The rules (or alert names) of the incident's signals.
    async fn incident_rules(&self, id: IncidentId) -> Result<Vec<String>, StoreError>;
    /// The incident's outbox rows (notifications), oldest first, at most `limit`.
    async fn incident_outbox(&self, id: IncidentId, limit: u32) -> Result<Vec<OutboxRow>, StoreError>;
}
