//! Set-up of the end-to-end tests with the real Kubernetes backend: a config FILE whose `dev`
//! environment has a policy and a `[environments.dev.cluster]` table pointing at the FAKE
//! Kubernetes API server (`fake_kube_api.rs`; no kube-apiserver can be installed here), loaded
//! and wired as `incident-mcp serve` does it (`Backends::from_config`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use incident_mcp::{
    config::{Config, EXAMPLE_TOML},
    service::Backends,
};
use serde_json::json;

use crate::common::Harness;
use crate::fake::FakeKubeApi;
use crate::fixtures::seed;

/// Writes `dir/incident.toml` (the built-in config plus `extra`, which should hold
/// `[environments.dev.cluster]` with `kubeconfig = "kube/config.yaml"`) and copies
/// `kubeconfig` to `dir/kube/config.yaml`; returns the config file's path.
pub fn write_config(dir: &Path, kubeconfig: &Path, extra: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("kube")).unwrap();
    std::fs::copy(kubeconfig, dir.join("kube/config.yaml")).unwrap();
    let path = dir.join("incident.toml");
    std::fs::write(&path, format!("{EXAMPLE_TOML}\n{extra}")).unwrap();
    path
}

/// The fake cluster (the shop of `support/kube_fixtures.rs`, plus a pod in kube-system) and a
/// harness whose service acts through the backends the config file describes.
pub async fn setup(extra: &str) -> (FakeKubeApi, Harness) {
    let f = FakeKubeApi::start();
    seed(&f);
    f.put(json!({ "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "web-bbb-1", "namespace": "kube-system", "labels": { "app": "web" } },
        "spec": { "nodeName": "node-a", "containers": [{ "name": "app", "image": "web:2" }] },
        "status": { "phase": "Running" } }));
    let h = Harness::new().await;
    let path = write_config(h.dir.path(), &f.kubeconfig(), extra);
    let cfg = Config::load_file(&path).expect("config loads");
    let store: std::sync::Arc<dyn incident_mcp::store::Store> = h.store.clone();
    let backends = Backends::from_config(&cfg, &store);
    assert_eq!(backends.cluster.keys().collect::<Vec<_>>(), ["dev"]);
    let mut h = h;
    h.svc = incident_mcp::IncidentService::new(h.store.clone(), std::sync::Arc::new(cfg)).with_backends(backends);
    (f, h)
}
