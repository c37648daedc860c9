//! Plans over REST, after `PUT /api/incident/contain/{id}` or `POST /api/incident/recover/{id}`
//! answered 202 with a pending plan:
//! - `POST /api/plans/{plan_id}/approve` is for humans only. It takes an approver's own bearer
//!   key (`[[server.approvers]]`, identity `human:NAME`), never the agent's: the agent's key is
//!   refused (403, audited), so the agent can never approve its own plan.
//! - `POST /api/plans/{plan_id}/apply` (the agent's key, principal `rest`) runs a plan that a
//!   human approved, exactly as approved, once.
//! - `GET /api/plans[?pending=true]` lists the newest plans (or those waiting for a human), and
//!   `GET /api/plans/{plan_id}` shows a plan, its newest approval and its audit history, to an
//!   approver (what they are asked to approve) or to the agent.

use std::sync::Arc;

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, PathRejection, QueryRejection},
    },
    http::{HeaderMap, Method, StatusCode, Uri},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use schemars::JsonSchema;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use super::{
    guard::{presented_token, unauthorized},
    respond::REST_PRINCIPAL,
    rest::{RestError, json_body},
};
use crate::{config::Config, domain::clip, mcp::ToolPolicy, service::*};

/// Body of `POST /api/plans/{plan_id}/approve` (optional).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Seconds the approval stays valid (1-3600, default 300); it is single-use either way.
    #[serde(default, deserialize_with = "whole_secs")]
    #[schemars(range(min = 1, max = 3600))]
    pub ttl_secs: Option<u64>,
}

/// The approvers' keys (read from their environment variables) and the agent's.
pub struct Approvers {
    keys: Vec<(String, SecretString)>,
    agent_key: Option<SecretString>,
}

/// Who a bearer token belongs to.
enum Bearer {
    Approver(String),
    Agent,
    Unknown,
}

impl Approvers {
    /// Approvers whose key variable is unset or empty cannot approve (logged once here).
    pub fn from_config(cfg: &Config) -> Self {
        let mut keys = Vec::new();
        for a in &cfg.server.approvers {
            match std::env::var(&a.key_env).ok().filter(|k| !k.is_empty()) {
                Some(k) => keys.push((a.name.clone(), SecretString::from(k))),
                None => {
                    tracing::warn!(approver = %a.name, key_env = %a.key_env, "approver key variable is unset: this approver cannot approve over REST")
                }
            }
        }
        Self {
            keys,
            agent_key: cfg.api_key().map(SecretString::from),
        }
    }

    fn who(&self, token: &str) -> Bearer {
        let eq = |k: &SecretString| bool::from(token.as_bytes().ct_eq(k.expose_secret().as_bytes()));
        // Every key is compared, so the time taken does not say which one matched.
        let mut found = None;
        for (name, key) in &self.keys {
            if eq(key) && found.is_none() {
                found = Some(name.clone());
            }
        }
        let agent = self.agent_key.as_ref().is_some_and(eq);
        match (found, agent) {
            // A key shared by the agent and an approver is the agent's.
            (_, true) => Bearer::Agent,
            (Some(name), false) => Bearer::Approver(name),
            (None, false) => Bearer::Unknown,
        }
    }
}

/// `apply`, behind the agent's key like the rest of the API.
pub fn agent_routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/plans/{plan_id}/apply", post(apply))
        .with_state(svc)
}

/// `approve` and the plan view, which authenticate approvers themselves (they are not behind
/// the agent's key alone).
pub fn approver_routes(svc: IncidentService, approvers: Arc<Approvers>, mode: ToolPolicy) -> Router {
    Router::new()
        .route(
            "/api/plans/{plan_id}/approve",
            post(move |state, id, uri, headers, body| approve(state, id, mode, uri, headers, body)),
        )
        .route("/api/plans/{plan_id}", get(view))
        .route("/api/plans", get(list))
        .with_state((svc, approvers))
}

/// Why a plan read is refused, if it is. Plans are readable with an approver's key or the
/// agent's (or by anyone when the server has no agent key, like the rest of the API).
fn read_denied(approvers: &Approvers, headers: &HeaderMap) -> Option<Response> {
    let token = presented_token(headers);
    match token.map(|t| approvers.who(t)) {
        Some(Bearer::Approver(_) | Bearer::Agent) => None,
        _ if approvers.agent_key.is_none() => None,
        None => Some(unauthorized(
            "missing bearer key (the agent's OPENCLAW_API_KEY or an approver's key)",
            "Bearer realm=\"incident-mcp\"",
        )),
        Some(Bearer::Unknown) => Some(unauthorized(
            "invalid key",
            "Bearer realm=\"incident-mcp\", error=\"invalid_token\"",
        )),
    }
}

async fn view(
    State((svc, approvers)): State<(IncidentService, Arc<Approvers>)>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = read_denied(&approvers, &headers) {
        return denied;
    }
    async {
        let id = plan_id(id)?;
        Ok::<_, RestError>(Json(svc.plan_view(&id).await?))
    }
    .await
    .into_response()
}

async fn list(
    State((svc, approvers)): State<(IncidentService, Arc<Approvers>)>,
    q: Result<Query<PlanListRequest>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = read_denied(&approvers, &headers) {
        return denied;
    }
    async {
        let Query(q) = q?;
        Ok::<_, RestError>(Json(svc.list_plans(&q).await?))
    }
    .await
    .into_response()
}

/// `plan-` and the first 16 hex digits of the plan's hash.
pub const PLAN_ID_PATTERN: &str = "^plan-[0-9a-f]{16}$";

fn plan_id(p: Result<Path<String>, PathRejection>) -> Result<String, RestError> {
    let Path(id) = p.map_err(|e| RestError::new(StatusCode::BAD_REQUEST, &e.body_text(), Some("plan_id")))?;
    let ok = id.len() == 21
        && id.starts_with("plan-")
        && id[5..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if !ok {
        let msg = format!(
            "`{}` is not a plan id (plan-…, as the 202 answer gave it)",
            clip(&id, 40)
        );
        return Err(RestError::new(StatusCode::BAD_REQUEST, &msg, Some("plan_id")));
    }
    Ok(id)
}

async fn apply(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PlanReport>, RestError> {
    let id = match plan_id(id) {
        Ok(id) => id,
        Err(e) => return Err(e.audited(&svc, REST_PRINCIPAL, "incident_apply").await),
    };
    Ok(Json(svc.apply_plan(&id, REST_PRINCIPAL).await?))
}

async fn approve(
    State((svc, approvers)): State<(IncidentService, Arc<Approvers>)>,
    id: Result<Path<String>, PathRejection>,
    mode: ToolPolicy,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let token = presented_token(&headers);
    let approver = match token.map(|t| approvers.who(t)) {
        None => {
            return unauthorized(
                "missing bearer approver key (Authorization: Bearer <an approver's key from [[server.approvers]]>)",
                "Bearer realm=\"incident-mcp-approvers\"",
            );
        }
        Some(Bearer::Unknown) => {
            return unauthorized(
                "invalid approver key",
                "Bearer realm=\"incident-mcp-approvers\", error=\"invalid_token\"",
            );
        }
        Some(Bearer::Agent) => {
            let plan = id.as_ref().ok().map(|p| clip(&p.0, 80));
            let payload = serde_json::json!({
                "by": "rest_approve", "reason": "agent_cannot_approve",
                "message": "the agent's API key was presented to approve a plan",
            });
            if let Err(e) = svc.audit_refusal(REST_PRINCIPAL, None, plan.as_deref(), payload).await {
                return RestError::from(e).into_response();
            }
            return RestError::new(
                StatusCode::FORBIDDEN,
                "the agent's API key cannot approve plans: a human approves with their own key \
                 ([[server.approvers]]) or with `incident-mcp approve <plan-id>`; nothing was approved",
                None,
            )
            .into_response();
        }
        Some(Bearer::Approver(name)) => format!("human:{name}"),
    };
    if let Some(refused) = super::mode::refusal(mode, &Method::POST, uri.path()) {
        return refused.answer(&svc, &approver, &Method::POST, uri.path()).await;
    }
    async {
        let id = plan_id(id)?;
        let b: ApproveBody = json_body(&headers, body, Some(ApproveBody::default()))?;
        Ok::<_, RestError>(Json(svc.approve_plan(&id, &approver, b.ttl_secs.unwrap_or(300)).await?))
    }
    .await
    .into_response()
}
