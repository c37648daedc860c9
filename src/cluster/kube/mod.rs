//! The Kubernetes backend: plans and applies containment and recovery through the real `kube`
//! client. Planning reads the targets (GET/LIST) and sends every change with `dryRun=All`;
//! nothing is mutated. Applying re-checks each change against the policy, then sends it with
//! field manager `incident-mcp`.
//!
//! Idempotency: a create answered 409 AlreadyExists counts as applied when the object carries
//! our `incident-mcp/incident` annotation with the same value; a delete answered 404 counts as
//! already applied; a patch whose resourceVersion precondition fails (409 Conflict) counts as
//! applied when the object already holds everything the patch sets, and as
//! [`BackendError::Changed`] otherwise. Patches without a precondition are no-ops on the server
//! when repeated.
//!
//! Errors name the API's status code and reason, never URLs, headers, tokens or kubeconfig text.
//! Action planning lives in `kube_plan.rs` (pods, nodes, CIDRs) and `kube_workload.rs`
//! (deployments and statefulsets).

use std::{path::Path, time::Duration};

use ::kube::{
    Api, Client,
    api::{ApiResource, DynamicObject, ListParams},
    config::{Config, KubeConfigOptions, Kubeconfig},
};
use async_trait::async_trait;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use serde_json::Value;

use super::{
    ActionSpec, Backend, BackendError, BackendPlan, Change, DryRun, Health,
    context::{ContextRequest, KubeContext},
};
use crate::domain::{
    plan::TargetVersion,
    policy::{Action, Policy},
    sanitize_untrusted,
};

mod apply;
mod block;
mod context;
mod history;
mod plan;
mod reach;
mod verify;
mod workload;

pub(crate) use apply::{recheck_target, satisfied};
pub use block::parse_cidr;
pub use plan::{QUARANTINE_LABEL, object_label};
pub use workload::{PAUSED_BY, PAUSED_REPLICAS, merge_diff};

/// Field manager of every write.
pub const FIELD_MANAGER: &str = "incident-mcp";
/// Annotation naming the incident an object was created or changed for.
pub const INCIDENT_ANNOTATION: &str = "incident-mcp/incident";
/// Annotation naming the action that created an object.
pub const ACTION_ANNOTATION: &str = "incident-mcp/action";

/// [`Backend`] over a Kubernetes API server.
#[derive(Clone)]
pub struct KubeBackend {
    client: Client,
    verify_window: Duration,
}

impl KubeBackend {
    pub fn new(client: Client) -> Self {
        Self {
            client,
            verify_window: Duration::from_secs(120),
        }
    }

    /// How long [`Backend::verify`] waits for a recovered workload to become healthy (default 120 s).
    pub fn with_verify_window(mut self, window: Duration) -> Self {
        self.verify_window = window;
        self
    }

    /// A client from a kubeconfig file (`context`: default the current one) or, without a path,
    /// from `KUBECONFIG` / `~/.kube/config` / the in-cluster service account. Errors name the
    /// path only: kubeconfig parse errors can quote tokens.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        timeout: Duration,
    ) -> Result<Self, BackendError> {
        // Same reason as in detect::k8s_logs: kube uses the process default rustls provider.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let options = KubeConfigOptions {
            context: context.map(str::to_owned),
            ..KubeConfigOptions::default()
        };
        let unavailable = |m: String| BackendError::Unavailable(m);
        let mut config = match kubeconfig {
            Some(path) => {
                let kc = Kubeconfig::read_from(path)
                    .map_err(|_| unavailable(format!("cannot read kubeconfig {}", path.display())))?;
                Config::from_custom_kubeconfig(kc, &options).await.map_err(|_| {
                    unavailable(format!(
                        "kubeconfig {} has no usable context/cluster/user",
                        path.display()
                    ))
                })?
            }
            None if context.is_some() => Config::from_kubeconfig(&options)
                .await
                .map_err(|_| unavailable("the default kubeconfig has no usable context".into()))?,
            None => Config::infer()
                .await
                .map_err(|_| unavailable("no kubeconfig and not running in a cluster".into()))?,
        };
        let t = Some(timeout);
        (config.connect_timeout, config.read_timeout, config.write_timeout) = (t, t, t);
        let client = Client::try_from(config).map_err(|e| map_err("building the client", &e))?;
        Ok(Self::new(client))
    }

    pub(crate) fn client(&self) -> Client {
        self.client.clone()
    }

    fn dynamic(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
    ) -> Result<Api<DynamicObject>, BackendError> {
        let ar = api_resource(api_version, kind)?;
        Ok(match namespace {
            Some(ns) => Api::namespaced_with(self.client(), ns, &ar),
            None => Api::all_with(self.client(), &ar),
        })
    }

    /// Dry-runs `changes` in order; the first refusal fails the plan.
    pub(crate) async fn dry_run(&self, changes: &[Change]) -> Result<DryRun, BackendError> {
        for c in changes {
            match self.send(c, true).await {
                Ok(_) => {}
                Err(BackendError::Unavailable(m)) => return Err(BackendError::Unavailable(m)),
                Err(e) => return Ok(DryRun::Failed { reason: e.to_string() }),
            }
        }
        Ok(DryRun::Passed)
    }
}

#[async_trait]
impl Backend for KubeBackend {
    async fn plan(&self, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
        let mut p = match spec.action {
            Action::Isolate => plan::isolate(self, spec).await?,
            Action::DeletePod => plan::delete_pod(self, spec).await?,
            Action::Cordon => plan::cordon(self, spec).await?,
            Action::Block => block::block(self, spec).await?,
            Action::Pause => workload::pause(self, spec).await?,
            Action::Restore => workload::restore(self, spec).await?,
            Action::Rollback => workload::rollback(self, spec).await?,
            Action::Revert => {
                return Err(BackendError::Invalid(
                    "revert applies a plan's recorded inverse; it is not planned from a target".into(),
                ));
            }
        };
        p.dry_run = self.dry_run(&p.changes).await?;
        Ok(p)
    }

    async fn current_versions(&self, targets: &[TargetVersion]) -> Result<Vec<TargetVersion>, BackendError> {
        let mut out = Vec::with_capacity(targets.len());
        for t in targets {
            let api_version = match t.kind.as_str() {
                "Pod" | "Node" => "v1",
                "Deployment" | "StatefulSet" | "ReplicaSet" => "apps/v1",
                "NetworkPolicy" => "networking.k8s.io/v1",
                other => return Err(BackendError::Invalid(format!("unknown target kind {}", clip(other)))),
            };
            let api = self.dynamic(api_version, &t.kind, t.namespace.as_deref())?;
            let what = object_name(&t.kind, t.namespace.as_deref(), &t.name);
            let obj = api.get(&t.name).await.map_err(|e| map_err(&what, &e))?;
            out.push(TargetVersion {
                resource_version: obj.metadata.resource_version.unwrap_or_default(),
                ..t.clone()
            });
        }
        Ok(out)
    }

    fn recheck(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<(), BackendError> {
        recheck_all(env, policy, changes)
    }

    async fn apply(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<Vec<Value>, BackendError> {
        // Every change is checked before the first one is sent: a refused plan changes nothing.
        recheck_all(env, policy, changes)?;
        let mut out = Vec::with_capacity(changes.len());
        for (i, c) in changes.iter().enumerate() {
            match self.send(c, false).await {
                Ok(v) => out.push(v),
                // Say how far it got: the caller audits the outcome and may need to revert.
                Err(e) if i > 0 => return Err(partial(e, i, changes.len())),
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    async fn verify(&self, changes: &[Change]) -> Result<Health, BackendError> {
        verify::verify(self, changes, self.verify_window).await
    }

    async fn context(&self, req: &ContextRequest) -> Result<Option<KubeContext>, BackendError> {
        let (mut ctx, mut seen) = context::read(self, req).await;
        for spec in &req.containments {
            // The policy, again: no reach is computed in a namespace analysis may not read.
            if spec.namespace.as_deref().is_some_and(|ns| req.may_read(ns)) {
                ctx.blast_radius.push(reach::reach(self, spec, &mut seen).await);
            }
        }
        ctx.error = match seen.errors.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            [first, rest @ ..] => Some(format!("{first} (and {} more failed reads)", rest.len())),
        };
        Ok(Some(ctx))
    }
}

/// The policy re-check of every change, before anything is sent (pure: no API call).
pub(crate) fn recheck_all(env: &str, policy: &Policy, changes: &[Change]) -> Result<(), BackendError> {
    changes.iter().try_for_each(|c| apply::recheck(env, policy, c))
}

/// `e`, noting that the changes before the failing one were applied.
fn partial(e: BackendError, applied: usize, total: usize) -> BackendError {
    let note = format!(
        " (change {} of {total} failed; the {applied} before it were applied)",
        applied + 1
    );
    match e {
        BackendError::Changed { what, detail } => BackendError::Changed {
            what,
            detail: detail + &note,
        },
        BackendError::Failed(m) => BackendError::Failed(m + &note),
        BackendError::Unavailable(m) => BackendError::Unavailable(m + &note),
        BackendError::Invalid(m) => BackendError::Invalid(m + &note),
        BackendError::Refused(m) => BackendError::Refused(m + &note),
        BackendError::Conflict(m) => BackendError::Conflict(m + &note),
        BackendError::NotFound { what } => BackendError::NotFound { what: what + &note },
    }
}

/// The REST resource of the kinds this backend touches.
fn api_resource(api_version: &str, kind: &str) -> Result<ApiResource, BackendError> {
    let plural = match (api_version, kind) {
        ("v1", "Pod") => "pods",
        ("v1", "Node") => "nodes",
        ("apps/v1", "Deployment") => "deployments",
        ("apps/v1", "StatefulSet") => "statefulsets",
        ("apps/v1", "ReplicaSet") => "replicasets",
        ("networking.k8s.io/v1", "NetworkPolicy") => "networkpolicies",
        _ => {
            return Err(BackendError::Invalid(format!(
                "the Kubernetes backend does not handle {} {}",
                clip(api_version),
                clip(kind)
            )));
        }
    };
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    Ok(ApiResource {
        group: group.into(),
        version: version.into(),
        api_version: api_version.into(),
        kind: kind.into(),
        plural: plural.into(),
    })
}

pub(crate) fn object_name(kind: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{kind} {ns}/{name}"),
        None => format!("{kind} {name}"),
    }
}

fn clip(s: &str) -> String {
    sanitize_untrusted(s).chars().take(80).collect()
}

/// Maps a kube error to a [`BackendError`] with the API's status but no URLs or credentials.
pub(crate) fn map_err(what: &str, e: &::kube::Error) -> BackendError {
    match e {
        ::kube::Error::Api(s) if s.is_not_found() => BackendError::NotFound { what: what.into() },
        ::kube::Error::Api(s) if s.is_forbidden() => BackendError::Failed(format!(
            "forbidden: the Kubernetes API refused access to {what}: {}",
            clip(&s.message)
        )),
        ::kube::Error::Api(s) => BackendError::Failed(format!(
            "{what}: the Kubernetes API answered {} {}: {}",
            s.code,
            clip(&s.reason),
            sanitize_untrusted(&s.message).chars().take(200).collect::<String>()
        )),
        ::kube::Error::SerdeError(_) => {
            BackendError::Failed(format!("{what}: the Kubernetes API sent an unreadable response"))
        }
        ::kube::Error::Auth(_) => {
            BackendError::Unavailable(format!("{what}: cannot obtain credentials from the kubeconfig"))
        }
        ::kube::Error::RustlsTls(_) | ::kube::Error::TlsRequired => {
            BackendError::Unavailable(format!("{what}: TLS setup for the Kubernetes API failed"))
        }
        ::kube::Error::BuildRequest(_) | ::kube::Error::HttpError(_) => {
            BackendError::Invalid(format!("{what}: the request could not be built"))
        }
        _ => BackendError::Unavailable(format!(
            "{what}: cannot reach the Kubernetes API (connection failed or timed out)"
        )),
    }
}

/// List parameters of every read `analyze` makes: bounded by `limit`.
fn list(limit: u32) -> ListParams {
    ListParams::default().limit(limit)
}

fn failed(what: &str) -> impl Fn(::kube::Error) -> BackendError + '_ {
    move |e| map_err(what, &e)
}

/// `k=v,k2=v2` of a selector's matchLabels; `None` when it has matchExpressions (not read).
fn selector_string(s: &LabelSelector) -> Option<String> {
    if s.match_expressions.as_ref().is_some_and(|e| !e.is_empty()) {
        return None;
    }
    let terms: Vec<String> = s
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    Some(terms.join(","))
}
