//! The sandbox's simulated cluster as people see it (`incident-mcp sandbox`): what the
//! containments changed, labelled simulated.

use std::sync::Arc;

use schemars::JsonSchema;
use serde::Serialize;

use super::{IncidentService, ServiceError};
use crate::{
    cluster::{
        connect::ClusterKind,
        sandbox::{SandboxBackend, SimulatedObject},
    },
    domain::{DomainError, Env},
};

/// The objects of an environment's simulated cluster.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SandboxView {
    pub env: String,
    /// Always true: none of these objects exists outside incident-mcp's database.
    pub simulated: bool,
    pub objects: Vec<SimulatedObject>,
}

impl IncidentService {
    /// The simulated objects of `env`, whose cluster must be `kind = "sandbox"` (seeded on first use).
    pub async fn sandbox_view(&self, env: &Env) -> Result<SandboxView, ServiceError> {
        let Some(cfg) = self.config.env(env) else {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        };
        if cfg.cluster.as_ref().map(|c| c.kind) != Some(ClusterKind::Sandbox) {
            return Err(DomainError::invalid(
                "env",
                format!("environment {env} has no sandbox (its cluster is not kind = \"sandbox\")"),
            )
            .into());
        }
        let store: Arc<dyn crate::store::SandboxStore> = self.store.clone();
        let objects = SandboxBackend::new(env.as_str(), store)
            .objects()
            .await
            .map_err(|e| ServiceError::Backend(e.to_string()))?;
        Ok(SandboxView {
            env: env.to_string(),
            simulated: true,
            objects,
        })
    }
}
