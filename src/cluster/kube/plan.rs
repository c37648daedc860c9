//! Planning of the pod and node actions (isolate, delete-pod, cordon) and helpers shared by
//! the other planners.

use std::collections::BTreeMap;

use ::kube::{Api, api::ListParams};
use k8s_openapi::api::{
    apps::v1::{Deployment, ReplicaSet, StatefulSet},
    core::v1::{Node, Pod},
};
use serde_json::{Value, json};

use super::{ACTION_ANNOTATION, INCIDENT_ANNOTATION, KubeBackend, map_err, object_name};
use crate::{
    cluster::{ActionSpec, BackendError, BackendPlan, Change, DryRun, KubeVerb, PatchKind},
    domain::{
        k8s_names::{Namespace, is_dns1123_subdomain, is_label_value},
        plan::{BlastRadius, TargetVersion},
        sha256_hex,
    },
};

/// Label that puts a pod under its isolation NetworkPolicy; the value is the incident.
pub const QUARANTINE_LABEL: &str = "incident-mcp/quarantine";
pub(super) const NETPOL_API: &str = "networking.k8s.io/v1";

pub(super) fn invalid(m: impl Into<String>) -> BackendError {
    BackendError::Invalid(m.into())
}

/// The spec's namespace, validated.
pub(super) fn namespace(spec: &ActionSpec) -> Result<String, BackendError> {
    let ns = spec
        .namespace
        .as_deref()
        .ok_or_else(|| invalid(format!("action {} needs a namespace", spec.action)))?;
    Namespace::parse(ns).map_err(|e| invalid(e.message))?;
    Ok(ns.to_owned())
}

pub(super) fn target_name(raw: &str) -> Result<String, BackendError> {
    if is_dns1123_subdomain(raw) {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!("`{}` is not a valid DNS-1123 name", super::clip(raw))))
    }
}

/// The incident id as a label value (it is also written into annotations).
pub(super) fn incident_label(spec: &ActionSpec) -> Result<String, BackendError> {
    if is_label_value(&spec.incident) && !spec.incident.is_empty() {
        Ok(spec.incident.clone())
    } else {
        Err(invalid(format!(
            "incident id `{}` is not a valid label value",
            super::clip(&spec.incident)
        )))
    }
}

/// A deterministic DNS-1123 label `PREFIX-ID`: characters outside `[a-z0-9-]` become `-`; when
/// that changed anything or the name would exceed 63 characters, it is truncated and ends with 8
/// hex digits of SHA-256(id), so distinct ids never share a name.
pub fn object_label(prefix: &str, id: &str) -> String {
    let clean: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() {
                c
            } else {
                '-'
            }
        })
        .collect();
    let plain = format!("{prefix}-{clean}");
    let trimmed = plain.trim_end_matches('-');
    if clean == id && plain.len() <= 63 && trimmed.len() == plain.len() {
        return plain;
    }
    let hash = &sha256_hex(id.as_bytes())[..8];
    let mut head = trimmed.to_owned();
    head.truncate(63 - 9);
    format!("{}-{hash}", head.trim_end_matches('-'))
}

pub(super) fn empty_plan(
    changes: Vec<Change>,
    inverse: Vec<Change>,
    targets: Vec<TargetVersion>,
    blast_radius: BlastRadius,
) -> BackendPlan {
    BackendPlan {
        changes,
        inverse,
        targets,
        blast_radius,
        labels: BTreeMap::new(),
        healthy_replicas_after: None,
        dry_run: DryRun::NotSupported,
    }
}

pub(super) fn target(kind: &str, namespace: Option<&str>, name: &str, rv: Option<String>) -> TargetVersion {
    TargetVersion {
        kind: kind.into(),
        namespace: namespace.map(str::to_owned),
        name: name.into(),
        resource_version: rv.unwrap_or_default(),
    }
}

/// The controlling workload of a pod (`deployment/NAME` or `statefulset/NAME`) and its ready
/// replicas, when it can be resolved.
async fn owner(b: &KubeBackend, ns: &str, pod: &Pod) -> Result<Option<(String, u32)>, BackendError> {
    let controller = |refs: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>>| {
        refs.and_then(|r| r.iter().find(|o| o.controller == Some(true)).cloned())
    };
    let Some(o) = controller(pod.metadata.owner_references.as_ref()) else {
        return Ok(None);
    };
    let ready = |n: Option<i32>| u32::try_from(n.unwrap_or(0)).unwrap_or(0);
    match o.kind.as_str() {
        "ReplicaSet" => {
            let rs = Api::<ReplicaSet>::namespaced(b.client(), ns)
                .get(&o.name)
                .await
                .map_err(|e| map_err(&object_name("ReplicaSet", Some(ns), &o.name), &e))?;
            match controller(rs.metadata.owner_references.as_ref()) {
                Some(d) if d.kind == "Deployment" => {
                    let dep = Api::<Deployment>::namespaced(b.client(), ns)
                        .get(&d.name)
                        .await
                        .map_err(|e| map_err(&object_name("Deployment", Some(ns), &d.name), &e))?;
                    let r = ready(dep.status.and_then(|s| s.ready_replicas));
                    Ok(Some((format!("deployment/{}", d.name), r)))
                }
                _ => Ok(Some((
                    format!("replicaset/{}", o.name),
                    ready(rs.status.and_then(|s| s.ready_replicas)),
                ))),
            }
        }
        "StatefulSet" => {
            let sts = Api::<StatefulSet>::namespaced(b.client(), ns)
                .get(&o.name)
                .await
                .map_err(|e| map_err(&object_name("StatefulSet", Some(ns), &o.name), &e))?;
            Ok(Some((
                format!("statefulset/{}", o.name),
                ready(sts.status.and_then(|s| s.ready_replicas)),
            )))
        }
        _ => Ok(None),
    }
}

pub(super) async fn get_pod(b: &KubeBackend, ns: &str, name: &str) -> Result<Pod, BackendError> {
    Api::<Pod>::namespaced(b.client(), ns)
        .get(name)
        .await
        .map_err(|e| map_err(&object_name("Pod", Some(ns), name), &e))
}

/// Pod planning shared by isolate and delete-pod: target, labels, owner and healthy replicas.
async fn pod_plan(
    b: &KubeBackend,
    spec: &ActionSpec,
    changes: Vec<Change>,
    inverse: Vec<Change>,
) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let pod = get_pod(b, &ns, &spec.resource).await?;
    let owner = owner(b, &ns, &pod).await?;
    let radius = BlastRadius {
        pods: 1,
        nodes: 0,
        workloads: owner.iter().map(|(w, _)| w.clone()).collect(),
        namespaces: vec![ns.clone()],
    };
    let targets = vec![target(
        "Pod",
        Some(&ns),
        &spec.resource,
        pod.metadata.resource_version.clone(),
    )];
    let mut p = empty_plan(changes, inverse, targets, radius);
    p.labels = pod.metadata.labels.clone().unwrap_or_default();
    // The workload loses this pod's readiness only if the pod was ready.
    let lost = u32::from(is_ready(&pod));
    p.healthy_replicas_after = owner.map(|(_, ready)| ready.saturating_sub(lost));
    Ok(p)
}

/// Label the pod `incident-mcp/quarantine=<incident>` and create a NetworkPolicy selecting that
/// label with both policy types and no rules: all ingress and egress of the pod is denied.
///
/// Limit: NetworkPolicies are additive allow-lists, so another policy that selects the pod and
/// allows some traffic still allows it; the isolation is complete only for pods no other policy
/// selects. (v1 NetworkPolicy has no deny rule that overrides an allow.)
pub(super) async fn isolate(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let pod = target_name(&spec.resource)?;
    let incident = incident_label(spec)?;
    let policy_name = object_label("incident-mcp-isolate", &pod);
    let policy = json!({
        "apiVersion": NETPOL_API, "kind": "NetworkPolicy",
        "metadata": {
            "name": policy_name, "namespace": ns,
            "labels": { "app.kubernetes.io/managed-by": "incident-mcp" },
            "annotations": { INCIDENT_ANNOTATION: incident, ACTION_ANNOTATION: "isolate", "incident-mcp/pod": pod },
        },
        "spec": {
            "podSelector": { "matchLabels": { QUARANTINE_LABEL: incident } },
            "policyTypes": ["Ingress", "Egress"],
        },
    });
    let label = |value: Value| Change::Kube {
        verb: KubeVerb::Patch,
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some(ns.clone()),
        name: pod.clone(),
        patch: Some(PatchKind::StrategicMerge),
        body: Some(json!({ "metadata": { "labels": { QUARANTINE_LABEL: value } } })),
        resource_version: None,
    };
    let create = Change::Kube {
        verb: KubeVerb::Create,
        api_version: NETPOL_API.into(),
        kind: "NetworkPolicy".into(),
        namespace: Some(ns.clone()),
        name: policy_name.clone(),
        patch: None,
        body: Some(policy),
        resource_version: None,
    };
    let delete = Change::Kube {
        verb: KubeVerb::Delete,
        api_version: NETPOL_API.into(),
        kind: "NetworkPolicy".into(),
        namespace: Some(ns.clone()),
        name: policy_name,
        patch: None,
        body: None,
        resource_version: None,
    };
    // The policy first: the label then isolates the pod the moment it lands.
    let changes = vec![create, label(Value::String(incident))];
    pod_plan(b, spec, changes, vec![delete, label(Value::Null)]).await
}

/// Delete one pod, only if it is still the version planned against. Not reversible: its
/// controller (if any) creates a replacement with another name.
pub(super) async fn delete_pod(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let pod = target_name(&spec.resource)?;
    let mut p = pod_plan(b, spec, Vec::new(), Vec::new()).await?;
    p.changes.push(Change::Kube {
        verb: KubeVerb::Delete,
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some(ns),
        name: pod,
        patch: None,
        body: None,
        resource_version: Some(p.targets[0].resource_version.clone()),
    });
    Ok(p)
}

/// Mark a node unschedulable (nothing is evicted); inverse: schedulable again. The healthy
/// replicas after are the ready pods on the node, which all keep running.
pub(super) async fn cordon(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    if spec.namespace.is_some() {
        return Err(invalid("cordon acts on a node, which has no namespace"));
    }
    let name = target_name(&spec.resource)?;
    let node = Api::<Node>::all(b.client())
        .get(&name)
        .await
        .map_err(|e| map_err(&object_name("Node", None, &name), &e))?;
    if node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true) {
        return Err(invalid(format!("node {name} is already cordoned")));
    }
    let lp = ListParams::default().fields(&format!("spec.nodeName={name}"));
    let pods = Api::<Pod>::all(b.client())
        .list(&lp)
        .await
        .map_err(|e| map_err(&format!("the pods of node {name}"), &e))?;
    let mut namespaces: Vec<String> = pods.items.iter().filter_map(|p| p.metadata.namespace.clone()).collect();
    namespaces.sort();
    namespaces.dedup();
    let ready = pods.items.iter().filter(|p| is_ready(p)).count();
    let patch = |v: bool| Change::Kube {
        verb: KubeVerb::Patch,
        api_version: "v1".into(),
        kind: "Node".into(),
        namespace: None,
        name: name.clone(),
        patch: Some(PatchKind::Merge),
        body: Some(json!({ "spec": { "unschedulable": v } })),
        resource_version: None,
    };
    let radius = BlastRadius {
        pods: u32::try_from(pods.items.len()).unwrap_or(u32::MAX),
        nodes: 1,
        workloads: Vec::new(),
        namespaces,
    };
    let targets = vec![target("Node", None, &name, node.metadata.resource_version.clone())];
    let mut p = empty_plan(vec![patch(true)], vec![patch(false)], targets, radius);
    p.labels = node.metadata.labels.unwrap_or_default();
    p.healthy_replicas_after = Some(u32::try_from(ready).unwrap_or(u32::MAX));
    Ok(p)
}

fn is_ready(p: &Pod) -> bool {
    p.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}
