//! `[environments.NAME.cluster]`: how an environment's Kubernetes backend connects, and
//! [`LazyKube`], the backend that connects on first use. Start-up never touches the cluster:
//! a missing kubeconfig or an unreachable API server is a [`BackendError::Unavailable`] when a
//! plan or an apply needs it (exit 2, MCP `isError`), and the next call tries again.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use ::kube::{Client, config::Config as KubeConfig};
use async_trait::async_trait;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::OnceCell;

use super::{
    ActionSpec, Backend, BackendError, BackendPlan, Change, Health,
    context::{ContextRequest, KubeContext},
    kube::KubeBackend,
};
use crate::domain::{plan::TargetVersion, policy::Policy};

/// What an environment's contain/recover act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClusterKind {
    /// A Kubernetes API server (kubeconfig, context or in-cluster service account).
    #[default]
    Kubernetes,
    /// A simulated cluster kept in incident-mcp's own database (`cluster::sandbox`): nothing
    /// real is touched, and every plan and outcome says so.
    Sandbox,
}

/// `[environments.NAME.cluster]`: a kubeconfig file (and context), the in-cluster service
/// account, or `kind = "sandbox"`, the simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterConfig {
    /// `kubernetes` (default) or `sandbox`.
    #[serde(default)]
    pub kind: ClusterKind,
    /// Kubeconfig file, relative to the config file. Unset (and `in_cluster` false):
    /// `KUBECONFIG` / `~/.kube/config`, else the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// Kubeconfig context (default: the current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Only the pod's service account (`KUBERNETES_SERVICE_HOST` and the mounted token).
    #[serde(default)]
    pub in_cluster: bool,
    /// Connect, read and write timeout of every API request.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// After a rollback or restore, how long the workload may take to become healthy before
    /// the recovery's recorded inverse is applied.
    #[serde(default = "default_verify")]
    pub verify_secs: u64,
}

fn default_timeout() -> u64 {
    10
}

fn default_verify() -> u64 {
    120
}

impl ClusterConfig {
    /// Validation for `Config::validate`.
    pub fn check(&self) -> Result<(), String> {
        if self.timeout_secs == 0 || self.timeout_secs > 600 {
            return Err("timeout_secs must be in 1..=600".into());
        }
        if self.verify_secs > 3600 {
            return Err("verify_secs must be at most 3600".into());
        }
        if self.kind == ClusterKind::Sandbox && (self.in_cluster || self.kubeconfig.is_some() || self.context.is_some())
        {
            return Err("kind = \"sandbox\" is simulated: it takes no kubeconfig, context or in_cluster".into());
        }
        if self.in_cluster && (self.kubeconfig.is_some() || self.context.is_some()) {
            return Err("in_cluster = true excludes kubeconfig and context".into());
        }
        if self.kubeconfig.as_deref() == Some("") || self.context.as_deref() == Some("") {
            return Err("kubeconfig and context must not be empty".into());
        }
        Ok(())
    }

    /// The kubeconfig path, resolved against the config file's directory.
    pub fn kubeconfig_path(&self, base: Option<&Path>) -> Option<PathBuf> {
        let p = Path::new(self.kubeconfig.as_deref()?);
        Some(match base {
            Some(b) if p.is_relative() => b.join(p),
            _ => p.to_path_buf(),
        })
    }
}

/// A [`KubeBackend`] that connects the first time it is used (and again after a failure).
pub struct LazyKube {
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    in_cluster: bool,
    timeout: Duration,
    verify: Duration,
    backend: OnceCell<KubeBackend>,
}

impl LazyKube {
    /// `base`: the config file's directory, for a relative `kubeconfig`.
    pub fn new(cfg: &ClusterConfig, base: Option<&Path>) -> Self {
        Self {
            kubeconfig: cfg.kubeconfig_path(base),
            context: cfg.context.clone(),
            in_cluster: cfg.in_cluster,
            timeout: Duration::from_secs(cfg.timeout_secs),
            verify: Duration::from_secs(cfg.verify_secs),
            backend: OnceCell::new(),
        }
    }

    async fn get(&self) -> Result<&KubeBackend, BackendError> {
        self.backend
            .get_or_try_init(|| async {
                if !self.in_cluster {
                    let b = KubeBackend::connect(self.kubeconfig.as_deref(), self.context.as_deref(), self.timeout);
                    return Ok(b.await?.with_verify_window(self.verify));
                }
                let _ = rustls::crypto::ring::default_provider().install_default();
                // The error can name the token file; say only what is missing.
                let mut config = KubeConfig::incluster().map_err(|_| {
                    BackendError::Unavailable("in_cluster = true but no in-cluster service account is available".into())
                })?;
                let t = Some(self.timeout);
                (config.connect_timeout, config.read_timeout, config.write_timeout) = (t, t, t);
                let client = Client::try_from(config)
                    .map_err(|_| BackendError::Unavailable("cannot build the in-cluster Kubernetes client".into()))?;
                Ok(KubeBackend::new(client).with_verify_window(self.verify))
            })
            .await
    }
}

#[async_trait]
impl Backend for LazyKube {
    async fn plan(&self, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
        self.get().await?.plan(spec).await
    }

    async fn current_versions(&self, targets: &[TargetVersion]) -> Result<Vec<TargetVersion>, BackendError> {
        self.get().await?.current_versions(targets).await
    }

    fn recheck(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<(), BackendError> {
        // Pure: needs no connection.
        super::kube::recheck_all(env, policy, changes)
    }

    async fn apply(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<Vec<Value>, BackendError> {
        self.get().await?.apply(env, policy, changes).await
    }

    async fn verify(&self, changes: &[Change]) -> Result<Health, BackendError> {
        self.get().await?.verify(changes).await
    }

    async fn context(&self, req: &ContextRequest) -> Result<Option<KubeContext>, BackendError> {
        self.get().await?.context(req).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml: &str) -> Result<ClusterConfig, String> {
        let c: ClusterConfig = toml::from_str(toml).map_err(|e| e.to_string())?;
        c.check().map(|()| c)
    }

    #[test]
    fn cluster_config_defaults_validation_and_relative_paths() {
        let c = parse("kubeconfig = 'kube/config'\ncontext = 'prod'\n").unwrap();
        assert_eq!((c.timeout_secs, c.verify_secs), (10, 120));
        assert_eq!(
            c.kubeconfig_path(Some(Path::new("/etc/incident-mcp"))),
            Some(PathBuf::from("/etc/incident-mcp/kube/config"))
        );
        assert!(parse("in_cluster = true\n").unwrap().in_cluster);
        assert_eq!(parse("kind = 'sandbox'\n").unwrap().kind, ClusterKind::Sandbox);
        assert_eq!(parse("").unwrap().kind, ClusterKind::Kubernetes);
        for (bad, why) in [
            ("kubeconfg = 'x'", "kubeconfg"),
            ("timeout_secs = 0", "timeout_secs"),
            ("in_cluster = true\nkubeconfig = 'x'", "excludes"),
            ("context = ''", "empty"),
            ("verify_secs = 3601", "verify_secs"),
            ("kind = 'sandbox'\nkubeconfig = 'x'", "simulated"),
            ("kind = 'minikube'", "minikube"),
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_is_a_backend_error_at_use_naming_only_the_path() {
        let c = parse("kubeconfig = 'no-such-kubeconfig.yaml'\n").unwrap();
        let b = LazyKube::new(&c, Some(Path::new("/nonexistent")));
        let e = b.current_versions(&[]).await.unwrap_err();
        assert!(
            matches!(&e, BackendError::Unavailable(m) if m.contains("/nonexistent/no-such-kubeconfig.yaml")),
            "{e}"
        );
        // Not cached: the next call tries again (and fails the same way).
        assert!(matches!(
            b.current_versions(&[]).await,
            Err(BackendError::Unavailable(_))
        ));
    }
}
