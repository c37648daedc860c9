//! The response backends' port. `service/` plans and applies containment and recovery only
//! through [`Backend`]; adapters: `cluster::kube` (Kubernetes through `kube`), `cluster::script`
//! (allowlisted scripts), `cluster::sandbox` (a simulated cluster kept in the store, for trying
//! the whole loop without a cluster) and recording fakes in tests.
//!
//! A backend never decides whether an action is allowed: the service checks policy and a
//! human approval first. It re-checks the policy on every change it is about to make
//! ([`Backend::apply`] gets the policy), so a bug above it cannot reach a protected namespace.

pub mod connect;
pub mod context;
pub mod kube;
pub mod sandbox;
pub mod script;

use std::collections::BTreeMap;

use async_trait::async_trait;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::domain::change::{Change, KubeVerb, PatchKind};
use crate::domain::{
    plan::{BlastRadius, TargetVersion},
    policy::{Action, Policy},
};

/// A validated request for one containment or recovery action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActionSpec {
    pub env: String,
    /// The incident this action responds to; written into owner annotations and object names.
    pub incident: String,
    pub action: Action,
    /// Namespace of the target; `None` for cluster-scoped targets (nodes).
    pub namespace: Option<String>,
    /// Target: a pod name (`isolate`, `delete-pod`), `deployment/NAME` or `statefulset/NAME`
    /// (`pause`, `rollback`, `restore`), a node (`cordon`), an IP or CIDR (`block`), or a
    /// configured script id (script actions).
    pub resource: String,
    /// Action-specific parameters: `backup_id`, script arguments (`arg.NAME`), a pod selector
    /// for `block` (`selector`), ...
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

/// Outcome of the server-side dry run of a plan's changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum DryRun {
    /// Every change passed the server-side dry run (`dryRun=All`).
    Passed,
    /// The backend has no dry run (scripts); the plan says so.
    NotSupported,
    /// The server refused a change in the dry run; the plan cannot be applied.
    Failed { reason: String },
}

/// What a backend computed for an [`ActionSpec`], without mutating anything.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendPlan {
    pub changes: Vec<Change>,
    /// Changes that undo `changes` (for `revert`, TTL expiry and recovery).
    pub inverse: Vec<Change>,
    /// Objects read while planning, with the versions the plan was computed against.
    pub targets: Vec<TargetVersion>,
    pub blast_radius: BlastRadius,
    /// Labels of the target (for policy label selectors).
    pub labels: BTreeMap<String, String>,
    /// Healthy replicas left serving after the action, when it takes capacity away.
    pub healthy_replicas_after: Option<u32>,
    pub dry_run: DryRun,
}

/// Why a backend could not plan or apply.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{what} not found")]
    NotFound { what: String },
    /// The target changed since planning (resourceVersion or script hash differs).
    #[error("{what} changed since the plan was made: {detail}")]
    Changed { what: String, detail: String },
    /// The adapter's own policy re-check refused a change.
    #[error("refused by policy: {0}")]
    Refused(String),
    /// The request is not something this backend can do.
    #[error("{0}")]
    Invalid(String),
    /// The request is well-formed but the target's current state rules it out (a block that
    /// another NetworkPolicy would widen).
    #[error("{0}")]
    Conflict(String),
    /// The backend refused or failed (HTTP status, script exit code, timeout).
    #[error("{0}")]
    Failed(String),
    /// The backend could not be reached.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
}

/// Health of the workloads a recovery changed, once it was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every workload the changes touched is rolled out and available.
    Healthy,
    /// The backend cannot tell (scripts), or the changes touched no workload.
    NotChecked,
    /// Not healthy within the backend's verification window; says what was missing.
    Unhealthy(String),
}

/// A containment/recovery backend.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Computes the exact changes, their inverse, the targets' versions and the blast radius,
    /// and dry-runs the changes server-side where the backend can. Mutates nothing.
    async fn plan(&self, spec: &ActionSpec) -> Result<BackendPlan, BackendError>;

    /// The targets' current versions, to refuse applying a plan whose target changed.
    async fn current_versions(&self, targets: &[TargetVersion]) -> Result<Vec<TargetVersion>, BackendError>;

    /// Applies `changes` in order after re-checking each against `policy` for `env`.
    /// Idempotent: changes already in place (object exists with our owner annotation, replicas
    /// already 0, node already cordoned) count as applied, so applying twice changes the world
    /// once. Returns a JSON outcome per change.
    async fn apply(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<Vec<Value>, BackendError>;

    /// The adapter's own policy check of `changes` (what [`Backend::apply`] refuses before its
    /// first write), without applying anything. The service asks it before an approval is spent,
    /// and of a containment's inverse before planning it, so an approval is never spent on a
    /// change the adapter would refuse and nothing is applied that could not be undone.
    fn recheck(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<(), BackendError> {
        let _ = (env, policy, changes);
        Ok(())
    }

    /// After a recovery's `changes` were applied: waits, up to the backend's own verification
    /// window, for the workloads they touched to become healthy. Mutates nothing.
    async fn verify(&self, changes: &[Change]) -> Result<Health, BackendError> {
        let _ = changes;
        Ok(Health::NotChecked)
    }

    /// For `analyze`: the Kubernetes context of an incident's pods and workloads, read with GET
    /// and LIST only (bounded), in the namespaces `req` names, which the caller has checked
    /// against the policy. Failed reads are noted in the context, not returned as errors.
    /// `None`: this backend has no cluster to read (scripts, the sandbox).
    async fn context(&self, req: &context::ContextRequest) -> Result<Option<context::KubeContext>, BackendError> {
        let _ = req;
        Ok(None)
    }
}
