//! Fixtures of tests/kube_backend.rs: a small shop (Deployment `web` at revision 2 with its two
//! ReplicaSets and three pods on node `node-a`, StatefulSet `db`) and request helpers.

use std::{collections::BTreeMap, time::Duration};

use incident_mcp::{
    cluster::{ActionSpec, Backend, BackendPlan, Change, DryRun, kube::KubeBackend},
    domain::policy::{Action, Policy, PolicyConfig},
};
use serde_json::{Value, json};

use crate::fake::{FakeKubeApi, Request};

pub const POD: &str = "/api/v1/namespaces/shop/pods/web-bbb-1";
pub const DEPLOY: &str = "/apis/apps/v1/namespaces/shop/deployments/web";
pub const NETPOLS: &str = "/apis/networking.k8s.io/v1/namespaces/shop/networkpolicies";
pub const NODE: &str = "/api/v1/nodes/node-a";

pub fn template(image: &str, hash: Option<&str>) -> Value {
    let mut labels = json!({ "app": "web" });
    if let Some(h) = hash {
        labels["pod-template-hash"] = json!(h);
    }
    json!({ "metadata": { "creationTimestamp": null, "labels": labels },
            "spec": { "containers": [{ "name": "app", "image": image, "resources": {} }] } })
}

pub fn seed(f: &FakeKubeApi) {
    let owner = |kind: &str, name: &str| {
        json!([{ "apiVersion": "apps/v1", "kind": kind, "name": name,
                                                  "uid": format!("uid-{name}"), "controller": true }])
    };
    f.put(json!({ "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": { "name": "web", "namespace": "shop", "labels": { "app": "web" },
                      "annotations": { "deployment.kubernetes.io/revision": "2" } },
        "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web" } }, "template": template("web:2", None) },
        "status": { "replicas": 3, "readyReplicas": 3, "availableReplicas": 3 } }));
    for (rs, rev, image) in [("web-aaa", "1", "web:1"), ("web-bbb", "2", "web:2")] {
        let hash = rs.trim_start_matches("web-");
        f.put(json!({ "apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": { "name": rs, "namespace": "shop", "labels": { "app": "web", "pod-template-hash": hash },
                          "annotations": { "deployment.kubernetes.io/revision": rev }, "ownerReferences": owner("Deployment", "web") },
            "spec": { "replicas": if rev == "2" { 3 } else { 0 },
                      "selector": { "matchLabels": { "app": "web", "pod-template-hash": hash } },
                      "template": template(image, Some(hash)) },
            "status": { "replicas": 3, "readyReplicas": 3 } }));
    }
    for i in 1..=3 {
        f.put(json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": format!("web-bbb-{i}"), "namespace": "shop",
                          "labels": { "app": "web", "pod-template-hash": "bbb" }, "ownerReferences": owner("ReplicaSet", "web-bbb") },
            "spec": { "nodeName": "node-a", "containers": [{ "name": "app", "image": "web:2" }] },
            "status": { "phase": "Running", "podIP": format!("10.1.0.{i}"),
                        "conditions": [{ "type": "Ready", "status": "True" }] } }));
    }
    f.put(json!({ "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": { "name": "db", "namespace": "shop", "labels": { "app": "db" } },
        "spec": { "replicas": 2, "serviceName": "db", "selector": { "matchLabels": { "app": "db" } }, "template": template("db:1", None) },
        "status": { "replicas": 2, "readyReplicas": 2 } }));
    f.put(json!({ "apiVersion": "v1", "kind": "Node",
        "metadata": { "name": "node-a", "labels": { "kubernetes.io/hostname": "node-a" } },
        "spec": { "podCIDR": "10.1.0.0/24" }, "status": { "conditions": [{ "type": "Ready", "status": "True" }] } }));
}

pub async fn setup() -> (FakeKubeApi, KubeBackend) {
    let f = FakeKubeApi::start();
    seed(&f);
    let b = KubeBackend::connect(Some(&f.kubeconfig()), None, Duration::from_secs(5))
        .await
        .expect("client");
    (f, b)
}

pub fn policy() -> Policy {
    Policy::try_from(PolicyConfig {
        allowed_actions: Action::ALL.to_vec(),
        allowed_namespaces: vec!["shop".into()],
        resource_patterns: vec!["web*".into(), "db".into(), "node-*".into(), "incident-mcp-*".into()],
        ..PolicyConfig::default()
    })
    .expect("policy")
}

pub fn spec(action: Action, ns: Option<&str>, resource: &str) -> ActionSpec {
    ActionSpec {
        env: "prod".into(),
        incident: "inc-42".into(),
        action,
        namespace: ns.map(str::to_owned),
        resource: resource.into(),
        params: BTreeMap::new(),
    }
}

/// (method, path, query as `k=v&..` sorted) of each request.
pub fn calls(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .map(|r| {
            let q: Vec<String> = r.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{} {}?{}", r.method, r.path, q.join("&"))
        })
        .collect()
}

/// Planning must be reads and dry runs only.
pub fn assert_no_mutation(reqs: &[Request]) {
    let bad: Vec<_> = reqs.iter().filter(|r| r.is_mutating() && !r.is_dry_run()).collect();
    assert!(bad.is_empty(), "mutating requests without dryRun: {bad:#?}");
}

pub async fn plan_ok(f: &FakeKubeApi, b: &KubeBackend, s: &ActionSpec) -> BackendPlan {
    f.take_requests();
    let p = b.plan(s).await.expect("plan");
    assert_eq!(p.dry_run, DryRun::Passed, "{p:#?}");
    p
}

pub fn body(c: &Change) -> &Value {
    match c {
        Change::Kube { body: Some(b), .. } => b,
        other => panic!("no body in {other:?}"),
    }
}

pub fn outcomes(v: &[Value]) -> Vec<&str> {
    v.iter().map(|o| o["result"].as_str().unwrap()).collect()
}
