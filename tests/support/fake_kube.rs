//! A FAKE Kubernetes API server for black-box tests of `kind = "k8s-logs"` (no kube-apiserver can
//! run here). It serves the two public endpoints the source uses, with the real shapes:
//! - `GET /api/v1/namespaces/{ns}/pods?labelSelector=..` → a `v1` `PodList`;
//! - `GET /api/v1/namespaces/{ns}/pods/{name}/log?timestamps=true&container=..&limitBytes=..&(sinceTime|sinceSeconds)=..`
//!   → `text/plain` lines `RFC3339Nano message`; `sinceTime` counts whole seconds, so lines of that
//!   second are sent again, as the kubelet does; `limitBytes` cuts the output, mid-line if need be.
//!
//! Unexpected or missing query parameters and a missing bearer token are answered 400/401 with a
//! `Status` body, so a client that builds the wrong request fails the test. `fail_with` makes
//! every request fail with a `Status` of that code (500 InternalError, 403 Forbidden).

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, LazyLock, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Utc};
use serde_json::json;

use crate::kube_server;
use kube_server::KubeServer;

use crate::canary_value;

/// The bearer token, derived from the suite-wide canary.
pub static TOKEN: LazyLock<String> = LazyLock::new(|| canary_value::secret("kube-logs-token"));

#[derive(Default)]
struct Inner {
    /// pod → (timestamp as sent, parsed, message)
    logs: BTreeMap<String, Vec<(String, DateTime<Utc>, String)>>,
    /// (pod, the since parameter as `name=value`) per log request
    requests: Vec<(String, String)>,
    /// (method, path) of every request, as the API server received it
    calls: Vec<(String, String)>,
    fail: Option<u16>,
}

type Shared = Arc<Mutex<Inner>>;

pub struct FakeKube {
    pub url: String,
    state: Shared,
    server: KubeServer,
}

impl FakeKube {
    pub fn start() -> Self {
        let state = Shared::default();
        let app = Router::new()
            .route("/api/v1/namespaces/{ns}/pods", get(list_pods))
            .route("/api/v1/namespaces/{ns}/pods/{name}/log", get(pod_log))
            .fallback(|| async { status(404, "NotFound", "the server could not find the requested resource") })
            .with_state(state.clone());
        let server = KubeServer::start(app);
        Self {
            url: server.url.clone(),
            state,
            server,
        }
    }

    /// Appends a log line to a pod (creating the pod); `ts` is RFC3339Nano.
    pub fn push(&self, pod: &str, ts: &str, message: &str) {
        let parsed = DateTime::parse_from_rfc3339(ts).expect("RFC3339").with_timezone(&Utc);
        let mut st = self.state.lock().unwrap();
        st.logs
            .entry(pod.into())
            .or_default()
            .push((ts.into(), parsed, message.into()));
    }

    /// The log requests since the last call: (pod, `sinceTime=..` or `sinceSeconds=..`).
    pub fn take_log_requests(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.state.lock().unwrap().requests)
    }

    /// (method, path) of every request since the last call.
    pub fn take_calls(&self) -> Vec<(String, String)> {
        std::mem::take(&mut self.state.lock().unwrap().calls)
    }

    pub fn fail_with(&self, code: u16) {
        self.state.lock().unwrap().fail = Some(code);
    }

    /// Writes a kubeconfig for this server (bearer token `TOKEN`) and returns its path.
    pub fn kubeconfig(&self) -> String {
        self.server.kubeconfig(&TOKEN).display().to_string()
    }
}

impl FakeKube {
    /// Stops the server and waits until its port is closed (the kubeconfig stays).
    pub fn shutdown(&mut self) {
        self.server.shutdown();
    }
}

fn status(code: u16, reason: &str, message: &str) -> Response {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
}

/// The injected failure, a missing token, or a namespace other than `shop`.
fn refuse(st: &Inner, headers: &HeaderMap, ns: &str) -> Option<Response> {
    match st.fail {
        Some(403) => {
            return Some(status(
                403,
                "Forbidden",
                "pods is forbidden: User \"system:serviceaccount:ops:reader\" cannot list resource \"pods\" in API group \"\" in the namespace \"shop\"",
            ));
        }
        Some(code) => return Some(status(code, "InternalError", "etcdserver: request timed out")),
        None => {}
    }
    if headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {}", *TOKEN)) {
        return Some(status(401, "Unauthorized", "Unauthorized"));
    }
    (ns != "shop").then(|| status(404, "NotFound", &format!("namespaces \"{ns}\" not found")))
}

async fn list_pods(
    State(st): State<Shared>,
    Path(ns): Path<String>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut st = st.lock().unwrap();
    st.calls.push(("GET".into(), format!("/api/v1/namespaces/{ns}/pods")));
    if let Some(r) = refuse(&st, &headers, &ns) {
        return r;
    }
    if q.get("labelSelector").map(String::as_str) != Some("app=web") || q.len() != 1 {
        return status(
            400,
            "BadRequest",
            &format!("expected only labelSelector=app=web, got {q:?}"),
        );
    }
    let items: Vec<_> = st
        .logs
        .keys()
        .map(|name| {
            json!({
                "metadata": { "name": name, "namespace": ns, "uid": format!("uid-{name}"),
                              "resourceVersion": "101", "labels": { "app": "web" } },
                "spec": { "containers": [ { "name": "app", "image": "registry.example/web:1" },
                                          { "name": "sidecar", "image": "registry.example/proxy:1" } ] },
                "status": { "phase": "Running", "podIP": "10.1.0.7" }
            })
        })
        .collect();
    Json(json!({ "kind": "PodList", "apiVersion": "v1", "metadata": { "resourceVersion": "101" }, "items": items }))
        .into_response()
}

async fn pod_log(
    State(st): State<Shared>,
    Path((ns, pod)): Path<(String, String)>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut st = st.lock().unwrap();
    st.calls
        .push(("GET".into(), format!("/api/v1/namespaces/{ns}/pods/{pod}/log")));
    if let Some(r) = refuse(&st, &headers, &ns) {
        return r;
    }
    let known = ["timestamps", "container", "limitBytes", "sinceTime", "sinceSeconds"];
    let ok = q.keys().all(|k| known.contains(&k.as_str()))
        && q.get("timestamps").map(String::as_str) == Some("true")
        && q.get("container").map(String::as_str) == Some("app")
        && q.get("limitBytes")
            .is_some_and(|b| b.parse::<u64>().is_ok_and(|b| b > 0))
        && (q.contains_key("sinceTime") != q.contains_key("sinceSeconds"));
    if !ok {
        return status(400, "BadRequest", &format!("unexpected log query {q:?}"));
    }
    let since = match (q.get("sinceTime"), q.get("sinceSeconds")) {
        (Some(t), _) => match DateTime::parse_from_rfc3339(t) {
            // sinceTime is a metav1.Time: whole seconds, RFC 3339 with a Z.
            Ok(p) if t.ends_with('Z') && !t.contains('.') => {
                st.requests.push((pod.clone(), format!("sinceTime={t}")));
                Some(p.with_timezone(&Utc))
            }
            _ => {
                return status(
                    400,
                    "BadRequest",
                    &format!("sinceTime {t} is not RFC 3339 in whole seconds"),
                );
            }
        },
        (None, Some(s)) => match s.parse::<i64>() {
            Ok(secs) if secs > 0 => {
                st.requests.push((pod.clone(), format!("sinceSeconds={s}")));
                Some(Utc::now() - chrono::Duration::seconds(secs))
            }
            _ => {
                return status(
                    400,
                    "BadRequest",
                    &format!("sinceSeconds {s} is not a positive integer"),
                );
            }
        },
        (None, None) => unreachable!("checked above"),
    };
    let Some(lines) = st.logs.get(&pod) else {
        return status(404, "NotFound", &format!("pods \"{pod}\" not found"));
    };
    let body: String = lines
        .iter()
        .filter(|(_, t, _)| since.is_none_or(|s| *t >= s))
        .map(|(raw, _, m)| format!("{raw} {m}\n"))
        .collect();
    // limitBytes cuts the output at that many bytes, mid-line (even mid-character) if need be.
    let mut body = body.into_bytes();
    body.truncate(q["limitBytes"].parse().expect("checked above"));
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
