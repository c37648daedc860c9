//! Pure domain types and rules. No I/O happens in this module.

pub mod access;
pub mod audit;
pub mod change;
mod cursor;
mod digest;
pub mod entity;
pub mod graph;
pub mod grouping;
pub mod incident;
pub mod k8s_names;
pub mod manage;
pub mod plan;
pub mod policy;
pub mod runbook;
mod signal;
pub mod similarity;
pub mod timestamp;
mod untrusted;
mod values;

pub use cursor::{INCIDENT_CURSOR_PATTERN, IncidentCursor};
pub use incident::{Incident, IncidentId, IncidentType, Severity, Status};

pub use digest::{canonical_json, same_digest, sha256_hex};
pub use signal::{Signal, SignalKind, TimelineEntry, TimelineKind};
pub use untrusted::{UNTRUSTED_NOTE, redact_secrets, redact_url, safe_component, sanitize_untrusted};
pub use values::{Depth, Env, Threshold};

/// A value that breaks a domain rule, naming the offending field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid {field}: {message}")]
pub struct DomainError {
    /// The argument or field at fault.
    pub field: String,
    /// What is wrong with it and what is accepted.
    pub message: String,
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The one way times are shown to people (tables, summaries, messages): UTC, ISO 8601 to the
/// second, e.g. `2026-05-01T12:00:00Z`.
pub fn display_time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Printable ASCII only (no control characters): text the cleaning of `clip` and
/// `untrusted::sanitize_untrusted` leaves as it is, within their length limits.
pub(crate) fn is_printable_ascii(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii() && !b.is_ascii_control())
}

/// Cuts `s` to at most `max` characters for safe echoing in error messages.
pub(crate) fn clip(s: &str, max: usize) -> String {
    if s.len() <= max && is_printable_ascii(s) {
        return s.to_owned();
    }
    let mut out: String = s.chars().filter(|c| !c.is_control()).take(max).collect();
    if s.chars().count() > max {
        out.push('…');
    }
    out
}
