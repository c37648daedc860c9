//! What the MCP adapter records in the metrics: each `tools/call` (tool name from our router,
//! outcome from the result's `error_code`, latency) and the stdio session.

use std::time::Duration;

use rmcp::{ErrorData as McpError, model::CallToolResponse};

use crate::metrics::{self, Interface, Outcome};

/// Records one `tools/call`: `name` is `None` for a tool the router does not have.
pub(super) fn tool_call(name: Option<&str>, answer: &Result<CallToolResponse, McpError>, took: Duration) {
    let outcome = match answer {
        Ok(CallToolResponse::Complete(r)) if r.is_error == Some(true) => {
            let code = r
                .meta
                .as_ref()
                .and_then(|m| m.0.get("error_code"))
                .and_then(|c| c.as_str());
            code.map_or(Outcome::Backend, Outcome::of_error_code)
        }
        Ok(_) => Outcome::Ok,
        Err(_) => Outcome::Protocol,
    };
    metrics::global().call(Interface::Mcp, name, outcome, took);
}

/// The stdio session, counted in `incident_mcp_sessions_open{transport="stdio"}` while held.
pub(super) struct StdioSession;

impl StdioSession {
    pub(super) fn open() -> Self {
        metrics::global().session_delta("stdio", 1);
        Self
    }
}

impl Drop for StdioSession {
    fn drop(&mut self) {
        metrics::global().session_delta("stdio", -1);
    }
}
