//! `/metrics` for Prometheus (OpenMetrics text) on the main listener and on a listener of its
//! own (`--metrics-addr`, for stdio and `watch` deployments), and the recording of every HTTP
//! request: route template and method (never the raw path), outcome, latency.
//!
//! **Who may scrape.** `/metrics` never asks for the agent's key (`OPENCLAW_API_KEY`): a
//! scraper holding it could call every tool. When `INCIDENT_MCP_METRICS_KEY` is set, both
//! listeners answer `/metrics` only with `Authorization: Bearer <that key>` (Prometheus:
//! `authorization: { credentials_file: ... }`); unset, `/metrics` is open, like `/healthz`.
//! Either way it holds counts only: every label value comes from a closed set (see
//! `crate::metrics`), never a secret, a path, a tool argument or telemetry text.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use axum::{
    Router,
    extract::{MatchedPath, Request, State},
    http::{HeaderMap, HeaderValue, Method, header},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::get,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;
use tokio::task::JoinHandle;

use super::guard::{presented_token, unauthorized};
use crate::{
    metrics::{self, Interface, Outcome},
    service::IncidentService,
};

/// The environment variable holding the scrape key (optional).
pub const METRICS_KEY_ENV: &str = "INCIDENT_MCP_METRICS_KEY";

#[derive(Clone)]
struct Scrape {
    svc: IncidentService,
    key: Option<Arc<SecretString>>,
}

impl Scrape {
    /// The scrape key is read here, where it is used; an empty value counts as unset.
    fn new(svc: IncidentService) -> Self {
        let key = std::env::var(METRICS_KEY_ENV)
            .ok()
            .filter(|k| !k.is_empty())
            .map(|k| Arc::new(SecretString::from(k)));
        Self { svc, key }
    }
}

async fn exposition(State(s): State<Scrape>, headers: HeaderMap) -> Response {
    if let Some(key) = &s.key {
        let presented = presented_token(&headers);
        let ok = presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(key.expose_secret().as_bytes())));
        if !ok {
            return match presented {
                Some(_) => unauthorized(
                    "invalid metrics key",
                    "Bearer realm=\"incident-mcp-metrics\", error=\"invalid_token\"",
                ),
                None => unauthorized(
                    "missing bearer metrics key (Authorization: Bearer <INCIDENT_MCP_METRICS_KEY>)",
                    "Bearer realm=\"incident-mcp-metrics\"",
                ),
            };
        }
    }
    let body = s.svc.metrics_exposition().await;
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(metrics::CONTENT_TYPE))],
        body,
    )
        .into_response()
}

/// `GET /metrics`.
pub(super) fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/metrics", get(exposition))
        .with_state(Scrape::new(svc))
}

/// A method as a label word (a closed set).
fn method_word(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// Records the request as a `rest` call named `METHOD /route/{template}`; a request no route
/// matched is `other`. Layered on the router, so it runs after routing and sees every answer,
/// the guards' refusals included.
pub(super) async fn record(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let name = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| format!("{} {}", method_word(req.method()), p.as_str()));
    let resp = next.run(req).await;
    let outcome = Outcome::of_http_status(resp.status().as_u16());
    metrics::global().call(Interface::Rest, name.as_deref(), outcome, started.elapsed());
    resp
}

/// The `--metrics-addr` listener; stops when dropped.
pub struct MetricsListener {
    pub bound: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for MetricsListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `/metrics` alone on `addr` (any address: it holds counts only, and the optional
/// scrape key applies). No Host check: a scraper addresses the pod or host by whatever name
/// it has, and nothing here changes state or shows caller data.
pub async fn serve_metrics(svc: IncidentService, addr: SocketAddr) -> std::io::Result<MetricsListener> {
    let (listener, bound) = super::bind(addr).await?;
    let app = routes(svc).layer(middleware::from_fn(record));
    tracing::info!(%bound, "metrics listening: http://{bound}/metrics");
    eprintln!("incident-mcp metrics on http://{bound}/metrics");
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "the metrics listener stopped");
        }
    });
    Ok(MetricsListener { bound, task })
}
