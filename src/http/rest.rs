//! REST API over the service layer: `/api/incident/*`, `/api/incidents`.
//! 400 names the bad field, 401 comes from the guard, 404 for unknown ids,
//! 409 for illegal lifecycle moves, 503 for backend failures.

use axum::{
    Json, Router,
    extract::{Path, Query, State, rejection::JsonRejection, rejection::QueryRejection},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::{
    domain::{Depth, Env, IncidentId, IncidentType, Status},
    service::*,
};

/// Error body of every non-2xx response.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    /// What went wrong and how to fix it.
    pub error: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

pub fn error_body(status: StatusCode, error: &str, field: Option<&str>) -> Response {
    (status, Json(ApiError { error: error.to_owned(), field: field.map(str::to_owned) })).into_response()
}

struct RestError(Response);

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        self.0
    }
}

impl From<ServiceError> for RestError {
    fn from(e: ServiceError) -> Self {
        let status = match e.class() {
            ErrorClass::Input => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::Backend => StatusCode::SERVICE_UNAVAILABLE,
        };
        RestError(error_body(status, &e.to_string(), e.field()))
    }
}

impl From<JsonRejection> for RestError {
    fn from(r: JsonRejection) -> Self {
        let text = r.body_text();
        let field = between(&text, "field `", "`").or_else(|| between(&text, "variant `", "`").map(|_| "type".to_owned()));
        let field = field.or_else(|| between(&text, "unknown field `", "`"));
        RestError(error_body(StatusCode::BAD_REQUEST, &text, field.as_deref()))
    }
}

impl From<QueryRejection> for RestError {
    fn from(r: QueryRejection) -> Self {
        let text = r.body_text();
        RestError(error_body(StatusCode::BAD_REQUEST, &text, between(&text, "field `", "`").as_deref()))
    }
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_owned())
}

fn parse_id(raw: &str) -> Result<IncidentId, RestError> {
    raw.parse().map_err(|e: crate::domain::DomainError| RestError::from(ServiceError::from(e)))
}

type Rest<T> = Result<Json<T>, RestError>;

/// Query of `GET /api/incident/analyze/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeQuery {
    /// Detail level 0-3 (default 1).
    pub depth: Option<Depth>,
}

/// Query of `GET /api/incidents`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub env: Option<Env>,
    pub status: Option<Status>,
    #[serde(rename = "type")]
    pub kind: Option<IncidentType>,
    pub limit: Option<u32>,
}

/// Body of `POST /api/incident/ack/{id}`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Optional note for the timeline.
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub note: Option<String>,
}

/// Body of `POST /api/incident/resolve/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// Resolution note: cause and fix.
    #[schemars(length(min = 1, max = 2000))]
    pub note: String,
}

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/incident/detect", post(detect))
        .route("/api/incident/analyze/{id}", get(analyze))
        .route("/api/incident/ack/{id}", post(ack))
        .route("/api/incident/resolve/{id}", post(resolve))
        .route("/api/incident/{id}", get(get_one))
        .route("/api/incidents", get(list))
        .with_state(svc)
}

async fn detect(State(svc): State<IncidentService>, body: Result<Json<DetectRequest>, JsonRejection>) -> Rest<DetectReport> {
    let Json(req) = body?;
    Ok(Json(svc.detect(req, Caller::REST).await?))
}

async fn analyze(
    State(svc): State<IncidentService>,
    Path(id): Path<String>,
    q: Result<Query<AnalyzeQuery>, QueryRejection>,
) -> Rest<Analysis> {
    let id = parse_id(&id)?;
    let Query(q) = q?;
    Ok(Json(svc.analyze(AnalyzeRequest { id, depth: q.depth }).await?))
}

async fn get_one(State(svc): State<IncidentService>, Path(id): Path<String>) -> Rest<IncidentDetail> {
    Ok(Json(svc.get(GetRequest { id: parse_id(&id)? }).await?))
}

async fn list(State(svc): State<IncidentService>, q: Result<Query<ListQuery>, QueryRejection>) -> Rest<IncidentList> {
    let Query(q) = q?;
    Ok(Json(svc.list(ListRequest { env: q.env, status: q.status, kind: q.kind, limit: q.limit }).await?))
}

async fn ack(
    State(svc): State<IncidentService>,
    Path(id): Path<String>,
    body: Result<Json<AckBody>, JsonRejection>,
) -> Rest<LifecycleResult> {
    let id = parse_id(&id)?;
    let Json(body) = body?;
    Ok(Json(svc.ack(AckRequest { id, note: body.note }, Caller::REST).await?))
}

async fn resolve(
    State(svc): State<IncidentService>,
    Path(id): Path<String>,
    body: Result<Json<ResolveBody>, JsonRejection>,
) -> Rest<LifecycleResult> {
    let id = parse_id(&id)?;
    let Json(body) = body?;
    Ok(Json(svc.resolve(ResolveRequest { id, note: body.note }, Caller::REST).await?))
}
