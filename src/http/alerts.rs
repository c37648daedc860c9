//! `POST /api/alerts?env=NAME`: Alertmanager's webhook receiver (payload version 4).
//! Behind the same guards as the REST API (bearer key, Host/Origin, body limit). Errors are
//! the REST API's JSON `{error, field}`: 400 names the exact field (`alerts[3].startsAt`)
//! and nothing is stored, 413 above `server.max_body_bytes`, 415 when the body is not JSON.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Query, State,
        rejection::{BytesRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::rest::error_body;
use crate::{
    domain::{Env, clip},
    service::{AlertmanagerPayload, ErrorClass, IncidentService, ServiceError},
};

/// Query of `POST /api/alerts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertsQuery {
    /// Environment the alerts belong to, as configured (one webhook URL per environment).
    pub env: Option<String>,
}

pub fn routes(svc: IncidentService) -> Router {
    Router::new().route("/api/alerts", post(receive)).with_state(svc)
}

fn bad_request(message: &str, field: Option<&str>) -> Response {
    error_body(StatusCode::BAD_REQUEST, message, field)
}

fn service_error(e: &ServiceError) -> Response {
    let status = match e.class() {
        ErrorClass::Input => StatusCode::BAD_REQUEST,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::Backend => StatusCode::SERVICE_UNAVAILABLE,
    };
    super::rest::RestError::coded(status, e.code(), &e.to_string(), e.field()).into_response()
}

/// `application/json` or `application/<something>+json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn receive(
    State(svc): State<IncidentService>,
    query: Result<Query<AlertsQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let bytes = match body {
        Ok(b) => b,
        Err(r) if r.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request body is larger than the server's limit (server.max_body_bytes); \
                 lower max_alerts in the Alertmanager receiver",
                None,
            );
        }
        Err(r) => return error_body(r.status(), "could not read the request body", None),
    };
    let env = match query {
        Ok(Query(AlertsQuery { env: Some(env) })) => match Env::parse(&env) {
            Ok(e) => e,
            Err(e) => return service_error(&e.into()),
        },
        Ok(Query(AlertsQuery { env: None })) => {
            return bad_request(
                "the environment is required: post to /api/alerts?env=NAME (a configured environment)",
                Some("env"),
            );
        }
        Err(r) => {
            let text = r.body_text();
            let unknown = text
                .split_once("unknown field `")
                .and_then(|(_, rest)| rest.split_once('`'))
                .map(|(name, _)| clip(name, 40));
            return bad_request(
                &format!("invalid query string: {}", clip(&text, 200)),
                Some(unknown.as_deref().unwrap_or("env")),
            );
        }
    };
    // The URL is checked before the body: a misconfigured receiver is the likelier mistake.
    if svc.config().env(&env).is_none() {
        return service_error(&ServiceError::UnknownEnv {
            env: env.to_string(),
            known: svc.config().env_names().join(", "),
        });
    }
    if bytes.is_empty() {
        return bad_request("a JSON request body is required: Alertmanager's webhook payload", None);
    }
    if !is_json(&headers) {
        return error_body(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "the request body must be JSON: send `Content-Type: application/json`",
            None,
        );
    }
    // Parsing a large notification is milliseconds of CPU: keep it off the async workers.
    let parsed = tokio::task::spawn_blocking(move || parse(&bytes)).await;
    let payload = match parsed {
        Ok(Ok(p)) => p,
        Ok(Err(resp)) => return *resp,
        Err(_) => {
            return error_body(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request could not be parsed",
                None,
            );
        }
    };
    match svc.ingest_alerts(&env, payload).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => service_error(&e),
    }
}

/// JSON syntax, then the payload's shape; the error response names the field.
fn parse(bytes: &[u8]) -> Result<AlertmanagerPayload, Box<Response>> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        Box::new(bad_request(
            &format!("malformed JSON body: {}", clip(&e.to_string(), 200)),
            None,
        ))
    })?;
    if !value.is_object() {
        return Err(Box::new(bad_request("the request body must be a JSON object", None)));
    }
    AlertmanagerPayload::from_json(&value).map_err(|e| Box::new(service_error(&e.into())))
}
