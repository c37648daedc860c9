//! `POST /api/slack/interactions`: the Request URL of the Slack app's Interactivity. Slack
//! cannot present the agent's bearer key, so this route is not behind it; it is behind Slack's
//! request signature instead, checked by the service with the signing secret (see
//! `service::slack_interactions` for the answers and why). Host/Origin checks and the body
//! limit apply as everywhere.
//!
//! Not in the OpenAPI document: it is not an API for clients. Only Slack calls it, with a
//! form-encoded body in Slack's own format, authenticated by Slack's own signature scheme.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{State, rejection::BytesRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::post,
};

use super::rest::{RestError, error_body};
use crate::service::{IncidentService, SlackRequest};

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/slack/interactions", post(interactions))
        .with_state(svc)
}

async fn interactions(
    State(svc): State<IncidentService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return RestError::from(e).into_response(),
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let req = SlackRequest {
        timestamp: header("x-slack-request-timestamp"),
        signature: header("x-slack-signature"),
        body: &body,
    };
    let answer = svc.slack_interaction(req, chrono::Utc::now()).await;
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if status.is_success() {
        (status, Json(answer)).into_response()
    } else {
        error_body(status, &answer.message, None)
    }
}
