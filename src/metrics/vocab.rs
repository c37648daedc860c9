//! The closed vocabularies of the metrics' labels.

/// Where a call came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interface {
    /// An MCP `tools/call` (stdio or streamable HTTP).
    Mcp,
    /// An HTTP request to the REST API, the approval page, `/mcp` or `/metrics`.
    Rest,
    /// A CLI command in a long-running process (`watch` scans).
    Cli,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Mcp => "mcp",
            Interface::Rest => "rest",
            Interface::Cli => "cli",
        }
    }
}

/// How a call ended, the same words on every interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Bad input: a malformed argument, an unknown environment or source, a body too large.
    Input,
    NotFound,
    /// Refused by policy or the current state.
    Conflict,
    Forbidden,
    Unauthorized,
    /// A source, the database, a backend or a notification target failed.
    Backend,
    /// A JSON-RPC error (the request could not be routed or parsed).
    Protocol,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Input => "input",
            Outcome::NotFound => "not_found",
            Outcome::Conflict => "conflict",
            Outcome::Forbidden => "forbidden",
            Outcome::Unauthorized => "unauthorized",
            Outcome::Backend => "backend",
            Outcome::Protocol => "protocol",
        }
    }

    /// The outcome of a stable `error_code` (README "Error codes"); unknown codes are `backend`.
    pub fn of_error_code(code: &str) -> Self {
        match code {
            "invalid_argument" | "unknown_env" | "unknown_source" | "payload_too_large" | "unsupported_media_type" => {
                Outcome::Input
            }
            "not_found" => Outcome::NotFound,
            "conflict" => Outcome::Conflict,
            "forbidden" => Outcome::Forbidden,
            "unauthorized" => Outcome::Unauthorized,
            _ => Outcome::Backend,
        }
    }

    /// The outcome of an HTTP status.
    pub fn of_http_status(status: u16) -> Self {
        match status {
            100..=399 => Outcome::Ok,
            401 => Outcome::Unauthorized,
            403 => Outcome::Forbidden,
            404 => Outcome::NotFound,
            409 => Outcome::Conflict,
            400..=499 => Outcome::Input,
            _ => Outcome::Backend,
        }
    }
}

/// Who approved or denied a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    /// The approval page (signed in).
    Page,
    /// REST with an approver's key.
    Rest,
    /// `incident-mcp approve` / `deny` at a terminal.
    Terminal,
    /// A Slack button press (verified signature).
    Slack,
    /// A one-time code typed into the agent's MCP dialog.
    Code,
    /// The target's name typed on the stdio opt-in dialog.
    Dialog,
}

impl Channel {
    pub(super) const ALL: [Channel; 6] = [
        Channel::Page,
        Channel::Rest,
        Channel::Terminal,
        Channel::Slack,
        Channel::Code,
        Channel::Dialog,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Page => "page",
            Channel::Rest => "rest",
            Channel::Terminal => "terminal",
            Channel::Slack => "slack",
            Channel::Code => "code",
            Channel::Dialog => "dialog",
        }
    }
}

/// A human's decision on a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approved,
    Denied,
}

impl Decision {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Denied => "denied",
        }
    }
}

/// What became of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActionOutcome {
    /// An approved plan was applied.
    Applied,
    /// An approved plan failed to apply.
    Failed,
    /// A containment was undone when its TTL ran out.
    Reverted,
    /// An automatic revert attempt failed.
    RevertFailed,
}

impl ActionOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            ActionOutcome::Applied => "applied",
            ActionOutcome::Failed => "failed",
            ActionOutcome::Reverted => "reverted",
            ActionOutcome::RevertFailed => "revert_failed",
        }
    }
}

/// The kinds of database errors (`incident_mcp_store_errors_total{kind}`), all exported from
/// the start at 0.
pub const STORE_ERROR_KINDS: [&str; 7] = [
    "database",
    "pool",
    "connection",
    "row_not_found",
    "decode",
    "migration",
    "other",
];

/// The undelivered states of an outbox row.
pub(super) const OUTBOX_STATES: [&str; 3] = ["pending", "inflight", "dead"];

/// How a delivery attempt of an outbox row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    Sent,
    Retry,
    Dead,
}

impl Delivery {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Delivery::Sent => "sent",
            Delivery::Retry => "retry",
            Delivery::Dead => "dead",
        }
    }
}
