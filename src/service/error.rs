//! Service errors, classified so every adapter maps them the same way.

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
    #[error("no incident {0}; call incident_list to see existing incidents")]
    NotFound(IncidentId),
    /// No stored plan has this id (the id comes from the answer that proposed the plan).
    #[error("no plan {0}; a plan id is what incident_contain or incident_recover answered")]
    UnknownPlan(String),
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
            e @ StoreError::IllegalTransition { .. } => ServiceError::Conflict(e.to_string()),
            other => {
                tracing::error!(error = %other, "store failure");
                ServiceError::Store(other.to_string())
            }
        }
    }
}

impl ServiceError {
    pub fn class(&self) -> ErrorClass {
        match self {
            ServiceError::Invalid(_) | ServiceError::UnknownEnv { .. } | ServiceError::UnknownSource { .. } => {
                ErrorClass::Input
            }
            ServiceError::NotFound(_) | ServiceError::UnknownPlan(_) => ErrorClass::NotFound,
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
            ServiceError::Conflict(_) => "conflict".into(),
            ServiceError::Forbidden(_) => "forbidden".into(),
            ServiceError::Source(_) => "source_error".into(),
            ServiceError::Store(_) => "store_error".into(),
            ServiceError::Backend(_) => "backend_error".into(),
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
            _ => None,
        }
    }
}
