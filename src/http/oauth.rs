//! `/mcp` as an OAuth 2.1 resource server (with `[oauth]`; the MCP authorization spec,
//! 2025-11-25): the protected-resource metadata (RFC 9728) at
//! `/.well-known/oauth-protected-resource` and its path-suffixed form, the bearer check of
//! access tokens with its challenges (RFC 6750 §3: 401 with `resource_metadata` and, for a bad
//! token, `error="invalid_token"`; 403 `insufficient_scope` naming the scope to ask for), and the
//! per-request [`Grant`] the MCP server narrows its tools by. A token is only checked here: it is
//! taken off the request before rmcp sees it and goes nowhere else.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Router,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::json;

use super::rest::error_body;
use crate::{
    domain::access::{Capability, Grant},
    mcp::jsonrpc::Probe,
    oauth::{OAuth, TokenError},
    service::IncidentService,
};

/// The metadata document's routes: the root form and the form suffixed with the resource's
/// path (`/.well-known/oauth-protected-resource/mcp`), which is where
/// [`OAuth::metadata_url`] points.
pub(super) fn routes(oauth: Arc<OAuth>) -> Router {
    let doc = oauth.protected_resource_metadata();
    let serve = move || {
        let doc = doc.clone();
        async move {
            let mut resp = axum::Json(doc).into_response();
            resp.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("max-age=300"));
            resp
        }
    };
    let mut router = Router::new().route("/.well-known/oauth-protected-resource", get(serve.clone()));
    let suffixed = reqwest::Url::parse(oauth.metadata_url())
        .map(|u| u.path().to_owned())
        .unwrap_or_default();
    if suffixed != "/.well-known/oauth-protected-resource" && suffixed.starts_with("/.well-known/") {
        router = router.route(&suffixed, get(serve));
    }
    router
}

/// `a, b` → the `WWW-Authenticate` value `Bearer a, b`.
fn challenge(params: &[(&str, &str)]) -> HeaderValue {
    let list: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", v.replace(['"', '\\'], "")))
        .collect();
    HeaderValue::from_str(&format!("Bearer {}", list.join(", "))).unwrap_or_else(|_| HeaderValue::from_static("Bearer"))
}

fn with_challenge(status: StatusCode, msg: &str, value: HeaderValue) -> Response {
    let mut resp = error_body(status, msg, None).into_response();
    resp.headers_mut().insert(header::WWW_AUTHENTICATE, value);
    resp
}

/// The bearer check of `/mcp` for a token that is neither the agent's nor an approver's key:
/// a valid access token with at least the read scope passes, its [`Grant`] in the request's
/// extensions and its `Authorization` header removed.
pub(super) async fn guard_mcp(oauth: &OAuth, presented: Option<String>, mut req: Request, next: Next) -> Response {
    let meta = oauth.metadata_url();
    let read = oauth.scopes().read.as_str();
    let Some(token) = presented else {
        return with_challenge(
            StatusCode::UNAUTHORIZED,
            "missing bearer token: get an access token from the authorization server named in the resource metadata",
            challenge(&[("resource_metadata", meta), ("scope", read)]),
        );
    };
    match oauth.verify_access_token(&token).await {
        Ok(grant) => {
            if !grant.allows(Capability::Read) {
                tracing::info!(subject = %grant.subject_label(), "oauth: refused a token without an incident scope");
                return insufficient(oauth, &grant, Capability::Read);
            }
            tracing::debug!(subject = %grant.subject_label(), "oauth: access token accepted");
            req.headers_mut().remove(header::AUTHORIZATION);
            req.extensions_mut().insert(grant);
            next.run(req).await
        }
        Err(TokenError::KeysUnavailable(e)) => {
            tracing::warn!(error = %e, "oauth: cannot check an access token: the issuer's keys are unavailable");
            let mut resp = error_body(
                StatusCode::SERVICE_UNAVAILABLE,
                "the authorization server's keys are unavailable; retry later",
                None,
            )
            .into_response();
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            resp
        }
        Err(e) => {
            tracing::info!(reason = e.code(), "oauth: refused an access token");
            with_challenge(
                StatusCode::UNAUTHORIZED,
                &format!("invalid access token: {}", e.description()),
                challenge(&[
                    ("resource_metadata", meta),
                    ("error", "invalid_token"),
                    ("error_description", e.description()),
                ]),
            )
        }
    }
}

/// 403 `insufficient_scope`, asking for the scopes held plus the missing one.
fn insufficient(oauth: &OAuth, grant: &Grant, needed: Capability) -> Response {
    let scope = grant.challenge_scope(needed, oauth.scopes());
    let description = format!("this request needs the {} scope", oauth.scopes().of(needed));
    with_challenge(
        StatusCode::FORBIDDEN,
        &format!("insufficient scope: {description}"),
        challenge(&[
            ("error", "insufficient_scope"),
            ("scope", &scope),
            ("resource_metadata", oauth.metadata_url()),
            ("error_description", &description),
        ]),
    )
}

/// MCP sessions opened with an access token, by session id: the token's subject (the MCP
/// authorization spec's advice to bind a session to its user). At most this many are kept; the
/// oldest is forgotten first (its session then takes any valid token, as before binding).
const MAX_BOUND_SESSIONS: usize = 4096;

/// What `/mcp`'s gate checks of a token's grant.
pub(super) struct ScopeGate {
    pub oauth: Arc<OAuth>,
    pub svc: IncidentService,
    owners: Mutex<HashMap<String, (String, Instant)>>,
}

impl ScopeGate {
    pub(super) fn new(oauth: Arc<OAuth>, svc: IncidentService) -> Self {
        Self {
            oauth,
            svc,
            owners: Mutex::default(),
        }
    }

    /// Records that `grant`'s subject opened session `sid`.
    pub(super) fn bind(&self, sid: &str, grant: &Grant) {
        let mut owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        if owners.len() >= MAX_BOUND_SESSIONS
            && let Some(oldest) = owners.iter().min_by_key(|(_, (_, at))| *at).map(|(k, _)| k.clone())
        {
            owners.remove(&oldest);
        }
        owners.insert(sid.to_owned(), (grant.subject().to_owned(), Instant::now()));
    }

    pub(super) fn forget(&self, sid: &str) {
        self.owners.lock().unwrap_or_else(|e| e.into_inner()).remove(sid);
    }

    /// 404 (as for an unknown session) when `sid` was opened with a token of another subject
    /// than `grant`'s: a session id is not a credential.
    pub(super) fn foreign_session(&self, grant: Option<&Grant>, sid: Option<&str>) -> Option<Response> {
        let (grant, sid) = (grant?, sid?);
        let owners = self.owners.lock().unwrap_or_else(|e| e.into_inner());
        let (owner, _) = owners.get(sid)?;
        if owner == grant.subject() {
            return None;
        }
        tracing::warn!(subject = %grant.subject_label(), "oauth: refused a session opened by another subject");
        Some(error_body(
            StatusCode::NOT_FOUND,
            "session not found: this MCP session was opened with another identity's token; initialize a new one",
            None,
        ))
    }

    /// The refusal of a message whose capability the request's grant lacks (`tools/call` of a
    /// tool that changes something needs respond or notify; everything else needs read), or
    /// `None`. A refused call of a destructive tool is audited.
    pub(super) async fn refuse(&self, grant: Option<&Grant>, probe: &Probe) -> Option<Response> {
        let grant = grant?;
        let tool = probe.tool.as_deref();
        let (needed, destructive) = match tool.and_then(crate::mcp::tool_capability) {
            Some((cap, destructive)) => (cap, destructive),
            None => (Capability::Read, false),
        };
        if grant.allows(needed) {
            return None;
        }
        let tool = tool.unwrap_or_default();
        tracing::warn!(tool, subject = %grant.subject_label(), needed = %needed, "oauth: refused a call outside the token's scopes");
        if destructive {
            let payload = json!({"by": "oauth_scope", "reason": "insufficient_scope", "tool": tool,
                                 "needed": self.oauth.scopes().of(needed),
                                 "message": format!("the access token of {} lacks the {} scope", grant.subject_label(), self.oauth.scopes().of(needed))});
            let actor = format!("{}/oauth:{}", crate::mcp::MCP_PRINCIPAL, grant.subject_label());
            if let Err(e) = self.svc.audit_refusal(&actor, None, None, payload).await {
                return Some(super::rest::RestError::from(e).into_response());
            }
        }
        Some(insufficient(&self.oauth, grant, needed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_are_quoted_parameter_lists() {
        let v = challenge(&[("resource_metadata", "https://a/.well-known/x"), ("scope", "a b")]);
        assert_eq!(v, "Bearer resource_metadata=\"https://a/.well-known/x\", scope=\"a b\"");
        let v = challenge(&[("error_description", "say \"hi\"\\")]);
        assert_eq!(v, "Bearer error_description=\"say hi\"");
    }
}
