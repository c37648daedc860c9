//! The `sandbox` backend: a simulated cluster kept in incident-mcp's own database
//! (`[environments.NAME.cluster] kind = "sandbox"`), so the whole loop (detect, contain,
//! approve, apply, list what is contained, revert) can be tried on a fresh machine without a
//! cluster. It plans and applies the same actions as the Kubernetes backend, with the same
//! objects (quarantine label and deny-all NetworkPolicy, replicas, a CIDR block, cordon, pod
//! deletion, rollback to the previous ReplicaSet template), their inverses, target versions,
//! blast radius and a dry run against the simulated objects. Every change is a
//! [`Change::Sandbox`] (`"backend": "sandbox", "simulated": true`), every outcome says
//! `"simulated": true`, and every simulated object is annotated `incident-mcp/simulated`.
//!
//! The world starts as [`world::seed`] (the pods, workloads, nodes and namespaces the `dev`
//! sample telemetry names) the first time an environment's sandbox is used. It simulates the
//! API objects and their controllers' status (a Deployment's replicas become ready at once, a
//! deleted pod is replaced, a rolled-back Deployment gets a new revision), not a scheduler or a
//! network: nothing is actually isolated or blocked. Writes are compare-and-swap on the objects'
//! versions, so two processes applying at once never lose a change.

mod apply;
mod controllers;
mod plan;
mod workload;
pub mod world;

use std::{
    collections::BTreeMap,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use async_trait::async_trait;
use serde::Serialize;
use serde_json::{Value, json};

use super::{ActionSpec, Backend, BackendError, BackendPlan, Change, Health};
use crate::{
    domain::{
        plan::TargetVersion,
        policy::{Action, Policy},
    },
    store::{SandboxKey, SandboxStore, StoreError},
};

/// Annotation on every simulated object.
pub const SIMULATED_ANNOTATION: &str = "incident-mcp/simulated";
/// The backend name in outcomes and changes.
pub const BACKEND: &str = "sandbox";
/// How often an apply is retried when another process changed the world in between.
const WRITE_ATTEMPTS: usize = 3;

pub(crate) fn key(kind: &str, namespace: Option<&str>, name: &str) -> SandboxKey {
    SandboxKey {
        kind: kind.into(),
        namespace: namespace.map(str::to_owned),
        name: name.into(),
    }
}

/// `Pod shop/web-7 (simulated)`.
pub(crate) fn what(k: &SandboxKey) -> String {
    format!(
        "{} (simulated)",
        super::kube::object_name(&k.kind, k.namespace.as_deref(), &k.name)
    )
}

fn unavailable(e: StoreError) -> BackendError {
    BackendError::Unavailable(format!("the sandbox's database: {e}"))
}

/// A snapshot of one simulated world: objects and the version of each.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct World {
    objects: BTreeMap<SandboxKey, (i64, Value)>,
}

impl World {
    pub(crate) fn get(&self, k: &SandboxKey) -> Option<&Value> {
        self.objects.get(k).map(|(_, v)| v)
    }

    pub(crate) fn version(&self, k: &SandboxKey) -> Option<i64> {
        self.objects.get(k).map(|(v, _)| *v)
    }

    /// Objects of `kind` (in `namespace`, when given).
    pub(crate) fn list<'a>(
        &'a self,
        kind: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a SandboxKey, &'a Value)> + 'a {
        self.objects
            .iter()
            .filter(move |(k, _)| k.kind == kind && (namespace.is_none() || k.namespace.as_deref() == namespace))
            .map(|(k, (_, v))| (k, v))
    }
}

/// One simulated object as shown to people (CLI `sandbox`): labelled simulated, with its
/// version as `metadata.resourceVersion`.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SimulatedObject {
    /// Always true.
    pub simulated: bool,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    /// The world's revision when the object last changed.
    pub version: i64,
    /// One line: what matters about the object for containment (ready, quarantined, replicas, ...).
    pub state: String,
    pub object: Value,
}

/// The [`Backend`] over one environment's simulated world.
pub struct SandboxBackend {
    env: String,
    store: Arc<dyn SandboxStore>,
    seeded: AtomicBool,
}

impl SandboxBackend {
    pub fn new(env: &str, store: Arc<dyn SandboxStore>) -> Self {
        Self {
            env: env.to_owned(),
            store,
            seeded: AtomicBool::new(false),
        }
    }

    /// The world as stored now, seeded first if this environment never had one.
    pub(crate) async fn world(&self) -> Result<World, BackendError> {
        if !self.seeded.load(Ordering::Relaxed) {
            let created = self
                .store
                .sandbox_seed(&self.env, &world::seed())
                .await
                .map_err(unavailable)?;
            if created {
                tracing::info!(env = %self.env, "seeded the sandbox's simulated cluster");
            }
            self.seeded.store(true, Ordering::Relaxed);
        }
        let objects = self.store.sandbox_objects(&self.env).await.map_err(unavailable)?;
        Ok(World {
            objects: objects.into_iter().map(|o| (o.key, (o.version, o.body))).collect(),
        })
    }

    /// Every simulated object, for people to look at.
    pub async fn objects(&self) -> Result<Vec<SimulatedObject>, BackendError> {
        let w = self.world().await?;
        Ok(w.objects
            .iter()
            .map(|(k, (version, body))| {
                let mut object = body.clone();
                object["metadata"]["resourceVersion"] = json!(version.to_string());
                SimulatedObject {
                    simulated: true,
                    kind: k.kind.clone(),
                    namespace: k.namespace.clone(),
                    name: k.name.clone(),
                    version: *version,
                    state: apply::describe(&k.kind, body),
                    object,
                }
            })
            .collect())
    }
}

#[async_trait]
impl Backend for SandboxBackend {
    async fn plan(&self, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
        let w = self.world().await?;
        let mut p = match spec.action {
            Action::Isolate => plan::isolate(&w, spec)?,
            Action::DeletePod => plan::delete_pod(&w, spec)?,
            Action::Cordon => plan::cordon(&w, spec)?,
            Action::Block => plan::block(&w, spec)?,
            Action::Pause => workload::pause(&w, spec)?,
            Action::Restore => workload::restore(&w, spec)?,
            Action::Rollback => workload::rollback(&w, spec)?,
            Action::Revert => {
                return Err(BackendError::Invalid(
                    "revert applies a plan's recorded inverse; it is not planned from a target".into(),
                ));
            }
        };
        p.dry_run = apply::dry_run(&w, &p.changes);
        Ok(p)
    }

    async fn current_versions(&self, targets: &[TargetVersion]) -> Result<Vec<TargetVersion>, BackendError> {
        let w = self.world().await?;
        targets
            .iter()
            .map(|t| {
                let k = key(&t.kind, t.namespace.as_deref(), &t.name);
                let v = w.version(&k).ok_or_else(|| BackendError::NotFound { what: what(&k) })?;
                Ok(TargetVersion {
                    resource_version: v.to_string(),
                    ..t.clone()
                })
            })
            .collect()
    }

    fn recheck(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<(), BackendError> {
        changes.iter().try_for_each(|c| apply::recheck(env, policy, c))
    }

    async fn apply(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<Vec<Value>, BackendError> {
        // Every change is checked before anything is written: a refused plan changes nothing.
        self.recheck(env, policy, changes)?;
        for _ in 0..WRITE_ATTEMPTS {
            let before = self.world().await?;
            let (after, mut outcomes) = apply::run(&before, changes)?;
            let writes = apply::diff(&before, &after);
            if writes.is_empty() {
                return Ok(outcomes);
            }
            if let Some(revision) = self
                .store
                .sandbox_write(&self.env, &writes)
                .await
                .map_err(unavailable)?
            {
                for o in &mut outcomes {
                    o["revision"] = json!(revision);
                }
                return Ok(outcomes);
            }
            tracing::info!(env = %self.env, "the simulated cluster changed during apply; trying again");
        }
        Err(BackendError::Failed(
            "the simulated cluster kept changing during apply; nothing was written".into(),
        ))
    }

    async fn verify(&self, changes: &[Change]) -> Result<Health, BackendError> {
        let w = self.world().await?;
        Ok(apply::health(&w, changes))
    }
}
