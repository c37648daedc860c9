//! Service errors, classified so every adapter maps them the same way.

use super::next::{NextStep, Phrasebook};
use crate::{
    detect::SourceError,
    domain::{DomainError, IncidentId},
    store::StoreError,
};

/// How an adapter should report an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// Bad argument or unknown name: CLI exit 1, REST 400, MCP tool error.
    Input,
    /// Unknown incident: CLI exit 1, REST 404, MCP tool error.
    NotFound,
    /// Illegal lifecycle move: CLI exit 1, REST 409, MCP tool error.
    Conflict,
    /// The caller may not do this (e.g. remove a hook another principal added): CLI exit 1,
    /// REST 403, MCP tool error.
    Forbidden,
    /// Source or storage failure: CLI exit 2, REST 502/503, MCP tool error.
    Backend,
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] DomainError),
    #[error("unknown environment `{env}`; configured environments: {known}")]
    UnknownEnv { env: String, known: String },
    #[error("unknown source `{source_name}` for environment {env}; configured sources: {known}")]
    UnknownSource {
        source_name: String,
        env: String,
        known: String,
    },
    /// No such incident; adapters add how to list them ([`ServiceError::next_step`]).
    #[error("no incident {0}")]
    NotFound(IncidentId),
    /// No stored plan has this id (the id comes from the answer that proposed the plan).
    #[error("no plan {0}")]
    UnknownPlan(String),
    /// A list's `before` cursor names no stored plan (a well-formed id: 404, like the plan).
    #[error("before: no plan {0}; pass the next_before of an earlier page")]
    UnknownPlanCursor(String),
    /// No outbox row has this id.
    #[error("no outbox row {0}; `outbox list` (or incident://outbox/dead) shows the rows")]
    UnknownOutboxRow(i64),
    #[error("{0}")]
    Conflict(String),
    /// The caller may not do this; the message says who may.
    #[error("{0}")]
    Forbidden(String),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("storage unavailable: {0}")]
    Store(String),
    /// A containment/recovery backend failed or could not be reached.
    #[error("backend failed: {0}")]
    Backend(String),
}

impl From<StoreError> for ServiceError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(id) => ServiceError::NotFound(id),
            e @ (StoreError::IllegalTransition { .. } | StoreError::OutdatedPlan(_)) => {
                ServiceError::Conflict(e.to_string())
            }
            other => {
                tracing::error!(error = %other, "store failure");
                ServiceError::Store(other.to_string())
            }
        }
    }
}

/// Every `error_code` an adapter may answer, with its class. The service's errors come first;
/// the rest belong to the HTTP guards (401, 403, 413, 415) and the CLI's remote mode.
pub const ERROR_CODES: &[(&str, &str)] = &[
    (
        "invalid_argument",
        "a value is missing or malformed (the `field` names it): exit 1, HTTP 400",
    ),
    ("unknown_env", "no such environment is configured: exit 1, HTTP 400"),
    ("unknown_source", "no such source in the environment: exit 1, HTTP 400"),
    ("not_found", "no such incident, plan or hook: exit 1, HTTP 404"),
    (
        "conflict",
        "refused by policy, or not possible in the current state: exit 1, HTTP 409",
    ),
    (
        "forbidden",
        "the caller may not do this (e.g. the agent's key removing a hook a human added): exit 1, HTTP 403",
    ),
    ("source_unavailable", "a telemetry source failed: exit 2, HTTP 503"),
    ("storage_unavailable", "the database failed: exit 2, HTTP 503"),
    (
        "backend_failed",
        "a response backend, a notification or the server (remote mode) failed: exit 2, HTTP 503",
    ),
    (
        "unauthorized",
        "missing or wrong bearer key: HTTP 401 (remote mode: exit 2)",
    ),
    (
        "forbidden",
        "the key may not do this, or Host/Origin refused: HTTP 403 (remote mode: exit 2)",
    ),
    ("payload_too_large", "the body exceeds server.max_body_bytes: HTTP 413"),
    ("unsupported_media_type", "the body is not JSON: HTTP 415"),
];

impl ServiceError {
    /// What the caller can do about this error, for the adapter to phrase.
    pub fn next_step(&self) -> Option<NextStep> {
        match self {
            ServiceError::NotFound(_) => Some(NextStep::ListIncidents),
            ServiceError::UnknownPlan(_) => Some(NextStep::Propose),
            _ => None,
        }
    }

    /// The message with its next step as `p` phrases it: what an adapter shows its callers.
    pub fn phrased(&self, p: &dyn Phrasebook) -> String {
        super::next::with_step(&self.to_string(), self.next_step().as_ref(), p)
    }

    pub fn class(&self) -> ErrorClass {
        match self {
            ServiceError::Invalid(_) | ServiceError::UnknownEnv { .. } | ServiceError::UnknownSource { .. } => {
                ErrorClass::Input
            }
            ServiceError::NotFound(_)
            | ServiceError::UnknownPlan(_)
            | ServiceError::UnknownPlanCursor(_)
            | ServiceError::UnknownOutboxRow(_) => ErrorClass::NotFound,
            ServiceError::Conflict(_) => ErrorClass::Conflict,
            ServiceError::Forbidden(_) => ErrorClass::Forbidden,
            ServiceError::Source(_) | ServiceError::Store(_) | ServiceError::Backend(_) => ErrorClass::Backend,
        }
    }

    /// A short code naming why a request was refused, for audit entries: `invalid_<field>`,
    /// `unknown_incident`, `unknown_plan`, `unknown_env`, `conflict`, `backend_error`, ...
    pub fn reason_code(&self) -> String {
        match self {
            ServiceError::Invalid(d) => {
                let field: String = d
                    .field
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() {
                            c.to_ascii_lowercase()
                        } else {
                            '_'
                        }
                    })
                    .take(40)
                    .collect();
                format!("invalid_{field}")
            }
            ServiceError::UnknownEnv { .. } => "unknown_env".into(),
            ServiceError::UnknownSource { .. } => "unknown_source".into(),
            ServiceError::NotFound(_) => "unknown_incident".into(),
            ServiceError::UnknownPlan(_) => "unknown_plan".into(),
            ServiceError::UnknownPlanCursor(_) => "unknown_plan".into(),
            ServiceError::UnknownOutboxRow(_) => "unknown_outbox_row".into(),
            ServiceError::Conflict(_) => "conflict".into(),
            ServiceError::Forbidden(_) => "forbidden".into(),
            ServiceError::Source(_) => "source_error".into(),
            ServiceError::Store(_) => "store_error".into(),
            ServiceError::Backend(_) => "backend_error".into(),
        }
    }

    /// A stable code for this kind of error, the same on every adapter: CLI `--format json`,
    /// REST bodies and MCP results' `_meta`. README "Error codes" lists them.
    pub fn code(&self) -> &'static str {
        match self {
            ServiceError::Invalid(_) => "invalid_argument",
            ServiceError::UnknownEnv { .. } => "unknown_env",
            ServiceError::UnknownSource { .. } => "unknown_source",
            ServiceError::NotFound(_)
            | ServiceError::UnknownPlan(_)
            | ServiceError::UnknownPlanCursor(_)
            | ServiceError::UnknownOutboxRow(_) => "not_found",
            ServiceError::Conflict(_) => "conflict",
            ServiceError::Forbidden(_) => "forbidden",
            ServiceError::Source(_) => "source_unavailable",
            ServiceError::Store(_) => "storage_unavailable",
            ServiceError::Backend(_) => "backend_failed",
        }
    }

    /// The request field at fault, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ServiceError::Invalid(d) => Some(&d.field),
            ServiceError::UnknownEnv { .. } => Some("env"),
            ServiceError::UnknownSource { .. } => Some("source"),
            ServiceError::NotFound(_) => Some("id"),
            ServiceError::UnknownPlan(_) => Some("plan_id"),
            ServiceError::UnknownPlanCursor(_) => Some("before"),
            ServiceError::UnknownOutboxRow(_) => Some("id"),
            _ => None,
        }
    }
}
