//! `PUT /api/incident/contain/{id}` and `POST /api/incident/recover/{id}`: plan a containment
//! or recovery for principal `rest` and answer 202 with the pending plan. REST never applies
//! a plan: a human approves it out of band (`incident-mcp approve <plan-id>`).
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
    rest::{RestError, json_body, parse_id},
};
use crate::service::*;

/// Whose plans the REST API makes.
pub const REST_PRINCIPAL: &str = "rest";

/// Body of `PUT /api/incident/contain/{id}`: `incident_contain`'s arguments without `id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainBody {
    /// isolate (pod), pause (deployment/NAME), block (IP or CIDR), cordon (node), delete-pod (pod).
    pub action: ContainAction,
    /// The target: a pod name, `deployment/NAME`, a node name, an IP/CIDR, or `script/ID`.
    #[schemars(length(min = 1, max = 253), pattern(RESOURCE_PATTERN))]
    pub resource: String,
    /// Namespace of the target (`scope` is accepted too); omit for cordon.
    #[serde(default, alias = "scope")]
    #[schemars(length(min = 1, max = 63), pattern(NAMESPACE_PATTERN))]
    pub namespace: Option<String>,
    /// Revert the containment automatically after this many seconds (60-604800).
    #[serde(default, deserialize_with = "whole_secs")]
    #[schemars(range(min = 60, max = 604800))]
    pub ttl_secs: Option<u64>,
    /// Arguments of a configured script (`resource = script/ID`), by name.
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
}

/// Body of `POST /api/incident/recover/{id}`: `incident_recover`'s arguments without `id`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = workload_methods_need_a_resource)]
pub struct RecoverBody {
    /// rollback or restore (a workload), or revert (the incident's latest containment).
    pub method: RecoverMethod,
    /// Workload for rollback/restore (`deployment/NAME`) or `script/ID`; omit for revert.
    #[serde(default)]
    #[schemars(length(min = 1, max = 253), pattern(RESOURCE_PATTERN))]
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

/// rollback and restore act on a workload: the schema requires `resource` for them.
fn workload_methods_need_a_resource(schema: &mut schemars::Schema) {
    schema.insert(
        "if".into(),
        serde_json::json!({ "properties": { "method": { "enum": ["rollback", "restore"] } }, "required": ["method"] }),
    );
    schema.insert(
        "then".into(),
        serde_json::json!({ "required": ["resource"], "properties": { "resource": { "type": "string" } } }),
    );
}

type Accepted = Result<(StatusCode, Json<PlanReport>), RestError>;

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/incident/contain/{id}", put(contain))
        .route("/api/incident/recover/{id}", post(recover))
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
        Err(e) => return Err(e.audited(&svc, REST_PRINCIPAL, "incident_contain").await),
    };
    let req = ContainRequest {
        id,
        action: b.action,
        resource: b.resource,
        namespace: b.namespace,
        ttl_secs: b.ttl_secs,
        args: b.args,
    };
    let plan = svc.propose_contain(&req, &who).await?;
    svc.announce_pending(&plan, &who).await;
    Ok((StatusCode::ACCEPTED, Json(plan)))
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
        Err(e) => return Err(e.audited(&svc, REST_PRINCIPAL, "incident_recover").await),
    };
    let req = RecoverRequest {
        id,
        method: b.method,
        resource: b.resource,
        namespace: b.namespace,
        backup_id: b.backup_id,
        args: b.args,
    };
    let plan = svc.propose_recover(&req, &who).await?;
    svc.announce_pending(&plan, &who).await;
    Ok((StatusCode::ACCEPTED, Json(plan)))
}

/// The query string is the service's own [`ContainmentsRequest`].
async fn containments(
    State(svc): State<IncidentService>,
    q: Result<Query<ContainmentsRequest>, QueryRejection>,
) -> Result<Json<ContainmentList>, RestError> {
    let Query(q) = q?;
    Ok(Json(svc.containments(&q).await?))
}
