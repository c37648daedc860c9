//! Planning of the workload actions: pause (scale to 0, recording replicas), restore (the
//! recorded replicas) and rollback (a Deployment's previous ReplicaSet template, since the API
//! has no rollout-undo call: what `kubectl rollout undo` does client-side).

use ::kube::api::{DynamicObject, ListParams};
use serde_json::{Map, Value, json};

use super::{
    KubeBackend, map_err, object_name,
    plan::{empty_plan, incident_label, invalid, namespace, target, target_name},
};
use crate::{
    cluster::{ActionSpec, BackendError, BackendPlan, Change, KubeVerb, PatchKind},
    domain::plan::BlastRadius,
};

/// Replicas a paused workload had, recorded on it by `pause` and read by `restore`.
pub const PAUSED_REPLICAS: &str = "incident-mcp/paused-replicas";
/// The incident that paused a workload.
pub const PAUSED_BY: &str = "incident-mcp/paused-by";
const REVISION: &str = "deployment.kubernetes.io/revision";

struct Workload {
    kind: &'static str,
    kind_lower: &'static str,
    ns: String,
    name: String,
    obj: Value,
    rv: String,
}

impl Workload {
    fn what(&self) -> String {
        object_name(self.kind, Some(&self.ns), &self.name)
    }

    fn label(&self) -> String {
        format!("{}/{}", self.kind_lower, self.name)
    }

    fn replicas(&self) -> u32 {
        // An unset spec.replicas means 1, as the API server defaults it.
        self.obj
            .pointer("/spec/replicas")
            .map_or(Some(1), Value::as_u64)
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
    }

    fn annotation(&self, key: &str) -> Option<&str> {
        self.obj.get("metadata")?.get("annotations")?.get(key)?.as_str()
    }

    fn patch(&self, body: Value, precondition: bool) -> Change {
        Change::Kube {
            verb: KubeVerb::Patch,
            api_version: "apps/v1".into(),
            kind: self.kind.into(),
            namespace: Some(self.ns.clone()),
            name: self.name.clone(),
            patch: Some(PatchKind::Merge),
            body: Some(body),
            resource_version: precondition.then(|| self.rv.clone()),
        }
    }

    fn plan(&self, changes: Vec<Change>, inverse: Vec<Change>, pods: u32) -> BackendPlan {
        let radius = BlastRadius {
            pods,
            nodes: 0,
            workloads: vec![self.label()],
            namespaces: vec![self.ns.clone()],
        };
        let targets = vec![target(self.kind, Some(&self.ns), &self.name, Some(self.rv.clone()))];
        let mut p = empty_plan(changes, inverse, targets, radius);
        p.labels = self
            .obj
            .pointer("/metadata/labels")
            .and_then(|l| serde_json::from_value(l.clone()).ok())
            .unwrap_or_default();
        p
    }
}

/// The controller (`ownerReferences` with `controller: true`) of an object: (kind, name).
fn controller_of(obj: &DynamicObject) -> Option<(String, String)> {
    obj.metadata
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
        .map(|o| (o.kind.clone(), o.name.clone()))
}

/// The workload a pod belongs to: its ReplicaSet's Deployment, or its StatefulSet, as
/// `deployment/NAME` / `statefulset/NAME` (pausing or rolling back "a pod" acts on it).
async fn owner_of_pod(b: &KubeBackend, ns: &str, pod: &str) -> Result<String, BackendError> {
    let pod = target_name(pod)?;
    let what = object_name("Pod", Some(ns), &pod);
    let obj = b
        .dynamic("v1", "Pod", Some(ns))?
        .get(&pod)
        .await
        .map_err(|e| map_err(&what, &e))?;
    let no_owner = || {
        invalid(format!(
            "{what} belongs to no Deployment or StatefulSet; name the workload"
        ))
    };
    match controller_of(&obj).ok_or_else(no_owner)? {
        (kind, name) if kind == "StatefulSet" => Ok(format!("statefulset/{name}")),
        (kind, rs) if kind == "ReplicaSet" => {
            let what = object_name("ReplicaSet", Some(ns), &rs);
            let rs = b
                .dynamic("apps/v1", "ReplicaSet", Some(ns))?
                .get(&rs)
                .await
                .map_err(|e| map_err(&what, &e))?;
            match controller_of(&rs) {
                Some((kind, name)) if kind == "Deployment" => Ok(format!("deployment/{name}")),
                _ => Err(no_owner()),
            }
        }
        _ => Err(no_owner()),
    }
}

/// `deployment/NAME` or `statefulset/NAME`, read from the API; a bare name is a pod, standing
/// for the workload it belongs to.
async fn workload(b: &KubeBackend, spec: &ActionSpec, deployments_only: bool) -> Result<Workload, BackendError> {
    let ns = namespace(spec)?;
    let resolved;
    let resource = if spec.resource.contains('/') {
        spec.resource.as_str()
    } else {
        resolved = owner_of_pod(b, &ns, &spec.resource).await?;
        resolved.as_str()
    };
    let (kind, kind_lower, name) = match resource.split_once('/') {
        Some(("deployment" | "deployments" | "deploy", n)) => ("Deployment", "deployment", n),
        Some(("statefulset" | "statefulsets" | "sts", n)) if !deployments_only => ("StatefulSet", "statefulset", n),
        _ if deployments_only => return Err(invalid(format!("action {} needs deployment/NAME", spec.action))),
        _ => {
            return Err(invalid(format!(
                "action {} needs deployment/NAME or statefulset/NAME",
                spec.action
            )));
        }
    };
    let name = target_name(name)?;
    let api = b.dynamic("apps/v1", kind, Some(&ns))?;
    let what = object_name(kind, Some(&ns), &name);
    let obj = api.get(&name).await.map_err(|e| map_err(&what, &e))?;
    let rv = obj.metadata.resource_version.clone().unwrap_or_default();
    let obj = serde_json::to_value(&obj).map_err(|_| BackendError::Failed(format!("{what} is unreadable")))?;
    Ok(Workload {
        kind,
        kind_lower,
        ns,
        name,
        obj,
        rv,
    })
}

/// Scale to 0 if still at the planned version, recording the replicas; inverse: scale back.
pub(super) async fn pause(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let incident = incident_label(spec)?;
    let w = workload(b, spec, false).await?;
    let replicas = w.replicas();
    if replicas == 0 {
        return Err(invalid(format!("{} already has 0 replicas", w.what())));
    }
    let change = w.patch(
        json!({
            "metadata": { "resourceVersion": w.rv,
                          "annotations": { PAUSED_REPLICAS: replicas.to_string(), PAUSED_BY: incident } },
            "spec": { "replicas": 0 },
        }),
        true,
    );
    let inverse = w.patch(
        json!({
            "metadata": { "annotations": { PAUSED_REPLICAS: null, PAUSED_BY: null } },
            "spec": { "replicas": replicas },
        }),
        false,
    );
    let mut p = w.plan(vec![change], vec![inverse], replicas);
    p.healthy_replicas_after = Some(0);
    Ok(p)
}

/// Scale back to the replicas `pause` recorded; inverse: pause again. The recorded replicas are
/// the only backup this backend has: `backup_id` may be left out or be `latest`.
pub(super) async fn restore(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    if let Some(other) = spec.params.get("backup_id").filter(|b| b.as_str() != "latest") {
        return Err(invalid(format!(
            "Kubernetes restore brings back the replicas `pause` recorded (backup `latest`); there is no backup `{}` \
             (rollback takes a revision number)",
            super::clip(other)
        )));
    }
    let w = workload(b, spec, false).await?;
    let recorded = w.annotation(PAUSED_REPLICAS).ok_or_else(|| {
        // The workload's state, not the request, is what is missing: a conflict.
        BackendError::Refused(format!(
            "{} has no recorded replicas ({PAUSED_REPLICAS}): nothing to restore",
            w.what()
        ))
    })?;
    let replicas: u32 = recorded
        .parse()
        .map_err(|_| invalid(format!("{} records unreadable replicas", w.what())))?;
    let by = w.annotation(PAUSED_BY).map(str::to_owned);
    let change = w.patch(
        json!({
            "metadata": { "resourceVersion": w.rv, "annotations": { PAUSED_REPLICAS: null, PAUSED_BY: null } },
            "spec": { "replicas": replicas },
        }),
        true,
    );
    let inverse = w.patch(
        json!({
            "metadata": { "annotations": { PAUSED_REPLICAS: recorded, PAUSED_BY: by } },
            "spec": { "replicas": w.replicas() },
        }),
        false,
    );
    Ok(w.plan(vec![change], vec![inverse], replicas))
}

/// Patch the Deployment's pod template back to a ReplicaSet revision: the previous one, or
/// `params.revision` / a numeric `params.backup_id`. The patch is the RFC 7386 diff between the
/// templates (`null` removes what the target lacks); the inverse is the reverse diff.
pub(super) async fn rollback(b: &KubeBackend, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
    let w = workload(b, spec, true).await?;
    let current_rev: u64 = w
        .annotation(REVISION)
        .and_then(|r| r.parse().ok())
        .ok_or_else(|| invalid(format!("{} has no {REVISION} annotation", w.what())))?;
    let wanted = match spec.params.get("revision").or_else(|| spec.params.get("backup_id")) {
        None => None,
        Some(r) if r == "latest" || r == "previous" => None,
        Some(r) => Some(r.parse::<u64>().map_err(|_| {
            invalid(format!(
                "backup `{}` is not a revision: rollback takes a revision number, `latest` or `previous`",
                super::clip(r)
            ))
        })?),
    };
    let selector = w
        .obj
        .pointer("/spec/selector")
        .ok_or_else(|| invalid(format!("{} has no selector", w.what())))?;
    if selector
        .get("matchExpressions")
        .is_some_and(|e| e.as_array().is_some_and(|a| !a.is_empty()))
    {
        return Err(invalid(format!(
            "{} uses matchExpressions; only matchLabels selectors are supported",
            w.what()
        )));
    }
    let labels: Vec<String> = selector
        .get("matchLabels")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
        .collect();
    let uid = w
        .obj
        .pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let api = b.dynamic("apps/v1", "ReplicaSet", Some(&w.ns))?;
    let list = api
        .list(&ListParams::default().labels(&labels.join(",")))
        .await
        .map_err(|e| map_err(&format!("the ReplicaSets of {}", w.what()), &e))?;
    let mut candidates: Vec<(u64, DynamicObject)> = list
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .filter_map(|rs| {
            let rev = rs.metadata.annotations.as_ref()?.get(REVISION)?.parse().ok()?;
            Some((rev, rs))
        })
        .filter(|(rev, _)| match wanted {
            Some(want) => *rev == want && want != current_rev,
            None => *rev < current_rev,
        })
        .collect();
    candidates.sort_by_key(|(rev, _)| *rev);
    let Some((rev, rs)) = candidates.pop() else {
        return Err(invalid(match wanted {
            Some(r) => format!("{} has no other revision {r}", w.what()),
            None => format!("{} has no revision before {current_rev}", w.what()),
        }));
    };
    let mut to = rs
        .data
        .pointer("/spec/template")
        .cloned()
        .ok_or_else(|| invalid(format!("revision {rev} of {} has no pod template", w.what())))?;
    if let Some(l) = to.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove("pod-template-hash");
    }
    let from = w.obj.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    if from == to {
        return Err(invalid(format!(
            "{} already runs the template of revision {rev}",
            w.what()
        )));
    }
    let change = w.patch(
        json!({ "metadata": { "resourceVersion": w.rv }, "spec": { "template": merge_diff(&from, &to) } }),
        true,
    );
    let inverse = w.patch(json!({ "spec": { "template": merge_diff(&to, &from) } }), false);
    let pods = w.replicas();
    Ok(w.plan(vec![change], vec![inverse], pods))
}

/// The JSON merge patch (RFC 7386) that turns `from` into `to`.
pub fn merge_diff(from: &Value, to: &Value) -> Value {
    let (Value::Object(f), Value::Object(t)) = (from, to) else {
        return to.clone();
    };
    let mut out = Map::new();
    for k in f.keys().filter(|k| !t.contains_key(*k)) {
        out.insert(k.clone(), Value::Null);
    }
    for (k, v) in t {
        match f.get(k) {
            Some(old) if old == v => {}
            Some(old) if old.is_object() && v.is_object() => {
                out.insert(k.clone(), merge_diff(old, v));
            }
            _ => {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    Value::Object(out)
}
