//! Reading the Kubernetes context of an incident's pods and workloads (`cluster::context`):
//! GET and LIST only, every list with `limit`, in the namespaces the request names (the service
//! has already kept out every namespace the policy refuses or protects). A failed read is noted
//! on the object it concerns and in [`KubeContext::error`]; it never fails the whole.

use std::collections::BTreeMap;

use ::kube::Api;
use k8s_openapi::{
    api::{
        apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet},
        batch::v1::Job,
        core::v1::{Node, Pod, Service},
    },
    apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference},
};

use super::{
    KubeBackend, clip, failed,
    history::{events, rollouts, time},
    list, map_err, object_name, selector_string,
};
use crate::cluster::{
    BackendError,
    context::{
        ContainerState, ContextRequest, ContextTarget, KubeContext, KubeObject, LIST_LIMIT, MAX_OBJECTS, MAX_TARGETS,
        NodeState, PodState,
    },
};

/// Services of a namespace: (name, selector), read once per namespace.
pub(super) type Services = BTreeMap<String, Result<Vec<(String, BTreeMap<String, String>)>, String>>;

/// What reading learnt that the blast radius reuses.
#[derive(Default)]
pub(super) struct Seen {
    pub services: Services,
    /// Pod template labels of the workloads read (`ns/deployment/web`).
    pub templates: BTreeMap<String, BTreeMap<String, String>>,
    /// Reads that failed.
    pub errors: Vec<String>,
}

/// Reads the context of `req`'s targets (see the module docs); what it learnt on the way is
/// returned for the blast radius.
pub(super) async fn read(b: &KubeBackend, req: &ContextRequest) -> (KubeContext, Seen) {
    let mut seen = Seen::default();
    let mut ctx = KubeContext::default();
    for t in req.targets.iter().take(MAX_TARGETS) {
        // The policy, again: a namespace it refuses is never requested.
        if !req.may_read(&t.namespace) {
            ctx.not_read
                .push(format!("{}: the policy does not let analysis read it", t.entity));
            continue;
        }
        // A workload an earlier pod's owner chain already described is not read again.
        let covered = ctx
            .objects
            .iter()
            .any(|o| o.namespace == t.namespace && o.owners.contains(&format!("{}/{}", t.kind, t.name)));
        if covered {
            continue;
        }
        let mut obj = KubeObject {
            entity: t.entity.clone(),
            namespace: t.namespace.clone(),
            ..KubeObject::default()
        };
        match describe(b, t, req, &mut obj, &mut seen).await {
            Ok(()) => {}
            // Gone is an answer, not a failure: a crash-looping pod is often replaced by now.
            Err(BackendError::NotFound { what }) if obj.owners.is_empty() => {
                obj.error = Some(format!("{what} not found: deleted or replaced since"));
            }
            Err(e) => {
                let e = e.to_string();
                seen.errors.push(e.clone());
                obj.error = Some(e);
            }
        }
        ctx.objects.push(obj);
    }
    (ctx, seen)
}

async fn describe(
    b: &KubeBackend,
    t: &ContextTarget,
    req: &ContextRequest,
    obj: &mut KubeObject,
    seen: &mut Seen,
) -> Result<(), BackendError> {
    let ns = t.namespace.as_str();
    let mut deployment = None;
    // (Kind, name) of the objects whose events are read.
    let mut events_of: Vec<(String, String)> = Vec::new();
    let pod_labels;
    match t.kind.as_str() {
        "pod" => {
            let what = object_name("Pod", Some(ns), &t.name);
            let pod = Api::<Pod>::namespaced(b.client(), ns)
                .get(&t.name)
                .await
                .map_err(failed(&what))?;
            pod_labels = pod.metadata.labels.clone().unwrap_or_default();
            events_of.push(("Pod".into(), t.name.clone()));
            let (owners, top) = owners(b, ns, &pod.metadata).await?;
            obj.owners = owners;
            if let Some((kind, name)) = top {
                if kind == "Deployment" {
                    let what = object_name("Deployment", Some(ns), &name);
                    let d = Api::<Deployment>::namespaced(b.client(), ns)
                        .get(&name)
                        .await
                        .map_err(failed(&what))?;
                    deployment = Some(d);
                }
                events_of.push((kind, name));
            }
            if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                obj.node = Some(node_state(b, &node, seen).await);
            }
            obj.pods = vec![pod_state(&pod)];
        }
        "deployment" | "statefulset" | "daemonset" => {
            let (kind, selector, labels, d) = workload(b, t).await?;
            pod_labels = labels;
            events_of.push((kind.into(), t.name.clone()));
            deployment = d;
            if let Some(sel) = selector.filter(|s| !s.is_empty()) {
                let what = format!("the pods of {}", object_name(kind, Some(ns), &t.name));
                let pods = Api::<Pod>::namespaced(b.client(), ns)
                    .list(&list(LIST_LIMIT).labels(&sel))
                    .await
                    .map_err(failed(&what))?;
                let mut pods: Vec<PodState> = pods.items.iter().map(pod_state).collect();
                pods.sort_by(|a, b| b.restarts.cmp(&a.restarts).then(a.name.cmp(&b.name)));
                pods.truncate(MAX_OBJECTS);
                obj.pods = pods;
            }
        }
        other => {
            return Err(BackendError::Invalid(format!(
                "the context of a {} is not read",
                clip(other)
            )));
        }
    }
    obj.services = services(b, ns, seen)
        .await?
        .iter()
        .filter(|(_, sel)| selects(sel, &pod_labels))
        .map(|(n, _)| n.clone())
        .take(MAX_OBJECTS)
        .collect();
    obj.events = events(b, ns, &events_of).await?;
    if let Some(d) = deployment {
        let name = d.metadata.name.clone().unwrap_or_default();
        let (rollouts, template) = rollouts(b, ns, d, req).await?;
        obj.rollout_in_window = rollouts.iter().any(|r| r.in_window);
        obj.rollouts = rollouts;
        seen.templates.insert(format!("{ns}/deployment/{name}"), template);
    }
    Ok(())
}

/// The controllers of an object, nearest first, as `kind/name`, and the top one (kind, name).
/// Reads a ReplicaSet to reach its Deployment and a Job to reach its CronJob.
async fn owners(
    b: &KubeBackend,
    ns: &str,
    meta: &ObjectMeta,
) -> Result<(Vec<String>, Option<(String, String)>), BackendError> {
    let mut out = Vec::new();
    let mut next = controller(meta.owner_references.as_ref());
    let mut top = None;
    // Pod → ReplicaSet → Deployment, Pod → Job → CronJob: two hops at most.
    for _ in 0..2 {
        let Some(o) = next.take() else { break };
        out.push(clip(&format!("{}/{}", o.kind.to_ascii_lowercase(), o.name)));
        top = Some((o.kind.clone(), o.name.clone()));
        next = match o.kind.as_str() {
            "ReplicaSet" => {
                let what = object_name("ReplicaSet", Some(ns), &o.name);
                let rs = Api::<ReplicaSet>::namespaced(b.client(), ns)
                    .get(&o.name)
                    .await
                    .map_err(failed(&what))?;
                controller(rs.metadata.owner_references.as_ref())
            }
            "Job" => {
                let what = object_name("Job", Some(ns), &o.name);
                let job = Api::<Job>::namespaced(b.client(), ns)
                    .get(&o.name)
                    .await
                    .map_err(failed(&what))?;
                controller(job.metadata.owner_references.as_ref())
            }
            _ => None,
        };
    }
    Ok((out, top))
}

fn controller(refs: Option<&Vec<OwnerReference>>) -> Option<OwnerReference> {
    refs.and_then(|r| r.iter().find(|o| o.controller == Some(true)).cloned())
}

/// A workload's Kind, pod selector (`k=v,..`, matchLabels only), pod template labels, and the
/// Deployment itself when it is one.
async fn workload(
    b: &KubeBackend,
    t: &ContextTarget,
) -> Result<
    (
        &'static str,
        Option<String>,
        BTreeMap<String, String>,
        Option<Deployment>,
    ),
    BackendError,
> {
    let ns = t.namespace.as_str();
    let name = t.name.as_str();
    let kind = match t.kind.as_str() {
        "deployment" => "Deployment",
        "statefulset" => "StatefulSet",
        _ => "DaemonSet",
    };
    let what = object_name(kind, Some(ns), name);
    let mut deployment = None;
    let (selector, labels) = match kind {
        "Deployment" => {
            let d = Api::<Deployment>::namespaced(b.client(), ns)
                .get(name)
                .await
                .map_err(failed(&what))?;
            let out = d
                .spec
                .clone()
                .map(|s| (s.selector, s.template.metadata.and_then(|m| m.labels)));
            deployment = Some(d);
            out
        }
        "StatefulSet" => Api::<StatefulSet>::namespaced(b.client(), ns)
            .get(name)
            .await
            .map_err(failed(&what))?
            .spec
            .map(|s| (s.selector, s.template.metadata.and_then(|m| m.labels))),
        _ => Api::<DaemonSet>::namespaced(b.client(), ns)
            .get(name)
            .await
            .map_err(failed(&what))?
            .spec
            .map(|s| (s.selector, s.template.metadata.and_then(|m| m.labels))),
    }
    .unwrap_or_default();
    Ok((kind, selector_string(&selector), labels.unwrap_or_default(), deployment))
}

/// A Service selector selects `labels` when every term is among them (an empty one selects
/// nothing: such a Service has its endpoints managed by hand).
pub(super) fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

pub(super) async fn services<'a>(
    b: &KubeBackend,
    ns: &str,
    seen: &'a mut Seen,
) -> Result<&'a [(String, BTreeMap<String, String>)], BackendError> {
    if !seen.services.contains_key(ns) {
        let what = format!("the Services of namespace {ns}");
        let read = Api::<Service>::namespaced(b.client(), ns)
            .list(&list(LIST_LIMIT))
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter_map(|s| {
                        let sel = s.spec.and_then(|s| s.selector).unwrap_or_default();
                        Some((clip(&s.metadata.name?), sel))
                    })
                    .collect()
            })
            .map_err(|e| map_err(&what, &e).to_string());
        seen.services.insert(ns.to_owned(), read);
    }
    match seen.services.get(ns) {
        Some(Ok(v)) => Ok(v.as_slice()),
        Some(Err(e)) => Err(BackendError::Failed(e.clone())),
        None => Ok(&[]),
    }
}

async fn node_state(b: &KubeBackend, name: &str, seen: &mut Seen) -> NodeState {
    let mut out = NodeState {
        name: clip(name),
        ..NodeState::default()
    };
    match Api::<Node>::all(b.client()).get(name).await {
        Ok(n) => {
            out.unschedulable = n.spec.and_then(|s| s.unschedulable).unwrap_or(false);
            for c in n.status.and_then(|s| s.conditions).unwrap_or_default() {
                match (c.type_.as_str(), c.status.as_str()) {
                    ("Ready", "True") => out.ready = true,
                    ("Ready", _) | (_, "False" | "Unknown") => {}
                    (t, _) => out.pressure.push(clip(t)),
                }
            }
        }
        Err(e) => seen
            .errors
            .push(map_err(&object_name("Node", None, name), &e).to_string()),
    }
    out
}

fn pod_state(p: &Pod) -> PodState {
    let status = p.status.as_ref();
    let statuses = status.and_then(|s| s.container_statuses.clone()).unwrap_or_default();
    let containers = statuses
        .iter()
        .filter(|c| c.restart_count > 0 || c.state.as_ref().is_some_and(|s| s.running.is_none()))
        .take(MAX_OBJECTS)
        .map(|c| {
            let last = c.last_state.as_ref().and_then(|s| s.terminated.as_ref());
            ContainerState {
                name: clip(&c.name),
                restarts: c.restart_count,
                waiting: c
                    .state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    .map(clip),
                last_termination: last.and_then(|t| t.reason.as_deref()).map(clip),
                last_exit_code: last.map(|t| t.exit_code),
                last_finished_at: last.and_then(|t| t.finished_at.as_ref()).and_then(time),
            }
        })
        .collect();
    PodState {
        name: clip(p.metadata.name.as_deref().unwrap_or_default()),
        phase: status.and_then(|s| s.phase.as_deref()).map(clip),
        ready: status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
        restarts: statuses.iter().map(|c| c.restart_count).fold(0, i32::saturating_add),
        containers,
    }
}
