//! The simulated controllers: what a cluster's controllers do after a write, done at once.

use serde_json::{Value, json};

use super::{World, key};
use crate::{cluster::kube::QUARANTINE_LABEL, domain::sha256_hex, store::SandboxKey};

const REVISION: &str = "deployment.kubernetes.io/revision";

/// What the simulated controllers do after a write: workloads report their desired replicas
/// as ready, a changed Deployment template becomes the matching ReplicaSet's new revision, a
/// deleted pod of a workload is replaced.
pub(super) fn react(before: &World, w: &mut World, touched: &[SandboxKey]) {
    for k in touched {
        match k.kind.as_str() {
            "Deployment" | "StatefulSet" => rollout(before, w, k),
            "Pod" if w.get(k).is_none() => replace_pod(before, w, k),
            _ => {}
        }
    }
}

fn rollout(before: &World, w: &mut World, k: &SandboxKey) {
    let Some((version, mut obj)) = w.objects.get(k).cloned() else {
        return;
    };
    let n = obj["spec"]["replicas"].as_u64().unwrap_or(1);
    let generation = obj["metadata"]["generation"].clone();
    obj["status"] = json!({ "observedGeneration": generation, "replicas": n, "readyReplicas": n,
                            "availableReplicas": n, "updatedReplicas": n });
    if k.kind == "Deployment" {
        let template_changed = before.get(k).map(|b| &b["spec"]["template"]) != Some(&obj["spec"]["template"]);
        let ns = k.namespace.as_deref();
        let owned: Vec<SandboxKey> = w
            .list("ReplicaSet", ns)
            .filter(|(_, rs)| {
                rs["metadata"]["ownerReferences"].as_array().is_some_and(|o| {
                    o.iter()
                        .any(|o| o["kind"] == "Deployment" && o["name"] == k.name.as_str())
                })
            })
            .map(|(rk, _)| rk.clone())
            .collect();
        let rev = |o: &Value| {
            o["metadata"]["annotations"][REVISION]
                .as_str()
                .and_then(|r| r.parse::<u64>().ok())
        };
        let max = owned.iter().filter_map(|rk| w.get(rk).and_then(rev)).max().unwrap_or(0);
        let template = |o: &Value| {
            let mut t = o["spec"]["template"].clone();
            if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
                l.remove("pod-template-hash");
            }
            t
        };
        let active = owned
            .iter()
            .find(|rk| w.get(rk).is_some_and(|rs| template(rs) == obj["spec"]["template"]));
        if let Some(active) = active.cloned() {
            if template_changed {
                obj["metadata"]["annotations"][REVISION] = json!((max + 1).to_string());
            }
            for rk in &owned {
                let Some((v, mut rs)) = w.objects.get(rk).cloned() else {
                    continue;
                };
                let r = if *rk == active { n } else { 0 };
                if *rk == active && template_changed {
                    rs["metadata"]["annotations"][REVISION] = json!((max + 1).to_string());
                }
                rs["spec"]["replicas"] = json!(r);
                rs["status"] = json!({ "replicas": r, "readyReplicas": r });
                w.objects.insert(rk.clone(), (v, rs));
            }
        }
    }
    w.objects.insert(k.clone(), (version, obj));
}

/// A deleted pod's controller replaces it: a ReplicaSet with a new name, a StatefulSet with
/// the same name (and a new uid).
fn replace_pod(before: &World, w: &mut World, k: &SandboxKey) {
    let Some(old) = before.get(k) else { return };
    let owner = old["metadata"]["ownerReferences"]
        .as_array()
        .and_then(|o| o.iter().find(|o| o["controller"] == true))
        .cloned();
    let Some((kind, owner_name)) =
        owner.and_then(|o| Some((o["kind"].as_str()?.to_owned(), o["name"].as_str()?.to_owned())))
    else {
        return;
    };
    let ns = k.namespace.as_deref();
    let alive = w
        .get(&key(&kind, ns, &owner_name))
        .is_some_and(|o| o["spec"]["replicas"].as_u64().unwrap_or(1) > 0);
    if !alive {
        return;
    }
    let version = before.version(k).unwrap_or_default();
    let suffix: String = sha256_hex(format!("{}/{}@{version}", k.name, kind).as_bytes())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(5)
        .collect();
    let name = if kind == "StatefulSet" {
        k.name.clone()
    } else {
        format!("{owner_name}-{suffix}")
    };
    let mut pod = old.clone();
    pod["metadata"]["name"] = json!(name);
    pod["metadata"]["uid"] = json!(format!("sandbox-{}-{name}-{suffix}", ns.unwrap_or_default()));
    if let Some(l) = pod["metadata"]["labels"].as_object_mut() {
        l.remove(QUARANTINE_LABEL);
    }
    pod["status"]["conditions"] = json!([{ "type": "Ready", "status": "True" }]);
    let nk = key("Pod", ns, &name);
    w.objects.entry(nk).or_insert((0, pod));
}
