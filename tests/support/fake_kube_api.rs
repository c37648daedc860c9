//! A FAKE Kubernetes API server for the Kubernetes response backend's tests. No kube-apiserver
//! binary can be installed here, so this in-process axum server stands in for it; the client
//! side is the real `kube` client. It keeps objects by their REST path and follows the API's
//! rules for the calls the backend makes:
//! - GET object / LIST collection (`labelSelector` equality terms; `fieldSelector` equality terms
//!   on the fields the API indexes for the kind: `spec.nodeName` of pods, `involvedObject.name`,
//!   `involvedObject.kind`, `reason` and `type` of events, `metadata.name` of all, anything else
//!   400 "field label not supported"; `limit` with a `continue` token and `remainingItemCount`
//!   when more remain), lists are `{Kind}List` with items without `kind`/`apiVersion`, as the
//!   API sends them, in namespace/name order;
//! - POST (create, `application/json`): 409 `AlreadyExists`, namespace mismatch 400, 201 on success;
//! - PATCH with `application/merge-patch+json`, `application/strategic-merge-patch+json` (maps only:
//!   a list in a strategic patch is answered 400 rather than merged wrongly) or
//!   `application/apply-patch+yaml` (needs `fieldManager`); a `metadata.resourceVersion` in the
//!   patch is an optimistic-concurrency precondition (409 `Conflict`); a patch that changes
//!   nothing leaves `resourceVersion` alone; a changed `spec` bumps `metadata.generation`;
//! - DELETE with `DeleteOptions` body (`preconditions.resourceVersion` → 409 `Conflict`);
//! - `dryRun=All` (query, or `dryRun: ["All"]` in DeleteOptions) validates and answers without
//!   storing anything.
//!
//! Every request is recorded (method, path, query, content type, body) before it is checked.
//! Unknown query parameters, a `fieldManager` other than `incident-mcp` on a write, and a missing
//! bearer token are refused (400/401) with `Status` bodies. `forbid` answers one verb+path 403,
//! `fail` 500.

use std::{
    collections::BTreeMap,
    sync::{Arc, LazyLock, Mutex},
};

use axum::Router;
use serde_json::{Value, json};

mod handler;

use crate::kube_server;
use kube_server::KubeServer;

use crate::canary_value;

/// The bearer token, derived from the suite-wide canary.
pub static TOKEN: LazyLock<String> = LazyLock::new(|| canary_value::secret("kube-api-token"));
pub const FIELD_MANAGER: &str = "incident-mcp";

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: BTreeMap<String, String>,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Request {
    pub fn is_dry_run(&self) -> bool {
        self.query.get("dryRun").map(String::as_str) == Some("All") || self.body.get("dryRun") == Some(&json!(["All"]))
    }
    pub fn is_mutating(&self) -> bool {
        self.method != "GET"
    }
}

#[derive(Default)]
struct Inner {
    objects: BTreeMap<String, Value>,
    requests: Vec<Request>,
    forbidden: Vec<(String, String)>,
    failing: Vec<(String, String)>,
    rv: u64,
}

type Shared = Arc<Mutex<Inner>>;

pub struct FakeKubeApi {
    pub url: String,
    state: Shared,
    server: KubeServer,
}

/// (group/version prefix, kind, namespaced) of each plural this server knows.
fn resource(plural: &str) -> Option<(&'static str, &'static str, bool)> {
    Some(match plural {
        "pods" => ("/api/v1", "Pod", true),
        "nodes" => ("/api/v1", "Node", false),
        "deployments" => ("/apis/apps/v1", "Deployment", true),
        "statefulsets" => ("/apis/apps/v1", "StatefulSet", true),
        "replicasets" => ("/apis/apps/v1", "ReplicaSet", true),
        "networkpolicies" => ("/apis/networking.k8s.io/v1", "NetworkPolicy", true),
        "services" => ("/api/v1", "Service", true),
        "events" => ("/api/v1", "Event", true),
        "daemonsets" => ("/apis/apps/v1", "DaemonSet", true),
        "jobs" => ("/apis/batch/v1", "Job", true),
        "cronjobs" => ("/apis/batch/v1", "CronJob", true),
        _ => return None,
    })
}

fn group_suffix(prefix: &str) -> &str {
    prefix
        .strip_prefix("/apis/")
        .map_or("", |g| g.split('/').next().unwrap_or(""))
}

/// The REST path of an object.
pub fn path_of(obj: &Value) -> String {
    let plural = match obj["kind"].as_str().expect("kind") {
        "Pod" => "pods",
        "Node" => "nodes",
        "Deployment" => "deployments",
        "StatefulSet" => "statefulsets",
        "ReplicaSet" => "replicasets",
        "NetworkPolicy" => "networkpolicies",
        "Service" => "services",
        "Event" => "events",
        "DaemonSet" => "daemonsets",
        "Job" => "jobs",
        "CronJob" => "cronjobs",
        k => panic!("unknown kind {k}"),
    };
    let (prefix, _, namespaced) = resource(plural).unwrap();
    let name = obj["metadata"]["name"].as_str().expect("name");
    match namespaced {
        true => format!(
            "{prefix}/namespaces/{}/{plural}/{name}",
            obj["metadata"]["namespace"].as_str().expect("ns")
        ),
        false => format!("{prefix}/{plural}/{name}"),
    }
}

impl FakeKubeApi {
    pub fn start() -> Self {
        let state = Shared::default();
        let app = Router::new().fallback(handler::handle).with_state(state.clone());
        let server = KubeServer::start(app);
        Self {
            url: server.url.clone(),
            state,
            server,
        }
    }

    /// Writes a kubeconfig for this server (bearer token `TOKEN`) and returns its path.
    pub fn kubeconfig(&self) -> std::path::PathBuf {
        self.server.kubeconfig(&TOKEN)
    }

    /// Stores an object as if created earlier, filling uid/resourceVersion/creationTimestamp.
    pub fn put(&self, mut obj: Value) {
        let mut st = self.state.lock().unwrap();
        st.rv += 1;
        let uid = format!("uid-{}", obj["metadata"]["name"].as_str().expect("name"));
        let meta = obj["metadata"].as_object_mut().expect("metadata");
        meta.entry("uid").or_insert(json!(uid));
        meta.insert("resourceVersion".into(), json!(st.rv.to_string()));
        meta.entry("creationTimestamp").or_insert(json!("2026-12-01T10:00:00Z"));
        meta.entry("generation").or_insert(json!(1));
        st.objects.insert(path_of(&obj), obj);
    }

    pub fn get(&self, path: &str) -> Option<Value> {
        self.state.lock().unwrap().objects.get(path).cloned()
    }

    /// An outside change: merges `patch` into the object and gives it a new resourceVersion.
    pub fn modify(&self, path: &str, patch: &Value) {
        let mut st = self.state.lock().unwrap();
        st.rv += 1;
        let rv = st.rv.to_string();
        let obj = st.objects.get_mut(path).expect("object");
        merge(obj, patch);
        obj["metadata"]["resourceVersion"] = json!(rv);
    }

    /// Answers `method path` with 403 Forbidden from now on.
    pub fn forbid(&self, method: &str, path: &str) {
        self.state.lock().unwrap().forbidden.push((method.into(), path.into()));
    }

    /// Answers `method path` with 500 InternalError from now on (an apiserver whose etcd is down).
    pub fn fail(&self, method: &str, path: &str) {
        self.state.lock().unwrap().failing.push((method.into(), path.into()));
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn take_requests(&self) -> Vec<Request> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    pub fn shutdown(&mut self) {
        self.server.shutdown();
    }
}

/// RFC 7386 merge patch.
pub fn merge(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if v.is_null() {
            t.remove(k);
        } else {
            merge(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}
