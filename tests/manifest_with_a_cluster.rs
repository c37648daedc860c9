//! The OpenClaw manifest's examples where they can succeed: the built-in configuration with
//! `staging` given a Kubernetes cluster, a containment policy, a Kubernetes log source and the
//! default environment, and a PagerDuty target. The cluster and the log API are FAKE Kubernetes
//! API servers (`support/fake_kube_api.rs`, `support/fake_kube.rs`: no kube-apiserver runs
//! here), PagerDuty a FAKE Events API v2 (`POST /v2/enqueue`, answered 202 as PagerDuty does).
//! Each example runs as written (through bash, REST against a real `serve --http`), as in
//! `manifest.rs`; here containments and recoveries answer pending plans whose targets are the
//! ones the defaults resolved, and a human's approval at a terminal applies one.

use crate::common;
use crate::fake::FakeKubeApi;
use crate::fake_kube::FakeKube;
use crate::kube_server::KubeServer;
use crate::manifest::{Ctx, Outcome, ROWS, Row, translate};

use std::sync::{Arc, Mutex};

use axum::{Json, Router, extract::State, http::StatusCode, routing::post};
use serde_json::{Value, json};

/// The routing key, derived from the suite-wide canary.
fn pd_key() -> String {
    common::secret("manifest-pagerduty-key")
}

/// A fake PagerDuty Events API v2: records each event, answers 202 like the real one.
struct PagerDuty {
    server: KubeServer,
    events: Arc<Mutex<Vec<Value>>>,
}

impl PagerDuty {
    fn start() -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(
                "/v2/enqueue",
                post(
                    |State(seen): State<Arc<Mutex<Vec<Value>>>>, Json(body): Json<Value>| async move {
                        let dedup = body["dedup_key"].clone();
                        seen.lock().unwrap().push(body);
                        (
                            StatusCode::ACCEPTED,
                            Json(json!({ "status": "success", "message": "Event processed", "dedup_key": dedup })),
                        )
                    },
                ),
            )
            .with_state(events.clone());
        Self {
            server: KubeServer::start(app),
            events,
        }
    }
}

/// Deployment `api` (revision 2, three ready replicas) in namespace `shop`, its ReplicaSets for
/// revisions 1 and 2, its pods (the staging sample's api-1..3, and the manifest's k8s-pod and
/// pod-123), and the nodes they run on.
fn seed_shop(f: &FakeKubeApi) {
    let owner = |kind: &str, name: &str| json!([{ "apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true }]);
    let template = |image: &str, hash: Option<&str>| {
        let mut labels = json!({ "app": "api" });
        if let Some(h) = hash {
            labels["pod-template-hash"] = json!(h);
        }
        json!({ "metadata": { "labels": labels }, "spec": { "containers": [{ "name": "app", "image": image }] } })
    };
    f.put(json!({ "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "api", "namespace": "shop", "labels": { "app": "api" },
                      "annotations": { "deployment.kubernetes.io/revision": "2" } },
        "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "api" } }, "template": template("api:2", None) },
        "status": { "replicas": 3, "readyReplicas": 3, "availableReplicas": 3, "updatedReplicas": 3 } }));
    for (rs, rev, image) in [("api-aaa", "1", "api:1"), ("api-bbb", "2", "api:2")] {
        let hash = rs.trim_start_matches("api-");
        f.put(json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": { "name": rs, "namespace": "shop", "labels": { "app": "api", "pod-template-hash": hash },
                          "annotations": { "deployment.kubernetes.io/revision": rev }, "ownerReferences": owner("Deployment", "api") },
            "spec": { "replicas": if rev == "2" { 3 } else { 0 },
                      "selector": { "matchLabels": { "app": "api", "pod-template-hash": hash } },
                      "template": template(image, Some(hash)) },
            "status": { "replicas": 3, "readyReplicas": 3 } }));
    }
    for (i, (pod, node)) in [
        ("api-1", "node-a"),
        ("api-2", "node-b"),
        ("api-3", "node-a"),
        ("k8s-pod", "node-b"),
        ("pod-123", "node-b"),
    ]
    .into_iter()
    .enumerate()
    {
        f.put(json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": pod, "namespace": "shop",
                          "labels": { "app": "api", "pod-template-hash": "bbb" }, "ownerReferences": owner("ReplicaSet", "api-bbb") },
            "spec": { "nodeName": node, "containers": [{ "name": "app", "image": "api:2" }] },
            "status": { "phase": "Running", "podIP": format!("10.1.0.{}", i + 1),
                        "conditions": [{ "type": "Ready", "status": "True" }] } }));
    }
    for node in ["node-a", "node-b"] {
        f.put(json!({ "apiVersion": "v1", "kind": "Node",
            "metadata": { "name": node, "labels": { "kubernetes.io/hostname": node } },
            "status": { "conditions": [{ "type": "Ready", "status": "True" }] } }));
    }
}

/// The built-in configuration, `staging` as the default environment with a cluster, a policy
/// and a Kubernetes log source, and a PagerDuty target.
fn config(dir: &std::path::Path, kube: &FakeKubeApi, logs: &FakeKube, pd: &PagerDuty) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("kube")).unwrap();
    std::fs::copy(kube.kubeconfig(), dir.join("kube/cluster.yaml")).unwrap();
    std::fs::copy(logs.kubeconfig(), dir.join("kube/logs.yaml")).unwrap();
    let extra = format!(
        r#"
[environments.staging.cluster]
kubeconfig = "kube/cluster.yaml"

[environments.staging.policy]
allowed_actions = ["isolate", "pause", "cordon", "rollback", "restore", "revert"]
allowed_namespaces = ["shop"]
resource_patterns = ["api*", "k8s-pod", "pod-123", "node-*"]
max_pods_per_action = 10
max_destructive_per_incident = 10
max_destructive_per_hour = 50

[[environments.staging.sources]]
name = "web-pods"
kind = "k8s-logs"
namespace = "shop"
label_selector = "app=web"
container = "app"
kubeconfig = "kube/logs.yaml"
initial_lookback_secs = 315360000

[notify]
allow_insecure_loopback = true
[notify.pagerduty]
events_url = "{}/v2/enqueue"
"#,
        pd.server.url
    );
    let toml = incident_mcp::config::EXAMPLE_TOML.replace("default_env = \"dev\"", "default_env = \"staging\"");
    assert!(toml.contains("default_env = \"staging\""));
    let path = dir.join("incident.toml");
    std::fs::write(&path, format!("{toml}{extra}")).unwrap();
    path
}

/// A manifest row of `manifest.rs` by its text.
fn row(manifest: &str) -> &'static Row {
    ROWS.iter()
        .find(|r| r.manifest == manifest)
        .expect("a row of manifest.rs")
}

/// A pending plan for the incident, with one change of `kind` named `name`; returns it.
fn pending<'a>(o: &'a Outcome, incident: &str, kind: &str, name: &str) -> &'a Value {
    let p = &o.json;
    assert_eq!(
        (&p["status"], &p["incident_id"]),
        (&json!("pending"), &json!(incident)),
        "{}",
        o.stdout
    );
    let c = p["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} change: {}", o.stdout));
    assert_eq!(c["name"], name, "{}", o.stdout);
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn the_examples_succeed_where_a_cluster_is_configured() {
    let kube = FakeKubeApi::start();
    seed_shop(&kube);
    let logs = FakeKube::start();
    logs.push("web-1", "2026-11-02T09:10:00Z", "GET /healthz 200");
    let pd = PagerDuty::start();
    let cfg_dir = tempfile::tempdir().unwrap();
    let cfg = config(cfg_dir.path(), &kube, &logs, &pd);
    let mut c = Ctx::new(Some(cfg));
    c.env.push(("PAGERSERVICE_KEY_FOR_TEST".into(), pd_key()));
    c.seed(0).await;
    c.start_server().await;
    let shell = |text: &str| c.bash(&translate(text));

    // As with the built-in configuration: INC-000123, the egress spike on api-3.
    c.run_row(row("openclaw incident detect --env staging --type network"))
        .await;

    let o = shell("openclaw incident contain --id 123 --action isolate");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let np = pending(&o, "INC-000123", "NetworkPolicy", "incident-mcp-isolate-api-3");
    assert_eq!(np["namespace"], "shop");
    assert_eq!(o.json["target"], "api-3");

    let o = shell("openclaw incident contain --id 123 --scope cluster");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let cordon = pending(&o, "INC-000123", "Node", "node-a");
    assert_eq!(cordon["body"], json!({ "spec": { "unschedulable": true } }));

    // No incident: a declared one in the default environment (staging); "pausing a pod" pauses
    // its Deployment, in the policy's only namespace.
    let o = shell("openclaw incident contain --resource pod-123 --action pause");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let declared = o.json["incident_id"].as_str().unwrap().to_owned();
    assert_eq!(c.incident(&declared)["env"], "staging");
    let pause = pending(&o, &declared, "Deployment", "api");
    assert_eq!(pause["body"]["spec"]["replicas"], 0);
    assert_eq!(o.json["blast_radius"]["workloads"], json!(["deployment/api"]));

    // A human pauses the Deployment for INC-000123 (approved at a terminal, then applied), so
    // `recover --backup latest` has something to restore.
    let o = shell("incident-mcp contain --id 123 --action pause --format json");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let plan = o.json["plan_id"].as_str().unwrap().to_owned();
    let mut approve = c.command(common::bin());
    approve.args(["approve", &plan]).env("USER", "alice");
    let (code, _, err) = common::at_terminal(approve, o.json["target"].as_str().unwrap());
    assert_eq!(code, 0, "{err}");
    let o = shell(&format!("incident-mcp apply {plan}"));
    assert_eq!((o.code, &o.json["status"]), (0, &json!("applied")), "{}", o.stderr);
    assert_eq!(c.incident("INC-000123")["status"], "contained");

    let o = shell("openclaw incident recover --id 123 --backup latest");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let restore = pending(&o, "INC-000123", "Deployment", "api");
    assert_eq!(restore["body"]["spec"]["replicas"], 3, "the replicas pause recorded");

    // INC-000456 (app-vuln, Deployment api) from the inputs file, as with the built-in config.
    c.run_row(row(
        r#"{"env": "staging", "types": ["app-vuln", "network"]} in a file passed via --config path/to/config.json"#,
    ))
    .await;
    let o = shell("openclaw incident recover --id 456 --method rollback --backup latest");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let rollback = pending(&o, "INC-000456", "Deployment", "api");
    assert_eq!(
        rollback["body"]["spec"]["template"]["spec"]["containers"][0]["image"], "api:1",
        "latest: the revision before the current one"
    );

    // INC-000789 (CPU saturation on api-1) from the manifest's Bash snippet.
    c.seed(788).await;
    let o = shell(crate::manifest::BASH_PATTERN);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = shell("openclaw incident contain --id 789 --action isolate --resource k8s-pod");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let np = pending(&o, "INC-000789", "NetworkPolicy", "incident-mcp-isolate-k8s-pod");
    assert_eq!(np["namespace"], "shop");
    let o = shell("openclaw incident recover --id 789 --method rollback");
    assert_eq!(o.code, 0, "{}", o.stderr);
    pending(&o, "INC-000789", "Deployment", "api");

    // REST.
    let o = c
        .rest(
            "PUT",
            "/api/incident/contain/123",
            Some(r#"{ "action": "isolate", "resource": "pod-123" }"#),
            true,
        )
        .await;
    assert_eq!(o.code, 202, "{}", o.stdout);
    pending(&o, "INC-000123", "NetworkPolicy", "incident-mcp-isolate-pod-123");
    // The Kubernetes backend's backups are revisions and the replicas pause recorded: a named
    // snapshot is refused, saying what is accepted.
    let o = c
        .rest(
            "POST",
            "/api/incident/recover/456",
            Some(r#"{ "method": "rollback", "backup_id": "snapshot-abc" }"#),
            true,
        )
        .await;
    assert_eq!(
        (o.code, &o.json["error_code"]),
        (400, &json!("invalid_argument")),
        "{}",
        o.stdout
    );
    assert!(
        o.json["error"].as_str().unwrap().contains("revision number"),
        "{}",
        o.stdout
    );
    // No id: the contained incident, INC-000123.
    let o = c
        .rest(
            "POST",
            "/api/incident/recover",
            Some(r#"{"backup_id": "latest"}"#),
            true,
        )
        .await;
    assert_eq!(o.code, 202, "{}", o.stdout);
    pending(&o, "INC-000123", "Deployment", "api");
    let o = c
        .rest(
            "POST",
            "/api/incident/recover",
            Some(r#"{"backup_id": "snapshot-456"}"#),
            true,
        )
        .await;
    assert_eq!(
        (o.code, &o.json["error_code"]),
        (400, &json!("invalid_argument")),
        "{}",
        o.stdout
    );
    assert!(o.json["error"].as_str().unwrap().contains("`latest`"), "{}", o.stdout);
    // No env: the default (staging); `k8s-logs` names the source kind.
    let o = c
        .rest(
            "POST",
            "/api/incident/detect",
            Some(r#"{"source": "k8s-logs", "threshold": 0.8}"#),
            true,
        )
        .await;
    assert_eq!(o.code, 200, "{}", o.stdout);
    assert_eq!(o.json["env"], "staging");
    let scanned: Vec<&Value> = o.json["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["name"])
        .collect();
    assert_eq!(scanned, [&json!("web-pods")]);

    // PagerDuty, about the current incident (the contained INC-000123).
    let o = c.bash(
        "export PAGERSERVICE_KEY=$PAGERSERVICE_KEY_FOR_TEST
incident-mcp notify --service pagerduty",
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let events = pd.events.lock().unwrap().clone();
    assert_eq!(events.len(), 1, "events sent to PagerDuty");
    assert!(
        events[0]["routing_key"] == pd_key(),
        "the routing key from PAGERSERVICE_KEY"
    );
    assert_eq!(events[0]["dedup_key"], "incident-mcp-INC-000123");
}
