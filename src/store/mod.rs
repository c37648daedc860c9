//! Persistence: the ports (one trait per aggregate, [`Store`] for all of them) and their one
//! adapter, [`SqlStore`], over SQLite (the embedded default) or PostgreSQL (several replicas on
//! one database). Every write that reports success has been committed (SQLite with
//! `synchronous=FULL`).

mod actions;
mod alert_intake;
mod alerts;
mod audit;
pub mod entities;
pub mod manage;
mod open;
mod outbox;
pub mod ports;
mod rows;
mod sandbox;
mod sql;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

pub use crate::domain::grouping::{AlertOutcome, ChangeKind};
use crate::domain::{Incident, IncidentId, IncidentType, Severity, Signal, Status, entity::EntityRef};
pub use actions::{ActionFailure, ActionState, AppliedAction, OpenActions, RevertAttempt};
pub use alerts::{AlertIncident, AlertIntake, AlertIntakeResult, AlertRecord, IncidentAlertChange};
pub use audit::{ApprovalUse, ApprovalUseResult, StoredPlan};
pub use entities::EntityStore;
pub use manage::{Declaration, IncidentWithSignals, ManageOutcome, ManageStore, ManageWrite, StoredAnnotation};
pub use open::{StoreLocation, open};
pub use outbox::*;
pub use ports::{ActionStore, AlertStore, AuditStore, IncidentStore, PlanStore, Store};
pub use sandbox::{SandboxKey, SandboxObject, SandboxStore, SandboxWrite};
pub use sql::{Dialect, PgStore, SqlStore, SqliteStore};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no incident {0}")]
    NotFound(IncidentId),
    #[error("{id} is {from}; it cannot become {to} (allowed from: {allowed})")]
    IllegalTransition {
        id: IncidentId,
        from: Status,
        to: Status,
        allowed: String,
    },
    #[error("database error: {0}")]
    Database(String),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A plan stored by a build before plans were typed; it is not guessed at.
    #[error("plan {0} was recorded by an older version; propose it again")]
    OutdatedPlan(String),
}

impl From<crate::domain::grouping::IllegalTransition> for StoreError {
    fn from(e: crate::domain::grouping::IllegalTransition) -> Self {
        StoreError::IllegalTransition {
            id: e.id,
            from: e.from,
            to: e.to,
            allowed: e.allowed,
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        crate::metrics::global().store_error(error_kind(&e));
        StoreError::Database(e.to_string())
    }
}

/// The kind of a database error, one of `metrics::STORE_ERROR_KINDS`.
fn error_kind(e: &sqlx::Error) -> &'static str {
    match e {
        sqlx::Error::Database(_) => "database",
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed => "pool",
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => "connection",
        sqlx::Error::RowNotFound => "row_not_found",
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) | sqlx::Error::ColumnNotFound(_) => "decode",
        sqlx::Error::Migrate(_) => "migration",
        _ => "other",
    }
}

/// Incidents of one (status, type, severity), as stored: the words are the store's, unchecked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentTally {
    pub status: String,
    pub kind: String,
    pub severity: String,
    pub count: i64,
}

/// One rule firing for one entity, ready to be merged into incidents.
#[derive(Debug, Clone)]
pub struct NewFinding {
    pub fingerprint: String,
    pub title: String,
    pub kind: IncidentType,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub signals: Vec<Signal>,
    /// The entities each signal names (`domain::entity::extract`), parallel to `signals`; a
    /// signal without an entry names its subject alone.
    pub entities: Vec<Vec<EntityRef>>,
}

impl NewFinding {
    /// The entities signal `i` names.
    pub fn entities_of(&self, i: usize) -> std::borrow::Cow<'_, [EntityRef]> {
        match self.entities.get(i) {
            Some(e) => std::borrow::Cow::Borrowed(e.as_slice()),
            None => subject_only(self.signals.get(i).map_or("", |s| s.entity.as_str())),
        }
    }
}

/// The entity a signal's `entity` text names, alone (for signals recorded without extraction).
pub(crate) fn subject_only(entity: &str) -> std::borrow::Cow<'static, [EntityRef]> {
    std::borrow::Cow::Owned(crate::domain::entity::subject(entity).into_iter().collect())
}

/// A metric sample kept for `metrics://recent`.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, JsonSchema)]
pub struct MetricPoint {
    pub env: String,
    pub source: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    pub observed_at: DateTime<Utc>,
}

/// Everything one detection run writes, committed in one transaction.
#[derive(Debug, Clone)]
pub struct DetectionBatch {
    pub env: String,
    pub actor: String,
    pub findings: Vec<NewFinding>,
    pub metrics: Vec<MetricPoint>,
    /// New read positions of incremental sources, committed with the findings.
    pub cursors: Vec<SourceCursor>,
    /// Detector snapshots after this scan, committed with the findings.
    pub detector_states: Vec<DetectorSnapshot>,
    /// Grouping window: new evidence for a resolved incident within this many seconds of its
    /// resolution reopens it; later, it opens a new incident linked to it (`previous_id`).
    pub dedup_window_secs: u64,
    /// Outbox rows for created/reopened incidents, committed with the findings.
    pub hooks: DetectHooks,
}

/// A streaming detector's state for one rule and series (opaque JSON to the store).
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorSnapshot {
    pub rule: String,
    pub series: String,
    pub state: String,
}

/// Where an incremental source's last committed scan stopped (opaque to the store).
#[derive(Debug, Clone, PartialEq)]
pub struct SourceCursor {
    pub source: String,
    pub cursor: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IncidentChange {
    pub id: IncidentId,
    pub change: ChangeKind,
    pub new_signals: usize,
}

/// Aggregate of an incident's signals for one rule/series/entity.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, JsonSchema)]
pub struct SignalGroup {
    /// Rule that fired.
    pub rule: String,
    /// Metric or log series.
    pub series: String,
    /// Affected entity.
    pub entity: String,
    /// Number of signals.
    pub count: i64,
    /// Smallest observed value.
    pub min_value: f64,
    /// Largest observed value.
    pub max_value: f64,
    /// Highest anomaly score.
    pub max_score: f64,
    /// First signal time.
    pub first_at: DateTime<Utc>,
    /// Last signal time.
    pub last_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub env: Option<String>,
    pub status: Option<Status>,
    pub kind: Option<IncidentType>,
    pub limit: u32,
    /// Only incidents listed after this one (most recently active first).
    pub after: Option<crate::domain::IncidentCursor>,
}

/// Result of a lifecycle move.
#[derive(Debug, Clone)]
pub struct Transition {
    pub incident: Incident,
    pub previous: Status,
    /// False when the incident already had the requested status (idempotent repeat).
    pub changed: bool,
}
