//! `incident-mcp approve`: a human at a terminal sees the plan and types its target's name.
//!
//! The approval is the one thing an agent must never give itself. An agent that can run
//! commands usually runs them without a terminal (a tool call, a pipe), so the prompt refuses
//! anything but an interactive terminal and asks for the name, as the MCP confirmation dialog
//! does. This raises the bar; it is not authentication: a host where an agent drives a real
//! terminal should keep the database out of its reach, or approve over REST with approver keys
//! the agent does not hold.

use std::io::{BufRead, IsTerminal, Read, Write};

use crate::service::PlanView;

/// Why the prompt did not approve; the caller exits 1 with it.
pub(crate) type Declined = String;

/// Shows `view` on stderr and reads the target's name from the terminal on stdin.
pub(crate) fn confirm(view: &PlanView) -> Result<(), Declined> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(format!(
            "not approved: `incident-mcp approve` asks a human at an interactive terminal to type the target's name, \
             and stdin is not a terminal. Agents cannot approve. People approving from scripts or chat-ops use \
             POST /api/plans/{}/approve with their own approver key ([[approvers]])",
            view.plan.plan_id
        ));
    }
    let target = &view.plan.target;
    let changes = serde_json::to_string_pretty(&view.plan.changes).unwrap_or_default();
    let inverse = serde_json::to_string_pretty(&view.plan.inverse).unwrap_or_default();
    let mut err = std::io::stderr().lock();
    // A closed stderr only loses the preview; the typed name still decides.
    let _ = write!(
        err,
        "{}\nproposed for: {}\nchanges:\n{changes}\ninverse (revert):\n{inverse}\n\
         Type the target's name `{target}` to approve (anything else cancels): ",
        view.plan.summary, view.principal
    );
    let _ = err.flush();
    let mut typed = String::new();
    stdin
        .lock()
        .take(256)
        .read_line(&mut typed)
        .map_err(|e| format!("not approved: cannot read the terminal: {e}"))?;
    let typed = typed.trim();
    if typed != target {
        return Err(format!(
            "not approved: the name typed is not the target `{target}`; nothing was changed"
        ));
    }
    Ok(())
}
