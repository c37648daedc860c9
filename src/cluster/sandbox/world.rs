//! The world a sandbox starts with: a small cluster matching the built-in `dev` environment's
//! sample telemetry (`examples/dev-events.jsonl`). Namespace `shop` runs Deployment `web`
//! (pods `web-1` and `web-7` on `node-a`, `web-2` on `node-b`; `web-7` is the egress spike) at
//! revision 2 with revision 1 still on record (for rollback), and Deployment `shop-frontend`
//! (the 5xx access logs). Namespace `bastion` runs StatefulSet `bastion` (pods `bastion-0` and
//! `bastion-1`, the SSH host the brute force from 203.0.113.9 hits). Every object is annotated
//! `incident-mcp/simulated: "true"`.

use serde_json::{Value, json};

use super::{SIMULATED_ANNOTATION, key};
use crate::store::SandboxKey;

const REVISION: &str = "deployment.kubernetes.io/revision";

fn meta(name: &str, namespace: Option<&str>, labels: Value) -> Value {
    let mut m = json!({
        "name": name, "labels": labels, "uid": format!("sandbox-{}", name),
        "annotations": { SIMULATED_ANNOTATION: "true" },
    });
    if let Some(ns) = namespace {
        m["namespace"] = json!(ns);
        m["uid"] = json!(format!("sandbox-{ns}-{name}"));
    }
    m
}

fn owner(kind: &str, name: &str, ns: &str) -> Value {
    json!([{ "apiVersion": "apps/v1", "kind": kind, "name": name, "uid": format!("sandbox-{ns}-{name}"),
             "controller": true }])
}

fn template(app: &str, image: &str, extra: Value) -> Value {
    let mut labels = json!({ "app": app });
    if let (Some(l), Some(e)) = (labels.as_object_mut(), extra.as_object()) {
        l.extend(e.clone());
    }
    json!({ "metadata": { "labels": labels }, "spec": { "containers": [{ "name": app, "image": image }] } })
}

fn workload(kind: &str, ns: &str, name: &str, replicas: u32, revision: u32, image: &str, extra: Value) -> Value {
    let mut m = meta(name, Some(ns), json!({ "app": name }));
    m["generation"] = json!(1);
    if kind == "Deployment" {
        m["annotations"][REVISION] = json!(revision.to_string());
    }
    json!({
        "apiVersion": "apps/v1", "kind": kind, "metadata": m,
        "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": name } },
                  "template": template(name, image, extra) },
        "status": { "observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas,
                    "availableReplicas": replicas, "updatedReplicas": replicas },
    })
}

fn replica_set(ns: &str, deployment: &str, hash: &str, revision: u32, replicas: u32, image: &str) -> Value {
    let name = format!("{deployment}-{hash}");
    let mut m = meta(&name, Some(ns), json!({ "app": deployment, "pod-template-hash": hash }));
    m["annotations"][REVISION] = json!(revision.to_string());
    m["ownerReferences"] = owner("Deployment", deployment, ns);
    json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": m,
        "spec": { "replicas": replicas, "selector": { "matchLabels": { "app": deployment, "pod-template-hash": hash } },
                  "template": template(deployment, image, json!({ "pod-template-hash": hash })) },
        "status": { "replicas": replicas, "readyReplicas": replicas },
    })
}

/// A running, ready pod owned by `owner_kind/owner_name`.
pub(super) fn pod(ns: &str, name: &str, labels: Value, owner_ref: (&str, &str), node: &str, ip: &str) -> Value {
    let mut m = meta(name, Some(ns), labels);
    m["ownerReferences"] = owner(owner_ref.0, owner_ref.1, ns);
    json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": m,
        "spec": { "nodeName": node },
        "status": { "phase": "Running", "podIP": ip,
                    "conditions": [{ "type": "Ready", "status": "True" }] },
    })
}

fn node(name: &str, ip: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": meta(name, None, json!({ "kubernetes.io/hostname": name })),
        "spec": { "unschedulable": false },
        "status": { "addresses": [{ "type": "InternalIP", "address": ip }] },
    })
}

fn namespace(name: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Namespace",
            "metadata": meta(name, None, json!({ "kubernetes.io/metadata.name": name })) })
}

/// The objects of a fresh sandbox, keyed.
pub fn seed() -> Vec<(SandboxKey, Value)> {
    let web = |hash: &str| json!({ "app": "web", "pod-template-hash": hash });
    let web_rs = ("ReplicaSet", "web-7c9d6f5b8");
    let fe_rs = ("ReplicaSet", "shop-frontend-6b7f8c9d5");
    let fe = json!({ "app": "shop-frontend", "pod-template-hash": "6b7f8c9d5" });
    let bastion = json!({ "app": "bastion", "service": "sshd" });
    let objects = vec![
        namespace("shop"),
        namespace("bastion"),
        node("node-a", "10.0.0.11"),
        node("node-b", "10.0.0.12"),
        workload(
            "Deployment",
            "shop",
            "web",
            3,
            2,
            "registry.example/shop/web:1.4.2",
            json!({}),
        ),
        replica_set("shop", "web", "5d8c7b9f4", 1, 0, "registry.example/shop/web:1.4.1"),
        replica_set("shop", "web", "7c9d6f5b8", 2, 3, "registry.example/shop/web:1.4.2"),
        pod("shop", "web-1", web("7c9d6f5b8"), web_rs, "node-a", "10.0.1.11"),
        pod("shop", "web-2", web("7c9d6f5b8"), web_rs, "node-b", "10.0.2.12"),
        pod("shop", "web-7", web("7c9d6f5b8"), web_rs, "node-a", "10.0.1.17"),
        workload(
            "Deployment",
            "shop",
            "shop-frontend",
            2,
            1,
            "registry.example/shop/frontend:2.3.0",
            json!({}),
        ),
        replica_set(
            "shop",
            "shop-frontend",
            "6b7f8c9d5",
            1,
            2,
            "registry.example/shop/frontend:2.3.0",
        ),
        pod(
            "shop",
            "shop-frontend-6b7f8c9d5-x2k9p",
            fe.clone(),
            fe_rs,
            "node-a",
            "10.0.1.21",
        ),
        pod(
            "shop",
            "shop-frontend-6b7f8c9d5-q7m4n",
            fe,
            fe_rs,
            "node-b",
            "10.0.2.22",
        ),
        workload(
            "StatefulSet",
            "bastion",
            "bastion",
            2,
            1,
            "registry.example/ops/bastion:9.6",
            json!({ "service": "sshd" }),
        ),
        pod(
            "bastion",
            "bastion-0",
            bastion.clone(),
            ("StatefulSet", "bastion"),
            "node-b",
            "10.0.2.30",
        ),
        pod(
            "bastion",
            "bastion-1",
            bastion,
            ("StatefulSet", "bastion"),
            "node-b",
            "10.0.2.31",
        ),
    ];
    objects
        .into_iter()
        .map(|o| {
            let m = &o["metadata"];
            let k = key(
                o["kind"].as_str().unwrap_or_default(),
                m["namespace"].as_str(),
                m["name"].as_str().unwrap_or_default(),
            );
            (k, o)
        })
        .collect()
}
