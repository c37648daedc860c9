//! `incident-mcp approve`: a human at a terminal sees the plan and types its target's name.
//!
//! The approval is the one thing an agent must never give itself. An agent that can run
//! commands usually runs them without a terminal (a tool call, a pipe), so the prompt refuses
//! anything but an interactive terminal and asks for the name, as the MCP confirmation dialog
//! does. This raises the bar; it is not authentication: a host where an agent drives a real
//! terminal should keep the database out of its reach, or approve over REST with approver keys
//! the agent does not hold.

use std::io::{BufRead, IsTerminal, Read, Write};

use serde_json::json;

use crate::{
    domain::clip,
    service::{ApprovalReport, ErrorClass, IncidentService, PlanView, ServiceError},
};

/// Why the prompt did not approve: a reason code for the audit log and the message the
/// caller exits 1 with.
pub(crate) struct Declined {
    pub reason: &'static str,
    pub message: String,
}

/// Why `approve` failed.
pub(crate) enum Refused {
    /// The service refused (unknown plan, invalid validity, ...) or failed.
    Service(ServiceError),
    /// The human at the terminal did not confirm, or there was no terminal.
    Declined(String),
}

/// `incident-mcp approve`: shows the plan, asks the human at the terminal for the target's
/// name, approves. Every refusal (no terminal, wrong name, unknown plan, invalid validity...)
/// is appended to the audit log as a `refusal` of `approver`, with the plan and its incident.
pub(crate) async fn approve(
    svc: &IncidentService,
    plan_id: &str,
    approver: &str,
    ttl_secs: u64,
    apply: bool,
) -> Result<Approved, Refused> {
    let view = match svc.approval_preview(plan_id, approver, ttl_secs).await {
        Ok(v) => v,
        Err(e) if e.class() == ErrorClass::Backend => return Err(Refused::Service(e)),
        Err(e) => {
            let incident = svc.plan_view(plan_id).await.ok().and_then(|v| v.plan.incident_id);
            let reason = e.reason_code();
            audit(svc, approver, plan_id, incident, &reason, &e.to_string()).await?;
            return Err(Refused::Service(e));
        }
    };
    if let Err(d) = confirm(&view) {
        audit(svc, approver, plan_id, view.plan.incident_id, d.reason, &d.message).await?;
        return Err(Refused::Declined(d.message));
    }
    if apply {
        return svc
            .via(crate::metrics::Channel::Terminal)
            .approve_and_apply(plan_id, approver)
            .await
            .map(|r| Approved::Applied(Box::new(r.phrase(&crate::cli::failure::CliPhrases))))
            .map_err(Refused::Service);
    }
    svc.via(crate::metrics::Channel::Terminal)
        .approve_plan(plan_id, approver, ttl_secs)
        .await
        .map(Approved::Granted)
        .map_err(Refused::Service)
}

/// What `approve` did: granted an approval, or (`--apply`) also applied the plan.
pub(crate) enum Approved {
    Granted(ApprovalReport),
    Applied(Box<crate::service::PlanReport>),
}

/// Audits a refusal of `incident-mcp approve` before the approver is known (`--as` unknown,
/// wrong password): the actor is the terminal.
pub(crate) async fn refuse_unknown_approver(
    svc: &IncidentService,
    plan_id: &str,
    message: &str,
) -> Result<(), Refused> {
    let incident = svc.plan_view(plan_id).await.ok().and_then(|v| v.plan.incident_id);
    audit(svc, "cli", plan_id, incident, "unknown_approver", message).await
}

async fn audit(
    svc: &IncidentService,
    approver: &str,
    plan_id: &str,
    incident: Option<crate::domain::IncidentId>,
    reason: &str,
    message: &str,
) -> Result<(), Refused> {
    let payload = json!({"by": "cli_approve", "reason": reason, "message": clip(message, 300)});
    svc.audit_refusal(approver, incident, Some(&clip(plan_id, 40)), payload)
        .await
        .map_err(Refused::Service)
}

/// Shows `view` on stderr and reads the target's name from the terminal on stdin.
pub(crate) fn confirm(view: &PlanView) -> Result<(), Declined> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let message = format!(
            "not approved: `incident-mcp approve` asks a human at an interactive terminal to type the target's name, \
             and stdin is not a terminal. Agents cannot approve. People approving from scripts or chat-ops use \
             POST /api/plans/{}/approve with their own approver key ([[approvers]])",
            view.plan.plan_id
        );
        return Err(Declined {
            reason: "no_terminal",
            message,
        });
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
    stdin.lock().take(256).read_line(&mut typed).map_err(|e| Declined {
        reason: "terminal_unreadable",
        message: format!("not approved: cannot read the terminal: {e}"),
    })?;
    if !view.plan.confirmed_by_name(&typed) {
        return Err(Declined {
            reason: "wrong_name",
            message: format!("not approved: the name typed is not the target `{target}`; nothing was changed"),
        });
    }
    Ok(())
}
