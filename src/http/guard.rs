//! Request guards shared by every route: Host/Origin allowlists (DNS-rebinding defence,
//! 403) and the bearer key (401, constant-time compare); with `[oauth]`, `/mcp` also takes the
//! issuer's access tokens (`oauth.rs`).

use std::sync::Arc;

use axum::{
    extract::{Request, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use subtle::ConstantTimeEq;

use super::rest::error_body;

#[derive(Clone)]
pub struct GuardConfig {
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub api_key: Option<Arc<str>>,
    /// Approvers' keys also open the API; their requests act as `human:NAME`.
    pub approvers: Option<crate::service::IncidentService>,
    /// `[oauth]`: `/mcp` accepts the issuer's access tokens; and without a static key nothing
    /// is open to a request without credentials.
    pub oauth: Option<Arc<crate::oauth::OAuth>>,
}

/// Who a REST request acts as: `rest` (the agent's key, or no key configured) or
/// `human:NAME` (an approver's own key). Plans record it as their principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestPrincipal(pub String);

/// `host[:port]` → host, handling `[::1]:8787`.
fn host_only(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("");
    }
    match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => authority,
    }
}

fn host_allowed(cfg: &GuardConfig, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let bare = host_only(host);
    cfg.allowed_hosts.iter().any(|a| a == host || a == bare)
}

/// Matches `scheme://host:port` against entries like `http://localhost:*`.
fn origin_allowed(cfg: &GuardConfig, origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (rest, None),
    };
    cfg.allowed_origins.iter().any(|entry| {
        let Some((es, erest)) = entry.split_once("://") else {
            return false;
        };
        let (eh, ep) = match erest.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (erest, None),
        };
        es.eq_ignore_ascii_case(scheme) && eh.eq_ignore_ascii_case(host) && (ep == Some("*") || ep == port)
    })
}

/// 403 unless Host (and Origin, when present) are allowed.
pub async fn host_and_origin(State(cfg): State<Arc<GuardConfig>>, req: Request, next: Next) -> Response {
    if !host_allowed(&cfg, req.headers()) {
        return error_body(
            StatusCode::FORBIDDEN,
            "Host header is not allowed for this server",
            None,
        );
    }
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| origin_allowed(&cfg, o));
        if !ok {
            return error_body(StatusCode::FORBIDDEN, "Origin is not allowed for this server", None);
        }
    }
    next.run(req).await
}

/// 401 unless the bearer key is the agent's or an approver's, when a key is configured. Sets
/// the request's [`RestPrincipal`].
pub async fn bearer(State(cfg): State<Arc<GuardConfig>>, mut req: Request, next: Next) -> Response {
    use crate::service::KeyOwner;
    let presented = presented_token(req.headers());
    let approver = match (presented, &cfg.approvers) {
        (Some(t), Some(svc)) => match svc.approvers().by_key(t) {
            KeyOwner::Approver(name) => Some(crate::service::human(&name)),
            _ => None,
        },
        _ => None,
    };
    let agent = match cfg.api_key.as_deref() {
        None => cfg.oauth.is_none(),
        Some(expected) => presented.is_some_and(|p| bool::from(p.as_bytes().ct_eq(expected.as_bytes()))),
    };
    if agent || approver.is_some() {
        let principal = approver.unwrap_or_else(|| super::respond::REST_PRINCIPAL.to_owned());
        req.extensions_mut().insert(RestPrincipal(principal));
        return next.run(req).await;
    }
    if let Some(oauth) = &cfg.oauth
        && req.uri().path() == "/mcp"
    {
        let presented = presented.map(str::to_owned);
        return super::oauth::guard_mcp(oauth, presented, req, next).await;
    }
    // RFC 6750 §3: no credentials → just the challenge; wrong ones → `error="invalid_token"`.
    let (msg, challenge) = if presented.is_some() {
        (
            "invalid API key",
            "Bearer realm=\"incident-mcp\", error=\"invalid_token\"",
        )
    } else {
        (
            "missing bearer API key (Authorization: Bearer <OPENCLAW_API_KEY>)",
            "Bearer realm=\"incident-mcp\"",
        )
    };
    unauthorized(msg, challenge)
}

/// 401 with its `WWW-Authenticate` challenge (RFC 6750 §3).
pub(super) fn unauthorized(msg: &str, challenge: &'static str) -> Response {
    let mut resp = error_body(StatusCode::UNAUTHORIZED, msg, None).into_response();
    resp.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    resp
}

/// The bearer token a request presents, if any.
pub(super) fn presented_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token)
}

/// The token of an `Authorization: Bearer <token>` value; the scheme is case-insensitive
/// (RFC 7235 §2.1).
pub(super) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> GuardConfig {
        GuardConfig {
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec!["http://localhost:*".into(), "https://ops.example.com:443".into()],
            api_key: None,
            approvers: None,
            oauth: None,
        }
    }

    #[test]
    fn hosts() {
        let mut h = HeaderMap::new();
        for (v, ok) in [
            ("127.0.0.1:8787", true),
            ("localhost", true),
            ("[::1]:9", true),
            ("evil.com", false),
            ("evil.com:8787", false),
        ] {
            h.insert(header::HOST, HeaderValue::from_static(v));
            assert_eq!(host_allowed(&cfg(), &h), ok, "{v}");
        }
    }

    #[test]
    fn bearer_tokens() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("BEARER abc"), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }

    #[test]
    fn origins() {
        let c = cfg();
        assert!(origin_allowed(&c, "http://localhost:3000"));
        assert!(origin_allowed(&c, "https://ops.example.com:443"));
        assert!(!origin_allowed(&c, "https://ops.example.com:8443"));
        assert!(!origin_allowed(&c, "http://evil.com:3000"));
        assert!(!origin_allowed(&c, "null"));
        assert!(!origin_allowed(&c, "http://localhost.evil.com:1"));
    }
}
