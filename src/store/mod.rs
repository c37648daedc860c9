//! Persistence port: the `Store` trait and its adapters: SQLite (the embedded default) and
//! PostgreSQL (several replicas on one database). Every write that reports success has been
//! committed (SQLite with `synchronous=FULL`).

mod actions;
mod alert_intake;
mod alerts;
mod audit;
mod merge;
mod open;
mod outbox;
mod postgres;
mod rows;
mod sandbox;
mod sqlite;

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use crate::domain::{Incident, IncidentId, IncidentType, Severity, Signal, Status, TimelineEntry};
use crate::domain::{
    audit::{AuditEntry, AuditHead, NewAuditEntry},
    plan::{Approval, Plan},
    policy::Usage,
};
pub use actions::{ActionFailure, ActionState, AppliedAction, OpenActions, RevertAttempt};
pub use alerts::{AlertIncident, AlertIntake, AlertIntakeResult, AlertOutcome, AlertRecord, IncidentAlertChange};
pub use audit::{ApprovalUse, ApprovalUseResult, StoredPlan};
pub use open::{StoreLocation, open};
pub use outbox::*;
pub use postgres::PgStore;
pub use sandbox::{SandboxKey, SandboxObject, SandboxStore, SandboxWrite};
pub use sqlite::SqliteStore;

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

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        StoreError::Database(e.to_string())
    }
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

/// What happened to an incident during a detection run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new incident was opened.
    Created,
    /// New signals were added to an active incident.
    Updated,
    /// A resolved incident fired again and was reopened.
    Reopened,
    /// Nothing new: every signal was already recorded.
    Unchanged,
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
}

/// Result of a lifecycle move.
#[derive(Debug, Clone)]
pub struct Transition {
    pub incident: Incident,
    pub previous: Status,
    /// False when the incident already had the requested status (idempotent repeat).
    pub changed: bool,
}

#[async_trait]
pub trait Store: OutboxStore + SandboxStore + Send + Sync + 'static {
    /// Merges findings into incidents (dedup by fingerprint) and stores metric points, atomically.
    async fn record_detection(&self, batch: DetectionBatch) -> Result<Vec<IncidentChange>, StoreError>;
    async fn get_incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError>;
    /// Newest activity first.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    /// Newest first.
    async fn signals(&self, id: IncidentId, limit: u32) -> Result<Vec<Signal>, StoreError>;
    async fn signal_groups(&self, id: IncidentId) -> Result<Vec<SignalGroup>, StoreError>;
    /// Oldest first.
    async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>, StoreError>;
    /// Moves an incident along its lifecycle, recording a timeline entry; repeats are no-ops.
    async fn transition(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Transition, StoreError>;
    /// Other incidents sharing an entity with `id`, newest first.
    async fn related(&self, id: IncidentId, limit: u32) -> Result<Vec<Incident>, StoreError>;
    /// Stored detector snapshots of an environment, by (rule, series).
    async fn detector_states(&self, env: &str) -> Result<Vec<DetectorSnapshot>, StoreError>;
    /// The stored read position of an incremental source of an environment.
    async fn source_cursor(&self, env: &str, source: &str) -> Result<Option<String>, StoreError>;
    /// Newest first.
    async fn recent_metrics(&self, limit: u32) -> Result<Vec<MetricPoint>, StoreError>;
    /// Records one Alertmanager notification atomically: new alert occurrences (by fingerprint
    /// and startsAt) open or update incidents, repeats change nothing, resolutions are noted.
    async fn record_alerts(&self, intake: &AlertIntake) -> Result<AlertIntakeResult, StoreError>;

    /// Appends one entry to the audit chain (serialised under the write lock, so it never forks).
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Audit entries with `seq > after`, oldest first.
    async fn audit_page(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Newest first.
    async fn audit_recent(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// The recorded last seq and hash of the chain.
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;
    /// Stores a plan (once per id) and its `proposal` audit entry in one transaction.
    async fn save_plan(&self, plan: &Plan, audit: NewAuditEntry) -> Result<StoredPlan, StoreError>;
    async fn get_plan(&self, id: &str) -> Result<Option<StoredPlan>, StoreError>;
    /// Stores an approval and its `approval` audit entry in one transaction.
    async fn save_approval(&self, approval: &Approval, audit: NewAuditEntry) -> Result<(), StoreError>;
    /// Checks the newest approval of a plan and spends it with its `intent` entry, or audits
    /// the refusal; one transaction either way.
    async fn use_approval(&self, req: ApprovalUse) -> Result<ApprovalUseResult, StoreError>;
    /// Destructive `application` entries (payload `{"env", "destructive": true}`) of `env`: for
    /// `incident` in all time, and in the environment since `since`.
    async fn destructive_usage(
        &self,
        env: &str,
        incident: Option<IncidentId>,
        since: DateTime<Utc>,
    ) -> Result<Usage, StoreError>;

    /// Appends `audit` (application, outcome) and records `action` as applied, in one transaction.
    async fn finish_action(&self, action: Option<&AppliedAction>, audit: Vec<NewAuditEntry>) -> Result<(), StoreError>;
    /// Applied actions not reverted yet.
    async fn open_actions(&self, q: OpenActions) -> Result<Vec<AppliedAction>, StoreError>;
    /// Records a failed apply or revert attempt (audit, retry state, notifications) in one
    /// transaction.
    async fn record_action_failure(&self, f: ActionFailure, now: DateTime<Utc>) -> Result<(), StoreError>;
    /// Marks an action reverted with its `revert` entry, in one transaction; false if it already was.
    async fn mark_reverted(
        &self,
        plan_id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError>;
    /// The newest `proposal` audit entry of a plan.
    async fn plan_proposal(&self, plan_id: &str) -> Result<Option<AuditEntry>, StoreError>;
    /// Plans newest first (at most `limit`), by (created_at, id); with `before`, only those after
    /// that plan in this order (none if it is unknown).
    async fn recent_plans(&self, before: Option<&str>, limit: u32) -> Result<Vec<StoredPlan>, StoreError>;
    /// A plan's newest approval, spent or not.
    async fn latest_approval(&self, plan_id: &str) -> Result<Option<Approval>, StoreError>;
    /// A plan's audit entries, oldest first (at most `limit`).
    async fn plan_audit(&self, plan_id: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// An incident's newest `limit` audit entries, oldest first.
    async fn incident_audit(&self, id: IncidentId, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Plans with an `intent` audit entry but no `outcome`/`reconcile` after it (interrupted).
    async fn unfinished_intents(&self) -> Result<Vec<(String, Option<IncidentId>)>, StoreError>;
}
