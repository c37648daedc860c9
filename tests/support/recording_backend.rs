//! A fake containment backend that records every `apply`, so tests can assert "no mutation".
//! It plans like a Kubernetes backend would (NetworkPolicy for isolate, a scale patch for
//! pause/restore, a rollout patch for rollback) against a resourceVersion the test controls.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use incident_mcp::{
    cluster::{ActionSpec, Backend, BackendError, BackendPlan, Change, DryRun, KubeVerb, PatchKind},
    domain::{
        plan::{BlastRadius, TargetVersion},
        policy::{Action, Policy},
    },
};
use serde_json::{Value, json};
use tokio::sync::Notify;

#[derive(Default)]
pub struct RecordingBackend {
    /// Every `apply` call's changes, in order.
    applied: Mutex<Vec<Vec<Change>>>,
    /// The target's current resourceVersion (tests bump it to simulate a change).
    version: Mutex<u64>,
    /// When set, `apply` signals `entered` and then waits for `release` (never, in a crash test).
    pub gate: Option<(Arc<Notify>, Arc<Notify>)>,
}

impl RecordingBackend {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            version: Mutex::new(100),
            ..Self::default()
        })
    }

    /// A backend whose `apply` signals the returned `Notify` and then never returns, as if
    /// the process died during the backend call.
    pub fn stuck() -> (Arc<Self>, Arc<Notify>) {
        let entered = Arc::new(Notify::new());
        let b = Arc::new(Self {
            version: Mutex::new(100),
            gate: Some((entered.clone(), Arc::new(Notify::new()))),
            ..Self::default()
        });
        (b, entered)
    }

    pub fn applied(&self) -> Vec<Vec<Change>> {
        self.applied.lock().unwrap().clone()
    }

    pub fn apply_count(&self) -> usize {
        self.applied.lock().unwrap().len()
    }

    /// Someone else changed the target: its resourceVersion moves on.
    pub fn bump_version(&self) {
        *self.version.lock().unwrap() += 1;
    }

    fn version(&self) -> String {
        self.version.lock().unwrap().to_string()
    }
}

fn kube(verb: KubeVerb, api: &str, kind: &str, ns: Option<&str>, name: &str, body: Option<Value>) -> Change {
    Change::Kube {
        verb,
        api_version: api.into(),
        kind: kind.into(),
        namespace: ns.map(str::to_owned),
        name: name.into(),
        patch: matches!(verb, KubeVerb::Patch).then_some(PatchKind::Merge),
        body,
        resource_version: None,
    }
}

#[async_trait]
impl Backend for RecordingBackend {
    async fn plan(&self, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
        let ns = spec.namespace.as_deref();
        let name = spec.resource.rsplit('/').next().unwrap_or_default().to_owned();
        let np = format!("quarantine-{name}");
        let (kind, changes, inverse) = match spec.action {
            Action::Isolate => (
                "Pod",
                vec![kube(
                    KubeVerb::Create,
                    "networking.k8s.io/v1",
                    "NetworkPolicy",
                    ns,
                    &np,
                    Some(json!({"metadata": {"name": np, "annotations": {"incident-mcp/incident": spec.incident}}})),
                )],
                vec![kube(
                    KubeVerb::Delete,
                    "networking.k8s.io/v1",
                    "NetworkPolicy",
                    ns,
                    &np,
                    None,
                )],
            ),
            Action::Pause | Action::Restore | Action::Rollback => {
                let to = if spec.action == Action::Pause { 0 } else { 3 };
                let patch = |n: u32| Some(json!({"spec": {"replicas": n}}));
                (
                    "Deployment",
                    vec![kube(KubeVerb::Patch, "apps/v1", "Deployment", ns, &name, patch(to))],
                    vec![kube(KubeVerb::Patch, "apps/v1", "Deployment", ns, &name, patch(3 - to))],
                )
            }
            other => {
                return Err(BackendError::Invalid(format!(
                    "the recording backend does not do {other}"
                )));
            }
        };
        Ok(BackendPlan {
            changes,
            inverse,
            targets: vec![TargetVersion {
                kind: kind.into(),
                namespace: spec.namespace.clone(),
                name,
                resource_version: self.version(),
            }],
            blast_radius: BlastRadius {
                pods: 1,
                nodes: 0,
                workloads: vec![],
                namespaces: spec.namespace.iter().cloned().collect(),
            },
            labels: BTreeMap::from([("app".to_owned(), "web".to_owned())]),
            healthy_replicas_after: Some(2),
            dry_run: DryRun::Passed,
        })
    }

    async fn current_versions(&self, targets: &[TargetVersion]) -> Result<Vec<TargetVersion>, BackendError> {
        Ok(targets
            .iter()
            .map(|t| TargetVersion {
                resource_version: self.version(),
                ..t.clone()
            })
            .collect())
    }

    async fn apply(&self, _env: &str, _policy: &Policy, changes: &[Change]) -> Result<Vec<Value>, BackendError> {
        if let Some((entered, release)) = &self.gate {
            entered.notify_one();
            release.notified().await;
        }
        self.applied.lock().unwrap().push(changes.to_vec());
        Ok(changes.iter().map(|_| json!({"status": "applied"})).collect())
    }
}
