//! The store's ports, one per aggregate, and [`Store`], all of them together (what the service
//! holds as `Arc<dyn Store>`). The one implementation is [`super::SqlStore`].

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::*;
use crate::domain::{Incident, IncidentId, Signal, Status, TimelineEntry};
use crate::domain::{
    audit::{AuditEntry, AuditHead, NewAuditEntry},
    plan::{Approval, Plan},
    policy::Usage,
};

/// Incidents: detection merges, reads, lifecycle moves, detector state.
#[async_trait]
pub trait IncidentStore: Send + Sync {
    /// Merges findings into incidents (dedup by fingerprint) and stores metric points, atomically.
    async fn record_detection(&self, batch: DetectionBatch) -> Result<Vec<IncidentChange>, StoreError>;
    async fn get_incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError>;
    /// Newest activity first.
    async fn list_incidents(&self, filter: &IncidentFilter) -> Result<Vec<Incident>, StoreError>;
    /// Newest first.
    async fn signals(&self, id: IncidentId, limit: u32) -> Result<Vec<Signal>, StoreError>;
    /// The incident, its newest `limit` signals and, for an incident opened from alerts (an
    /// `alertname` label), its alert annotations: `incident_get`'s reads, on one connection.
    async fn incident_with_signals(
        &self,
        id: IncidentId,
        limit: u32,
    ) -> Result<Option<IncidentWithSignals>, StoreError>;
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
    /// How many incidents there are of each (status, type, severity), as stored (`/metrics`).
    async fn incident_tally(&self) -> Result<Vec<IncidentTally>, StoreError>;
}

/// Alertmanager intake.
#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Records one Alertmanager notification atomically: new alert occurrences (by fingerprint
    /// and startsAt) open or update incidents, repeats change nothing, resolutions are noted.
    async fn record_alerts(&self, intake: &AlertIntake) -> Result<AlertIntakeResult, StoreError>;
}

/// The hash-chained audit log and the queries over it.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends one entry to the audit chain (serialised under the write lock, so it never forks).
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Audit entries with `seq > after`, oldest first.
    async fn audit_page(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Newest first.
    async fn audit_recent(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_older(i64::MAX, limit).await
    }
    /// Entries with `seq < before`, newest first: the next page of [`Self::audit_recent`].
    async fn audit_older(&self, before: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// The recorded last seq and hash of the chain.
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError>;
    /// Destructive `application` entries (payload `{"env", "destructive": true}`) of `env`: for
    /// `incident` in all time, and in the environment since `since`.
    async fn destructive_usage(
        &self,
        env: &str,
        incident: Option<IncidentId>,
        since: DateTime<Utc>,
    ) -> Result<Usage, StoreError>;
    /// A plan's audit entries, oldest first (at most `limit`).
    async fn plan_audit(&self, plan_id: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// An incident's newest `limit` audit entries, oldest first.
    async fn incident_audit(&self, id: IncidentId, limit: u32) -> Result<Vec<AuditEntry>, StoreError>;
    /// Spends a one-time code: appends `used` (a `code` entry whose payload names `code_hash`)
    /// unless the plan's history already records that hash as used, in one transaction under
    /// the audit lock, so two dialogs typing one code approve once. False when already spent.
    async fn spend_code(&self, used: NewAuditEntry, code_hash: &str) -> Result<bool, StoreError>;
}

/// Plans and their approvals (each write with its audit entry).
#[async_trait]
pub trait PlanStore: Send + Sync {
    /// Stores a plan (once per id) and its `proposal` audit entry in one transaction.
    async fn save_plan(&self, plan: &Plan, audit: NewAuditEntry) -> Result<StoredPlan, StoreError>;
    async fn get_plan(&self, id: &str) -> Result<Option<StoredPlan>, StoreError>;
    /// Stores an approval and its `approval` audit entry in one transaction.
    async fn save_approval(&self, approval: &Approval, audit: NewAuditEntry) -> Result<(), StoreError>;
    /// Checks the newest approval of a plan and spends it with its `intent` entry, or audits
    /// the refusal; one transaction either way.
    async fn use_approval(&self, req: ApprovalUse) -> Result<ApprovalUseResult, StoreError>;
    /// The newest `proposal` audit entry of a plan.
    async fn plan_proposal(&self, plan_id: &str) -> Result<Option<AuditEntry>, StoreError>;
    /// Plans newest first (at most `limit`), by (created_at, id); with `before`, only those after
    /// that plan in this order (none if it is unknown).
    async fn recent_plans(&self, before: Option<&str>, limit: u32) -> Result<Vec<StoredPlan>, StoreError>;
    /// A plan's newest approval, spent or not.
    async fn latest_approval(&self, plan_id: &str) -> Result<Option<Approval>, StoreError>;
}

/// Applied actions: recorded, reverted, retried, reconciled.
#[async_trait]
pub trait ActionStore: Send + Sync {
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
    /// Plans with an `intent` audit entry but no `outcome`/`reconcile` after it (interrupted).
    async fn unfinished_intents(&self) -> Result<Vec<(String, Option<IncidentId>)>, StoreError>;
}

/// Every port of the store.
pub trait Store:
    IncidentStore
    + AlertStore
    + AuditStore
    + PlanStore
    + ActionStore
    + OutboxStore
    + SandboxStore
    + EntityStore
    + ManageStore
    + Send
    + Sync
    + 'static
{
}

impl<T> Store for T where
    T: IncidentStore
        + AlertStore
        + AuditStore
        + PlanStore
        + ActionStore
        + OutboxStore
        + SandboxStore
        + EntityStore
        + ManageStore
        + Send
        + Sync
        + 'static
{
}
