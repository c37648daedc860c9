//! REST API over the service layer: `/api/incident/*`, `/api/incidents`.
//! Every error is a JSON [`ApiError`]: 400 names the bad field, 401/403 come from the
//! guards, 404 for unknown ids, 409 for illegal lifecycle moves, 413 for oversized bodies,
//! 415 for a body that is not JSON, 503 for backend failures.

use axum::{
    Json, Router,
    body::Bytes,
    extract::{
        Path, Query, State,
        rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
    },
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{
    domain::{Depth, IncidentId, clip},
    service::*,
};

/// Error body of every non-2xx response.
#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct ApiError {
    /// What went wrong and how to fix it.
    pub error: String,
    /// A stable code for the kind of error (README "Error codes"): invalid_argument,
    /// unknown_env, unknown_source, not_found, conflict, source_unavailable, storage_unavailable,
    /// backend_failed, unauthorized, forbidden, payload_too_large, unsupported_media_type.
    pub error_code: String,
    /// The request field at fault, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A JSON error response (also used by the guards).
pub fn error_body(status: StatusCode, error: &str, field: Option<&str>) -> Response {
    RestError::new(status, error, field).into_response()
}

/// An error response on its way out (kept small: handlers return it in `Result`s).
pub(super) struct RestError {
    status: StatusCode,
    body: ApiError,
}

impl RestError {
    /// An error whose code follows from its status (errors of the service name their own).
    pub(super) fn new(status: StatusCode, error: &str, field: Option<&str>) -> Self {
        let code = match status {
            StatusCode::UNAUTHORIZED => "unauthorized",
            StatusCode::FORBIDDEN => "forbidden",
            StatusCode::NOT_FOUND => "not_found",
            StatusCode::CONFLICT => "conflict",
            StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
            s if s.is_server_error() => "backend_failed",
            _ => "invalid_argument",
        };
        Self::coded(status, code, error, field)
    }

    pub(super) fn coded(status: StatusCode, code: &str, error: &str, field: Option<&str>) -> Self {
        RestError {
            status,
            body: ApiError {
                error: error.to_owned(),
                error_code: code.to_owned(),
                field: field.map(str::to_owned),
            },
        }
    }
}

impl RestError {
    /// What the response says went wrong.
    pub(super) fn message(&self) -> &str {
        &self.body.error
    }

    /// Audits a destructive request (`tool`) refused before it reached the service (its body
    /// or path did not parse), then answers with this error; or with the audit's failure.
    pub(super) async fn audited(self, svc: &IncidentService, actor: &str, tool: &str) -> Self {
        match svc.audit_rejected_request(actor, tool, self.message()).await {
            Ok(()) => self,
            Err(e) => e.into(),
        }
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// Next steps as REST callers take them: by route.
pub struct RestPhrases;

impl crate::service::Phrasebook for RestPhrases {
    fn phrase(&self, step: &crate::service::NextStep) -> String {
        use crate::service::NextStep;
        match step {
            NextStep::ListIncidents => "GET /api/incidents lists existing incidents".into(),
            NextStep::Propose => {
                "a plan id is what PUT /api/incident/contain/{id} or POST /api/incident/recover/{id} answered".into()
            }
            NextStep::Apply { plan_id, principal } if principal == "rest" => {
                format!("POST /api/plans/{plan_id}/apply")
            }
            NextStep::Apply { plan_id, principal } => format!("{principal}, which proposed it, applies it ({plan_id})"),
            NextStep::Revert { incident } => {
                format!("POST /api/incident/recover/{incident} with method revert undoes the containment")
            }
        }
    }
}

impl From<ServiceError> for RestError {
    fn from(e: ServiceError) -> Self {
        let status = match e.class() {
            ErrorClass::Input => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::Conflict => StatusCode::CONFLICT,
            ErrorClass::Forbidden => StatusCode::FORBIDDEN,
            ErrorClass::Backend => StatusCode::SERVICE_UNAVAILABLE,
        };
        RestError::coded(status, e.code(), &e.phrased(&RestPhrases), e.field())
    }
}

impl From<JsonRejection> for RestError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => not_json(),
            JsonRejection::BytesRejection(b) => RestError::from(b),
            // The syntax was checked before (see `json_body`), so this is about a value, and
            // serde_json reports some wrong types (e.g. a number for an enum) as syntax errors.
            other => {
                let detail = detail_of(&other);
                RestError::new(
                    StatusCode::BAD_REQUEST,
                    &format!("invalid request body: {detail}"),
                    field_in(&detail).as_deref(),
                )
            }
        }
    }
}

impl From<QueryRejection> for RestError {
    fn from(r: QueryRejection) -> Self {
        let detail = detail_of(&r);
        RestError::new(
            StatusCode::BAD_REQUEST,
            &format!("invalid query string: {detail}"),
            field_in(&detail).as_deref(),
        )
    }
}

impl From<BytesRejection> for RestError {
    fn from(r: BytesRejection) -> Self {
        let status = r.status();
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "request body is larger than the server's limit (server.max_body_bytes)".to_owned()
        } else {
            format!("could not read the request body: {}", detail_of(&r))
        };
        RestError::new(status, &msg, None)
    }
}

/// The deserializer's message without axum's prefix, clipped (serde echoes input, e.g. an
/// unknown enum value). axum deserializes with `serde_path_to_error`, so a field's error
/// reads `path: message`.
fn detail_of(r: &dyn std::error::Error) -> String {
    clip(&r.source().map_or_else(|| r.to_string(), ToString::to_string), 300)
}

/// The top-level request field an error message is about, if it names one:
/// the `serde_path_to_error` path prefix (`threshold: invalid threshold: …`, `labels.x: …`)
/// or serde's own `missing field `x``, `unknown field `x``, `duplicate field `x``.
fn field_in(detail: &str) -> Option<String> {
    if let Some((path, _)) = detail.split_once(": ") {
        let is_path = !path.is_empty()
            && path
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'[' | b']'));
        if is_path {
            let top = path.split(['.', '[']).next().unwrap_or(path);
            if !top.is_empty() {
                return Some(top.to_owned());
            }
        }
    }
    ["missing field `", "unknown field `", "duplicate field `"]
        .iter()
        .find_map(|m| between(detail, m, "`"))
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_owned())
}

/// Path ids are matched exactly (1-12 digits, not zero, after an optional `INC-`); unlike the
/// CLI, the REST API does not trim whitespace, so it accepts exactly what its OpenAPI pattern
/// describes.
pub(super) fn parse_id(raw: Result<Path<String>, PathRejection>) -> Result<IncidentId, RestError> {
    let invalid = |raw: &str| {
        let e = crate::domain::DomainError::invalid(
            "id",
            format!(
                "`{}` is not an incident id; expected INC- followed by digits, e.g. INC-000001, or the number alone, e.g. 1",
                clip(raw, 40)
            ),
        );
        RestError::from(ServiceError::from(e))
    };
    let Path(raw) = raw.map_err(|r| RestError::new(StatusCode::BAD_REQUEST, &r.body_text(), Some("id")))?;
    if raw.trim() != raw {
        return Err(invalid(&raw));
    }
    raw.parse().map_err(|_| invalid(&raw))
}

/// A JSON request body. `Content-Type` must be JSON (else 415). An empty body counts as
/// `empty` when the operation allows it (its body is optional), else it is a 400.
pub(super) fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    bytes: Result<Bytes, BytesRejection>,
    empty: Option<T>,
) -> Result<T, RestError> {
    let bytes = bytes?;
    if bytes.is_empty() {
        return empty.ok_or_else(|| {
            RestError::new(
                StatusCode::BAD_REQUEST,
                "a JSON request body is required (Content-Type: application/json)",
                None,
            )
        });
    }
    if !is_json(headers) {
        return Err(not_json());
    }
    // Malformed JSON is nobody's field: check the syntax alone first.
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
        let msg = format!("malformed JSON body: {}", clip(&e.to_string(), 300));
        return Err(RestError::new(StatusCode::BAD_REQUEST, &msg, None));
    }
    // serde's derived structs also accept an array of the fields in order: not our API.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(RestError::new(
            StatusCode::BAD_REQUEST,
            "the request body must be a JSON object",
            None,
        ));
    }
    Ok(Json::<T>::from_bytes(&bytes)?.0)
}

fn not_json() -> RestError {
    RestError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "the request body must be JSON: send `Content-Type: application/json`",
        None,
    )
}

/// `application/json` or `application/<something>+json`, parameters allowed.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

type Rest<T> = Result<Json<T>, RestError>;

/// Query of `GET /api/incident/analyze/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeQuery {
    /// Detail level 0-3 (default 1).
    pub depth: Option<Depth>,
}

/// Body of `POST /api/incident/ack/{id}` (optional: an empty body means no note).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AckBody {
    /// Optional note for the timeline, e.g. who is looking at it.
    #[serde(default)]
    #[schemars(length(max = 2000))]
    pub note: Option<String>,
}

/// A character that `str::trim` does not remove (Rust's `White_Space` set, spelled out so
/// that every regex engine reading the OpenAPI document agrees with the server).
pub const NON_BLANK_PATTERN: &str = r"[^\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

/// Body of `POST /api/incident/resolve/{id}`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveBody {
    /// Resolution note for the timeline and post-mortem: cause and fix. Must not be blank.
    #[schemars(length(min = 1, max = 2000), pattern(NON_BLANK_PATTERN))]
    pub note: String,
    /// Resolve even though containments of the incident are still in place, leaving them in
    /// place (noted in the timeline); without it such a resolve is refused (409) naming them.
    #[serde(default)]
    pub keep_containments: bool,
}

pub fn routes(svc: IncidentService) -> Router {
    Router::new()
        .route("/api/incident/detect", post(detect))
        .route("/api/incident/analyze/{id}", get(analyze))
        .route("/api/incident/ack/{id}", post(ack))
        .route("/api/incident/resolve/{id}", post(resolve))
        .route("/api/incident/{id}", get(get_one))
        .route("/api/incidents", get(list))
        .route("/api/audit", get(audit))
        .with_state(svc)
}

async fn detect(
    State(svc): State<IncidentService>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Rest<DetectReport> {
    let req: DetectRequest = json_body(&headers, body, None)?;
    Ok(Json(svc.detect(req, Caller::REST).await?))
}

async fn analyze(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
    q: Result<Query<AnalyzeQuery>, QueryRejection>,
) -> Rest<Analysis> {
    let id = parse_id(id)?;
    let Query(q) = q?;
    Ok(Json(svc.analyze(AnalyzeRequest { id, depth: q.depth }).await?))
}

async fn get_one(State(svc): State<IncidentService>, id: Result<Path<String>, PathRejection>) -> Rest<IncidentDetail> {
    Ok(Json(svc.get(GetRequest { id: parse_id(id)? }).await?))
}

/// The query string is the service's own [`ListRequest`].
async fn list(State(svc): State<IncidentService>, q: Result<Query<ListRequest>, QueryRejection>) -> Rest<IncidentList> {
    let Query(q) = q?;
    Ok(Json(svc.list(q).await?))
}

/// The query string is the service's own [`AuditListRequest`].
async fn audit(
    State(svc): State<IncidentService>,
    q: Result<Query<AuditListRequest>, QueryRejection>,
) -> Rest<AuditList> {
    let Query(q) = q?;
    Ok(Json(svc.audit_recent(q.limit.unwrap_or(50), q.before).await?))
}

async fn ack(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Rest<LifecycleResult> {
    let id = parse_id(id)?;
    let body: AckBody = json_body(&headers, body, Some(AckBody::default()))?;
    Ok(Json(svc.ack(AckRequest { id, note: body.note }, Caller::REST).await?))
}

async fn resolve(
    State(svc): State<IncidentService>,
    id: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Rest<LifecycleResult> {
    let id = parse_id(id)?;
    let body: ResolveBody = json_body(&headers, body, None)?;
    Ok(Json(
        svc.resolve(
            ResolveRequest {
                id,
                note: body.note,
                keep_containments: body.keep_containments,
            },
            Caller::REST,
        )
        .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_in_deserializer_messages() {
        let cases = [
            (
                "threshold: invalid threshold: 1.5 is outside 0..1 at line 1 column 30",
                Some("threshold"),
            ),
            (
                "env: invalid type: integer `5`, expected a string at line 1 column 8",
                Some("env"),
            ),
            ("labels.pod: invalid type: null", Some("labels")),
            ("missing field `env` at line 1 column 2", Some("env")),
            (
                "unknown field `bogus`, expected one of `env`, `type` at line 1 column 8",
                Some("bogus"),
            ),
            (
                "invalid type: sequence, expected struct DetectRequest at line 1 column 0",
                None,
            ),
            ("limit: invalid digit found in string", Some("limit")),
        ];
        for (detail, want) in cases {
            assert_eq!(field_in(detail).as_deref(), want, "{detail}");
        }
    }

    #[test]
    fn json_content_types() {
        let mut h = HeaderMap::new();
        assert!(!is_json(&h));
        for (ct, ok) in [
            ("application/json", true),
            ("application/json; charset=utf-8", true),
            ("Application/JSON", true),
            ("application/merge-patch+json", true),
            ("text/plain", false),
            ("application/x-www-form-urlencoded", false),
        ] {
            h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
            assert_eq!(is_json(&h), ok, "{ct}");
        }
    }
}
