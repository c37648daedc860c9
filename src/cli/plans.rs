//! Plans and the humans who decide them: `plans`, `plan`, `approve`, `deny`, `code`, `apply`,
//! `approver hash-password`. Approving, denying and codes need a human at a terminal.

use std::io::IsTerminal;

use clap::{Args, Subcommand};

use super::{
    approve::{self, Approved, Refused},
    failure::{EXIT_BACKEND, Failure},
    identity::terminal_approver,
    output::{Output, emit},
    respond,
};
use crate::service::{IncidentService, PlanListRequest};

#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// Plan id as shown by the command that proposed it (plan-...)
    pub plan_id: String,
    /// Seconds the approval stays valid (1-3600)
    #[arg(long, default_value_t = 300)]
    pub ttl_secs: u64,
    /// Which configured approver you are (asked for their password when they have one)
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    /// Apply the plan at once, as its proposer's plan (the audit names you and the proposer)
    #[arg(long)]
    pub apply: bool,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct DenyArgs {
    /// Plan id (plan-...)
    pub plan_id: String,
    /// Why the plan is denied (the agent sees it)
    #[arg(long)]
    pub reason: String,
    /// Which configured approver you are (asked for their password when they have one)
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct CodeArgs {
    /// Plan id (plan-...)
    pub plan_id: String,
    /// Which configured approver you are (asked for their password when they have one)
    #[arg(long = "as", value_name = "NAME")]
    pub as_name: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ApproverCommand {
    /// Read a new password (from the terminal without echo, or one line on stdin) and print its
    /// argon2 hash for `password_hash` in an `[[approvers]]` entry
    HashPassword,
}

#[derive(Debug, Args)]
pub struct PlansArgs {
    /// Only plans still waiting for a human's approval
    #[arg(long)]
    pub pending: bool,
    /// How many plans to list (1-200)
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Continue after this plan (the previous page's `next_before`)
    #[arg(long, value_name = "PLAN_ID")]
    pub before: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Plan id (plan-...)
    pub plan_id: String,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Plan id as printed by contain/recover (plan-...)
    pub plan_id: String,
    #[command(flatten)]
    pub out: Output,
}

pub async fn approve(svc: &IncidentService, a: &ApproveArgs) -> Result<(), Failure> {
    let approver = match terminal_approver(svc.approvers(), a.as_name.as_deref()) {
        Ok(approver) => approver,
        Err(message) => {
            if let Err(Refused::Service(e)) = approve::refuse_unknown_approver(svc, &a.plan_id, &message).await {
                return Err(Failure::from(e));
            }
            return Err(Failure::input(message));
        }
    };
    let done = approve::approve(svc, &a.plan_id, &approver, a.ttl_secs, a.apply)
        .await
        .map_err(|r| match r {
            Refused::Service(e) => Failure::from(e),
            Refused::Declined(message) => Failure::input(message),
        })?;
    match done {
        Approved::Applied(r) => emit(&a.out, &r, |r| r.summary.clone()),
        Approved::Granted(r) => emit(&a.out, &r, |r| r.summary.clone()),
    }
}

pub async fn deny(svc: &IncidentService, a: &DenyArgs) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::input(
            "not denied: `incident-mcp deny` is for a human at an interactive terminal; approvers deny on the \
             approval page, in Slack, or with POST /api/plans/{plan_id}/deny and their own key",
        ));
    }
    let approver = terminal_approver(svc.approvers(), a.as_name.as_deref()).map_err(Failure::input)?;
    let view = svc
        .via(crate::metrics::Channel::Terminal)
        .deny_plan(&a.plan_id, &approver, &a.reason)
        .await?;
    emit(&a.out, &view, |v| v.plan.summary.clone())
}

pub async fn code(svc: &IncidentService, a: &CodeArgs) -> Result<(), Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::input(
            "no code issued: `incident-mcp code` is for a human at an interactive terminal; approvers also get \
             codes on the approval page",
        ));
    }
    let approver = terminal_approver(svc.approvers(), a.as_name.as_deref()).map_err(Failure::input)?;
    let issued = svc.issue_code(&a.plan_id, &approver).await?;
    // Printed to the human only: never logged (the log file records other CLI output).
    tracing::debug!(plan = %issued.plan_id, approver = %issued.approver, "one-time code issued");
    println!(
        "{}\none-time code for {} as {}, valid until {} UTC (single use): type it into the agent's approval dialog",
        issued.code,
        issued.plan_id,
        issued.approver,
        super::table::utc(&issued.expires_at)
    );
    Ok(())
}

/// `approver hash-password`: runs without a store.
pub fn approver(what: &ApproverCommand) -> Result<(), Failure> {
    let ApproverCommand::HashPassword = what;
    let password = if std::io::stdin().is_terminal() {
        rpassword::prompt_password_with_config(
            "New approver password: ",
            rpassword::ConfigBuilder::new()
                .input_file_path("/dev/stdin")
                .output_writer(std::io::stderr())
                .password_feedback_hide()
                .build(),
        )
    } else {
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line).map(|_| line)
    }
    .map_err(|e| Failure::input(format!("cannot read the password: {e}")))?;
    let password = password.trim_end_matches(['\n', '\r']);
    if password.chars().count() < 12 {
        return Err(Failure::input("an approver password needs at least 12 characters"));
    }
    let hash =
        crate::service::hash_password(password).map_err(|message| Failure::from_exit((EXIT_BACKEND, message)))?;
    println!("{hash}");
    Ok(())
}

pub async fn plans(svc: &IncidentService, a: &PlansArgs) -> Result<(), Failure> {
    let req = PlanListRequest {
        pending: a.pending,
        limit: Some(a.limit),
        before: a.before.clone(),
    };
    emit(&a.out, &svc.list_plans(&req).await?, respond::list_table)
}

pub async fn plan(svc: &IncidentService, a: &PlanArgs) -> Result<(), Failure> {
    emit(&a.out, &svc.plan_view(&a.plan_id).await?, respond::view_table)
}

pub async fn apply(svc: &IncidentService, a: &ApplyArgs) -> Result<(), Failure> {
    let report = svc.apply_plan(&a.plan_id, respond::CLI_PRINCIPAL).await?;
    emit(&a.out, &report, respond::table)
}
