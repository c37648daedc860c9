//! Use-cases. The MCP tools, the REST API and the CLI all call `IncidentService`,
//! so the three cannot disagree. Depends on ports (`Store`), never on a protocol.

mod alert_payload;
mod alerts;
mod analyze;
mod approval;
mod approvers;
mod audit;
mod codes;
mod containments;
mod correlate;
mod declare;
mod defaults;
mod detect;
mod detect_summary;
mod error;
mod exposition;
mod gate;
mod insight;
mod kube_context;
mod lifecycle;
mod manage;
mod manage_types;
mod next;
mod notify;
mod outbox;
mod postmortem;
mod progress;
mod respond;
mod review;
mod sandbox;
mod similar;
mod slack_interactions;
mod suggest;
mod types;
mod undo;

use std::sync::Arc;

use tokio::sync::broadcast;

pub use alerts::{
    ALERT_ACTOR, ALERT_SOURCE, AlertIncidentReport, AlertIntakeReport, AlertStatus, AlertmanagerPayload, WebhookAlert,
    alert_entity,
};
pub use approval::{ApprovalReport, MAX_APPROVAL_TTL_SECS, REASON_PATTERN};
pub use approvers::{ApproverDirectory, KeyOwner, hash_password, human, is_human, password_hash_is_valid};
pub use audit::{AuditList, AuditListRequest, AuditVerification};
pub use codes::{IssuedCode, MAX_CODE_FAILURES};
pub use containments::{ActiveContainment, ContainmentList, ContainmentsRequest};
pub use detect_summary::alert_line;
pub use error::{ERROR_CODES, ErrorClass, ServiceError};
pub use insight::*;
pub use manage::DECLARED_ENTITY;
pub use manage_types::*;
pub use next::{NextStep, Phrasebook, with_step};
pub use notify::{DispatcherGuard, NotifyReport, NotifyRequest, OutboxList, OutboxListRequest, origin};
pub use outbox::{OutboxRetry, OutboxRetryRequest, RetryTarget};
pub use progress::{NoProgress, Progress};
pub use respond::confirm::{Answer, Confirmation, Question};
pub use respond::defaults::{ContainDraft, ContainScope, RecoverDraft};
pub use respond::ttl::{RECONCILE_ACTOR, TTL_ACTOR};
pub use respond::types::*;
pub use review::{IncidentHistory, InverseCheck, PlanReview};
pub use sandbox::SandboxView;
pub use slack_interactions::{
    MAX_SKEW_SECS as SLACK_MAX_SKEW_SECS, SLACK_APPROVAL_TTL_SECS, SlackAnswer, SlackRequest, slack_signature,
};
pub use types::*;

use crate::{config::Config, domain::IncidentId, store::Store};

/// Who is calling, for the timeline and for what it may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Recorded as the actor in timelines.
    pub actor: &'static str,
    /// Only a human at the terminal may name arbitrary files as sources.
    pub may_read_files: bool,
}

impl Caller {
    /// A human at the server's shell (the CLI): may also replace or remove run-time webhooks
    /// another principal added.
    pub fn at_server_shell(&self) -> bool {
        self.may_read_files
    }

    pub const MCP: Caller = Caller {
        actor: "mcp",
        may_read_files: false,
    };
    pub const REST: Caller = Caller {
        actor: "rest",
        may_read_files: false,
    };
    pub const CLI: Caller = Caller {
        actor: "cli",
        may_read_files: true,
    };
}

/// A change other parts of the server may want to announce (MCP resource notifications).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncidentEvent {
    Created(IncidentId),
    Changed(IncidentId),
}

/// The service layer.
#[derive(Clone)]
pub struct IncidentService {
    store: Arc<dyn Store>,
    config: Arc<Config>,
    events: broadcast::Sender<IncidentEvent>,
    /// Scans run one at a time in a process, so cursors and detector snapshots advance in order.
    scan_lock: Arc<tokio::sync::Mutex<()>>,
    /// Containment/recovery backends (none: contain and recover refuse).
    backends: Arc<Backends>,
    /// The humans who may approve, with their credentials.
    approvers: Arc<ApproverDirectory>,
    /// Delivers the outbox, with the dispatcher's clock (wired by `app`; none: no delivery).
    notifier: Option<(Arc<dyn crate::notify::Notifier>, Arc<dyn crate::notify::Clock>)>,
    /// The human channel an adapter decides plans on ([`Self::via`]), for the metrics.
    channel: Option<crate::metrics::Channel>,
}

impl IncidentService {
    pub fn new(store: Arc<dyn Store>, config: Arc<Config>) -> Self {
        let (events, _) = broadcast::channel(256);
        Self {
            store,
            events,
            scan_lock: Arc::default(),
            backends: Arc::default(),
            approvers: Arc::new(ApproverDirectory::from_config(&config)),
            notifier: None,
            channel: None,
            config,
        }
    }

    /// The same service, deciding plans on `channel` (counted in
    /// `incident_mcp_approvals_total`; approvals and denials are the same either way).
    pub fn via(&self, channel: crate::metrics::Channel) -> Self {
        Self {
            channel: Some(channel),
            ..self.clone()
        }
    }

    /// The same service delivering its outbox through `notifier`, with `clock` as now.
    pub fn with_notifier(
        mut self,
        notifier: Arc<dyn crate::notify::Notifier>,
        clock: Arc<dyn crate::notify::Clock>,
    ) -> Self {
        self.notifier = Some((notifier, clock));
        self
    }

    /// The same service acting through `backends` for contain and recover.
    pub fn with_backends(mut self, backends: Backends) -> Self {
        self.backends = Arc::new(backends);
        self
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The approvers and their credentials.
    pub fn approvers(&self) -> &ApproverDirectory {
        &self.approvers
    }

    /// Subscribes to incident creations and changes made through this service.
    pub fn subscribe(&self) -> broadcast::Receiver<IncidentEvent> {
        self.events.subscribe()
    }

    fn announce(&self, e: IncidentEvent) {
        // No receivers is fine: nobody is subscribed.
        let _ = self.events.send(e);
    }

    /// Announces an incident change to subscribers and counts it in `tally` as
    /// `(created, updated)`; reopened counts as updated, unchanged is neither.
    fn announce_change(&self, id: IncidentId, change: crate::store::ChangeKind, tally: &mut (usize, usize)) {
        match change {
            crate::store::ChangeKind::Created => {
                tally.0 += 1;
                self.announce(IncidentEvent::Created(id));
            }
            crate::store::ChangeKind::Updated | crate::store::ChangeKind::Reopened => {
                tally.1 += 1;
                self.announce(IncidentEvent::Changed(id));
            }
            crate::store::ChangeKind::Unchanged => {}
        }
    }

    /// Latest ingested metric points, newest first.
    pub async fn recent_metrics(&self, limit: u32) -> Result<Vec<crate::store::MetricPoint>, ServiceError> {
        Ok(self.store.recent_metrics(limit.clamp(1, 1000)).await?)
    }
}
