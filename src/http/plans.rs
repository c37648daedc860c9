//! Plans over REST, after `PUT /api/incident/contain/{id}` or `POST /api/incident/recover/{id}`
//! answered 202 with a pending plan:
//! - `POST /api/plans/{plan_id}/approve` is for humans only. It takes an approver's own bearer
//!   key (`[[approvers]]`, identity `human:NAME`), never the agent's: the agent's key is
//!   refused (403, audited), so the agent can never approve its own plan.
//! - `POST /api/plans/{plan_id}/apply` (the agent's key, principal `rest`) runs a plan that a
//!   human approved, exactly as approved, once.
//! - `GET /api/plans[?pending=true]` lists the newest plans (or those waiting for a human), and
//!   `GET /api/plans/{plan_id}` shows a plan, its newest approval and its audit history, to an
//!   approver (what they are asked to approve) or to the agent.

use axum::{
    Extension, Json, Router,
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
use serde::Deserialize;

use super::{
    guard::{RestPrincipal, presented_token, unauthorized},
    respond::REST_PRINCIPAL,
    rest::{RestError, RestPhrases, json_body},
};
use crate::{domain::clip, mcp::ToolPolicy, service::*};

/// Body of `POST /api/plans/{plan_id}/approve` (optional).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveBody {
    /// Seconds the approval stays valid (1-3600, default 300); it is single-use either way.
    #[serde(default, deserialize_with = "whole_secs")]
    #[schemars(range(min = 1, max = 3600))]
    pub ttl_secs: Option<u64>,
}

/// `apply`, behind the agent's key like the rest of the API.
pub fn agent_routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/plans/{plan_id}/apply", post(apply))
        .with_state(svc)
}

/// `approve`, `deny` and the plan view, which authenticate approvers themselves (they are not
/// behind the agent's key alone).
pub fn approver_routes(svc: IncidentService, mode: ToolPolicy) -> Router {
    Router::new()
        .route("/api/plans/{plan_id}/approve", post(approve))
        .route("/api/plans/{plan_id}/approve-and-apply", post(approve_and_apply))
        .route("/api/plans/{plan_id}/deny", post(deny))
        .route("/api/plans/{plan_id}", get(view))
        .route("/api/plans", get(list))
        .layer(Extension(mode))
        .with_state(svc)
}

/// Why a plan read is refused, if it is. Plans are readable with an approver's key or the
/// agent's (or by anyone when the server has no agent key, like the rest of the API).
fn read_denied(approvers: &ApproverDirectory, headers: &HeaderMap) -> Option<Response> {
    let token = presented_token(headers);
    match token.map(|t| approvers.by_key(t)) {
        Some(KeyOwner::Approver(_) | KeyOwner::Agent) => None,
        _ if !approvers.agent_key_set() => None,
        None => Some(unauthorized(
            "missing bearer key (the agent's OPENCLAW_API_KEY or an approver's key)",
            "Bearer realm=\"incident-mcp\"",
        )),
        Some(KeyOwner::Unknown) => Some(unauthorized(
            "invalid key",
            "Bearer realm=\"incident-mcp\", error=\"invalid_token\"",
        )),
    }
}

async fn view(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = read_denied(svc.approvers(), &headers) {
        return denied;
    }
    async {
        let id = plan_id(id)?;
        Ok::<_, RestError>(Json(svc.plan_view(&id).await?.phrase(&RestPhrases)))
    }
    .await
    .into_response()
}

async fn list(
    State(svc): State<IncidentService>,
    q: Result<Query<PlanListRequest>, QueryRejection>,
    headers: HeaderMap,
) -> Response {
    if let Some(denied) = read_denied(svc.approvers(), &headers) {
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

/// Whether `id` has the form of a plan id ([`PLAN_ID_PATTERN`]).
pub(super) fn is_plan_id(id: &str) -> bool {
    id.len() == 21
        && id.starts_with("plan-")
        && id[5..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn plan_id(p: Result<Path<String>, PathRejection>) -> Result<String, RestError> {
    let Path(id) = p.map_err(|e| RestError::new(StatusCode::BAD_REQUEST, &e.body_text(), Some("plan_id")))?;
    if !is_plan_id(&id) {
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
    Extension(RestPrincipal(who)): Extension<RestPrincipal>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<PlanReport>, RestError> {
    let id = match plan_id(id) {
        Ok(id) => id,
        Err(e) => return Err(e.audited(&svc, &who, "incident_apply").await),
    };
    Ok(Json(svc.apply_plan(&id, &who).await?.phrase(&RestPhrases)))
}

/// The approver presenting `headers`' bearer key (`human:NAME`), or the answer refusing them
/// (the agent's key is refused and audited: it never approves or denies).
async fn approver_of(
    svc: &IncidentService,
    headers: &HeaderMap,
    plan: Option<&str>,
    what: &str,
    (mode, path): (ToolPolicy, &str),
) -> Result<String, Response> {
    let token = presented_token(headers);
    match token.map(|t| svc.approvers().by_key(t)) {
        None => Err(unauthorized(
            "missing bearer approver key (Authorization: Bearer <an approver's key from [[approvers]]>)",
            "Bearer realm=\"incident-mcp-approvers\"",
        )),
        Some(KeyOwner::Unknown) => Err(unauthorized(
            "invalid approver key",
            "Bearer realm=\"incident-mcp-approvers\", error=\"invalid_token\"",
        )),
        Some(KeyOwner::Agent) => {
            let payload = serde_json::json!({
                "by": format!("rest_{what}"), "reason": "agent_cannot_approve",
                "message": format!("the agent's API key was presented to {what} a plan"),
            });
            let plan = plan.map(|p| clip(p, 80));
            if let Err(e) = svc.audit_refusal(REST_PRINCIPAL, None, plan.as_deref(), payload).await {
                return Err(RestError::from(e).into_response());
            }
            Err(RestError::new(
                StatusCode::FORBIDDEN,
                &format!(
                    "the agent's API key cannot {what} plans: a human does it with their own key ([[approvers]]), on \
                     the approval page or with `incident-mcp approve <plan-id>`; nothing was done"
                ),
                None,
            )
            .into_response())
        }
        Some(KeyOwner::Approver(name)) => {
            let approver = human(&name);
            // The server's mode (--read-only, --disable-destructive), once the approver is known.
            match super::mode::refusal(mode, &Method::POST, path) {
                Some(refused) => Err(refused.answer(svc, &approver, &Method::POST, path).await),
                None => Ok(approver),
            }
        }
    }
}

/// Who decides on which plan: the approver presenting their key (refused and audited
/// otherwise, and under the server's mode) and the plan id from the path, checked in that order.
async fn decision(
    svc: &IncidentService,
    (mode, uri): (ToolPolicy, &Uri),
    id: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    what: &str,
) -> Result<(String, String), Response> {
    let plan = id.as_ref().ok().map(|p| p.0.clone());
    let approver = approver_of(svc, headers, plan.as_deref(), what, (mode, uri.path())).await?;
    let id = plan_id(id).map_err(IntoResponse::into_response)?;
    Ok((approver, id))
}

async fn approve(
    State(svc): State<IncidentService>,
    Extension(mode): Extension<ToolPolicy>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (approver, id) = match decision(&svc, (mode, &uri), id, &headers, "approve").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    async {
        let b: ApproveBody = json_body(&headers, body, Some(ApproveBody::default()))?;
        let svc = svc.via(crate::metrics::Channel::Rest);
        Ok::<_, RestError>(Json(svc.approve_plan(&id, &approver, b.ttl_secs.unwrap_or(300)).await?))
    }
    .await
    .into_response()
}

async fn approve_and_apply(
    State(svc): State<IncidentService>,
    Extension(mode): Extension<ToolPolicy>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Response {
    let (approver, id) = match decision(&svc, (mode, &uri), id, &headers, "approve").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    match svc
        .via(crate::metrics::Channel::Rest)
        .approve_and_apply(&id, &approver)
        .await
    {
        Ok(r) => Json(r.phrase(&RestPhrases)).into_response(),
        Err(e) => RestError::from(e).into_response(),
    }
}

/// Body of `POST /api/plans/{plan_id}/deny`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DenyBody {
    /// Why the plan is denied (1-500 characters, something besides spaces and control
    /// characters); the agent sees it.
    #[schemars(length(min = 1, max = 500), pattern(crate::service::REASON_PATTERN))]
    pub reason: String,
}

async fn deny(
    State(svc): State<IncidentService>,
    Extension(mode): Extension<ToolPolicy>,
    uri: Uri,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (approver, id) = match decision(&svc, (mode, &uri), id, &headers, "deny").await {
        Ok(d) => d,
        Err(r) => return r,
    };
    async {
        let b: DenyBody = json_body(&headers, body, None)?;
        Ok::<_, RestError>(Json(
            svc.via(crate::metrics::Channel::Rest)
                .deny_plan(&id, &approver, &b.reason)
                .await?,
        ))
    }
    .await
    .into_response()
}
