//! The one place that wires the process: the store (from the configured location), the
//! response backends, the notifier and the clock, each built once from the config and the
//! process environment. Adapters (CLI, MCP, REST, watch) receive a built [`IncidentService`]
//! and never choose a store, a backend or a notifier themselves.

use std::sync::Arc;

use crate::{
    config::Config,
    notify::{Clock, EnvLookup, HttpNotifier, SystemClock, process_env},
    service::{Backends, IncidentService},
    store::{Store, StoreError, StoreLocation},
};

/// Why the process could not be wired.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The store could not be opened (or migrated).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The notifier could not be built.
    #[error("cannot build the notifier: {0}")]
    Notifier(String),
}

/// What the process takes from outside the config: its environment and its clock.
#[derive(Clone)]
pub struct Environment {
    /// Secrets named by the config (`key_env`, `*_env`) are read through it.
    pub env: EnvLookup,
    /// The outbox dispatcher's notion of now.
    pub clock: Arc<dyn Clock>,
}

impl Environment {
    /// The real process environment and the system clock.
    pub fn process() -> Self {
        Self {
            env: process_env(),
            clock: Arc::new(SystemClock),
        }
    }
}

/// Opens the store at `location` and wires the service over it from `cfg` and the process
/// environment.
pub async fn open(location: &StoreLocation, cfg: Config) -> Result<IncidentService, AppError> {
    let store = crate::store::open(location).await?;
    assemble(store, cfg, Environment::process())
}

/// Wires the service over `store`: backends from the config (Kubernetes backends connect on
/// first use, so a bad kubeconfig fails the action, not start-up), the HTTP notifier over the
/// `[notify]` targets, and `outside`'s clock.
pub fn assemble(store: Arc<dyn Store>, cfg: Config, outside: Environment) -> Result<IncidentService, AppError> {
    let config = Arc::new(cfg);
    // The configured names are the metrics' label values for targets and sources.
    let metrics = crate::metrics::global();
    metrics.allow_targets(config.notify.target_names());
    metrics.allow_sources(
        config
            .environments
            .values()
            .flat_map(|e| e.sources.iter().map(|s| s.name())),
    );
    let backends = Backends::from_config(&config, &store);
    let notifier = HttpNotifier::new(config.notify.clone(), store.clone(), outside.env)
        .map_err(AppError::Notifier)?
        .with_public_url(config.public_url());
    Ok(IncidentService::new(store, config)
        .with_backends(backends)
        .with_notifier(Arc::new(notifier), outside.clock))
}
