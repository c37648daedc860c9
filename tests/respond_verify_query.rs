//! The PromQL health check after a recovery (`[environments.NAME.verify]`), against a real
//! Prometheus (Debian package `prometheus`, or PROMETHEUS_BIN): a recovery whose query lies
//! within bounds stands; one whose query is out of bounds, or that Prometheus refuses, is rolled
//! back through its recorded inverse, with `verify_failed` and `rolled_back` outcomes audited.

use crate::common;
use crate::procs;
use crate::recording_backend;
use crate::respond;

use std::{net::SocketAddr, process::Command};

use common::Harness;
use incident_mcp::service::RecoverRequest;
use procs::{Proc, find_bin};
use respond::{audit, backends, config, detect};
use serde_json::json;

const POLICY: &str = r#"
[environments.dev.policy]
allowed_actions = ["rollback"]
allowed_namespaces = ["shop"]
resource_patterns = ["web*"]
"#;

/// A Prometheus with nothing to scrape: constant queries such as `vector(0.5)` still evaluate.
fn prometheus(dir: &std::path::Path) -> Proc {
    std::fs::write(dir.join("prometheus.yml"), "global:\n  evaluation_interval: 1m\n").unwrap();
    let mut cmd = Command::new(find_bin("PROMETHEUS_BIN", &["prometheus"]));
    cmd.arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
        .arg("--web.listen-address=127.0.0.1:0");
    Proc::spawn("prometheus", cmd, dir)
}

/// Proposes, approves and applies a rollback of deployment/web in shop under `verify` (TOML
/// lines of `[environments.dev.verify]`); returns the apply result's error text, the backend's
/// apply count and the plan's outcome statuses.
async fn recover_with(prom: SocketAddr, verify: &str) -> (Option<String>, usize, Vec<String>) {
    let cfg = config(&format!(
        "{POLICY}\n[environments.dev.verify]\nprometheus_url = \"http://{prom}\"\n{verify}\n"
    ));
    let mut h = Harness::with_config(cfg).await;
    let backend = recording_backend::RecordingBackend::new();
    h.svc = h.svc.clone().with_backends(backends(&backend));
    detect(&h).await;
    let req: RecoverRequest = serde_json::from_value(
        json!({"id": "INC-000001", "method": "rollback", "resource": "deployment/web", "namespace": "shop"}),
    )
    .unwrap();
    let plan = h.svc.propose_recover(&req, "mcp").await.unwrap();
    h.svc.approve_plan(&plan.plan_id, "human:alice", 300).await.unwrap();
    let err = h
        .svc
        .apply_plan(&plan.plan_id, "mcp")
        .await
        .err()
        .map(|e| e.to_string());
    let outcomes = audit(&h)
        .await
        .into_iter()
        .filter(|e| e.kind == "outcome" && e.plan_id.as_deref() == Some(plan.plan_id.as_str()))
        .map(|e| e.payload["status"].as_str().unwrap_or_default().to_owned())
        .collect();
    (err, backend.apply_count(), outcomes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recovery_stands_only_while_its_promql_check_holds() {
    let dir = tempfile::tempdir().unwrap();
    let prom = prometheus(dir.path());
    let addr = prom.bound_addr("msg=\"Listening on\" address=").await;

    // Within bounds at the first query: the recovery stands.
    let (err, applies, outcomes) = recover_with(addr, "query = \"vector(0.01)\"\nmax = 0.05").await;
    assert_eq!(err, None);
    assert_eq!((applies, outcomes), (1, vec!["applied".to_owned()]));

    // Out of bounds for the whole window: rolled back through the recorded inverse.
    let verify = "query = \"vector(0.5)\"\nmax = 0.05\nwithin_secs = 1\ninterval_secs = 1";
    let (err, applies, outcomes) = recover_with(addr, verify).await;
    let err = err.expect("the recovery fails");
    assert!(
        err.contains("did not become healthy")
            && err.contains("value 0.5 is outside <= 0.05")
            && err.contains("rolled back"),
        "{err}"
    );
    assert_eq!(applies, 2, "the recovery, then its inverse");
    assert_eq!(outcomes, ["applied", "verify_failed", "rolled_back"]);

    // A query Prometheus refuses is not a healthy answer either.
    let verify = "query = \"sum(\"\nmin = 0\nwithin_secs = 1\ninterval_secs = 1";
    let (err, applies, outcomes) = recover_with(addr, verify).await;
    let err = err.expect("the recovery fails");
    assert!(err.contains("Prometheus refused the query (400"), "{err}");
    assert_eq!((applies, outcomes.last().map(String::as_str)), (2, Some("rolled_back")));
    prom.assert_alive();
}

#[test]
fn verify_checks_are_validated_when_the_config_loads() {
    let parse = |verify: &str| {
        incident_mcp::config::Config::parse_str(
            &format!(
                "{}\n[environments.dev.verify]\n{verify}\n",
                incident_mcp::config::EXAMPLE_TOML
            ),
            "toml",
            "t",
        )
        .map(drop)
        .map_err(|e| e.to_string())
    };
    assert!(parse("prometheus_url = \"http://p:9090\"\nquery = \"up\"\nmin = 1").is_ok());
    for (verify, needle) in [
        ("prometheus_url = \"p:9090\"\nquery = \"up\"\nmin = 1", "http://"),
        (
            "prometheus_url = \"http://p\"\nquery = \" \"\nmin = 1",
            "query is required",
        ),
        ("prometheus_url = \"http://p\"\nquery = \"up\"", "min or max"),
        (
            "prometheus_url = \"http://p\"\nquery = \"up\"\nmin = 2\nmax = 1",
            "min exceeds max",
        ),
        (
            "prometheus_url = \"http://p\"\nquery = \"up\"\nmax = 1\nwithin_secs = 0",
            "within_secs",
        ),
        (
            "prometheus_url = \"http://p\"\nquery = \"up\"\nmax = 1\nbogus = 1",
            "unknown field",
        ),
    ] {
        let e = parse(verify).unwrap_err();
        assert!(e.contains(needle), "{verify}: {e}");
    }
}
