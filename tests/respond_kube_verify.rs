//! Health verification after a recovery, end to end over MCP with the REAL Kubernetes backend
//! against the FAKE Kubernetes API server (`support/fake_kube_api.rs`; no kube-apiserver can be
//! installed here, and no controller runs in the fake, so a Deployment's `status` is whatever
//! the test stored). After a rollback is applied, the backend reads the Deployment until the
//! controller observed the new generation and every replica is updated and available, within
//! `verify_secs` (1 s here). Unhealthy: the recovery's recorded inverse is applied and audited.

use crate::common;
use crate::fixtures;
use crate::kube_respond;
use crate::respond;

use common::*;
use fixtures::{DEPLOY, calls, template};
use kube_respond::setup;
use respond::*;
use serde_json::{Value, json};

const ROLLBACK_POLICY: &str = r#"
[environments.dev.policy]
allowed_actions = ["rollback"]
allowed_namespaces = ["shop"]
resource_patterns = ["web"]
max_pods_per_action = 3

[environments.dev.cluster]
kubeconfig = "kube/config.yaml"
timeout_secs = 5
verify_secs = 1
"#;

fn rollback_args() -> Value {
    json!({"id": "INC-000001", "method": "rollback", "resource": "deployment/web", "namespace": "shop"})
}

/// The `status` of the recovery's `outcome` audit entries, oldest first.
async fn outcomes(h: &Harness) -> Vec<String> {
    audit(h)
        .await
        .iter()
        .filter(|e| e.kind == "outcome")
        .map(|e| e.payload["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn a_rollback_that_never_becomes_healthy_is_rolled_back_and_audited() {
    let (f, h) = setup(ROLLBACK_POLICY).await;
    let client = respond::confirming_client(&h, Proto::Legacy, "web").await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let before = f.get(DEPLOY).unwrap();
    // No controller in the fake: observedGeneration never reaches the rollback's generation.
    let failed = err_text(&call(&client, "incident_recover", rollback_args()).await);
    assert!(
        failed.contains("did not become healthy") && failed.contains("has not observed generation 2"),
        "{failed}"
    );
    assert!(failed.contains("rolled back"), "{failed}");
    let reqs = f.take_requests();
    let calls = calls(&reqs);
    let write = format!("PATCH {DEPLOY}?fieldManager=incident-mcp");
    let writes: Vec<&String> = calls.iter().filter(|c| !c.starts_with("GET")).collect();
    assert_eq!(
        writes,
        [
            &format!("PATCH {DEPLOY}?dryRun=All&fieldManager=incident-mcp"),
            &write,
            &write
        ],
        "{calls:?}"
    );
    // Between the rollback and its inverse, only reads of the Deployment (the verification).
    let (first, last) = (
        calls.iter().position(|c| *c == write).unwrap(),
        calls.iter().rposition(|c| *c == write).unwrap(),
    );
    assert!(last - first > 1, "no verification read: {calls:?}");
    assert!(calls[first + 1..last].iter().all(|c| *c == format!("GET {DEPLOY}?")));
    assert_eq!(
        reqs[first].body["spec"]["template"]["spec"]["containers"][0]["image"],
        "web:1"
    );
    let after = f.get(DEPLOY).unwrap();
    assert_eq!(after["spec"], before["spec"], "the inverse restored the template");
    assert_eq!(after["spec"]["template"], template("web:2", None));

    assert_eq!(outcomes(&h).await, ["applied", "verify_failed", "rolled_back"]);
    let log = audit(&h).await;
    let verify_failed = log.iter().find(|e| e.payload["status"] == "verify_failed").unwrap();
    assert!(
        verify_failed.payload["reason"]
            .as_str()
            .unwrap()
            .contains("Deployment shop/web")
    );
    let v = h.svc.audit_verify(&[]).await.unwrap();
    assert!(v.intact, "{}", v.summary);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn a_rollback_that_becomes_healthy_stays_applied() {
    let (f, h) = setup(ROLLBACK_POLICY).await;
    // The controller's status as it will be once it rolled out the rollback (generation 2).
    f.modify(
        DEPLOY,
        &json!({ "status": { "observedGeneration": 2, "replicas": 3, "updatedReplicas": 3, "availableReplicas": 3 } }),
    );
    let client = respond::confirming_client(&h, Proto::Legacy, "web").await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let r = ok(&call(&client, "incident_recover", rollback_args()).await);
    assert_eq!(r["status"], "applied", "{r}");
    let calls = calls(&f.take_requests());
    let write = format!("PATCH {DEPLOY}?fieldManager=incident-mcp");
    assert_eq!(calls.iter().filter(|c| **c == write).count(), 1, "{calls:?}");
    assert_eq!(
        calls.last().unwrap(),
        &format!("GET {DEPLOY}?"),
        "verified after applying"
    );
    let after = f.get(DEPLOY).unwrap();
    assert_eq!(after["metadata"]["generation"], 2);
    assert_eq!(after["spec"]["template"]["spec"]["containers"][0]["image"], "web:1");
    assert_eq!(outcomes(&h).await, ["applied"]);
    client.cancel().await.unwrap();
}
