//! `POST /api/incident/notify/{id}` (queue a notification through the outbox, 202) and the
//! run-time webhooks: `POST /api/hooks` (201), `GET /api/hooks`, `DELETE /api/hooks/{name}`
//! (204/404; 403 for a hook the agent's key did not add); `POST /api/outbox/{id}/retry` and
//! `POST /api/outbox/retry-dead` queue dead notifications again (200; 404/409). Hooks are shown by origin only: a
//! URL's path and query may carry a token.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection, rejection::PathRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, post},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rest::{RestError, json_body, parse_id};
use crate::{
    domain::{DomainError, clip},
    notify::HookEvent,
    service::*,
    store::RegisteredHook,
};

/// What `secret_env` of `POST /api/hooks` admits with the default prefix
/// (`[notify] hook_secret_env_prefix`; the served document states the configured one).
pub const HOOK_SECRET_ENV_PATTERN: &str = "^INCIDENT_MCP_HOOK_[A-Za-z0-9_]{1,110}$";

/// Names the REST API accepts for a hook (what the service accepts, as a regex).
pub const HOOK_NAME_PATTERN: &str = "^[A-Za-z0-9_-]{1,64}$";

/// The https URLs of host names that the service's URL check (`notify::config::check_url`,
/// shared with the CLI's `hook add`) accepts, as a regex for the OpenAPI document: DNS labels of
/// either case with inner hyphens, any number of them up to 253 characters in all (the
/// negative lookahead; the last label starts with a letter, so it is never read as an IPv4
/// address), a port up to 65535, a path and a query. The check itself decides (it also takes IP
/// literals); this pattern is never stricter about what it describes.
pub const HOOK_URL_PATTERN: &str = concat!(
    r"^https://(?![^/?:]{254})([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?",
    r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}|0))?",
    r"(/([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*(\?([A-Za-z0-9._~!$&'()*+,;=:@/?-]|%[0-9A-Fa-f]{2})*)?$"
);

/// Body of `POST /api/incident/notify/{id}`: `incident_notify`'s arguments without `id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotifyBody {
    /// A notification target by name: `jira`, `pagerduty`, `slack`, a configured webhook or one
    /// registered with `POST /api/hooks`. URLs are not accepted.
    #[schemars(length(min = 1, max = 64), pattern(HOOK_NAME_PATTERN))]
    pub service: String,
    /// Optional plain-text note to include (at most 2000 characters).
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub message: Option<String>,
}

/// Body of `POST /api/hooks`: registers (or replaces) a signed webhook.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HookBody {
    /// Name the notify tool and routes use for it; not jira, pagerduty, slack or a configured target.
    #[schemars(length(min = 1, max = 64), pattern(HOOK_NAME_PATTERN))]
    pub name: String,
    /// `https://` URL receiving the signed JSON posts (no credentials; http only for loopback
    /// when the server allows insecure loopback).
    #[schemars(pattern(HOOK_URL_PATTERN))]
    pub url: String,
    /// Lifecycle events to send: detect, analyze, acknowledge, contain, recover, resolve,
    /// approval, action_failed.
    #[schemars(schema_with = "lifecycle_events")]
    pub events: Vec<HookEvent>,
    /// Environment variable of the server holding the HMAC-SHA256 signing secret. It must start
    /// with the server's `[notify] hook_secret_env_prefix` (default `INCIDENT_MCP_HOOK_`), so no
    /// other secret of the server can sign; default: the prefix followed by `SECRET`. The
    /// secret itself is never sent.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), pattern(HOOK_SECRET_ENV_PATTERN))]
    pub secret_env: Option<String>,
}

fn lifecycle_events(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let events: Vec<&str> = LIFECYCLE.iter().map(|e| e.as_str()).collect();
    schemars::json_schema!({
        "type": "array", "minItems": 1, "maxItems": LIFECYCLE.len(), "uniqueItems": true,
        "items": { "type": "string", "enum": events },
        "description": "Lifecycle events to send: detect, analyze, acknowledge, contain, recover, resolve, approval (a plan \
    awaits a human's approval) and action_failed (an approved plan failed to apply, or a TTL revert gave up: the change may \
    still be in place)."
    })
}

const LIFECYCLE: [HookEvent; 8] = [
    HookEvent::Detect,
    HookEvent::Analyze,
    HookEvent::Acknowledge,
    HookEvent::Contain,
    HookEvent::Recover,
    HookEvent::Resolve,
    HookEvent::Approval,
    HookEvent::ActionFailed,
];

/// A registered webhook as the API shows it: the URL's origin only, never its path or query.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct HookView {
    pub name: String,
    /// `scheme://host[:port]` of the URL (its path and query are not shown).
    pub origin: String,
    /// Environment variable holding the signing secret (the name, not the value).
    pub secret_env: String,
    pub events: Vec<String>,
    /// Who registered it: `rest` (the agent's key) or `cli` (a human at the server's shell).
    /// The agent's key may remove only the hooks it added.
    #[serde(default)]
    pub added_by: Option<String>,
}

impl From<RegisteredHook> for HookView {
    fn from(h: RegisteredHook) -> Self {
        HookView {
            origin: crate::service::origin(&h.url),
            name: h.name,
            secret_env: h.secret_env,
            events: h.events,
            added_by: h.added_by,
        }
    }
}

/// `GET /api/hooks`: the webhooks registered at run time, by name (config-file ones are not listed).
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct HookList {
    pub hooks: Vec<HookView>,
    pub count: usize,
}

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/incident/notify/{id}", post(notify))
        .route("/api/hooks", post(add_hook).get(list_hooks))
        .route("/api/hooks/{name}", delete(remove_hook))
        .route("/api/outbox", axum::routing::get(list_outbox))
        .route("/api/outbox/{id}/retry", post(retry_row))
        .route("/api/outbox/retry-dead", post(retry_dead))
        .with_state(svc)
}

/// The query string is the service's own [`OutboxListRequest`].
async fn list_outbox(
    State(svc): State<IncidentService>,
    q: Result<axum::extract::Query<OutboxListRequest>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<OutboxList>, RestError> {
    let axum::extract::Query(q) = q?;
    Ok(Json(
        svc.outbox_list(q.dead.unwrap_or(false), q.limit.unwrap_or(50), q.before)
            .await?,
    ))
}

fn invalid(field: &str, msg: impl Into<String>) -> RestError {
    RestError::from(ServiceError::from(DomainError::invalid(field, msg)))
}

async fn notify(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<NotifyReport>), RestError> {
    let id = parse_id(id)?;
    let b: NotifyBody = json_body(&headers, body, None)?;
    if b.message.as_ref().is_some_and(|m| m.chars().count() > 2000) {
        return Err(invalid("message", "longer than 2000 characters"));
    }
    let req = NotifyRequest {
        id,
        service: b.service,
        message: b.message,
    };
    Ok((StatusCode::ACCEPTED, Json(svc.notify(req, Caller::REST).await?)))
}

async fn add_hook(
    State(svc): State<IncidentService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<HookView>), RestError> {
    let b: HookBody = json_body(&headers, body, None)?;
    // The URL is checked by the service, as for the CLI's `hook add`.
    if b.events.is_empty() || b.events.len() > LIFECYCLE.len() {
        return Err(invalid(
            "events",
            "name 1-8 of: detect, analyze, acknowledge, contain, recover, resolve, approval, action_failed",
        ));
    }
    let mut events: Vec<String> = Vec::new();
    for e in &b.events {
        if !LIFECYCLE.contains(e) {
            return Err(invalid("events", format!("`{e}` is not a lifecycle event")));
        }
        if events.iter().any(|x| x == e.as_str()) {
            return Err(invalid("events", format!("`{e}` is listed twice")));
        }
        events.push(e.as_str().into());
    }
    let hook = RegisteredHook {
        name: b.name,
        url: b.url,
        secret_env: b
            .secret_env
            .unwrap_or_else(|| svc.config().notify.default_hook_secret_env()),
        events,
        added_by: None,
    };
    let saved = svc.register_hook(hook, Caller::REST).await?;
    Ok((StatusCode::CREATED, Json(saved.into())))
}

async fn list_hooks(State(svc): State<IncidentService>) -> Result<Json<HookList>, RestError> {
    let hooks: Vec<HookView> = svc.registered_hooks().await?.into_iter().map(Into::into).collect();
    Ok(Json(HookList {
        count: hooks.len(),
        hooks,
    }))
}

async fn remove_hook(
    State(svc): State<IncidentService>,
    name: Result<Path<String>, PathRejection>,
) -> Result<Response, RestError> {
    let Path(name) = name.map_err(|r| invalid("name", r.body_text()))?;
    let ok_name =
        !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok_name {
        return Err(invalid(
            "name",
            format!(
                "`{}` is not a hook name (1-64 letters, digits, - or _)",
                clip(&name, 64)
            ),
        ));
    }
    if svc.remove_hook(&name, Caller::REST).await? {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    Err(RestError::new(
        StatusCode::NOT_FOUND,
        &format!("no registered webhook named `{name}`"),
        Some("name"),
    ))
}

/// `POST /api/outbox/{id}/retry`: one dead row queued again (404 unknown, 409 not dead).
async fn retry_row(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<OutboxRetry>, RestError> {
    let Path(raw) = id.map_err(|r| invalid("id", r.body_text()))?;
    let id = raw
        .parse::<i64>()
        .ok()
        .filter(|i| *i >= 1 && !raw.starts_with('+'))
        .ok_or_else(|| {
            invalid(
                "id",
                format!("`{}` is not an outbox row id (a positive integer)", clip(&raw, 40)),
            )
        })?;
    Ok(Json(svc.retry_outbox(RetryTarget::Row(id), Caller::REST).await?))
}

/// `POST /api/outbox/retry-dead`: every dead row queued again (none: an empty list).
async fn retry_dead(State(svc): State<IncidentService>) -> Result<Json<OutboxRetry>, RestError> {
    Ok(Json(svc.retry_outbox(RetryTarget::AllDead, Caller::REST).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The published pattern and the service's check agree on host names around DNS's 253
    /// character limit (schemathesis found a 283-character host the pattern let through).
    #[test]
    fn the_hook_url_pattern_refuses_hosts_the_check_refuses() {
        let pattern =
            crate::mcp::schema::validator(&serde_json::json!({"type": "string", "pattern": HOOK_URL_PATTERN}))
                .expect("the pattern compiles");
        let host = |len: usize| {
            let mut labels = vec!["a".repeat(63); len / 64];
            labels.push("b".repeat(len - 64 * (len / 64)));
            labels.join(".")
        };
        for (len, ok) in [(11, true), (253, true), (254, false), (283, false)] {
            let url = format!("https://{}/hook?x=1", host(len));
            assert_eq!(host(len).len(), len);
            assert_eq!(
                crate::notify::config::check_url(&url, false).is_ok(),
                ok,
                "check, {len}"
            );
            assert_eq!(pattern.is_valid(&serde_json::Value::String(url)), ok, "pattern, {len}");
        }
        let with_port = format!("https://{}:8443/", host(253));
        assert!(pattern.is_valid(&serde_json::Value::String(with_port)));
    }
}
