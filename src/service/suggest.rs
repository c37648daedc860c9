//! Suggested actions: the containments and recoveries an incident's own entities point at, as
//! the exact arguments `propose_contain` / `propose_recover` take, each with what the
//! environment's policy says of it now. Read-only: nothing is planned, audited or applied.
//!
//! What is suggested, by entity (the incident's subjects first, most signals first):
//! - a pod: `isolate` for security incidents (network, app-vuln, auth), else `delete-pod`;
//! - a Deployment: `pause` for security incidents; a Deployment or StatefulSet: `rollback`;
//! - an IP address of a security incident: `block` (into the namespace the evidence names, else
//!   into each the policy allows, at most three);
//! - a node the incident fired for: `cordon`;
//! - a containment of the incident still in place: `revert`.
//!
//! Policy is checked in the order planning checks it: the action, names and namespace; then
//! whether the environment has a cluster; then the rest, with what only the plan can tell
//! (labels, pods and nodes touched, replicas left) set aside and named; then, for a
//! containment, whether its undo would be allowed.

use std::collections::BTreeMap;

use chrono::{TimeDelta, Utc};

use super::{
    IncidentService, ServiceError,
    insight::{Operation, PolicyAnswer, PolicyVerdict, SuggestedAction, SuggestedArguments},
    respond::{
        plan_target, policy_name,
        types::{ContainAction, ContainRequest, ContainTarget, RecoverMethod, RecoverRequest},
    },
};
use crate::{
    domain::{
        Env, Incident, IncidentType,
        entity::EntityKind,
        k8s_names::{Namespace, is_dns1123_subdomain},
        policy::{Action, ActionRequest, Preview, RefusalKind, Unknowns, Usage},
    },
    store::{OpenActions, SignalGroup},
};

/// Suggestions listed, at most.
const MAX_SUGGESTIONS: usize = 8;
/// Namespaces a block is suggested into when the evidence names none, at most.
const MAX_BLOCK_NAMESPACES: usize = 3;

/// An entity of the incident, split: kind, namespace, name.
pub(super) struct Target {
    /// The entity's key (`pod/shop/web-7`).
    pub(super) key: String,
    pub(super) kind: EntityKind,
    /// `deployment`, `statefulset`, ... for workloads.
    pub(super) prefix: String,
    pub(super) namespace: Option<String>,
    pub(super) name: String,
    /// The incident fired for it (one of its signals' subject).
    pub(super) subject: bool,
}

fn split(key: &str, kind: EntityKind, subject: bool) -> Option<Target> {
    let (prefix, rest) = key.split_once('/')?;
    let (namespace, name) = match kind {
        EntityKind::Pod | EntityKind::Workload => match rest.split_once('/') {
            Some((ns, n)) => (Some(ns.to_owned()), n.to_owned()),
            None => (None, rest.to_owned()),
        },
        _ => (None, rest.to_owned()),
    };
    // A namespace the telemetry did not name is no namespace.
    let namespace = namespace.filter(|ns| ns != "unknown" && Namespace::parse(ns).is_ok());
    Some(Target {
        key: key.to_owned(),
        kind,
        prefix: prefix.to_owned(),
        namespace,
        name,
        subject,
    })
}

fn is_security(kind: IncidentType) -> bool {
    matches!(kind, IncidentType::Network | IncidentType::AppVuln | IncidentType::Auth)
}

impl IncidentService {
    /// The incident's suggested actions (see the module docs).
    pub(super) async fn suggested_actions(
        &self,
        incident: &Incident,
        groups: &[SignalGroup],
    ) -> Result<Vec<SuggestedAction>, ServiceError> {
        let env = Env::parse(&incident.env)?;
        let targets = self.targets(incident, groups).await?;
        let fallback_ns = targets
            .iter()
            .find_map(|t| match t.kind {
                EntityKind::Namespace => Some(t.name.clone()).filter(|n| Namespace::parse(n).is_ok()),
                _ => t.namespace.clone(),
            })
            .or_else(|| self.config.env(&env).and_then(|e| e.policy.only_namespace()));
        let security = is_security(incident.kind);
        let id = incident.id;
        let contain = |action, resource: &str, namespace: Option<String>, why: String| {
            let req = ContainRequest {
                id,
                action,
                resource: resource.to_owned(),
                namespace: if action == ContainAction::Cordon {
                    None
                } else {
                    namespace
                },
                ttl_secs: None,
                args: BTreeMap::new(),
            };
            let form = ContainTarget::parse(&req.resource)?;
            form.mismatch(action)
                .is_none()
                .then_some((SuggestedArguments::Contain(req), why))
        };
        let mut calls: Vec<(SuggestedArguments, String)> = Vec::new();
        let open = self.open_containments(OpenActions::Incident(id)).await?;
        if let Some((_, p)) = open.first() {
            calls.push((
                SuggestedArguments::Recover(RecoverRequest {
                    id,
                    method: RecoverMethod::Revert,
                    resource: None,
                    namespace: None,
                    backup_id: None,
                    args: BTreeMap::new(),
                }),
                format!(
                    "undo its latest containment still in place ({} of {})",
                    p.plan.action(),
                    plan_target(&p.plan.resource)
                ),
            ));
        }
        for t in &targets {
            let ns = t.namespace.clone().or_else(|| fallback_ns.clone());
            let whose = if t.subject {
                "the incident fired for"
            } else {
                "its signals name"
            };
            match t.kind {
                EntityKind::Pod if is_dns1123_subdomain(&t.name) => {
                    let (action, what) = if security {
                        (ContainAction::Isolate, "cut its network traffic")
                    } else {
                        (ContainAction::DeletePod, "let its controller replace it")
                    };
                    calls.extend(contain(action, &t.name, ns, format!("{whose} pod {}: {what}", t.name)));
                }
                EntityKind::Workload if is_dns1123_subdomain(&t.name) => {
                    if security && t.prefix == "deployment" {
                        let why = format!("{whose} deployment {}: scale it to zero until it is understood", t.name);
                        calls.extend(contain(
                            ContainAction::Pause,
                            &format!("deployment/{}", t.name),
                            ns.clone(),
                            why,
                        ));
                    }
                    if matches!(t.prefix.as_str(), "deployment" | "statefulset") {
                        calls.push((
                            SuggestedArguments::Recover(RecoverRequest {
                                id,
                                method: RecoverMethod::Rollback,
                                resource: Some(format!("{}/{}", t.prefix, t.name)),
                                namespace: ns,
                                backup_id: None,
                                args: BTreeMap::new(),
                            }),
                            format!(
                                "{whose} {} {}: roll it back to its previous revision (a recent rollout may be the cause)",
                                t.prefix, t.name
                            ),
                        ));
                    }
                }
                EntityKind::Ip if security => match ns {
                    Some(ns) => {
                        let why = format!("{whose} address {}: block its traffic", t.name);
                        calls.extend(contain(ContainAction::Block, &t.name, Some(ns), why));
                    }
                    // The evidence names no namespace: a block into each the policy allows.
                    None => {
                        let allowed = self
                            .config
                            .env(&env)
                            .map(|e| e.policy.allowed_namespaces())
                            .unwrap_or_default();
                        if allowed.is_empty() {
                            let why = format!("{whose} address {}: block its traffic", t.name);
                            calls.extend(contain(ContainAction::Block, &t.name, None, why));
                        }
                        for ns in allowed.into_iter().take(MAX_BLOCK_NAMESPACES) {
                            let why = format!(
                                "{whose} address {}: block its traffic to the pods of namespace {ns} (the evidence \
                                 names no namespace: pick the one it reaches)",
                                t.name
                            );
                            calls.extend(contain(ContainAction::Block, &t.name, Some(ns), why));
                        }
                    }
                },
                EntityKind::Node if t.subject && is_dns1123_subdomain(&t.name) => {
                    let why = format!("the incident fired for node {}: keep new pods off it", t.name);
                    calls.extend(contain(ContainAction::Cordon, &t.name, None, why));
                }
                _ => {}
            }
        }
        let mut seen = Vec::new();
        calls.retain(|(a, _)| {
            let key = serde_json::to_string(a).unwrap_or_default();
            let fresh = !seen.contains(&key);
            seen.push(key);
            fresh
        });
        calls.truncate(MAX_SUGGESTIONS);
        let usage = self
            .store
            .destructive_usage(env.as_str(), Some(id), Utc::now() - TimeDelta::hours(1))
            .await?;
        let mut out = Vec::with_capacity(calls.len());
        for (arguments, reason) in calls {
            let (operation, policy) = match &arguments {
                SuggestedArguments::Contain(c) => (Operation::Contain, self.contain_verdict(&env, c, usage)?),
                SuggestedArguments::Recover(r) => (
                    Operation::Recover,
                    self.recover_verdict(&env, r, usage, open.first().map(|(_, p)| p))?,
                ),
            };
            out.push(SuggestedAction {
                operation,
                arguments,
                reason,
                policy,
            });
        }
        Ok(out)
    }

    /// The incident's own entities: the subjects of its signals (most signals first), then the
    /// others its signals name (pods, workloads, addresses, nodes first).
    pub(super) async fn targets(
        &self,
        incident: &Incident,
        groups: &[SignalGroup],
    ) -> Result<Vec<Target>, ServiceError> {
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        for g in groups {
            if let Some(e) = crate::domain::entity::subject(&g.entity) {
                *counts.entry(e.key).or_default() += g.count;
            }
        }
        let mut subjects: Vec<(String, i64)> = counts.into_iter().collect();
        subjects.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        // What a suggestion can act on, and where: pods, workloads, addresses, nodes, namespaces.
        let kinds = [
            EntityKind::Pod,
            EntityKind::Workload,
            EntityKind::Ip,
            EntityKind::Node,
            EntityKind::Namespace,
        ];
        let mut own = self.store.incident_entities(incident.id, &kinds).await?;
        let rank = |k: EntityKind| match k {
            EntityKind::Pod => 0,
            EntityKind::Workload => 1,
            EntityKind::Ip => 2,
            EntityKind::Node => 3,
            _ => 4,
        };
        own.sort_by(|a, b| rank(a.kind).cmp(&rank(b.kind)).then(a.entity.cmp(&b.entity)));
        let mut out: Vec<Target> = Vec::new();
        for (key, _) in &subjects {
            if let Some(e) = crate::domain::entity::subject(key)
                && let Some(t) = split(&e.key, e.kind, true)
            {
                out.push(t);
            }
        }
        for e in own {
            if subjects.iter().any(|(k, _)| *k == e.entity) {
                continue;
            }
            if let Some(t) = split(&e.entity, e.kind, false) {
                out.push(t);
            }
        }
        Ok(out)
    }

    fn contain_verdict(&self, env: &Env, c: &ContainRequest, usage: Usage) -> Result<PolicyVerdict, ServiceError> {
        let action = Action::from(c.action);
        let one_pod = matches!(c.action, ContainAction::Isolate | ContainAction::DeletePod);
        let req = ActionRequest {
            action,
            namespace: c.namespace.clone(),
            name: policy_name(action, &c.resource, false)?,
            labels: BTreeMap::new(),
            script: None,
            pods: u32::from(one_pod),
            nodes: u32::from(c.action == ContainAction::Cordon),
            healthy_replicas_after: None,
        };
        let unknown = Unknowns {
            labels: true,
            pods: !one_pod,
            nodes: false,
            healthy_replicas: true,
        };
        // Deleting a pod leaves nothing to undo; every other containment must be undoable.
        let undo = (c.action != ContainAction::DeletePod).then(|| ActionRequest {
            action: Action::Revert,
            healthy_replicas_after: None,
            ..req.clone()
        });
        Ok(self.verdict(env, &req, unknown, usage, undo.as_ref()))
    }

    fn recover_verdict(
        &self,
        env: &Env,
        r: &RecoverRequest,
        usage: Usage,
        latest: Option<&crate::store::StoredPlan>,
    ) -> Result<PolicyVerdict, ServiceError> {
        let req = match (r.method, latest) {
            (RecoverMethod::Revert, Some(p)) => ActionRequest {
                action: Action::Revert,
                namespace: p.plan.request.namespace.clone(),
                name: plan_target(&p.plan.resource),
                labels: BTreeMap::new(),
                script: super::undo::first_script(&p.plan.inverse),
                pods: p.plan.blast_radius.pods,
                nodes: p.plan.blast_radius.nodes,
                healthy_replicas_after: None,
            },
            _ => ActionRequest {
                action: if r.method == RecoverMethod::Restore {
                    Action::Restore
                } else {
                    Action::Rollback
                },
                namespace: r.namespace.clone(),
                name: super::respond::target_name(r.resource.as_deref().unwrap_or_default()).to_owned(),
                labels: BTreeMap::new(),
                script: None,
                pods: 0,
                nodes: 0,
                healthy_replicas_after: None,
            },
        };
        let revert = req.action == Action::Revert;
        let unknown = Unknowns {
            labels: !revert,
            pods: !revert,
            nodes: false,
            healthy_replicas: true,
        };
        Ok(self.verdict(env, &req, unknown, usage, None))
    }

    /// Policy's answer for `req` in `env`, in the order planning asks (see the module docs).
    fn verdict(
        &self,
        env: &Env,
        req: &ActionRequest,
        unknown: Unknowns,
        usage: Usage,
        undo: Option<&ActionRequest>,
    ) -> PolicyVerdict {
        let refused = |reason: String| PolicyVerdict {
            decision: PolicyAnswer::Refused,
            reason: Some(reason),
            deferred: Vec::new(),
        };
        let Some(env_cfg) = self.config.env(env) else {
            return refused(format!("environment {env} is not configured"));
        };
        let preview = env_cfg.policy.preview(env.as_str(), req, usage, unknown);
        let early = |k: &RefusalKind| {
            matches!(
                k,
                RefusalKind::ActionNotAllowed
                    | RefusalKind::InvalidName
                    | RefusalKind::ProtectedNamespace
                    | RefusalKind::NamespaceNotAllowed
            )
        };
        if let Preview::Refuse { kind, reason } = &preview
            && early(kind)
        {
            return refused(reason.clone());
        }
        if !self.backends.cluster.contains_key(env.as_str()) {
            return refused(format!(
                "environment {env} has no cluster configured; containment and recovery are unavailable there"
            ));
        }
        let deferred = match preview {
            Preview::Refuse { reason, .. } => return refused(reason),
            Preview::Allow { deferred } => deferred,
        };
        if let Some(undo) = undo
            && let Preview::Refuse { reason, .. } =
                env_cfg.policy.preview(env.as_str(), undo, Usage::default(), unknown)
        {
            return refused(format!(
                "this containment could not be undone: its revert would be refused ({reason})"
            ));
        }
        PolicyVerdict {
            decision: if deferred.is_empty() {
                PolicyAnswer::Allowed
            } else {
                PolicyAnswer::AllowedPendingPlan
            },
            reason: None,
            deferred: deferred.into_iter().map(str::to_owned).collect(),
        }
    }
}
