//! Debug logging of REST responses: status and body of every `/api` answer (errors included),
//! so the log file shows exactly what a client was told. `/mcp` is left to rmcp, which logs
//! each JSON-RPC response itself, and streams are never buffered.

use axum::{
    body::{Body, HttpBody, to_bytes},
    extract::Request,
    http::header,
    middleware::Next,
    response::Response,
};

/// Largest body logged; larger ones are logged by size only.
const MAX_LOGGED: usize = 256 * 1024;

pub async fn log_response(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    if path.starts_with("/mcp") || path == "/api/openapi.json" || !tracing::enabled!(tracing::Level::DEBUG) {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json") || v.starts_with("application/problem+json"));
    // Only bodies of known, bounded size (never a stream).
    let small = resp.body().size_hint().exact().is_some_and(|n| n <= MAX_LOGGED as u64);
    let status = resp.status().as_u16();
    if !(is_json && small) {
        tracing::debug!(%method, path, status, "rest response");
        return resp;
    }
    let (parts, body) = resp.into_parts();
    match to_bytes(body, MAX_LOGGED).await {
        Ok(bytes) => {
            tracing::debug!(%method, path, status, body = %String::from_utf8_lossy(&bytes), "rest response");
            Response::from_parts(parts, Body::from(bytes))
        }
        Err(e) => {
            tracing::debug!(%method, path, status, error = %e, "rest response body unreadable");
            Response::from_parts(parts, Body::empty())
        }
    }
}
