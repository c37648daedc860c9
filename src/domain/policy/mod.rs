//! Per-environment policy for containment and recovery: what may be touched, where, and how
//! much. Pure: `Policy::evaluate` decides from the request and the usage counts it is given.
//! Everything not allowed is refused; `kube-*` namespaces are always protected.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{
    DomainError,
    k8s_names::{LabelSelector, NameGlob, Namespace, is_dns1123_label, is_dns1123_subdomain},
};

super::incident::string_enum! {
    /// A containment or recovery action.
    Action {
        /// Quarantine a pod behind a deny-all NetworkPolicy.
        Isolate = "isolate",
        /// Scale a workload to zero, recording its replicas.
        Pause = "pause",
        /// Block an IP or CIDR with a NetworkPolicy.
        Block = "block",
        /// Mark a node unschedulable.
        Cordon = "cordon",
        /// Delete one pod (its controller recreates it).
        DeletePod = "delete-pod",
        /// Roll a workload back to its previous revision.
        Rollback = "rollback",
        /// Restore recorded state (replicas, backups).
        Restore = "restore",
        /// Undo one of our own containments.
        Revert = "revert",
    }
}

impl Action {
    /// Counts against the destructive budgets. Reverting our own containment does not, so a
    /// spent budget never prevents undoing.
    pub fn is_destructive(self) -> bool {
        self != Action::Revert
    }

    /// Takes serving capacity away, so the minimum-healthy-replicas rule applies.
    pub fn reduces_capacity(self) -> bool {
        matches!(self, Action::Isolate | Action::DeletePod | Action::Cordon)
    }

    /// Acts on a node rather than on something in a namespace.
    pub fn is_cluster_scoped(self) -> bool {
        self == Action::Cordon
    }
}

/// `[environments.NAME.policy]` as written in the config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    pub allowed_actions: Vec<Action>,
    /// Exact namespace names (DNS-1123 labels).
    pub allowed_namespaces: Vec<String>,
    /// Resource name globs (`web-*`); a target must match one.
    pub resource_patterns: Vec<String>,
    /// Equality-based selectors (`app=web,tier!=db`); if any are set, a target must match one.
    pub label_selectors: Vec<String>,
    /// Script ids that may run.
    pub scripts: Vec<String>,
    /// Protected in addition to `kube-*`, which is always protected.
    pub protected_namespaces: Vec<String>,
    pub max_pods_per_action: u32,
    pub max_nodes_per_action: u32,
    pub max_destructive_per_incident: u32,
    pub max_destructive_per_hour: u32,
    pub min_healthy_replicas: u32,
}

impl Default for PolicyConfig {
    fn default() -> Self {
        Self {
            allowed_actions: Vec::new(),
            allowed_namespaces: Vec::new(),
            resource_patterns: Vec::new(),
            label_selectors: Vec::new(),
            scripts: Vec::new(),
            protected_namespaces: Vec::new(),
            max_pods_per_action: 1,
            max_nodes_per_action: 1,
            max_destructive_per_incident: 3,
            max_destructive_per_hour: 10,
            min_healthy_replicas: 1,
        }
    }
}

/// A validated policy. The default refuses everything.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "PolicyConfig")]
pub struct Policy {
    actions: Vec<Action>,
    namespaces: Vec<Namespace>,
    patterns: Vec<NameGlob>,
    selectors: Vec<LabelSelector>,
    scripts: Vec<String>,
    protected: Vec<Namespace>,
    limits: PolicyConfig,
}

impl Default for Policy {
    fn default() -> Self {
        Self::try_from(PolicyConfig::default()).expect("the default policy is valid")
    }
}

impl TryFrom<PolicyConfig> for Policy {
    type Error = DomainError;

    fn try_from(c: PolicyConfig) -> Result<Self, DomainError> {
        let ns = |field: &str, list: &[String]| {
            list.iter()
                .map(|s| Namespace::parse(s).map_err(|e| DomainError::invalid(format!("policy.{field}"), e.message)))
                .collect::<Result<Vec<_>, _>>()
        };
        let namespaces = ns("allowed_namespaces", &c.allowed_namespaces)?;
        let protected = ns("protected_namespaces", &c.protected_namespaces)?;
        if let Some(n) = namespaces
            .iter()
            .find(|n| n.is_builtin_protected() || protected.contains(n))
        {
            return Err(DomainError::invalid(
                "policy.allowed_namespaces",
                format!("{n} is a protected namespace and can never be allowed"),
            ));
        }
        let patterns = c
            .resource_patterns
            .iter()
            .map(|p| NameGlob::parse(p))
            .collect::<Result<_, _>>()?;
        let selectors = c
            .label_selectors
            .iter()
            .map(|s| LabelSelector::parse(s))
            .collect::<Result<_, _>>()?;
        if let Some(s) = c.scripts.iter().find(|s| !is_dns1123_label(s)) {
            return Err(DomainError::invalid(
                "policy.scripts",
                format!("script id `{}` must be a DNS-1123 label", super::clip(s, 70)),
            ));
        }
        Ok(Self {
            actions: c.allowed_actions.clone(),
            namespaces,
            patterns,
            selectors,
            scripts: c.scripts.clone(),
            protected,
            limits: c,
        })
    }
}

/// What a containment or recovery would do, as far as policy is concerned. Recorded in the
/// plan, so applying checks policy again against exactly what was planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ActionRequest {
    pub action: Action,
    /// Namespace of the target; `None` for node-scoped actions.
    pub namespace: Option<String>,
    /// Resource name (pod, workload, node).
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// Configured script id, for script-backed actions.
    pub script: Option<String>,
    /// Pods and nodes the action touches (its blast radius).
    pub pods: u32,
    pub nodes: u32,
    /// Healthy replicas left serving after the action, where it takes capacity away.
    pub healthy_replicas_after: Option<u32>,
}

/// Destructive actions already applied, counted by the caller from the store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub destructive_for_incident: u32,
    pub destructive_last_hour: u32,
}

/// Why policy refused; the message names the value and the environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalKind {
    ActionNotAllowed,
    InvalidName,
    ProtectedNamespace,
    NamespaceNotAllowed,
    NameNotAllowed,
    LabelsNotAllowed,
    ScriptNotAllowed,
    PodBudget,
    NodeBudget,
    IncidentBudget,
    HourlyBudget,
    MinHealthyReplicas,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyDecision {
    Allow,
    Refuse { kind: RefusalKind, reason: String },
}

impl PolicyDecision {
    pub fn is_allowed(&self) -> bool {
        matches!(self, PolicyDecision::Allow)
    }
}

impl Policy {
    pub fn is_protected(&self, ns: &Namespace) -> bool {
        ns.is_builtin_protected() || self.protected.contains(ns)
    }

    /// Whether analysis may read objects of namespace `ns` from the cluster: only namespaces the
    /// policy allows and does not protect. Anything else is never requested, not even listed.
    pub fn may_read(&self, ns: &Namespace) -> bool {
        !self.is_protected(ns) && self.namespaces.contains(ns)
    }

    /// The one namespace this policy allows, when it allows exactly one: where a target named
    /// without a namespace can only be.
    pub fn only_namespace(&self) -> Option<String> {
        match self.namespaces.as_slice() {
            [one] => Some(one.to_string()),
            _ => None,
        }
    }

    /// The namespaces this policy allows, as configured.
    pub fn allowed_namespaces(&self) -> Vec<String> {
        self.namespaces.iter().map(ToString::to_string).collect()
    }

    /// Whether script `id` is allowlisted; the script backend re-checks this before running one.
    pub fn allows_script(&self, id: &str) -> bool {
        self.scripts.iter().any(|s| s == id)
    }

    /// Decides one request for environment `env`. Checks run in a fixed order and the first
    /// failing one is reported.
    pub fn evaluate(&self, env: &str, req: &ActionRequest, usage: Usage) -> PolicyDecision {
        use RefusalKind as K;
        let refuse = |kind, reason: String| PolicyDecision::Refuse { kind, reason };
        let a = req.action;
        let l = &self.limits;
        if !self.actions.contains(&a) {
            return refuse(K::ActionNotAllowed, format!("action {a} is not allowed in env {env}"));
        }
        // A blocked network's name is its canonical address or CIDR (resource patterns such as
        // `203.0.113.*` match it); every other target is a Kubernetes name.
        let network = matches!(a, Action::Block | Action::Revert) && req.script.is_none() && is_network(&req.name);
        if !network && !is_dns1123_subdomain(&req.name) {
            let shown = super::clip(&req.name, 70);
            return refuse(K::InvalidName, format!("`{shown}` is not a valid DNS-1123 name"));
        }
        match (&req.namespace, a.is_cluster_scoped()) {
            (Some(raw), _) => {
                let ns = match Namespace::parse(raw) {
                    Ok(ns) => ns,
                    Err(e) => return refuse(K::InvalidName, e.message),
                };
                if self.is_protected(&ns) {
                    return refuse(
                        K::ProtectedNamespace,
                        format!("namespace {ns} is protected in env {env}"),
                    );
                }
                if !self.namespaces.contains(&ns) {
                    return refuse(
                        K::NamespaceNotAllowed,
                        format!("namespace {ns} is not in the allowlist for env {env}"),
                    );
                }
            }
            // A revert without a namespace undoes a cluster-scoped containment (a cordon).
            (None, false) if a != Action::Revert => {
                return refuse(K::InvalidName, format!("action {a} needs a namespace"));
            }
            (None, _) => {}
        }
        if !self.patterns.iter().any(|p| p.matches(&req.name)) {
            return refuse(
                K::NameNotAllowed,
                format!("{} matches no resource pattern allowed in env {env}", req.name),
            );
        }
        if !self.selectors.is_empty() && !self.selectors.iter().any(|s| s.matches(&req.labels)) {
            return refuse(
                K::LabelsNotAllowed,
                format!(
                    "the labels of {} match no label selector allowed in env {env}",
                    req.name
                ),
            );
        }
        if let Some(script) = &req.script
            && !self.scripts.contains(script)
        {
            let shown = super::clip(script, 70);
            return refuse(
                K::ScriptNotAllowed,
                format!("script {shown} is not allowlisted in env {env}"),
            );
        }
        if req.pods > l.max_pods_per_action {
            return refuse(
                K::PodBudget,
                format!(
                    "touches {} pods; env {env} allows {} per action",
                    req.pods, l.max_pods_per_action
                ),
            );
        }
        if req.nodes > l.max_nodes_per_action {
            return refuse(
                K::NodeBudget,
                format!(
                    "touches {} nodes; env {env} allows {} per action",
                    req.nodes, l.max_nodes_per_action
                ),
            );
        }
        if a.is_destructive() {
            if usage.destructive_for_incident >= l.max_destructive_per_incident {
                return refuse(
                    K::IncidentBudget,
                    format!(
                        "this incident already had {} destructive actions; env {env} allows {}",
                        usage.destructive_for_incident, l.max_destructive_per_incident
                    ),
                );
            }
            if usage.destructive_last_hour >= l.max_destructive_per_hour {
                return refuse(
                    K::HourlyBudget,
                    format!(
                        "{} destructive actions in the last hour; env {env} allows {}",
                        usage.destructive_last_hour, l.max_destructive_per_hour
                    ),
                );
            }
        }
        if a.reduces_capacity() {
            match req.healthy_replicas_after {
                Some(n) if n >= l.min_healthy_replicas => {}
                Some(n) => {
                    return refuse(
                        K::MinHealthyReplicas,
                        format!(
                            "would leave {n} healthy replicas; env {env} requires at least {}",
                            l.min_healthy_replicas
                        ),
                    );
                }
                None => {
                    return refuse(
                        K::MinHealthyReplicas,
                        "the number of healthy replicas left is unknown, so the action is refused".into(),
                    );
                }
            }
        }
        PolicyDecision::Allow
    }
}

mod explain;
mod preview;

pub use preview::{Preview, Unknowns};

#[cfg(test)]
mod tests;

/// `ADDRESS` or `ADDRESS/PREFIX`, as the block planner writes a network.
fn is_network(s: &str) -> bool {
    let (addr, prefix) = s.split_once('/').unwrap_or((s, "0"));
    addr.parse::<std::net::IpAddr>().is_ok() && prefix.parse::<u8>().is_ok()
}
