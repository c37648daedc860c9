//! Incident management over REST: `POST /api/incident/declare` (201 with the new incident),
//! `POST /api/incident/note/{id}`, `POST /api/incident/assign/{id}`,
//! `POST /api/incident/severity/{id}` (200 with the incident afterwards; 404 for an unknown
//! id), and `GET /api/incident/postmortem/{id}` (the post-mortem record the
//! `incident-postmortem` prompt carries). Bodies are the MCP tools' arguments without `id`; the
//! service checks them (400 naming the field) before anything is written.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{Path, State, rejection::BytesRejection, rejection::PathRejection},
    http::{HeaderMap, StatusCode},
    routing::{get, post},
};
use schemars::JsonSchema;
use serde::{Deserialize, de::DeserializeOwned};

use super::rest::{RestError, json_body, parse_id};
use crate::{
    domain::{
        Env, IncidentId, IncidentType, Severity,
        manage::{ENTITY_PATTERN, PERSON_PATTERN, TEXT_PATTERN, TITLE_PATTERN},
    },
    service::*,
};

/// Body of `POST /api/incident/declare`: `incident_declare`'s arguments, with the service's
/// text rules as patterns.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclareBody {
    /// Environment, as configured; omit for the server's default environment.
    #[serde(default)]
    pub env: Option<Env>,
    /// One line saying what is wrong, e.g. `Checkout returns 502 for some users` (1-200
    /// characters, no control characters, not blank).
    #[schemars(length(min = 1, max = 200), pattern(TITLE_PATTERN))]
    pub title: String,
    /// Incident type (default other).
    #[serde(rename = "type", default)]
    pub kind: Option<IncidentType>,
    /// Severity (default medium).
    #[serde(default)]
    pub severity: Option<Severity>,
    /// Affected entities, `kind/name` or `kind/namespace/name` (`service/checkout`,
    /// `pod/shop/web-1`, `ip/203.0.113.9`), at most 20.
    #[serde(default)]
    #[schemars(length(max = 20), inner(length(min = 3, max = 540), pattern(ENTITY_PATTERN)))]
    pub entities: Vec<String>,
    /// A first note for the timeline: what was seen, by whom (line breaks are fine).
    #[serde(default)]
    #[schemars(length(min = 1, max = 2000), pattern(TEXT_PATTERN))]
    pub note: Option<String>,
}

/// Body of `POST /api/incident/note/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note: what was found, tried or decided (1-2000 characters; line breaks are fine).
    #[schemars(length(min = 1, max = 2000), pattern(TEXT_PATTERN))]
    pub note: String,
}

/// Body of `POST /api/incident/assign/{id}`: an owner, a commander, or both.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    { "required": ["owner"], "properties": { "owner": { "type": "string" } } },
    { "required": ["commander"], "properties": { "commander": { "type": "string" } } }
]))]
pub struct AssignBody {
    /// The owner: a person's name or handle (`alice`, `alice@example.com`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), pattern(PERSON_PATTERN))]
    pub owner: Option<String>,
    /// The incident commander: a person's name or handle.
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), pattern(PERSON_PATTERN))]
    pub commander: Option<String>,
}

/// Body of `POST /api/incident/severity/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityBody {
    /// The new severity.
    pub severity: Severity,
    /// Why, for the timeline and the audit log.
    #[schemars(length(min = 1, max = 2000), pattern(TEXT_PATTERN))]
    pub reason: String,
}

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/incident/declare", post(declare))
        .route("/api/incident/note/{id}", post(note))
        .route("/api/incident/assign/{id}", post(assign))
        .route("/api/incident/severity/{id}", post(severity))
        .route("/api/incident/postmortem/{id}", get(postmortem))
        .with_state(svc)
}

type Rest<T> = Result<Json<T>, RestError>;
type IdPath = Result<Path<String>, PathRejection>;
type Body = Result<Bytes, BytesRejection>;

/// The incident of the path and the JSON body of a request about it, both checked.
fn id_and_body<B: DeserializeOwned>(id: IdPath, headers: &HeaderMap, body: Body) -> Result<(IncidentId, B), RestError> {
    Ok((parse_id(id)?, json_body(headers, body, None)?))
}

async fn declare(
    State(svc): State<IncidentService>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<IncidentUpdate>), RestError> {
    let b: DeclareBody = json_body(&headers, body, None)?;
    let req = DeclareRequest {
        env: b.env,
        title: b.title,
        kind: b.kind,
        severity: b.severity,
        entities: b.entities,
        note: b.note,
    };
    Ok((StatusCode::CREATED, Json(svc.declare(req, Caller::REST).await?)))
}

async fn note(State(svc): State<IncidentService>, id: IdPath, headers: HeaderMap, body: Body) -> Rest<IncidentUpdate> {
    let (id, b): (_, NoteBody) = id_and_body(id, &headers, body)?;
    Ok(Json(svc.note(NoteRequest { id, note: b.note }, Caller::REST).await?))
}

async fn assign(
    State(svc): State<IncidentService>,
    id: IdPath,
    headers: HeaderMap,
    body: Body,
) -> Rest<IncidentUpdate> {
    let (id, b): (_, AssignBody) = id_and_body(id, &headers, body)?;
    let req = AssignRequest {
        id,
        owner: b.owner,
        commander: b.commander,
    };
    Ok(Json(svc.assign(req, Caller::REST).await?))
}

async fn severity(
    State(svc): State<IncidentService>,
    id: IdPath,
    headers: HeaderMap,
    body: Body,
) -> Rest<IncidentUpdate> {
    let (id, b): (_, SeverityBody) = id_and_body(id, &headers, body)?;
    let req = SeverityRequest {
        id,
        severity: b.severity,
        reason: b.reason,
    };
    Ok(Json(svc.set_severity(req, Caller::REST).await?))
}

/// The same record as the `incident-postmortem` prompt's (`IncidentService::postmortem`).
async fn postmortem(State(svc): State<IncidentService>, id: IdPath) -> Rest<Postmortem> {
    Ok(Json(svc.postmortem(parse_id(id)?).await?))
}
