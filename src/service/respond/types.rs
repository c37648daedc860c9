//! Request and response types of containment, recovery and applying a plan
//! (MCP, REST and CLI alike). None of them carries anything that counts as approval: unknown
//! fields such as `confirm` are rejected.

use std::{collections::BTreeMap, sync::Arc};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    cluster::{Backend, Change, DryRun},
    domain::{
        IncidentId,
        plan::{BlastRadius, PlanKind},
        policy::Action,
    },
};

/// A containment action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContainAction {
    /// Quarantine a pod behind a deny-all NetworkPolicy.
    Isolate,
    /// Scale a workload (`deployment/NAME`) to zero, recording its replicas.
    Pause,
    /// Block an IP or CIDR with a NetworkPolicy.
    Block,
    /// Mark a node unschedulable.
    Cordon,
    /// Delete one pod (its controller recreates it).
    DeletePod,
}

impl From<ContainAction> for Action {
    fn from(a: ContainAction) -> Self {
        match a {
            ContainAction::Isolate => Action::Isolate,
            ContainAction::Pause => Action::Pause,
            ContainAction::Block => Action::Block,
            ContainAction::Cordon => Action::Cordon,
            ContainAction::DeletePod => Action::DeletePod,
        }
    }
}

/// A recovery method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RecoverMethod {
    /// Roll a workload back to its previous revision.
    Rollback,
    /// Restore recorded state (replicas, a backup).
    Restore,
    /// Undo the incident's latest containment that is still in place (its recorded inverse).
    Revert,
}

/// Schema pattern of a target: an optional `KIND/` prefix (`deployment/`, `script/`, or the
/// address of a CIDR) and a DNS-1123 name, which the service requires of the part after it.
pub const RESOURCE_PATTERN: &str = r"^([a-z0-9.:]+/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A recovery's target: a workload (`deployment/NAME`, `statefulset/NAME`, or the short forms
/// `deploy/`, `sts/`, plurals), a configured script
/// (`script/ID`), or a bare name (a pod stands for the workload that owns it). No other prefix
/// names anything a recovery can act on, so the schema refuses it.
pub const RECOVER_RESOURCE_PATTERN: &str = r"^((deployments?|deploy|statefulsets?|sts|script)/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

/// Schema pattern of a namespace: a DNS-1123 label.
pub const NAMESPACE_PATTERN: &str = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// `ttl_secs` as a whole number of seconds. JSON Schema counts `3600.0` as an integer, so an
/// integral float is accepted too; anything else is refused naming the value.
pub fn whole_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    use serde::de::Error;
    let Some(n) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    n.as_u64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && (0.0..=9.0e15).contains(f))
                .map(|f| f as u64)
        })
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number of seconds, got {n}")))
}

/// A containment request: what to isolate, pause, block, cordon or delete, where.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainRequest {
    /// Incident this containment responds to, e.g. INC-000001.
    pub id: IncidentId,
    /// isolate (pod), pause (deployment/NAME), block (IP or CIDR), cordon (node), delete-pod (pod).
    pub action: ContainAction,
    /// The target: a pod name, `deployment/NAME`, a node name, an IP/CIDR, or `script/ID` for a
    /// configured script.
    #[schemars(length(min = 1, max = 253), pattern(RESOURCE_PATTERN))]
    pub resource: String,
    /// Namespace of the target (`scope` is accepted too); omit for cordon.
    #[serde(default, alias = "scope", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// Revert the containment automatically after this many seconds (60-604800).
    #[serde(default, deserialize_with = "whole_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 604800))]
    pub ttl_secs: Option<u64>,
    /// Arguments of a configured script (`resource = script/ID`), by name, as its schema declares.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
}

/// A recovery request: how to bring the incident's target back.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Incident this recovery belongs to.
    pub id: IncidentId,
    /// rollback or restore (a workload), or revert (the incident's latest containment).
    pub method: RecoverMethod,
    /// Workload for rollback/restore (`deployment/NAME`, `statefulset/NAME`) or `script/ID`;
    /// omit for revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(RECOVER_RESOURCE_PATTERN))]
    pub resource: Option<String>,
    /// Namespace of the workload (`scope` is accepted too).
    #[serde(default, alias = "scope", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// Backup to restore (`latest` for the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub backup_id: Option<String>,
    /// Arguments of a configured script (`resource = script/ID`), by name, as its schema declares.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
}

/// Applying a plan a human approved out of band.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyRequest {
    /// Plan id (plan-...) a containment or recovery returned.
    #[schemars(length(min = 5, max = 64))]
    pub plan_id: String,
}

/// Which plan to look at.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanRequest {
    /// Plan id (plan-...) a containment or recovery returned.
    #[schemars(length(min = 5, max = 64))]
    pub plan_id: String,
}

/// Where a plan stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Computed and stored; nothing changed. Waiting for a human's approval.
    Pending,
    /// Approved and applied.
    Applied,
    /// Not applied (not approved, declined, or refused); nothing changed.
    NotApplied,
    /// A human denied it; it will never be applied.
    Denied,
}

/// A plan and what happened to it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PlanReport {
    pub plan_id: String,
    pub status: PlanStatus,
    pub env: String,
    pub incident_id: Option<IncidentId>,
    /// `contain` or `recover`.
    pub kind: PlanKind,
    /// The exact changes (Kubernetes objects and patches, or script + argv).
    pub changes: Vec<Change>,
    /// The recorded inverse of `changes`, applied by revert and TTL expiry.
    pub inverse: Vec<Change>,
    pub blast_radius: BlastRadius,
    /// The server-side dry run, when the plan was just computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run: Option<DryRun>,
    /// The name a human types to approve through the client's confirmation dialog.
    pub target: String,
    /// True when the plan acts on the `sandbox` backend's simulated cluster: nothing real changes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
    /// Automatic revert after this many seconds, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// Per-change results of the backend, once applied (one JSON object per change).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<Vec<serde_json::Map<String, Value>>>")]
    pub outcome: Option<Vec<Value>>,
    /// What happens next.
    pub next_step: String,
    /// The caller's own part of what happens next, which the adapter phrases into `next_step`
    /// ([`PlanReport::phrase`]).
    #[serde(skip)]
    #[schemars(skip)]
    pub next: Option<crate::service::NextStep>,
    pub summary: String,
}

impl PlanReport {
    /// Completes `next_step` with the caller's own next step, named the adapter's way.
    pub fn phrase(mut self, p: &dyn crate::service::Phrasebook) -> Self {
        let step = self.next.take();
        self.next_step = crate::service::with_step(&self.next_step, step.as_ref(), p);
        self
    }
}

impl PlanView {
    /// [`PlanReport::phrase`] of the view's plan.
    pub fn phrase(mut self, p: &dyn crate::service::Phrasebook) -> Self {
        self.plan = self.plan.phrase(p);
        self
    }
}

/// A stored plan and where it stands, for the human deciding whether to approve it.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PlanView {
    /// The plan. `status`: `applied` once its outcome says so, `not_applied` after a failed
    /// apply, `denied` once a human denied it, else `pending`.
    pub plan: PlanReport,
    /// The principal the plan was made for: only it may apply the plan.
    pub principal: String,
    /// The newest approval, if any.
    pub approval: Option<ApprovalState>,
    /// Who denied the plan and why, once a human did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denial: Option<DenialState>,
    /// The plan's audit entries (proposal, approvals, refusals, intent, outcome), oldest first.
    pub history: Vec<crate::domain::audit::AuditEntry>,
}

/// Arguments of the plan list (`GET /api/plans`, `incident-mcp plans`).
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanListRequest {
    /// Only plans waiting for a human: not applied, and not approved (or only expired approvals).
    #[serde(default)]
    pub pending: bool,
    /// How many plans to list, 1-200 (default 50).
    #[serde(default)]
    #[schemars(range(min = 1, max = 200))]
    pub limit: Option<u32>,
    /// Continue after this plan: the `next_before` of the previous page.
    #[serde(default)]
    #[schemars(length(min = 21, max = 21), regex(pattern = r"^plan-[0-9a-f]{16}$"))]
    pub before: Option<String>,
}

/// Plans, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PlanList {
    pub plans: Vec<PlanSummary>,
    /// Older plans may follow: pass this as `before` for the next page. Absent once the oldest
    /// plan was reached, so a pending plan is never silently left out.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_before: Option<String>,
}

/// One line of the plan list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct PlanSummary {
    pub plan_id: String,
    pub status: PlanStatus,
    pub env: String,
    pub incident_id: Option<IncidentId>,
    /// `contain` or `recover`.
    pub kind: PlanKind,
    /// The principal the plan was made for.
    pub principal: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// `valid`, `used` or `expired`; absent when nobody approved it.
    pub approval: Option<String>,
    pub summary: String,
}

/// A human's denial of a plan.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct DenialState {
    /// `human:<name>`.
    pub denied_by: String,
    pub denied_at: chrono::DateTime<chrono::Utc>,
    pub reason: String,
}

/// An approval as it stands now.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ApprovalState {
    pub approver: String,
    pub approved_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub used_at: Option<chrono::DateTime<chrono::Utc>>,
    /// `valid` (not used, not expired), `used` or `expired`.
    pub state: String,
}

/// The backends contain/recover act through; an environment without a cluster backend
/// refuses Kubernetes actions.
#[derive(Clone, Default)]
pub struct Backends {
    /// The Kubernetes backend of each environment that has a cluster configured.
    pub cluster: BTreeMap<String, Arc<dyn Backend>>,
    /// The allowlisted-script backend (`resource = "script/ID"`).
    pub script: Option<Arc<dyn Backend>>,
}

impl Backends {
    /// The backends a config describes: for each environment with a `[environments.NAME.cluster]`
    /// table, a lazily connecting Kubernetes backend, or for `kind = "sandbox"` the simulated
    /// cluster kept in `store`; the script backend when `[[scripts]]` are configured. Nothing
    /// is connected or seeded here.
    pub fn from_config(cfg: &crate::config::Config, store: &Arc<dyn crate::store::Store>) -> Self {
        use crate::cluster::{
            connect::{ClusterKind, LazyKube},
            sandbox::SandboxBackend,
            script::ScriptBackend,
        };
        let base = cfg.base_dir.as_deref();
        let cluster = cfg.environments.iter().filter_map(|(name, env)| {
            let c = env.cluster.as_ref()?;
            let backend: Arc<dyn Backend> = match c.kind {
                ClusterKind::Kubernetes => Arc::new(LazyKube::new(c, base)),
                ClusterKind::Sandbox => Arc::new(SandboxBackend::new(name, store.clone())),
            };
            Some((name.clone(), backend))
        });
        Self {
            cluster: cluster.collect(),
            script: (!cfg.scripts.is_empty())
                .then(|| Arc::new(ScriptBackend::new(cfg.scripts.clone())) as Arc<dyn Backend>),
        }
    }
}
