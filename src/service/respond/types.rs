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

// Pieces of the target patterns, as literals so that `concat!` can join them into consts.
macro_rules! dns_subdomain {
    () => {
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
    };
}
macro_rules! ipv4 {
    () => {
        r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}"
    };
}
macro_rules! ipv6 {
    () => {
        concat!(
            r"(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:",
            r"|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}",
            r"|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}",
            r"|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:(:[0-9a-fA-F]{1,4}){1,6}",
            r"|:((:[0-9a-fA-F]{1,4}){1,7}|:))"
        )
    };
}

/// Schema pattern of a containment target, exactly the forms the service tells apart (see
/// [`ContainTarget::parse`]): `script/ID`, `deployment/NAME` (or `deployments/`, `deploy/`), a
/// DNS-1123 name (a pod, a node, or a bare IPv4 address), an IPv4 CIDR (`/1` to `/32`), or an
/// IPv6 address in hex with an optional prefix (`/1` to `/128`).
pub const RESOURCE_PATTERN: &str = concat!(
    "^(((script|deployments?|deploy)/)?",
    dns_subdomain!(),
    "|",
    ipv4!(),
    "/(3[0-2]|[12][0-9]|[1-9])|",
    ipv6!(),
    "(/(12[0-8]|1[01][0-9]|[1-9][0-9]|[1-9]))?)$"
);

/// What a containment's `resource` names, by its form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainTarget<'a> {
    /// `script/ID`: a configured script, whatever the action.
    Script(&'a str),
    /// `deployment/NAME`: only pause acts on a workload.
    Deployment(&'a str),
    /// A bare DNS-1123 name: a pod (isolate, delete-pod, pause through its owner) or a node
    /// (cordon); a bare IPv4 address is one too, and block takes it as a host.
    Name(&'a str),
    /// An address with a prefix, or a bare IPv6 address: only block acts on it.
    Network(&'a str),
}

impl<'a> ContainTarget<'a> {
    /// Sorts `resource` by [`RESOURCE_PATTERN`]; `None` when it matches none of its forms.
    pub fn parse(resource: &'a str) -> Option<Self> {
        static PATTERN: std::sync::LazyLock<regex::Regex> =
            std::sync::LazyLock::new(|| regex::Regex::new(RESOURCE_PATTERN).expect("RESOURCE_PATTERN compiles"));
        if resource.len() > 253 || !PATTERN.is_match(resource) {
            return None;
        }
        Some(match resource.split_once('/') {
            Some(("script", id)) => Self::Script(id),
            Some(("deployment" | "deployments" | "deploy", n)) => Self::Deployment(n),
            Some(_) => Self::Network(resource),
            None if resource.contains(':') => Self::Network(resource),
            None => Self::Name(resource),
        })
    }

    /// Why `action` cannot act on this target, if it cannot.
    pub fn mismatch(self, action: ContainAction) -> Option<String> {
        let bare_ipv4 = |n: &str| n.parse::<std::net::Ipv4Addr>().is_ok();
        match (self, action) {
            (Self::Script(_), _)
            | (Self::Deployment(_), ContainAction::Pause)
            | (Self::Network(_), ContainAction::Block) => None,
            (Self::Name(n), ContainAction::Block) if bare_ipv4(n) => None,
            (Self::Name(_), ContainAction::Block) => Some("block acts on an IP address or CIDR, not on a name".into()),
            (Self::Name(_), _) => None,
            (Self::Deployment(_), a) => Some(format!(
                "{} does not act on a deployment: pause it, or name one of its pods",
                Action::from(a)
            )),
            (Self::Network(_), a) => Some(format!("{} does not act on an address: block it", Action::from(a))),
        }
    }
}

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
    /// Incident id, e.g. INC-000001.
    pub id: IncidentId,
    /// isolate/delete-pod (a pod), pause (deployment/NAME), block (IP/CIDR), cordon (node).
    pub action: ContainAction,
    /// A pod, `deployment/NAME`, a node, an IP/CIDR, or `script/ID` (a configured script).
    #[schemars(length(min = 1, max = 253), pattern(RESOURCE_PATTERN))]
    pub resource: String,
    /// Namespace of the target; omit for cordon.
    #[serde(default, alias = "scope", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// Revert it automatically after this many seconds.
    #[serde(default, deserialize_with = "whole_secs", skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 60, max = 604800))]
    pub ttl_secs: Option<u64>,
    /// A configured script's arguments by name (`resource = script/ID`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, String>,
}

/// A recovery request: how to bring the incident's target back.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverRequest {
    /// Incident id, e.g. INC-000001.
    pub id: IncidentId,
    /// rollback/restore (a workload) or revert (the latest containment).
    pub method: RecoverMethod,
    /// `deployment/NAME`, `statefulset/NAME` or `script/ID`; omit for revert.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253), pattern(RECOVER_RESOURCE_PATTERN))]
    pub resource: Option<String>,
    /// Namespace of the workload.
    #[serde(default, alias = "scope", skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// Backup to restore (`latest` for the newest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 128))]
    pub backup_id: Option<String>,
    /// A configured script's arguments by name (`resource = script/ID`).
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

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::{cluster::kube::parse_cidr, domain::k8s_names::is_dns1123_subdomain};

    /// The pattern without its anchors, for proptest's generator.
    fn body() -> &'static str {
        &RESOURCE_PATTERN[1..RESOURCE_PATTERN.len() - 1]
    }

    proptest! {
        /// Whatever the published schema lets through, the service and its backends take as
        /// the form it is sorted into: no schema-valid target is refused as malformed.
        #[test]
        fn every_schema_valid_target_is_well_formed(s in proptest::string::string_regex(body()).unwrap()) {
            prop_assume!(s.len() <= 253);
            let form = ContainTarget::parse(&s);
            prop_assert!(form.is_some(), "{s} matches the pattern but is not sorted");
            match form.unwrap() {
                ContainTarget::Network(n) => prop_assert!(parse_cidr(n).is_ok(), "{n}: {:?}", parse_cidr(n)),
                ContainTarget::Name(n) | ContainTarget::Deployment(n) | ContainTarget::Script(n) => {
                    prop_assert!(is_dns1123_subdomain(n), "{n}")
                }
            }
        }
    }

    #[test]
    fn targets_are_sorted_by_form_and_matched_to_actions() {
        use ContainAction::*;
        let cases = [
            ("web-7d9f", Some(ContainTarget::Name("web-7d9f"))),
            ("deployment/web", Some(ContainTarget::Deployment("web"))),
            ("deploy/web", Some(ContainTarget::Deployment("web"))),
            ("script/drain", Some(ContainTarget::Script("drain"))),
            ("10.0.0.0/8", Some(ContainTarget::Network("10.0.0.0/8"))),
            ("fd00::/8", Some(ContainTarget::Network("fd00::/8"))),
            ("fd00::1", Some(ContainTarget::Network("fd00::1"))),
            ("10.0.0.1", Some(ContainTarget::Name("10.0.0.1"))),
            ("54/msy93.0.o-jp", None),
            ("statefulset/db", None),
            ("10.0.0.0/0", None),
            ("10.0.0.0/33", None),
            ("::ffff:1.2.3.4", None),
            ("Web", None),
        ];
        for (raw, want) in cases {
            assert_eq!(ContainTarget::parse(raw), want, "{raw}");
        }
        let t = |s| ContainTarget::parse(s).unwrap();
        assert_eq!(t("10.0.0.1").mismatch(Block), None);
        assert_eq!(t("10.0.0.1").mismatch(Cordon), None);
        assert_eq!(t("deployment/web").mismatch(Pause), None);
        assert_eq!(t("script/drain").mismatch(Isolate), None);
        assert_eq!(
            t("deployment/web").mismatch(Isolate).unwrap(),
            "isolate does not act on a deployment: pause it, or name one of its pods"
        );
        assert_eq!(
            t("10.0.0.0/8").mismatch(DeletePod).unwrap(),
            "delete-pod does not act on an address: block it"
        );
        assert_eq!(
            t("web").mismatch(Block).unwrap(),
            "block acts on an IP address or CIDR, not on a name"
        );
    }
}
