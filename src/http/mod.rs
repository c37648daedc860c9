//! The HTTP adapter: streamable HTTP MCP at `/mcp`, the REST API at `/api`, `/healthz`,
//! `/metrics` (its own optional scrape key, never the agent's), the approval page at `/ui/`
//! (its own session sign-in, not the bearer key), behind Host/Origin validation, a body limit
//! and (when configured) a bearer key; with `[oauth]`, `/mcp` is also an OAuth 2.1 resource
//! server (`oauth.rs`, metadata under `/.well-known/`) and the approval page offers single
//! sign-on (`ui_oidc.rs`).

mod alerts;
mod guard;
mod keep_alive;
mod manage;
mod mcp_gate;
mod metrics;
mod mode;
mod notify;
mod oauth;
mod openapi;
mod plans;
mod respond;
mod rest;
mod slack;
mod trace;
mod ui;
mod ui_oidc;
mod ui_pages;

use std::{net::SocketAddr, sync::Arc};

use axum::{Router, middleware, routing::get, serve::ListenerExt};
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use tokio_util::sync::CancellationToken;
use tower_http::limit::RequestBodyLimitLayer;

pub use metrics::{METRICS_KEY_ENV, MetricsListener, serve_metrics};
pub use openapi::openapi_document;

use crate::{
    mcp::{
        IncidentServer, ToolPolicy,
        sessions::{BoundedSessions, Sessions},
    },
    service::IncidentService,
};

/// Builds the whole HTTP application.
///
/// # Panics
/// When [`try_app`] fails (an `[oauth.sign_in]` whose client secret variable is unset): a
/// server must not come up with its OAuth half missing. `serve` uses [`try_app`].
pub fn app(svc: IncidentService, policy: ToolPolicy, ct: CancellationToken) -> Router {
    match try_app(svc, policy, ct) {
        Ok(app) => app,
        Err(e) => panic!("cannot build the HTTP app: {e}"),
    }
}

/// Builds the whole HTTP application, or says why the configuration cannot be served.
pub fn try_app(svc: IncidentService, policy: ToolPolicy, ct: CancellationToken) -> anyhow::Result<Router> {
    let cfg = svc.config().clone();
    let oauth = crate::oauth::OAuth::from_config(&cfg).map_err(anyhow::Error::msg)?;
    let guard = Arc::new(guard::GuardConfig {
        allowed_hosts: cfg.server.allowed_hosts.clone(),
        allowed_origins: cfg.server.allowed_origins.clone(),
        api_key: cfg.api_key().map(Arc::from),
        approvers: Some(svc.clone()),
        oauth: oauth.clone(),
    });
    let mcp_config = StreamableHttpServerConfig::default()
        .with_allowed_hosts(cfg.server.allowed_hosts.clone())
        .with_allowed_origins(cfg.server.allowed_origins.clone())
        .with_max_request_body_bytes(cfg.server.max_body_bytes)
        .with_legacy_session_mode(true)
        .with_cancellation_token(ct);
    let mcp_svc = svc.clone();
    let sessions = Sessions::new(cfg.server.max_sessions);
    let mcp = StreamableHttpService::new(
        move || Ok(IncidentServer::new(mcp_svc.clone(), policy)),
        BoundedSessions(sessions.clone()).into(),
        mcp_config,
    );
    let gate = Arc::new(mcp_gate::McpGate {
        scope: oauth.clone().map(|oauth| oauth::ScopeGate::new(oauth, svc.clone())),
        sessions,
        max_body: cfg.server.max_body_bytes,
        max_depth: cfg.server.max_json_depth,
        json_response: cfg.server.json_response,
    });
    // Exactly `/mcp`: `/mcp/x` is 404, not the MCP endpoint.
    let mcp = Router::new()
        .route_service("/mcp", mcp)
        .layer(middleware::from_fn_with_state(gate, mcp_gate::gate));
    let protected = Router::new()
        .merge(mcp)
        .merge(alerts::routes(svc.clone()))
        .merge(respond::routes(svc.clone()))
        .merge(notify::routes(svc.clone()))
        .merge(plans::agent_routes(svc.clone()))
        .merge(rest::routes(svc.clone()))
        .merge(manage::routes(svc.clone()))
        // `--read-only` / `--disable-destructive` (after the bearer check, which wraps it).
        .layer(middleware::from_fn_with_state((svc.clone(), policy), mode::enforce))
        .layer(middleware::from_fn_with_state(guard.clone(), guard::bearer));
    let mut open = Router::new();
    if let Some(o) = &oauth {
        open = open.merge(oauth::routes(o.clone()));
    }
    Ok(Router::new()
        .merge(protected)
        .merge(open)
        .merge(plans::approver_routes(svc.clone(), policy))
        .merge(slack::routes(svc.clone()))
        .merge(ui::routes(svc.clone(), policy, oauth))
        .merge(metrics::routes(svc))
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route("/api/openapi.json", openapi::route(&cfg))
        .layer(RequestBodyLimitLayer::new(cfg.server.max_body_bytes))
        .layer(middleware::from_fn_with_state(guard, guard::host_and_origin))
        .layer(middleware::from_fn(trace::log_response))
        .layer(middleware::from_fn(keep_alive::hygiene))
        .layer(middleware::from_fn(metrics::record)))
}

/// Refuses a non-loopback bind without credentials: an API key or `[oauth]`.
pub fn check_bind(addr: &SocketAddr, has_key: bool) -> Result<(), String> {
    if addr.ip().is_loopback() || has_key {
        Ok(())
    } else {
        Err(format!(
            "refusing to listen on non-loopback address {addr} without an API key or [oauth]: set {} or configure [oauth] (and list the public host in server.allowed_hosts)",
            crate::config::API_KEY_ENV
        ))
    }
}

/// A listener whose accepted connections have TCP_NODELAY set: small answers go out at once
/// (without it, Nagle's algorithm and the client's delayed ACK hold a keep-alive connection's
/// second write for ~40 ms).
pub type NoDelayListener = axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)>;

/// Binds `addr`; returns the listener and the bound address.
pub async fn bind(addr: SocketAddr) -> std::io::Result<(NoDelayListener, SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    let tap: fn(&mut tokio::net::TcpStream) = no_delay;
    Ok((listener.tap_io(tap), bound))
}

fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(e) = tcp.set_nodelay(true) {
        tracing::warn!(error = %e, "could not set TCP_NODELAY on an accepted connection");
    }
}

/// Serves until SIGINT/SIGTERM. Prints the bound address to stderr.
pub async fn serve(svc: IncidentService, addr: SocketAddr, policy: ToolPolicy) -> anyhow::Result<()> {
    let credentials = svc.config().api_key().is_some() || svc.config().oauth.is_some();
    check_bind(&addr, credentials).map_err(anyhow::Error::msg)?;
    let ct = CancellationToken::new();
    let app = try_app(svc, policy, ct.child_token())?;
    let (listener, bound) = bind(addr).await?;
    tracing::info!(%bound, "listening: MCP at http://{bound}/mcp, REST at http://{bound}/api");
    eprintln!(
        "incident-mcp listening on http://{bound} (MCP: /mcp, REST: /api, approval page: /ui/, health: /healthz, metrics: /metrics)"
    );
    // The peer address keys the approval page's sign-in throttling.
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            ct.cancel();
        })
        .await?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
