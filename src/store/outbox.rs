//! Outbox port: notifications written in the same transaction as the change that caused
//! them, claimed with a lease by the dispatcher, finished as sent, retried or dead.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::{ChangeKind, IncidentChange, StoreError, Transition, rows::micros};
use crate::domain::{IncidentId, Status, audit::NewAuditEntry};

/// A notification to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutboxRow {
    /// Configured target name (`jira`, `pagerduty`, `slack` or a webhook name).
    pub target: String,
    /// `detect`, `contain`, `notify`, ...
    pub event: String,
    pub incident: Option<IncidentId>,
    /// JSON object describing the event (never secrets).
    pub payload: serde_json::Value,
}

/// Detection hooks: for every incident a detection run creates or reopens, one row per target.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectHooks {
    pub targets: Vec<String>,
    /// Subscribers of `recover`: an alert resolution can move a contained incident to recovered.
    pub recover_targets: Vec<String>,
}

/// Delivery state of an outbox row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    Pending,
    Inflight,
    Sent,
    Dead,
}

impl OutboxStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxStatus::Pending => "pending",
            OutboxStatus::Inflight => "inflight",
            OutboxStatus::Sent => "sent",
            OutboxStatus::Dead => "dead",
        }
    }
    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "pending" => OutboxStatus::Pending,
            "inflight" => OutboxStatus::Inflight,
            "sent" => OutboxStatus::Sent,
            "dead" => OutboxStatus::Dead,
            other => return Err(StoreError::Corrupt(format!("outbox status `{other}`"))),
        })
    }
}

/// A stored outbox row.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OutboxRow {
    /// Row id; also the `Idempotency-Key` of every delivery attempt.
    pub id: i64,
    pub target: String,
    pub event: String,
    pub incident: Option<IncidentId>,
    pub payload: serde_json::Value,
    pub status: OutboxStatus,
    /// Attempts made so far.
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_until: Option<DateTime<Utc>>,
    /// HTTP status of the last attempt, if it got an answer.
    pub last_status: Option<i64>,
    /// Why the last attempt failed (secrets redacted).
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum AttemptOutcome {
    Sent {
        http_status: Option<u16>,
    },
    Retry {
        http_status: Option<u16>,
        error: String,
        next_at: DateTime<Utc>,
    },
    Dead {
        http_status: Option<u16>,
        error: String,
    },
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct OutboxAttempt {
    pub attempt: i64,
    /// When the attempt started.
    pub at: DateTime<Utc>,
    pub http_status: Option<i64>,
    /// `sent`, `retry` or `dead`.
    pub outcome: String,
    pub error: Option<String>,
}

/// Undelivered rows of one target in one state (`/metrics`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxTally {
    pub target: String,
    /// `Pending`, `Inflight` or `Dead`.
    pub status: OutboxStatus,
    pub rows: i64,
    /// When the oldest of them was queued.
    pub oldest: DateTime<Utc>,
}

/// A webhook registered at run time (`hook add`); the secret is an environment variable name.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RegisteredHook {
    pub name: String,
    pub url: String,
    pub secret_env: String,
    pub events: Vec<String>,
    /// The principal that registered it (`cli`, `rest`); `None` for hooks registered before
    /// this was recorded.
    pub added_by: Option<String>,
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Registers (or replaces) a run-time webhook with its `hook` audit entry, in one transaction.
    async fn save_webhook(&self, hook: &RegisteredHook, audit: NewAuditEntry) -> Result<(), StoreError>;
    /// Removes one with its `hook` audit entry, in one transaction; false (and nothing
    /// audited) if there was none.
    async fn delete_webhook(&self, name: &str, audit: NewAuditEntry) -> Result<bool, StoreError>;
    /// By name.
    async fn webhooks(&self) -> Result<Vec<RegisteredHook>, StoreError>;
    /// `transition` that also enqueues `outbox` in the same transaction when the status changed.
    async fn transition_with_outbox(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
        outbox: Vec<NewOutboxRow>,
    ) -> Result<Transition, StoreError>;
    /// Enqueues rows in one transaction (explicit notifications, analyze hooks); returns their ids.
    async fn enqueue_outbox(&self, rows: Vec<NewOutboxRow>, now: DateTime<Utc>) -> Result<Vec<i64>, StoreError>;
    /// Claims up to `limit` due rows (pending and due, or in flight with an expired lease),
    /// leasing them until `now + lease_secs`. Rows of one target and incident go in order: a
    /// row waits while an earlier one of the same pair is undelivered (dead rows do not block).
    async fn claim_outbox(&self, now: DateTime<Utc>, lease_secs: u64, limit: u32)
    -> Result<Vec<OutboxRow>, StoreError>;
    /// Records attempt number `row.attempts + 1` that started at `started` and its outcome.
    async fn finish_outbox(&self, id: i64, started: DateTime<Utc>, outcome: AttemptOutcome) -> Result<(), StoreError>;
    /// Puts dead rows back in the queue, due at `now`: row `id`, or every dead row when `None`.
    /// Appends `audit` (its payload gains `rows`: the requeued ids) in the same transaction,
    /// only when a row was requeued. Attempts and their history are kept. The ids, ascending.
    async fn requeue_dead_outbox(
        &self,
        id: Option<i64>,
        now: DateTime<Utc>,
        audit: NewAuditEntry,
    ) -> Result<Vec<i64>, StoreError>;
    /// Rows newest first, optionally only one status.
    async fn outbox_rows(&self, status: Option<OutboxStatus>, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        self.outbox_rows_before(status, i64::MAX, limit).await
    }
    /// Rows with `id < before`, newest first: the next page of [`Self::outbox_rows`].
    async fn outbox_rows_before(
        &self,
        status: Option<OutboxStatus>,
        before: i64,
        limit: u32,
    ) -> Result<Vec<OutboxRow>, StoreError>;
    async fn outbox_row(&self, id: i64) -> Result<Option<OutboxRow>, StoreError>;
    /// Oldest first.
    async fn outbox_attempts(&self, id: i64) -> Result<Vec<OutboxAttempt>, StoreError>;
    /// Rows not delivered (pending, in flight, dead) by target and status, with the oldest's age.
    async fn outbox_tally(&self) -> Result<Vec<OutboxTally>, StoreError>;
    /// The earliest `next_attempt_at` (or lease end) of rows still to deliver.
    async fn outbox_next_due(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A target's external reference for an incident (Jira issue key, Slack thread ts).
    async fn notify_ref(&self, target: &str, incident: IncidentId) -> Result<Option<String>, StoreError>;
    /// Stores it once; an existing reference wins and is returned.
    async fn set_notify_ref(&self, target: &str, incident: IncidentId, value: &str) -> Result<String, StoreError>;
    /// Records a signed request's `key` until `expires_at`, first dropping keys expired at
    /// `now`; false when the key is already recorded (a replay). Atomic across processes.
    async fn remember_request(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
}

/// Detection hooks: one `detect` row per target for every created or reopened incident.
pub(super) fn detect_hook_rows(hooks: &DetectHooks, actor: &str, changes: &[IncidentChange]) -> Vec<NewOutboxRow> {
    let mut rows = Vec::new();
    for c in changes {
        if !matches!(c.change, ChangeKind::Created | ChangeKind::Reopened) {
            continue;
        }
        for target in &hooks.targets {
            rows.push(NewOutboxRow {
                target: target.clone(),
                event: "detect".into(),
                incident: Some(c.id),
                payload: serde_json::json!({
                    "event": "detect", "incident": c.id, "change": c.change,
                    "new_signals": c.new_signals, "actor": actor,
                }),
            });
        }
    }
    rows
}

/// `recover` rows for incidents that alert resolutions moved from contained to recovered.
pub(super) fn recover_hook_rows(hooks: &DetectHooks, actor: &str, recovered: &[IncidentId]) -> Vec<NewOutboxRow> {
    recovered
        .iter()
        .flat_map(|id| {
            hooks.recover_targets.iter().map(move |target| NewOutboxRow {
                target: target.clone(),
                event: "recover".into(),
                incident: Some(*id),
                payload: serde_json::json!({
                    "event": "recover", "incident": id, "actor": actor,
                    "note": "every alert of the contained incident resolved",
                }),
            })
        })
        .collect()
}

/// The audit entry of a requeue, naming the rows it requeued.
pub(super) fn with_requeued_rows(mut audit: NewAuditEntry, ids: &[i64]) -> NewAuditEntry {
    let mut v = audit.payload.value().clone();
    if let Some(o) = v.as_object_mut() {
        o.insert("rows".into(), serde_json::json!(ids));
    }
    audit.payload = crate::domain::audit::AuditPayload::new(v);
    audit
}

/// What finishing an attempt writes to its `outbox` row and its `outbox_attempts` row.
pub(super) struct AttemptWrite<'a> {
    /// The row's new status: `sent`, `pending` (retry) or `dead`.
    pub status: &'static str,
    /// The attempt's outcome: `sent`, `retry` or `dead`.
    pub outcome: &'static str,
    pub http: Option<i64>,
    pub error: Option<&'a str>,
    /// Next attempt (micros), for a retry.
    pub next: Option<i64>,
    /// When it was sent (micros).
    pub sent: Option<i64>,
}

pub(super) fn attempt_write(outcome: &AttemptOutcome) -> AttemptWrite<'_> {
    let (status, http, error, next, sent) = match outcome {
        AttemptOutcome::Sent { http_status } => ("sent", *http_status, None, None, Some(micros(Utc::now()))),
        AttemptOutcome::Retry {
            http_status,
            error,
            next_at,
        } => (
            "pending",
            *http_status,
            Some(error.as_str()),
            Some(micros(*next_at)),
            None,
        ),
        AttemptOutcome::Dead { http_status, error } => ("dead", *http_status, Some(error.as_str()), None, None),
    };
    let outcome = match status {
        "pending" => "retry",
        s => s,
    };
    AttemptWrite {
        status,
        outcome,
        http: http.map(i64::from),
        error,
        next,
        sent,
    }
}
