//! Shared support of the integration suite: fakes of what cannot run here (a Kubernetes API
//! server), real-process helpers (PostgreSQL, child processes) and the respond harness.
//! `suite.rs` re-exports each module at the crate root under the name the tests use.

pub mod alert_fixtures;
pub mod canary;
pub mod fake_kube;
pub mod fake_kube_api;
pub mod hst_common;
pub mod kube_fixtures;
pub mod kube_respond;
pub mod kube_server;
pub mod oidc_provider;
pub mod pg;
pub mod procs;
pub mod recording_backend;
pub mod respond;
