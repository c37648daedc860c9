//! `PUT /api/incident/contain/{id}`, `POST /api/incident/recover/{id}` and
//! `POST /api/incident/recover` (the current incident): plan a containment or recovery for
//! principal `rest` and answer 202 with the pending plan. What the body leaves out is filled
//! from the incident (`service::respond_defaults`). REST never applies a plan: a human approves
//! it out of band (`incident-mcp approve <plan-id>`). Plans belong to the caller: `rest` (the
//! agent's key) or `human:NAME` (an approver's own key).
//! `GET /api/containments[?env=&id=]`: what is contained now.

use axum::{
    Extension, Json, Router,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, PathRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode},
    routing::{get, post, put},
};
use schemars::JsonSchema;
use serde::Deserialize;

use super::{
    guard::RestPrincipal,
    rest::{RestError, RestPhrases, json_body, parse_id},
};
use crate::service::*;

/// Whose plans the REST API makes.
pub const REST_PRINCIPAL: &str = "rest";

/// Body of `PUT /api/incident/contain/{id}`: `incident_contain`'s arguments without `id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainBody {
    /// isolate (pod), pause (deployment/NAME), block (IP or CIDR), cordon (node), delete-pod
    /// (pod); default isolate.
    #[serde(default)]
    pub action: Option<ContainAction>,
    /// The target: a pod name, `deployment/NAME`, a node name, an IP/CIDR, or `script/ID`;
    /// default: the one the incident's affected resources name for the action.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), pattern(RESOURCE_PATTERN))]
    pub resource: Option<String>,
    /// Namespace of the target; omit for cordon, or to take the incident's.
    #[serde(default)]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// How far the containment reaches: workload (default; isolate, pause, delete-pod),
    /// namespace (block an address) or cluster (cordon the node); picks the action when
    /// `action` is left out.
    #[serde(default)]
    pub scope: Option<ContainScope>,
    /// Revert the containment automatically after this many seconds (60-604800).
    #[serde(default, deserialize_with = "whole_secs")]
    #[schemars(range(min = 60, max = 604800))]
    pub ttl_secs: Option<u64>,
    /// Arguments of a configured script (`resource = script/ID`), by name.
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
}

/// Body of `POST /api/incident/recover/{id}` and `POST /api/incident/recover`:
/// `incident_recover`'s arguments without `id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecoverBody {
    /// rollback or restore (a workload), or revert (the incident's latest containment);
    /// default: restore when `backup_id` is given, else rollback.
    #[serde(default)]
    pub method: Option<RecoverMethod>,
    /// Workload for rollback/restore (`deployment/NAME`) or `script/ID`; omit for revert and to
    /// take the incident's workload.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), pattern(RECOVER_RESOURCE_PATTERN))]
    pub resource: Option<String>,
    /// Namespace of the workload (`scope` is accepted too).
    #[serde(default, alias = "scope")]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// Backup to restore (`latest` for the newest).
    #[serde(default)]
    #[schemars(length(min = 1, max = 128))]
    pub backup_id: Option<String>,
    /// Arguments of a configured script (`resource = script/ID`), by name.
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
}

type Accepted = Result<(StatusCode, Json<PlanReport>), RestError>;

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/incident/contain/{id}", put(contain))
        .route("/api/incident/recover/{id}", post(recover))
        .route("/api/incident/recover", post(recover_current))
        .route("/api/containments", get(containments))
        .with_state(svc)
}

async fn contain(
    State(svc): State<IncidentService>,
    Extension(RestPrincipal(who)): Extension<RestPrincipal>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Accepted {
    let parsed = parse_id(id).and_then(|id| Ok((id, json_body::<ContainBody>(&headers, body, None)?)));
    let (id, b) = match parsed {
        Ok(p) => p,
        Err(e) => return Err(e.audited(&svc, &who, "incident_contain").await),
    };
    let draft = ContainDraft {
        id: Some(id),
        action: b.action,
        scope: b.scope,
        resource: b.resource,
        namespace: b.namespace,
        ttl_secs: b.ttl_secs,
        args: b.args,
        ..Default::default()
    };
    let req = svc.resolve_contain(draft, &who).await?;
    let plan = svc.propose_contain(&req, &who).await?;
    svc.announce_pending(&plan, &who).await;
    Ok((StatusCode::ACCEPTED, Json(plan.phrase(&RestPhrases))))
}

async fn recover(
    State(svc): State<IncidentService>,
    Extension(RestPrincipal(who)): Extension<RestPrincipal>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Accepted {
    let parsed = parse_id(id).and_then(|id| Ok((id, json_body::<RecoverBody>(&headers, body, None)?)));
    let (id, b) = match parsed {
        Ok(p) => p,
        Err(e) => return Err(e.audited(&svc, &who, "incident_recover").await),
    };
    plan_recovery(&svc, &who, Some(id), b).await
}

/// `POST /api/incident/recover`: the current incident's recovery.
async fn recover_current(
    State(svc): State<IncidentService>,
    Extension(RestPrincipal(who)): Extension<RestPrincipal>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Accepted {
    let b = match json_body::<RecoverBody>(&headers, body, None) {
        Ok(b) => b,
        Err(e) => return Err(e.audited(&svc, &who, "incident_recover").await),
    };
    plan_recovery(&svc, &who, None, b).await
}

async fn plan_recovery(
    svc: &IncidentService,
    who: &str,
    id: Option<crate::domain::IncidentId>,
    b: RecoverBody,
) -> Accepted {
    let draft = RecoverDraft {
        id,
        method: b.method,
        resource: b.resource,
        namespace: b.namespace,
        backup_id: b.backup_id,
        args: b.args,
    };
    let req = svc.resolve_recover(draft).await?;
    let plan = svc.propose_recover(&req, who).await?;
    svc.announce_pending(&plan, who).await;
    Ok((StatusCode::ACCEPTED, Json(plan.phrase(&RestPhrases))))
}

/// The query string is the service's own [`ContainmentsRequest`].
async fn containments(
    State(svc): State<IncidentService>,
    q: Result<Query<ContainmentsRequest>, QueryRejection>,
) -> Result<Json<ContainmentList>, RestError> {
    let Query(q) = q?;
    Ok(Json(svc.containments(&q).await?))
}
