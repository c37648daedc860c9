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

/// Next steps as CLI users take them: by command.
pub struct CliPhrases;

impl crate::service::Phrasebook for CliPhrases {
    fn phrase(&self, step: &crate::service::NextStep) -> String {
        use crate::service::NextStep;
        match step {
            NextStep::ListIncidents => "`incident-mcp list` shows the incidents".into(),
            NextStep::Propose => {
                "a plan id is what `incident-mcp contain` or `incident-mcp recover` printed (`incident-mcp plans` lists them)".into()
            }
            NextStep::Apply { plan_id, principal } if principal == "cli" => {
                format!("run `incident-mcp apply {plan_id}`")
            }
            NextStep::Apply { plan_id, principal } => format!("{principal}, which proposed it, applies it ({plan_id})"),
            NextStep::Revert { incident } => {
                format!("`incident-mcp recover --id {incident} --method revert` undoes the containment")
            }
        }
    }
}

/// A server's error in remote mode, with its next step named the CLI's way (the server phrases
/// it for REST callers): what the local command would print.
pub(crate) fn reworded(message: String, error_code: &str, field: Option<&str>) -> String {
    use crate::service::NextStep;
    let step = match (error_code, field) {
        ("not_found", Some("id")) if message.starts_with("no incident ") => NextStep::ListIncidents,
        ("not_found", Some("plan_id")) if message.starts_with("no plan ") => NextStep::Propose,
        _ => return message,
    };
    let base = message.split_once("; ").map_or(message.as_str(), |(b, _)| b);
    crate::service::with_step(base, Some(&step), &CliPhrases)
}

impl From<ServiceError> for Failure {
    fn from(e: ServiceError) -> Self {
        let code = if e.class() == ErrorClass::Backend {
            EXIT_BACKEND
        } else {
            EXIT_INPUT
        };
        Failure {
            code,
            error_code: e.code(),
            field: e.field().map(str::to_owned),
            message: e.phrased(&CliPhrases),
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
