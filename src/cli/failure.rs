//! CLI failures: exit code, stable `error_code`, and how they are reported (one `Error:` line on
//! stderr; with `--format json` also a JSON document on stdout).

use std::io::Write;

use crate::{
    domain::{DomainError, IncidentId},
    service::{ErrorClass, ServiceError},
};

pub const EXIT_OK: u8 = 0;
pub const EXIT_INPUT: u8 = 1;
pub const EXIT_BACKEND: u8 = 2;

/// A failure with its exit code; the message is printed as one `Error: ...` line (and, with
/// `--format json`, as `{"error", "error_code", "field"}` on stdout).
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: u8,
    /// The stable code of the error class (README "Error codes").
    pub error_code: &'static str,
    pub field: Option<String>,
    pub message: String,
    /// The command already printed its (JSON) result on stdout: no error document follows it.
    pub printed: bool,
}

impl Failure {
    /// An input error (exit 1, `invalid_argument`).
    pub(crate) fn input(message: impl std::fmt::Display) -> Self {
        Self {
            code: EXIT_INPUT,
            error_code: "invalid_argument",
            field: None,
            message: message.to_string(),
            printed: false,
        }
    }

    /// A failure a command reported as (exit code, message).
    pub(crate) fn from_exit((code, message): (u8, String)) -> Self {
        Self {
            code,
            error_code: if code == EXIT_BACKEND {
                "backend_failed"
            } else {
                "invalid_argument"
            },
            field: None,
            message,
            printed: false,
        }
    }
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        let code = if e.class() == ErrorClass::Backend {
            EXIT_BACKEND
        } else {
            EXIT_INPUT
        };
        // The CLI names its own commands as the next step.
        let message = match &e {
            ServiceError::NotFound(id) => not_found(&format!("no incident {id}")),
            ServiceError::UnknownPlan(id) => not_found(&format!("no plan {id}")),
            e => e.to_string(),
        };
        Failure {
            code,
            error_code: e.code(),
            field: e.field().map(str::to_owned),
            message,
            printed: false,
        }
    }
}

impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Self {
        Failure::from(ServiceError::from(e))
    }
}

/// A "no incident X" / "no plan X" head as the CLI says it: with the CLI command to run next.
pub(crate) fn not_found(head: &str) -> String {
    match head.starts_with("no plan ") {
        true => format!(
            "{head}; a plan id is what `incident-mcp contain` or `recover` printed (`incident-mcp plans` lists them)"
        ),
        false => format!("{head}; `incident-mcp list` shows the incidents"),
    }
}

pub(crate) fn backend(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: EXIT_BACKEND,
        error_code: "backend_failed",
        field: None,
        message: message.to_string(),
        printed: false,
    }
}

/// An incident id as a person or a script writes it: `INC-000123`, `123`, or quoted as `jq`
/// prints a JSON string (`"INC-000123"`, from `$(... | jq .id)`).
pub(crate) fn cli_id(raw: &str) -> Result<IncidentId, Failure> {
    let t = raw.trim();
    let t = t.strip_prefix('"').and_then(|r| r.strip_suffix('"')).unwrap_or(t);
    Ok(t.parse::<IncidentId>()?)
}

/// Whether the command line asks for JSON output (`--format json` / `--format=json`).
fn json_requested() -> bool {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2).any(|w| w[0] == "--format" && w[1] == "json") || args.iter().any(|a| a == "--format=json")
}

/// Reports a failure: one `Error:` line on stderr; with `--format json` also the error as JSON
/// on stdout, so a script parsing the output finds `error_code`.
pub(crate) fn report(f: &Failure) {
    if json_requested() && !f.printed {
        let mut v = serde_json::json!({ "error": f.message, "error_code": f.error_code });
        if let Some(field) = &f.field {
            v["field"] = serde_json::Value::String(field.clone());
        }
        let text = serde_json::to_string_pretty(&v).unwrap_or_default();
        tracing::debug!(output = ?text, "cli output");
        // A closed stdout (`| head`) must not turn a reported failure into a panic.
        let _ = writeln!(std::io::stdout().lock(), "{text}");
    }
    eprintln!("Error: {}", f.message.replace('\n', " "));
}
