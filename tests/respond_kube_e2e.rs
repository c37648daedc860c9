//! Issue 4 end to end with the REAL Kubernetes backend: a config file whose `dev` environment
//! has a `[environments.dev.cluster]` table (kubeconfig relative to the config file) is loaded
//! and wired as `incident-mcp serve` wires it (`Backends::from_config`), and an MCP client
//! with a confirmation dialog runs detect → analyze → contain → recover. The cluster is a FAKE
//! Kubernetes API server (`support/fake_kube_api.rs`), because no kube-apiserver can be
//! installed here; the `kube` client code is the real one, and the fake records every request,
//! so the tests assert exactly what reached the cluster.

use crate::common;
use crate::fake;
use crate::fixtures;
use crate::kube_respond;
use crate::respond;

use assert_cmd::Command as Cmd;
use common::*;
use fake::TOKEN;
use fixtures::{NETPOLS, POD, calls};
use incident_mcp::mcp::ToolPolicy;
use kube_respond::{setup, write_config};
use respond::*;
use serde_json::json;

const KUBE_POLICY: &str = r#"
[environments.dev.policy]
allowed_actions = ["isolate", "revert"]
allowed_namespaces = ["shop"]
resource_patterns = ["web-*"]

[environments.dev.cluster]
kubeconfig = "kube/config.yaml"
timeout_secs = 5
"#;

const NETPOL: &str = "incident-mcp-isolate-web-bbb-1";

#[tokio::test]
async fn contain_isolates_the_pod_through_the_real_kube_client_and_revert_undoes_it() {
    let (f, h) = setup(KUBE_POLICY).await;
    assert!(f.requests().is_empty(), "start-up touched the cluster");
    let dialog = DialogClient::new(Human::gets_code(&h));
    let asked = dialog.asked.clone();
    let client = h.duplex_client(ToolPolicy::default(), Proto::Legacy, dialog).await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    assert!(f.requests().is_empty(), "detect touched the cluster");
    let a = ok(&call(&client, "incident_analyze", json!({"id": "INC-000001", "depth": 1})).await);
    assert_eq!(a["incident"]["id"], "INC-000001");
    // Analysis reads the cluster's context of the incident's pods: GETs only.
    let reads = f.take_requests();
    assert!(reads.iter().all(|r| r.method == "GET"), "{:#?}", calls(&reads));
    let before = f.get(POD).unwrap();

    let contained = ok(&call(&client, "incident_contain", contain_args("web-bbb-1", "shop")).await);
    assert_eq!(contained["status"], "applied", "{contained}");
    assert!(asked.lock().unwrap()[0].contains(NETPOL));
    let reqs = f.take_requests();
    let write = "fieldManager=incident-mcp";
    assert_eq!(
        calls(&reqs),
        [
            // Planning: reads, then every change as a server-side dry run.
            format!("GET {POD}?"),
            "GET /apis/apps/v1/namespaces/shop/replicasets/web-bbb?".into(),
            "GET /apis/apps/v1/namespaces/shop/deployments/web?".into(),
            format!("POST {NETPOLS}?dryRun=All&{write}"),
            format!("PATCH {POD}?dryRun=All&{write}"),
            // Applying: the target's version again, then each change once, for real.
            format!("GET {POD}?"),
            format!("POST {NETPOLS}?{write}"),
            format!("PATCH {POD}?{write}"),
        ]
    );
    assert_eq!(
        reqs[6].body["spec"]["podSelector"]["matchLabels"]["incident-mcp/quarantine"],
        "INC-000001"
    );
    assert_eq!(
        reqs[7].content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    let np = f.get(&format!("{NETPOLS}/{NETPOL}")).expect("the NetworkPolicy exists");
    assert_eq!(
        np["metadata"]["annotations"]["incident-mcp/incident"],
        reqs[6].body["metadata"]["annotations"]["incident-mcp/incident"]
    );
    let quarantined = f.get(POD).unwrap();
    assert!(
        quarantined["metadata"]["labels"]["incident-mcp/quarantine"].is_string(),
        "{quarantined}"
    );

    let recovered = ok(&call(
        &client,
        "incident_recover",
        json!({"id": "INC-000001", "method": "revert"}),
    )
    .await);
    assert_eq!(recovered["status"], "applied", "{recovered}");
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        [format!("DELETE {NETPOLS}/{NETPOL}?"), format!("PATCH {POD}?{write}")]
    );
    assert_eq!(
        reqs[1].body,
        json!({ "metadata": { "labels": { "incident-mcp/quarantine": null } } })
    );
    assert!(f.get(&format!("{NETPOLS}/{NETPOL}")).is_none(), "the policy is gone");
    assert_eq!(f.get(POD).unwrap()["metadata"]["labels"], before["metadata"]["labels"]);
    let status = ok(&call(&client, "incident_get", json!({"id": "INC-000001"})).await);
    assert_eq!(status["incident"]["status"], "recovered");
    client.cancel().await.unwrap();

    let kinds: Vec<String> = audit(&h).await.into_iter().map(|e| e.kind).collect();
    let flow = [
        "proposal",
        "code",
        "code",
        "approval",
        "intent",
        "application",
        "outcome",
    ];
    assert_eq!(kinds[..7], flow);
    assert_eq!(kinds[7..14], flow);
    assert_eq!(kinds[14..], ["revert"]);
    let v = h.svc.audit_verify(&[]).await.unwrap();
    assert!(v.intact, "{}", v.summary);
    let everything = format!("{:?}", audit(&h).await);
    assert!(
        !everything.contains(TOKEN.as_str()) && !everything.contains(&f.url),
        "secrets or URLs in the audit log"
    );
}

#[tokio::test]
async fn an_unreachable_api_server_is_an_error_result_without_url_or_token() {
    let (mut f, h) = setup(KUBE_POLICY).await;
    let url = f.url.clone();
    f.shutdown();
    let client = respond::confirming_client(&h, Proto::Legacy, "web-bbb-1").await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let e = err_text(&call(&client, "incident_contain", contain_args("web-bbb-1", "shop")).await);
    assert!(e.contains("cannot reach the Kubernetes API"), "{e}");
    assert!(
        !e.contains(&url) && !e.contains(TOKEN.as_str()) && !e.contains("127.0.0.1"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn contain_in_kube_system_is_refused_before_the_cluster_sees_any_request() {
    let (f, h) = setup(KUBE_POLICY).await;
    let client = respond::confirming_client(&h, Proto::Legacy, "web-bbb-1").await;
    ok(&call(&client, "incident_detect", json!({"env": "dev"})).await);
    let before = f.get("/api/v1/namespaces/kube-system/pods/web-bbb-1").unwrap();
    let refused = err_text(&call(&client, "incident_contain", contain_args("web-bbb-1", "kube-system")).await);
    assert!(refused.contains("namespace kube-system is protected"), "{refused}");
    let reqs = f.requests();
    assert!(
        reqs.iter().all(|r| !r.is_mutating()),
        "mutating requests: {:?}",
        calls(&reqs)
    );
    assert!(reqs.is_empty(), "not even a read: {:?}", calls(&reqs));
    assert_eq!(f.get("/api/v1/namespaces/kube-system/pods/web-bbb-1").unwrap(), before);
    assert_eq!(refusals(&h).await, ["protected_namespace"]);
    client.cancel().await.unwrap();
}

#[test]
fn an_unreadable_kubeconfig_fails_the_action_with_exit_2_not_the_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    let cfg = write_config(dir.path(), &empty, KUBE_POLICY);
    // The config names kube/config.yaml, which is not there.
    std::fs::remove_file(dir.path().join("kube/config.yaml")).unwrap();
    let db = dir.path().join("incidents.db");
    let run = |args: &[&str]| {
        let mut all = vec!["--config", cfg.to_str().unwrap(), "--db", db.to_str().unwrap()];
        all.extend_from_slice(args);
        Cmd::new(bin()).args(all).output().unwrap()
    };
    let out = run(&["detect", "--env", "dev"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let args = [
        "contain",
        "--id",
        "INC-000001",
        "--action",
        "isolate",
        "--resource",
        "web-bbb-1",
    ];
    let out = run(&[&args[..], &["--namespace", "shop"]].concat());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read kubeconfig") && stderr.contains("kube/config.yaml"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}
