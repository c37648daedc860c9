//! Planning against the simulated world: the same objects and inverses as the Kubernetes
//! backend's planners (`kube_plan.rs`, `kube_block.rs`, `kube_workload.rs`), read from the
//! world snapshot instead of an API server.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::{SIMULATED_ANNOTATION, World, key, what};
use crate::{
    cluster::{
        ActionSpec, BackendError, BackendPlan, Change, DryRun, KubeVerb,
        kube::{ACTION_ANNOTATION, INCIDENT_ANNOTATION, QUARANTINE_LABEL, object_label, parse_cidr},
    },
    domain::{
        k8s_names::{Namespace, is_dns1123_subdomain, is_label_value},
        plan::{BlastRadius, TargetVersion},
    },
    store::SandboxKey,
};

pub(super) const REVISION: &str = "deployment.kubernetes.io/revision";

pub(super) fn invalid(m: impl Into<String>) -> BackendError {
    BackendError::Invalid(m.into())
}

fn clip(s: &str) -> String {
    crate::domain::clip(s, 80)
}

pub(super) fn namespace(spec: &ActionSpec) -> Result<String, BackendError> {
    let ns = spec
        .namespace
        .as_deref()
        .ok_or_else(|| invalid(format!("action {} needs a namespace", spec.action)))?;
    Namespace::parse(ns).map_err(|e| invalid(e.message))?;
    Ok(ns.to_owned())
}

pub(super) fn name(raw: &str) -> Result<String, BackendError> {
    if is_dns1123_subdomain(raw) {
        Ok(raw.to_owned())
    } else {
        Err(invalid(format!("`{}` is not a valid DNS-1123 name", clip(raw))))
    }
}

pub(super) fn incident(spec: &ActionSpec) -> Result<String, BackendError> {
    if !spec.incident.is_empty() && is_label_value(&spec.incident) {
        Ok(spec.incident.clone())
    } else {
        Err(invalid(format!(
            "incident id `{}` is not a valid label value",
            clip(&spec.incident)
        )))
    }
}

/// One simulated change.
pub(super) fn change(verb: KubeVerb, k: &SandboxKey, body: Option<Value>, version: Option<i64>) -> Change {
    Change::Sandbox {
        simulated: true,
        verb,
        kind: k.kind.clone(),
        namespace: k.namespace.clone(),
        name: k.name.clone(),
        body,
        resource_version: version.map(|v| v.to_string()),
    }
}

pub(super) fn get<'a>(w: &'a World, k: &SandboxKey) -> Result<&'a Value, BackendError> {
    w.get(k).ok_or_else(|| BackendError::NotFound { what: what(k) })
}

pub(super) fn target(w: &World, k: &SandboxKey) -> TargetVersion {
    TargetVersion {
        kind: k.kind.clone(),
        namespace: k.namespace.clone(),
        name: k.name.clone(),
        resource_version: w.version(k).unwrap_or_default().to_string(),
    }
}

pub(super) fn labels(obj: &Value) -> BTreeMap<String, String> {
    serde_json::from_value(obj["metadata"]["labels"].clone()).unwrap_or_default()
}

pub(super) fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

pub(super) fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .is_some_and(|c| c.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

pub(super) fn controller(obj: &Value) -> Option<(&str, &str)> {
    let o = obj["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|o| o["controller"] == true)?;
    Some((o["kind"].as_str()?, o["name"].as_str()?))
}

/// The workload controlling a pod (`deployment/NAME`, `statefulset/NAME`) and its ready replicas.
pub(super) fn owner(w: &World, ns: &str, pod: &Value) -> Option<(String, u32)> {
    let ready = |o: &Value| count(o["status"]["readyReplicas"].as_u64().unwrap_or(0) as usize);
    match controller(pod)? {
        ("ReplicaSet", rs_name) => {
            let rs = w.get(&key("ReplicaSet", Some(ns), rs_name))?;
            match controller(rs) {
                Some(("Deployment", d)) => {
                    let dep = w.get(&key("Deployment", Some(ns), d))?;
                    Some((format!("deployment/{d}"), ready(dep)))
                }
                _ => Some((format!("replicaset/{rs_name}"), ready(rs))),
            }
        }
        ("StatefulSet", s) => {
            let sts = w.get(&key("StatefulSet", Some(ns), s))?;
            Some((format!("statefulset/{s}"), ready(sts)))
        }
        _ => None,
    }
}

pub(super) fn empty(
    changes: Vec<Change>,
    inverse: Vec<Change>,
    targets: Vec<TargetVersion>,
    radius: BlastRadius,
) -> BackendPlan {
    BackendPlan {
        changes,
        inverse,
        targets,
        blast_radius: radius,
        labels: BTreeMap::new(),
        healthy_replicas_after: None,
        dry_run: DryRun::NotSupported,
    }
}

fn pod_plan(
    w: &World,
    spec: &ActionSpec,
    changes: Vec<Change>,
    inverse: Vec<Change>,
) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let k = key("Pod", Some(&ns), &name(&spec.resource)?);
    let pod = get(w, &k)?;
    let owner = owner(w, &ns, pod);
    let radius = BlastRadius {
        pods: 1,
        nodes: 0,
        workloads: owner.iter().map(|(o, _)| o.clone()).collect(),
        namespaces: vec![ns.clone()],
    };
    let mut p = empty(changes, inverse, vec![target(w, &k)], radius);
    p.labels = labels(pod);
    let lost = u32::from(is_ready(pod));
    p.healthy_replicas_after = owner.map(|(_, ready)| ready.saturating_sub(lost));
    Ok(p)
}

/// Quarantine label on the pod and a deny-all NetworkPolicy selecting it.
pub(super) fn isolate(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let pod = name(&spec.resource)?;
    let incident = incident(spec)?;
    let np = key("NetworkPolicy", Some(&ns), &object_label("incident-mcp-isolate", &pod));
    let body = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {
            "name": np.name, "namespace": ns,
            "labels": { "app.kubernetes.io/managed-by": "incident-mcp" },
            "annotations": { INCIDENT_ANNOTATION: incident, ACTION_ANNOTATION: "isolate", "incident-mcp/pod": pod,
                             SIMULATED_ANNOTATION: "true" },
        },
        "spec": { "podSelector": { "matchLabels": { QUARANTINE_LABEL: incident } },
                  "policyTypes": ["Ingress", "Egress"] },
    });
    let pk = key("Pod", Some(&ns), &pod);
    let label = |v: Value| {
        let patch = json!({ "metadata": { "labels": { QUARANTINE_LABEL: v } } });
        change(KubeVerb::Patch, &pk, Some(patch), None)
    };
    let changes = vec![
        change(KubeVerb::Create, &np, Some(body), None),
        label(Value::String(incident)),
    ];
    let inverse = vec![change(KubeVerb::Delete, &np, None, None), label(Value::Null)];
    pod_plan(w, spec, changes, inverse)
}

/// Delete the pod if still at the planned version; not reversible (its controller replaces it).
pub(super) fn delete_pod(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let k = key("Pod", Some(&ns), &name(&spec.resource)?);
    let mut p = pod_plan(w, spec, Vec::new(), Vec::new())?;
    p.changes.push(change(KubeVerb::Delete, &k, None, w.version(&k)));
    Ok(p)
}

/// Node unschedulable; inverse: schedulable again.
pub(super) fn cordon(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    if spec.namespace.is_some() {
        return Err(invalid("cordon acts on a node, which has no namespace"));
    }
    let k = key("Node", None, &name(&spec.resource)?);
    let node = get(w, &k)?;
    if node["spec"]["unschedulable"] == true {
        return Err(invalid(format!("node {} is already cordoned", k.name)));
    }
    let pods: Vec<&Value> = w
        .list("Pod", None)
        .map(|(_, p)| p)
        .filter(|p| p["spec"]["nodeName"] == k.name.as_str())
        .collect();
    let mut namespaces: Vec<String> = pods
        .iter()
        .filter_map(|p| p["metadata"]["namespace"].as_str().map(str::to_owned))
        .collect();
    namespaces.sort();
    namespaces.dedup();
    let patch = |v: bool| {
        change(
            KubeVerb::Patch,
            &k,
            Some(json!({ "spec": { "unschedulable": v } })),
            None,
        )
    };
    let radius = BlastRadius {
        pods: count(pods.len()),
        nodes: 1,
        workloads: Vec::new(),
        namespaces,
    };
    let mut p = empty(vec![patch(true)], vec![patch(false)], vec![target(w, &k)], radius);
    p.labels = labels(node);
    p.healthy_replicas_after = Some(count(pods.iter().filter(|p| is_ready(p)).count()));
    Ok(p)
}

/// Whether a NetworkPolicy's podSelector (matchLabels, Exists/DoesNotExist) selects `labels`;
/// other operators count as selecting, to stay on the safe side.
fn selects(sel: &Value, labels: &BTreeMap<String, String>) -> bool {
    let eq = sel["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str());
    eq && sel["matchExpressions"].as_array().into_iter().flatten().all(|e| {
        let k = e["key"].as_str().unwrap_or_default();
        match e["operator"].as_str() {
            Some("Exists") => labels.contains_key(k),
            Some("DoesNotExist") => !labels.contains_key(k),
            _ => true,
        }
    })
}

/// Allow everything but the CIDR to and from the namespace's pods (quarantined ones excluded);
/// refused when another NetworkPolicy already selects those pods, as the Kubernetes backend does.
pub(super) fn block(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let ns = namespace(spec)?;
    let incident = incident(spec)?;
    let (addr, prefix) = parse_cidr(&spec.resource)?;
    let cidr = format!("{addr}/{prefix}");
    let np = key("NetworkPolicy", Some(&ns), &object_label("incident-mcp-block", &cidr));
    let selected: Vec<BTreeMap<String, String>> = w
        .list("Pod", Some(&ns))
        .map(|(_, p)| labels(p))
        .filter(|l| !l.contains_key(QUARANTINE_LABEL))
        .collect();
    for (other, policy) in w.list("NetworkPolicy", Some(&ns)) {
        if other.name != np.name && selected.iter().any(|l| selects(&policy["spec"]["podSelector"], l)) {
            return Err(BackendError::Conflict(format!(
                "NetworkPolicy {} already selects pods the block would select; NetworkPolicies only add \
                 allowed traffic, so an allow-all-but-{cidr} policy would widen what it allows. Block refused",
                clip(&other.name)
            )));
        }
    }
    let (v4, v6) = if addr.is_ipv4() {
        (
            json!({ "cidr": "0.0.0.0/0", "except": [cidr] }),
            json!({ "cidr": "::/0" }),
        )
    } else {
        (
            json!({ "cidr": "0.0.0.0/0" }),
            json!({ "cidr": "::/0", "except": [cidr] }),
        )
    };
    let peers = json!([{ "ipBlock": v4 }, { "ipBlock": v6 }, { "namespaceSelector": {} }]);
    let body = json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {
            "name": np.name, "namespace": ns,
            "labels": { "app.kubernetes.io/managed-by": "incident-mcp" },
            "annotations": { INCIDENT_ANNOTATION: incident, ACTION_ANNOTATION: "block", "incident-mcp/cidr": cidr,
                             SIMULATED_ANNOTATION: "true" },
        },
        "spec": {
            "podSelector": { "matchExpressions": [{ "key": QUARANTINE_LABEL, "operator": "DoesNotExist" }] },
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{ "from": peers }], "egress": [{ "to": peers }],
        },
    });
    let radius = BlastRadius {
        pods: count(selected.len()),
        nodes: 0,
        workloads: Vec::new(),
        namespaces: vec![ns.clone()],
    };
    let changes = vec![change(KubeVerb::Create, &np, Some(body), None)];
    Ok(empty(
        changes,
        vec![change(KubeVerb::Delete, &np, None, None)],
        Vec::new(),
        radius,
    ))
}
