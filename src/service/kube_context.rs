//! `analyze`'s Kubernetes context (depth ≥ 1, an environment with a cluster): for the
//! incident's pods and workloads, what the cluster says of them (owners, services, node, events,
//! restarts, rollouts), and how far each pod or workload containment policy allows now would
//! reach.
//!
//! Which namespaces may be read is decided here, from the environment's policy, before any
//! request: only namespaces it allows and does not protect. An entity anywhere else is listed
//! in `not_read` and never requested, not even listed. The backend reads with GET and LIST only,
//! bounded (`cluster::context` limits), within [`DEADLINE`]; a cluster that fails or does not
//! answer leaves a note in `kubernetes.error`, never a failed analysis.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::{
    IncidentService, ServiceError,
    insight::{Operation, PolicyAnswer, SuggestedAction, SuggestedArguments},
    respond::types::ContainAction,
};
use crate::{
    cluster::{
        ActionSpec,
        context::{ContextRequest, ContextTarget, KubeContext, MAX_TARGETS},
    },
    domain::{
        Env, Incident,
        entity::EntityKind,
        k8s_names::{Namespace, is_dns1123_subdomain},
        policy::{Action, Policy},
    },
    store::SignalGroup,
};

/// The longest the whole read may take.
pub const DEADLINE: Duration = Duration::from_secs(10);

impl IncidentService {
    /// The Kubernetes context of `incident` (see the module docs); `None` when its environment
    /// has no cluster that can be read, or it names no pod or workload.
    pub(super) async fn kube_context(
        &self,
        incident: &Incident,
        groups: &[SignalGroup],
        suggestions: &[SuggestedAction],
        window: (DateTime<Utc>, DateTime<Utc>),
    ) -> Result<Option<KubeContext>, ServiceError> {
        let Some(backend) = self.backends.cluster.get(&incident.env) else {
            return Ok(None);
        };
        let env = Env::parse(&incident.env)?;
        let default_policy = Policy::default();
        let policy = self.config.env(&env).map_or(&default_policy, |e| &e.policy);
        let mut targets = Vec::new();
        let mut not_read = Vec::new();
        for t in self.targets(incident, groups).await? {
            let kind = match (t.kind, t.prefix.as_str()) {
                (EntityKind::Pod, _) => "pod",
                (EntityKind::Workload, p @ ("deployment" | "statefulset" | "daemonset")) => p,
                (EntityKind::Workload, _) => {
                    not_read.push(format!(
                        "{}: only Deployments, StatefulSets and DaemonSets are read",
                        t.key
                    ));
                    continue;
                }
                _ => continue,
            };
            let Some(ns) = t.namespace.as_deref().and_then(|n| Namespace::parse(n).ok()) else {
                not_read.push(format!("{}: the telemetry names no namespace", t.key));
                continue;
            };
            if !policy.may_read(&ns) {
                let why = if policy.is_protected(&ns) {
                    "is protected"
                } else {
                    "is not in the allowlist"
                };
                not_read.push(format!(
                    "{}: namespace {ns} {why} in env {env}; analysis never reads it",
                    t.key
                ));
                continue;
            }
            if !is_dns1123_subdomain(&t.name) {
                not_read.push(format!("{}: not a Kubernetes name", t.key));
                continue;
            }
            if targets.len() == MAX_TARGETS {
                not_read.push(format!(
                    "{}: only the first {MAX_TARGETS} pods or workloads are read",
                    t.key
                ));
                continue;
            }
            targets.push(ContextTarget {
                entity: t.key.clone(),
                namespace: ns.to_string(),
                kind: kind.into(),
                name: t.name.clone(),
            });
        }
        if targets.is_empty() && not_read.is_empty() {
            return Ok(None);
        }
        let containments = containments(incident, &env, policy, suggestions);
        if targets.is_empty() && containments.is_empty() {
            return Ok(Some(KubeContext {
                not_read,
                ..KubeContext::default()
            }));
        }
        let req = ContextRequest {
            targets,
            window_from: window.0,
            window_to: window.1,
            containments,
            policy: policy.clone(),
        };
        let mut ctx = match tokio::time::timeout(DEADLINE, backend.context(&req)).await {
            Ok(Ok(Some(ctx))) => ctx,
            // A backend without a cluster to read (the sandbox).
            Ok(Ok(None)) => return Ok(None),
            Ok(Err(e)) => KubeContext {
                error: Some(e.to_string()),
                ..KubeContext::default()
            },
            Err(_) => KubeContext {
                error: Some(format!(
                    "the Kubernetes API did not answer within {} s; the context was not read",
                    DEADLINE.as_secs()
                )),
                ..KubeContext::default()
            },
        };
        if let Some(e) = &ctx.error {
            tracing::warn!(incident = %incident.id, env = %env, error = %e, "kubernetes context: reads failed");
        }
        not_read.append(&mut ctx.not_read);
        ctx.not_read = not_read;
        Ok(Some(ctx))
    }
}

/// The pod and workload containments among the suggestions that policy does not refuse, in a
/// namespace analysis may read, as the specs planning would get.
fn containments(incident: &Incident, env: &Env, policy: &Policy, suggestions: &[SuggestedAction]) -> Vec<ActionSpec> {
    suggestions
        .iter()
        .filter(|s| s.operation == Operation::Contain && s.policy.decision != PolicyAnswer::Refused)
        .filter_map(|s| match &s.arguments {
            SuggestedArguments::Contain(c) => Some(c),
            SuggestedArguments::Recover(_) => None,
        })
        .filter(|c| {
            matches!(
                c.action,
                ContainAction::Isolate | ContainAction::DeletePod | ContainAction::Pause
            )
        })
        .filter_map(|c| {
            let ns = c.namespace.as_deref().and_then(|n| Namespace::parse(n).ok())?;
            policy.may_read(&ns).then(|| ActionSpec {
                env: env.to_string(),
                incident: incident.id.to_string(),
                action: Action::from(c.action),
                namespace: Some(ns.to_string()),
                resource: c.resource.clone(),
                params: Default::default(),
            })
        })
        .collect()
}
