//! Applying changes to a simulated world in memory: the API's semantics (create, JSON merge
//! patch, delete, resourceVersion preconditions, the Kubernetes backend's idempotency rules),
//! then the controllers' part (workload status, rollout revisions, replacement pods). The
//! caller writes the difference back with compare-and-swap.

use serde_json::{Value, json};

use super::{SIMULATED_ANNOTATION, World, key, plan::is_ready, what};
use crate::{
    cluster::{
        BackendError, Change, DryRun, Health, KubeVerb,
        kube::{INCIDENT_ANNOTATION, QUARANTINE_LABEL, recheck_target, satisfied},
    },
    domain::policy::Policy,
    store::{SandboxKey, SandboxWrite},
};

const REVISION: &str = "deployment.kubernetes.io/revision";

/// The adapter's own policy check of a change, as the Kubernetes backend does it.
pub(super) fn recheck(env: &str, policy: &Policy, c: &Change) -> Result<(), BackendError> {
    match c {
        Change::Sandbox {
            kind, namespace, name, ..
        } => recheck_target(env, policy, kind, namespace.as_ref(), name),
        _ => Err(BackendError::Invalid(
            "the sandbox backend applies sandbox changes only".into(),
        )),
    }
}

/// RFC 7386: `null` removes, objects merge, anything else replaces.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

fn precondition(version: Option<&String>) -> Option<i64> {
    version.and_then(|v| v.parse().ok())
}

fn changed(k: &SandboxKey, planned: Option<i64>, now: Option<i64>) -> BackendError {
    BackendError::Changed {
        what: what(k),
        detail: format!(
            "version was {} when planned, is now {}",
            planned.map_or("?".into(), |v| v.to_string()),
            now.map_or("absent".into(), |v| v.to_string())
        ),
    }
}

/// One change on `w`; returns `applied`, `already-applied` or `already-absent`.
fn step(w: &mut World, c: &Change) -> Result<(SandboxKey, &'static str), BackendError> {
    let Change::Sandbox {
        verb,
        kind,
        namespace,
        name,
        body,
        resource_version,
        ..
    } = c
    else {
        return Err(BackendError::Invalid(
            "the sandbox backend applies sandbox changes only".into(),
        ));
    };
    let k = key(kind, namespace.as_deref(), name);
    let planned = precondition(resource_version.as_ref());
    let current = w.objects.get(&k).cloned();
    let result = match verb {
        KubeVerb::Create => {
            let mut b = body
                .clone()
                .ok_or_else(|| BackendError::Invalid(format!("create of {} has no body", what(&k))))?;
            let m = &b["metadata"];
            if b["kind"] != json!(kind)
                || m["name"] != json!(name)
                || m.get("namespace").is_some_and(|n| *n != json!(namespace))
            {
                return Err(BackendError::Invalid(format!(
                    "the body of {} names another object",
                    what(&k)
                )));
            }
            if let Some((_, have)) = current {
                let mark = |o: &Value| o["metadata"]["annotations"][INCIDENT_ANNOTATION].clone();
                if mark(&b).is_string() && mark(&b) == mark(&have) {
                    return Ok((k, "already-applied"));
                }
                return Err(BackendError::Failed(format!(
                    "{} already exists and was not created by incident-mcp for this incident",
                    what(&k)
                )));
            }
            b["metadata"]["annotations"][SIMULATED_ANNOTATION] = json!("true");
            w.objects.insert(k.clone(), (0, b));
            "applied"
        }
        KubeVerb::Patch => {
            let patch = body
                .clone()
                .ok_or_else(|| BackendError::Invalid(format!("patch of {} has no body", what(&k))))?;
            let Some((version, mut obj)) = current else {
                return Err(BackendError::NotFound { what: what(&k) });
            };
            if planned.is_some_and(|p| p != version) {
                if satisfied(&obj, &patch) {
                    return Ok((k, "already-applied"));
                }
                return Err(changed(&k, planned, Some(version)));
            }
            let spec_before = obj["spec"].clone();
            merge_patch(&mut obj, &patch);
            if obj["spec"] != spec_before {
                let g = obj["metadata"]["generation"].as_i64().unwrap_or(1);
                obj["metadata"]["generation"] = json!(g + 1);
            }
            w.objects.insert(k.clone(), (version, obj));
            "applied"
        }
        KubeVerb::Delete => match current {
            None => "already-absent",
            Some((version, _)) if planned.is_some_and(|p| p != version) => {
                return Err(changed(&k, planned, Some(version)));
            }
            Some(_) => {
                w.objects.remove(&k);
                "applied"
            }
        },
    };
    Ok((k, result))
}

/// Applies `changes` in order to a copy of `before`, then the controllers' reactions; returns
/// the world after and one outcome per change.
pub(super) fn run(before: &World, changes: &[Change]) -> Result<(World, Vec<Value>), BackendError> {
    let mut w = before.clone();
    let mut outcomes = Vec::with_capacity(changes.len());
    let mut touched = Vec::new();
    for (i, c) in changes.iter().enumerate() {
        let (k, result) = step(&mut w, c).map_err(|e| match e {
            e if i == 0 => e,
            BackendError::Changed { what, detail } => BackendError::Changed {
                what,
                detail: format!("{detail} (change {} of {}; nothing was written)", i + 1, changes.len()),
            },
            e => BackendError::Failed(format!(
                "{e} (change {} of {}; nothing was written)",
                i + 1,
                changes.len()
            )),
        })?;
        outcomes.push(json!({
            "backend": super::BACKEND, "simulated": true, "verb": verb_of(c), "kind": k.kind,
            "namespace": k.namespace, "name": k.name, "result": result,
        }));
        touched.push(k);
    }
    super::controllers::react(before, &mut w, &touched);
    Ok((w, outcomes))
}

fn verb_of(c: &Change) -> Value {
    match c {
        Change::Sandbox { verb, .. } => json!(verb),
        _ => Value::Null,
    }
}

/// The writes that turn `before` into `after`, each expecting the version it was read at.
pub(super) fn diff(before: &World, after: &World) -> Vec<SandboxWrite> {
    let mut out = Vec::new();
    for (k, (_, body)) in &after.objects {
        match before.objects.get(k) {
            Some((_, old)) if old == body => {}
            old => out.push(SandboxWrite::Put {
                key: k.clone(),
                body: body.clone(),
                expected: old.map(|(v, _)| *v),
            }),
        }
    }
    for (k, (v, _)) in &before.objects {
        if !after.objects.contains_key(k) {
            out.push(SandboxWrite::Delete {
                key: k.clone(),
                expected: *v,
            });
        }
    }
    out
}

/// The dry run: the changes applied to a copy of the world, nothing written.
pub(super) fn dry_run(w: &World, changes: &[Change]) -> DryRun {
    match run(w, changes) {
        Ok(_) => DryRun::Passed,
        Err(e) => DryRun::Failed {
            reason: format!("{e} (simulated)"),
        },
    }
}

/// Health of the workloads `changes` touched: every desired replica ready at the latest generation.
pub(super) fn health(w: &World, changes: &[Change]) -> Health {
    let mut checked = false;
    for c in changes {
        let Change::Sandbox {
            kind,
            namespace: Some(ns),
            name,
            ..
        } = c
        else {
            continue;
        };
        if !matches!(kind.as_str(), "Deployment" | "StatefulSet") {
            continue;
        }
        checked = true;
        let k = key(kind, Some(ns), name);
        let Some(o) = w.get(&k) else {
            return Health::Unhealthy(format!("{} is gone", what(&k)));
        };
        let (want, ready) = (
            o["spec"]["replicas"].as_u64().unwrap_or(1),
            o["status"]["readyReplicas"].as_u64(),
        );
        if ready != Some(want) || o["status"]["observedGeneration"] != o["metadata"]["generation"] {
            return Health::Unhealthy(format!("{}: {} of {want} replicas ready", what(&k), ready.unwrap_or(0)));
        }
    }
    if checked { Health::Healthy } else { Health::NotChecked }
}

/// One line about an object, for people: what containment changed on it.
pub(super) fn describe(kind: &str, o: &Value) -> String {
    let notes = &o["metadata"]["annotations"];
    let s = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    match kind {
        "Pod" => {
            let mut out = format!(
                "{}, {}, node {}, ip {}",
                s(&o["status"]["phase"]),
                if is_ready(o) { "ready" } else { "not ready" },
                s(&o["spec"]["nodeName"]),
                s(&o["status"]["podIP"])
            );
            if let Some(i) = o["metadata"]["labels"][QUARANTINE_LABEL].as_str() {
                out.push_str(&format!(", QUARANTINED ({i})"));
            }
            out
        }
        "Deployment" | "StatefulSet" => {
            let mut out = format!(
                "{}/{} ready, image {}",
                o["status"]["readyReplicas"].as_u64().unwrap_or(0),
                o["spec"]["replicas"].as_u64().unwrap_or(1),
                s(&o["spec"]["template"]["spec"]["containers"][0]["image"])
            );
            if let Some(r) = notes[REVISION].as_str() {
                out.push_str(&format!(", revision {r}"));
            }
            if let Some(by) = notes[crate::cluster::kube::PAUSED_BY].as_str() {
                out.push_str(&format!(", PAUSED ({by})"));
            }
            out
        }
        "ReplicaSet" => format!(
            "revision {}, {} replicas, image {}",
            s(&notes[REVISION]),
            o["spec"]["replicas"].as_u64().unwrap_or(0),
            s(&o["spec"]["template"]["spec"]["containers"][0]["image"])
        ),
        "Node" if o["spec"]["unschedulable"] == true => "CORDONED (unschedulable)".into(),
        "Node" => "schedulable".into(),
        "NetworkPolicy" => match notes["incident-mcp/action"].as_str() {
            Some("isolate") => format!(
                "ISOLATES pod {}: denies all its traffic ({})",
                s(&notes["incident-mcp/pod"]),
                s(&notes[INCIDENT_ANNOTATION])
            ),
            Some("block") => format!(
                "BLOCKS {} to and from the namespace's pods ({})",
                s(&notes["incident-mcp/cidr"]),
                s(&notes[INCIDENT_ANNOTATION])
            ),
            _ => "network policy".into(),
        },
        "Namespace" => "active".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut o = json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut o, &json!({"a": {"b": null, "e": 3}, "d": [2], "f": "x"}));
        assert_eq!(o, json!({"a": {"c": 2, "e": 3}, "d": [2], "f": "x"}));
    }

    #[test]
    fn a_change_of_another_backend_is_refused() {
        let c = Change::Script {
            script: "x".into(),
            sha256: "0".repeat(64),
            argv: vec![],
        };
        assert!(matches!(run(&World::default(), &[c]), Err(BackendError::Invalid(_))));
    }
}
