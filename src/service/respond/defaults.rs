//! Containments and recoveries as people ask for them (the OpenClaw manifest's forms): the
//! action, the target, the method and even the incident may be left out, and are filled from the
//! incident's evidence. Resolution only reads; the result is an ordinary [`ContainRequest`] /
//! [`RecoverRequest`], planned and approved like any other.
//!
//! - `scope` is how far a containment reaches: `workload` (a pod: isolate, pause, delete-pod),
//!   `namespace` (traffic of the namespace's pods: block an address) or `cluster` (a node:
//!   cordon). Without an action it picks one (isolate, block, cordon); with one they must agree.
//! - The target, when not given, comes from the incident's affected resources (most signals
//!   first), then its labels: a pod for isolate/delete-pod, a workload for pause and recoveries
//!   (the workload a containment of the incident paused comes first), an address for block, the
//!   node for cordon. The namespace comes with it (else: the environment policy's only allowed
//!   namespace, when it allows exactly one).
//! - A containment without an incident opens a *declared* incident for its target in the given
//!   or default environment (audited as `declaration`).
//! - A recovery without a method restores when a backup is named, else rolls back; without an
//!   incident it is about the current one (see `current_incident`).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::service::{IncidentService, ServiceError, respond::invalid, respond::types::*};
use crate::{
    domain::{Env, Incident, IncidentId, policy::Action},
    store::OpenActions,
};

/// How far a containment reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ContainScope {
    /// One pod or workload: isolate (default), pause, delete-pod.
    Workload,
    /// The traffic of a namespace's pods: block an address.
    Namespace,
    /// A node, a cluster-scoped resource: cordon.
    Cluster,
}

impl ContainScope {
    fn of(action: ContainAction) -> Self {
        match action {
            ContainAction::Isolate | ContainAction::Pause | ContainAction::DeletePod => Self::Workload,
            ContainAction::Block => Self::Namespace,
            ContainAction::Cordon => Self::Cluster,
        }
    }

    fn default_action(self) -> ContainAction {
        match self {
            Self::Workload => ContainAction::Isolate,
            Self::Namespace => ContainAction::Block,
            Self::Cluster => ContainAction::Cordon,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Workload => "workload",
            Self::Namespace => "namespace",
            Self::Cluster => "cluster",
        }
    }
}

/// A containment with what was left out still missing.
#[derive(Debug, Clone, Default)]
pub struct ContainDraft {
    pub id: Option<IncidentId>,
    /// Environment of a declared incident (default: the configured default).
    pub env: Option<Env>,
    pub action: Option<ContainAction>,
    pub scope: Option<ContainScope>,
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub ttl_secs: Option<u64>,
    pub args: BTreeMap<String, String>,
}

/// A recovery with what was left out still missing.
#[derive(Debug, Clone, Default)]
pub struct RecoverDraft {
    pub id: Option<IncidentId>,
    pub method: Option<RecoverMethod>,
    pub resource: Option<String>,
    pub namespace: Option<String>,
    pub backup_id: Option<String>,
    pub args: BTreeMap<String, String>,
}

/// What an incident's evidence names, most signals first: `(kind, namespace, name)`.
struct Evidence {
    entities: Vec<(String, Option<String>, String)>,
    labels: BTreeMap<String, String>,
}

/// `pod/shop/web-1` → (pod, shop, web-1); `node/node-a` → (node, -, node-a); `ip/10.0.0.0/8`
/// → (ip, -, 10.0.0.0/8).
fn parse_entity(e: &str) -> Option<(String, Option<String>, String)> {
    let (kind, rest) = e.split_once('/')?;
    let namespaced = matches!(kind, "pod" | "deployment" | "statefulset" | "service");
    match rest.split_once('/') {
        Some((ns, name)) if namespaced && !name.contains('/') => {
            Some((kind.to_owned(), Some(ns.to_owned()), name.to_owned()))
        }
        _ if !rest.is_empty() => Some((kind.to_owned(), None, rest.to_owned())),
        _ => None,
    }
}

impl Evidence {
    fn first(&self, kinds: &[&str]) -> Option<(String, Option<String>, String)> {
        self.entities
            .iter()
            .find(|(k, _, _)| kinds.contains(&k.as_str()))
            .cloned()
    }

    fn label(&self, key: &str) -> Option<String> {
        self.labels.get(key).filter(|v| !v.is_empty()).cloned()
    }

    /// The namespace the evidence points at: a namespaced entity's, else the label.
    fn namespace(&self) -> Option<String> {
        self.entities
            .iter()
            .find_map(|(_, ns, _)| ns.clone())
            .or_else(|| self.label("namespace"))
    }

    fn shown(&self) -> String {
        let all: Vec<String> = self
            .entities
            .iter()
            .map(|(k, ns, n)| match ns {
                Some(ns) => format!("{k}/{ns}/{n}"),
                None => format!("{k}/{n}"),
            })
            .collect();
        if all.is_empty() {
            "nothing".into()
        } else {
            all.join(", ")
        }
    }

    /// A pod: an affected pod, else the `pod` label.
    fn pod(&self) -> Option<(String, Option<String>)> {
        if let Some((_, ns, name)) = self.first(&["pod"]) {
            return Some((name, ns.or_else(|| self.namespace())));
        }
        self.label("pod").map(|p| (p, self.namespace()))
    }

    /// A workload (`deployment/NAME`): an affected one, else the `deployment`/`statefulset`
    /// label, else the affected pod (the backend finds its owner).
    fn workload(&self) -> Option<(String, Option<String>)> {
        if let Some((kind, ns, name)) = self.first(&["deployment", "statefulset"]) {
            return Some((format!("{kind}/{name}"), ns.or_else(|| self.namespace())));
        }
        for kind in ["deployment", "statefulset"] {
            if let Some(name) = self.label(kind) {
                return Some((format!("{kind}/{name}"), self.namespace()));
            }
        }
        self.pod()
    }
}

impl IncidentService {
    async fn evidence(&self, incident: &Incident) -> Result<Evidence, ServiceError> {
        let mut groups = self.store.signal_groups(incident.id).await?;
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for g in groups.drain(..) {
            *counts.entry(g.entity).or_default() += g.count;
        }
        let mut ranked: Vec<(String, i64)> = counts.into_iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(Evidence {
            entities: ranked.iter().filter_map(|(e, _)| parse_entity(e)).collect(),
            labels: incident.labels.clone(),
        })
    }

    /// The environment policy's only allowed namespace: where a target named without a
    /// namespace (and without one in the incident's evidence) can only be.
    fn only_allowed_namespace(&self, env: &str) -> Option<String> {
        self.config.environments.get(env)?.policy.only_namespace()
    }

    async fn incident(&self, id: IncidentId) -> Result<Incident, ServiceError> {
        self.store.get_incident(id).await?.ok_or(ServiceError::NotFound(id))
    }

    /// Fills a containment in (see the module docs); may open a declared incident.
    pub async fn resolve_contain(&self, d: ContainDraft, principal: &str) -> Result<ContainRequest, ServiceError> {
        let action = match (d.action, d.scope) {
            // Both are well-formed on their own; together they ask for two different things.
            (Some(a), Some(s)) if ContainScope::of(a) != s => {
                return Err(ServiceError::Conflict(format!(
                    "refused: scope {} does not fit action {}: isolate, pause and delete-pod act on a workload, \
                     block on a namespace's traffic, cordon on a node (cluster); leave one of them out; nothing was \
                     changed",
                    s.as_str(),
                    Action::from(a)
                )));
            }
            (Some(a), _) => a,
            (None, s) => s.unwrap_or(ContainScope::Workload).default_action(),
        };
        let incident = match d.id {
            Some(id) => self.incident(id).await?,
            None => {
                let Some(resource) = d.resource.as_deref() else {
                    return Err(invalid(
                        "id",
                        "name the incident (id) or, to declare a new one, the resource to contain",
                    ));
                };
                let env = self.env_or_default(d.env.as_ref())?;
                let id = self
                    .declare_incident(&env, action, resource, d.namespace.as_deref(), principal)
                    .await?;
                self.incident(id).await?
            }
        };
        let ev = self.evidence(&incident).await?;
        let id = incident.id;
        // The request is well-formed; the incident's evidence lacks what it leaves out: a conflict.
        let missing = |what: &str| {
            ServiceError::Conflict(format!(
                "{id} names no {what} (its affected resources: {}); name the target with resource",
                ev.shown()
            ))
        };
        let (resource, found_ns) = match (d.resource.clone(), action) {
            (Some(r), _) => (r, None),
            (None, ContainAction::Isolate | ContainAction::DeletePod) => ev.pod().ok_or_else(|| missing("pod"))?,
            (None, ContainAction::Pause) => ev.workload().ok_or_else(|| missing("workload or pod"))?,
            (None, ContainAction::Block) => match ev.first(&["ip"]) {
                Some((_, _, addr)) => (addr, None),
                None => return Err(missing("IP address")),
            },
            (None, ContainAction::Cordon) => {
                match ev.first(&["node"]).map(|(_, _, n)| n).or_else(|| ev.label("node")) {
                    Some(node) => (node, None),
                    None => return Err(missing("node")),
                }
            }
        };
        let namespace = match action {
            ContainAction::Cordon => d.namespace,
            _ => d
                .namespace
                .or(found_ns)
                .or_else(|| ev.namespace())
                .or_else(|| self.only_allowed_namespace(&incident.env)),
        };
        Ok(ContainRequest {
            id,
            action,
            resource,
            namespace,
            ttl_secs: d.ttl_secs,
            args: d.args,
        })
    }

    /// Fills a recovery in (see the module docs).
    pub async fn resolve_recover(&self, d: RecoverDraft) -> Result<RecoverRequest, ServiceError> {
        let incident = match d.id {
            Some(id) => self.incident(id).await?,
            None => self.current_incident("recover").await?,
        };
        let method = d.method.unwrap_or(match d.backup_id {
            Some(_) => RecoverMethod::Restore,
            None => RecoverMethod::Rollback,
        });
        let (mut resource, mut namespace) = (d.resource, d.namespace);
        if method != RecoverMethod::Revert && resource.is_none() {
            let (r, ns) = match self.contained_workload(incident.id).await? {
                Some(found) => found,
                None => {
                    let ev = self.evidence(&incident).await?;
                    ev.workload().ok_or_else(|| {
                        ServiceError::Conflict(
                            format!(
                                "{} names no workload (its affected resources: {}); name it with resource, e.g. deployment/web",
                                incident.id,
                                ev.shown()
                            ),
                        )
                    })?
                }
            };
            resource = Some(r);
            namespace = namespace.or(ns);
        }
        if namespace.is_none() && method != RecoverMethod::Revert {
            namespace = self.only_allowed_namespace(&incident.env);
        }
        Ok(RecoverRequest {
            id: incident.id,
            method,
            resource,
            namespace,
            backup_id: d.backup_id,
            args: d.args,
        })
    }

    /// The workload a containment of this incident still in place acts on (a paused
    /// Deployment is the one to restore).
    async fn contained_workload(&self, id: IncidentId) -> Result<Option<(String, Option<String>)>, ServiceError> {
        for a in self.store.open_actions(OpenActions::Incident(id)).await? {
            let Some(p) = self.store.get_plan(&a.plan_id).await? else {
                continue;
            };
            let r = &p.plan.resource;
            if r.starts_with("deployment/") || r.starts_with("statefulset/") {
                return Ok(Some((r.clone(), p.plan.request.namespace.clone())));
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_parse_into_kind_namespace_name() {
        let p = parse_entity;
        assert_eq!(
            p("pod/shop/web-1"),
            Some(("pod".into(), Some("shop".into()), "web-1".into()))
        );
        assert_eq!(p("node/node-a"), Some(("node".into(), None, "node-a".into())));
        assert_eq!(p("ip/10.0.0.0/8"), Some(("ip".into(), None, "10.0.0.0/8".into())));
        assert_eq!(
            p("deployment/shop/api"),
            Some(("deployment".into(), Some("shop".into()), "api".into()))
        );
        assert_eq!(p("pod/web-1"), Some(("pod".into(), None, "web-1".into())));
        assert_eq!(p("alert/x"), Some(("alert".into(), None, "x".into())));
        assert_eq!(p("nothing"), None);
        assert_eq!(p("pod/"), None);
    }

    #[test]
    fn scope_and_action_agree() {
        for (a, s) in [
            (ContainAction::Isolate, ContainScope::Workload),
            (ContainAction::Pause, ContainScope::Workload),
            (ContainAction::DeletePod, ContainScope::Workload),
            (ContainAction::Block, ContainScope::Namespace),
            (ContainAction::Cordon, ContainScope::Cluster),
        ] {
            assert_eq!(ContainScope::of(a), s);
        }
        assert_eq!(ContainScope::Cluster.default_action(), ContainAction::Cordon);
        assert_eq!(ContainScope::Workload.default_action(), ContainAction::Isolate);
    }
}
