//! Sending changes: the dry run of planning and the real writes of `apply`, the policy re-check
//! before any write, and the idempotency rules (see the parent module).

use ::kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use serde_json::{Value, json};

use super::{FIELD_MANAGER, INCIDENT_ANNOTATION, KubeBackend, clip, map_err, object_name};
use crate::{
    cluster::{BackendError, Change, KubeVerb, PatchKind},
    domain::{
        k8s_names::Namespace,
        policy::{Action, ActionRequest, Policy, PolicyDecision, RefusalKind, Usage},
    },
};

impl KubeBackend {
    /// Sends one change: `dry_run` asks the server to validate it without persisting anything.
    pub(super) async fn send(&self, change: &Change, dry_run: bool) -> Result<Value, BackendError> {
        let Change::Kube {
            verb,
            api_version,
            kind,
            namespace,
            name,
            patch,
            body,
            resource_version,
        } = change
        else {
            return Err(BackendError::Invalid(
                "the Kubernetes backend cannot run scripts".into(),
            ));
        };
        let api = self.dynamic(api_version, kind, namespace.as_deref())?;
        let what = object_name(kind, namespace.as_deref(), name);
        // A whole object (create, server-side apply) must be the object the change names, which
        // is what the policy re-check looked at.
        if let Some(b) = body
            && (*verb == KubeVerb::Create || *patch == Some(PatchKind::Apply))
        {
            let meta = &b["metadata"];
            let same = b["kind"] == json!(kind)
                && b["apiVersion"] == json!(api_version)
                && meta["name"] == json!(name)
                && meta.get("namespace").is_none_or(|n| *n == json!(namespace));
            if !same {
                return Err(BackendError::Invalid(format!(
                    "the body of {what} names another object"
                )));
            }
        }
        let outcome = |result: &str| json!({ "verb": verb, "kind": kind, "namespace": namespace, "name": name, "result": result });
        match verb {
            KubeVerb::Create => {
                let body = body
                    .clone()
                    .ok_or_else(|| BackendError::Invalid(format!("create of {what} has no body")))?;
                let obj: DynamicObject = serde_json::from_value(body.clone())
                    .map_err(|_| BackendError::Invalid(format!("the body of {what} is not a Kubernetes object")))?;
                let pp = PostParams {
                    dry_run,
                    field_manager: Some(FIELD_MANAGER.into()),
                };
                match api.create(&pp, &obj).await {
                    Ok(_) => Ok(outcome("applied")),
                    Err(::kube::Error::Api(s)) if s.is_already_exists() => {
                        let current = api.get(name).await.map_err(|e| map_err(&what, &e))?;
                        if ours(&current, &body) {
                            Ok(outcome("already-applied"))
                        } else {
                            Err(BackendError::Failed(format!(
                                "{what} already exists and was not created by incident-mcp for this incident"
                            )))
                        }
                    }
                    Err(e) => Err(map_err(&what, &e)),
                }
            }
            KubeVerb::Patch => {
                let body = body
                    .clone()
                    .ok_or_else(|| BackendError::Invalid(format!("patch of {what} has no body")))?;
                let mut pp = PatchParams {
                    dry_run,
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                };
                let result = match patch.unwrap_or(PatchKind::Merge) {
                    PatchKind::Merge => api.patch(name, &pp, &Patch::Merge(&body)).await,
                    PatchKind::StrategicMerge => api.patch(name, &pp, &Patch::Strategic(&body)).await,
                    PatchKind::Apply => {
                        pp.force = false;
                        api.patch(name, &pp, &Patch::Apply(&body)).await
                    }
                };
                match result {
                    Ok(_) => Ok(outcome("applied")),
                    Err(::kube::Error::Api(s)) if s.is_conflict() && !dry_run => {
                        let current = api.get(name).await.map_err(|e| map_err(&what, &e))?;
                        let current = serde_json::to_value(&current).unwrap_or(Value::Null);
                        if satisfied(&current, &without_version(&body)) {
                            Ok(outcome("already-applied"))
                        } else {
                            Err(changed(&what, resource_version.as_deref(), &current))
                        }
                    }
                    Err(::kube::Error::Api(s)) if s.is_conflict() => {
                        Err(changed(&what, resource_version.as_deref(), &Value::Null))
                    }
                    Err(e) => Err(map_err(&what, &e)),
                }
            }
            KubeVerb::Delete => {
                let mut dp = DeleteParams {
                    dry_run,
                    ..DeleteParams::default()
                };
                if let Some(rv) = resource_version {
                    dp = dp.preconditions(Preconditions {
                        resource_version: Some(rv.clone()),
                        uid: None,
                    });
                }
                match api.delete(name, &dp).await {
                    Ok(_) => Ok(outcome("applied")),
                    Err(::kube::Error::Api(s)) if s.is_not_found() && !dry_run => Ok(outcome("already-absent")),
                    Err(::kube::Error::Api(s)) if s.is_conflict() => {
                        Err(changed(&what, resource_version.as_deref(), &Value::Null))
                    }
                    Err(e) => Err(map_err(&what, &e)),
                }
            }
        }
    }
}

/// The adapter's own policy check of one change: the namespace must be valid, not protected
/// and allowlisted (decided by `Policy::evaluate`, whose checks run in a fixed order: a refusal
/// after the namespace checks means the namespace passed); a node must be allowed for `cordon`
/// and match a resource pattern.
pub(super) fn recheck(env: &str, policy: &Policy, change: &Change) -> Result<(), BackendError> {
    let Change::Kube {
        kind, namespace, name, ..
    } = change
    else {
        return Err(BackendError::Invalid(
            "the Kubernetes backend cannot run scripts".into(),
        ));
    };
    recheck_target(env, policy, kind, namespace.as_ref(), name)
}

/// [`recheck`] of one object by kind, namespace and name (also used by the sandbox backend).
pub(crate) fn recheck_target(
    env: &str,
    policy: &Policy,
    kind: &str,
    namespace: Option<&String>,
    name: &str,
) -> Result<(), BackendError> {
    let name = name.to_owned();
    let request = |action, namespace: Option<String>| ActionRequest {
        action,
        namespace,
        name: name.clone(),
        labels: Default::default(),
        script: None,
        pods: 0,
        nodes: 0,
        healthy_replicas_after: Some(u32::MAX),
    };
    let Some(ns) = namespace else {
        if kind != "Node" {
            return Err(BackendError::Refused(format!(
                "{} {} is cluster-scoped",
                clip(kind),
                clip(&name)
            )));
        }
        return match policy.evaluate(env, &request(Action::Cordon, None), Usage::default()) {
            PolicyDecision::Refuse {
                kind: RefusalKind::ActionNotAllowed | RefusalKind::InvalidName | RefusalKind::NameNotAllowed,
                reason,
            } => Err(BackendError::Refused(reason)),
            _ => Ok(()),
        };
    };
    let parsed = Namespace::parse(ns).map_err(|e| BackendError::Refused(e.message))?;
    if policy.is_protected(&parsed) {
        return Err(BackendError::Refused(format!(
            "namespace {parsed} is protected in env {env}"
        )));
    }
    for action in Action::ALL.iter().filter(|a| !a.is_cluster_scoped()) {
        match policy.evaluate(env, &request(*action, Some(ns.clone())), Usage::default()) {
            PolicyDecision::Refuse {
                kind: RefusalKind::ActionNotAllowed,
                ..
            } => continue,
            PolicyDecision::Refuse {
                kind: RefusalKind::InvalidName | RefusalKind::ProtectedNamespace | RefusalKind::NamespaceNotAllowed,
                reason,
            } => return Err(BackendError::Refused(reason)),
            _ => return Ok(()),
        }
    }
    Err(BackendError::Refused(format!(
        "no namespaced action is allowed in env {env}"
    )))
}

/// Whether an existing object is the one `body` would have created: same incident annotation.
fn ours(current: &DynamicObject, body: &Value) -> bool {
    let want = body
        .pointer(&format!(
            "/metadata/annotations/{}",
            INCIDENT_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str);
    let have = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(INCIDENT_ANNOTATION));
    want.is_some() && want == have.map(String::as_str)
}

fn without_version(patch: &Value) -> Value {
    let mut p = patch.clone();
    if let Some(m) = p.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    p
}

/// Whether `object` already holds everything the merge patch `patch` sets (RFC 7386: `null`
/// removes, objects merge, anything else replaces).
pub(crate) fn satisfied(object: &Value, patch: &Value) -> bool {
    match (object, patch) {
        (_, Value::Object(p)) => p.iter().all(|(k, v)| match (object.get(k), v) {
            (None, Value::Null) => true,
            (None, _) => false,
            (Some(o), Value::Null) => o.is_null(),
            (Some(o), v) => satisfied(o, v),
        }),
        (o, p) => o == p,
    }
}

fn changed(what: &str, planned: Option<&str>, current: &Value) -> BackendError {
    let now = current.pointer("/metadata/resourceVersion").and_then(Value::as_str);
    let detail = match (planned, now) {
        (Some(p), Some(n)) => format!("resourceVersion was {} when planned, is now {}", clip(p), clip(n)),
        _ => "the server refused the resourceVersion precondition (409 Conflict)".into(),
    };
    BackendError::Changed {
        what: what.into(),
        detail,
    }
}
