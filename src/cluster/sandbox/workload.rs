//! Planning of the workload actions against the simulated world: pause (scale to 0, recording
//! replicas), restore (the recorded replicas) and rollback (the previous ReplicaSet's template),
//! as `kube_workload.rs` plans them against an API server.

use serde_json::{Value, json};

use super::{
    World, key,
    plan::{REVISION, change, controller, empty, get, incident, invalid, labels, name, namespace, target},
    what,
};
use crate::{
    cluster::{
        ActionSpec, BackendError, BackendPlan, Change, KubeVerb,
        kube::{PAUSED_BY, PAUSED_REPLICAS, merge_diff},
    },
    domain::plan::BlastRadius,
    store::SandboxKey,
};

/// `deployment/NAME` or `statefulset/NAME` in the spec's namespace; a bare pod name stands for
/// the workload that owns it (as on a real cluster).
fn workload<'a>(
    w: &'a World,
    spec: &ActionSpec,
    deployments_only: bool,
) -> Result<(SandboxKey, &'a Value), BackendError> {
    let ns = namespace(spec)?;
    let owned = match spec.resource.contains('/') {
        true => None,
        // A bare name is a pod's, standing for the workload that owns it.
        false => match w.get(&key("Pod", Some(&ns), &spec.resource)) {
            None => {
                let need = match deployments_only {
                    true => "deployment/NAME",
                    false => "deployment/NAME or statefulset/NAME",
                };
                return Err(BackendError::NotFound {
                    what: format!(
                        "pod {ns}/{} (simulated; a bare name stands for a pod, else action {} needs {need})",
                        crate::domain::clip(&spec.resource, 63),
                        spec.action
                    ),
                });
            }
            Some(pod) => super::plan::owner(w, &ns, pod).map(|(workload, _)| workload),
        },
    };
    let resource = owned.as_deref().unwrap_or(&spec.resource);
    let (kind, n) = match resource.split_once('/') {
        Some(("deployment" | "deployments" | "deploy", n)) => ("Deployment", n),
        Some(("statefulset" | "statefulsets" | "sts", n)) if !deployments_only => ("StatefulSet", n),
        _ if deployments_only => return Err(invalid(format!("action {} needs deployment/NAME", spec.action))),
        _ => {
            return Err(invalid(format!(
                "action {} needs deployment/NAME or statefulset/NAME",
                spec.action
            )));
        }
    };
    let k = key(kind, Some(&ns), &name(n)?);
    let obj = get(w, &k)?;
    Ok((k, obj))
}

fn workload_plan(
    w: &World,
    k: &SandboxKey,
    obj: &Value,
    changes: Vec<Change>,
    inverse: Vec<Change>,
    pods: u32,
) -> BackendPlan {
    let radius = BlastRadius {
        pods,
        nodes: 0,
        workloads: vec![format!("{}/{}", k.kind.to_lowercase(), k.name)],
        namespaces: k.namespace.iter().cloned().collect(),
    };
    let mut p = empty(changes, inverse, vec![target(w, k)], radius);
    p.labels = labels(obj);
    p
}

fn replicas(obj: &Value) -> u32 {
    obj["spec"]["replicas"]
        .as_u64()
        .map_or(1, |n| u32::try_from(n).unwrap_or(0))
}

/// Scale to 0 recording the replicas; inverse: scale back.
pub(super) fn pause(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let incident = incident(spec)?;
    let (k, obj) = workload(w, spec, false)?;
    let n = replicas(obj);
    if n == 0 {
        return Err(invalid(format!("{} already has 0 replicas", what(&k))));
    }
    let body = json!({ "metadata": { "annotations": { PAUSED_REPLICAS: n.to_string(), PAUSED_BY: incident } },
                       "spec": { "replicas": 0 } });
    let undo = json!({ "metadata": { "annotations": { PAUSED_REPLICAS: null, PAUSED_BY: null } },
                       "spec": { "replicas": n } });
    let changes = vec![change(KubeVerb::Patch, &k, Some(body), w.version(&k))];
    let mut p = workload_plan(
        w,
        &k,
        obj,
        changes,
        vec![change(KubeVerb::Patch, &k, Some(undo), None)],
        n,
    );
    p.healthy_replicas_after = Some(0);
    Ok(p)
}

/// Scale back to the replicas `pause` recorded; inverse: pause again.
pub(super) fn restore(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let (k, obj) = workload(w, spec, false)?;
    let notes = &obj["metadata"]["annotations"];
    let recorded = notes[PAUSED_REPLICAS].as_str().ok_or_else(|| {
        // The workload's state, not the request, is what is missing: a conflict.
        BackendError::Refused(format!(
            "{} has no recorded replicas ({PAUSED_REPLICAS}): nothing to restore",
            what(&k)
        ))
    })?;
    let n: u32 = recorded
        .parse()
        .map_err(|_| invalid(format!("{} records unreadable replicas", what(&k))))?;
    let body = json!({ "metadata": { "annotations": { PAUSED_REPLICAS: null, PAUSED_BY: null } },
                       "spec": { "replicas": n } });
    let undo = json!({ "metadata": { "annotations": { PAUSED_REPLICAS: recorded, PAUSED_BY: notes[PAUSED_BY] } },
                       "spec": { "replicas": replicas(obj) } });
    let changes = vec![change(KubeVerb::Patch, &k, Some(body), w.version(&k))];
    let inverse = vec![change(KubeVerb::Patch, &k, Some(undo), None)];
    Ok(workload_plan(w, &k, obj, changes, inverse, n))
}

/// The pod template of a ReplicaSet revision (the previous one, or `params.revision` /
/// a numeric `params.backup_id`); the patch is the merge diff, the inverse the reverse diff.
pub(super) fn rollback(w: &World, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let (k, obj) = workload(w, spec, true)?;
    let ns = k.namespace.clone().unwrap_or_default();
    let rev_of = |o: &Value| {
        o["metadata"]["annotations"][REVISION]
            .as_str()
            .and_then(|r| r.parse::<u64>().ok())
    };
    let current = rev_of(obj).ok_or_else(|| invalid(format!("{} has no {REVISION} annotation", what(&k))))?;
    let wanted = match spec.params.get("revision").or_else(|| spec.params.get("backup_id")) {
        None => None,
        Some(r) if r == "latest" || r == "previous" => None,
        Some(r) => Some(
            r.parse::<u64>()
                .map_err(|_| invalid("the revision must be a number, `latest` or `previous`"))?,
        ),
    };
    let mut candidates: Vec<(u64, &Value)> = w
        .list("ReplicaSet", Some(&ns))
        .filter(|(_, rs)| controller(rs) == Some(("Deployment", k.name.as_str())))
        .filter_map(|(_, rs)| Some((rev_of(rs)?, rs)))
        .filter(|(rev, _)| match wanted {
            Some(want) => *rev == want && want != current,
            None => *rev < current,
        })
        .collect();
    candidates.sort_by_key(|(rev, _)| *rev);
    let Some((rev, rs)) = candidates.pop() else {
        return Err(invalid(match wanted {
            Some(r) => format!("{} has no other revision {r}", what(&k)),
            None => format!("{} has no revision before {current}", what(&k)),
        }));
    };
    let mut to = rs["spec"]["template"].clone();
    if let Some(l) = to.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove("pod-template-hash");
    }
    let from = obj["spec"]["template"].clone();
    if from == to {
        return Err(invalid(format!(
            "{} already runs the template of revision {rev}",
            what(&k)
        )));
    }
    let body = json!({ "spec": { "template": merge_diff(&from, &to) } });
    let undo = json!({ "spec": { "template": merge_diff(&to, &from) } });
    let changes = vec![change(KubeVerb::Patch, &k, Some(body), w.version(&k))];
    let inverse = vec![change(KubeVerb::Patch, &k, Some(undo), None)];
    Ok(workload_plan(w, &k, obj, changes, inverse, replicas(obj)))
}
