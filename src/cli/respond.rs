//! `incident-mcp contain` and `recover`: plan a containment or recovery as the human at this
//! terminal (principal `cli`) and print the plan. Nothing changes until someone else approves
//! it (`incident-mcp approve <plan-id>`; nobody approves their own plan).

use std::io::{IsTerminal, Write};

use clap::Args;

use super::{
    failure::{Failure, backend, cli_id},
    output::{Output, emit},
    table as tables,
};
use crate::{
    domain::{Env, IncidentId},
    service::{ContainDraft, ContainmentsRequest, IncidentService, PlanList, PlanReport, PlanView, RecoverDraft},
};

/// Whose plans the CLI makes.
pub const CLI_PRINCIPAL: &str = "cli";

#[derive(Debug, Args)]
pub struct ContainArgs {
    /// Environment: checked against the incident's; with no incident, where to declare one
    /// [default: the default environment]
    #[arg(long)]
    pub env: Option<String>,
    /// Incident id (INC-000123 or 123); without it a declared incident is opened for the resource
    #[arg(long)]
    pub id: Option<String>,
    /// isolate, pause, block, cordon or delete-pod [default: the scope's: isolate, block, cordon]
    #[arg(long)]
    pub action: Option<String>,
    /// How far it reaches: workload (a pod or workload), namespace (its pods' traffic: block an
    /// address) or cluster (a node: cordon) [default: workload]
    #[arg(long, value_parser = ["workload", "namespace", "cluster"])]
    pub scope: Option<String>,
    /// Pod, deployment/NAME, node, IP/CIDR, or script/ID [default: from the incident's affected
    /// resources]
    #[arg(long)]
    pub resource: Option<String>,
    /// Namespace of the target [default: the incident's]
    #[arg(long)]
    pub namespace: Option<String>,
    /// Revert automatically after this many seconds (60-604800)
    #[arg(long)]
    pub ttl_secs: Option<u64>,
    /// A script argument (`resource script/ID`), repeatable
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    /// Output format: json or table [default: table on a terminal]
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct RecoverArgs {
    /// Environment of the incident (checked against the incident's)
    #[arg(long)]
    pub env: Option<String>,
    /// Incident id (INC-000123 or 123) [default: the current incident: the most recently
    /// changed contained one, else the most recently changed open one]
    #[arg(long)]
    pub id: Option<String>,
    /// rollback, restore or revert [default: restore with --backup, else rollback]
    #[arg(long)]
    pub method: Option<String>,
    /// Workload for rollback/restore, e.g. deployment/web [default: the incident's]
    #[arg(long)]
    pub resource: Option<String>,
    /// Namespace of the workload [default: the incident's]
    #[arg(long)]
    pub namespace: Option<String>,
    /// Backup to restore (`latest` for the newest; the backend resolves it)
    #[arg(long = "backup", alias = "backup-id")]
    pub backup_id: Option<String>,
    /// A script argument (`resource script/ID`), repeatable
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    /// Output format: json or table [default: table on a terminal]
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct ContainmentsArgs {
    /// Only containments in this environment
    #[arg(long)]
    pub env: Option<String>,
    /// Only containments of this incident
    #[arg(long)]
    pub id: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Environment whose sandbox to show
    #[arg(long, default_value = "dev")]
    pub env: String,
    #[command(flatten)]
    pub out: Output,
}

pub async fn containments(svc: &IncidentService, a: &ContainmentsArgs) -> Result<(), Failure> {
    let req = ContainmentsRequest {
        env: a.env.as_deref().map(Env::parse).transpose()?,
        id: a.id.as_deref().map(cli_id).transpose()?,
    };
    emit(&a.out, &svc.containments(&req).await?, tables::containments)
}

pub async fn sandbox(svc: &IncidentService, a: &SandboxArgs) -> Result<(), Failure> {
    let env = Env::parse(&a.env)?;
    emit(&a.out, &svc.sandbox_view(&env).await?, tables::sandbox)
}

/// A flag's value parsed as the MCP tool parses the argument (same type, same message).
fn value<T: serde::de::DeserializeOwned>(flag: &str, v: &Option<String>) -> Result<Option<T>, Failure> {
    v.as_ref()
        .map(|s| {
            serde_json::from_value(serde_json::Value::String(s.trim().to_owned()))
                .map_err(|e| Failure::from(crate::domain::DomainError::invalid(flag, format!("--{flag}: {e}"))))
        })
        .transpose()
}

/// `--arg NAME=VALUE` flags as a map.
fn script_args(flags: &[String]) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    flags
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(Failure::input(format!(
                "--arg {}: expected NAME=VALUE",
                crate::domain::clip(f, 60)
            ))),
        })
        .collect()
}

async fn check_env(svc: &IncidentService, env: Option<&str>, id: Option<IncidentId>) -> Result<(), Failure> {
    let (Some(env), Some(id)) = (env, id) else {
        return Ok(());
    };
    let detail = svc.get(crate::service::GetRequest { id }).await?;
    if detail.incident.env != env {
        return Err(Failure::input(format!(
            "--env {env}: {id} belongs to environment {}",
            detail.incident.env
        )));
    }
    Ok(())
}

/// Audits a request refused before it reached the service (flags that do not parse, another
/// environment's incident), then returns the failure.
async fn rejected(svc: &IncidentService, tool: &str, f: Failure) -> Failure {
    if f.code == super::failure::EXIT_BACKEND {
        return f;
    }
    match svc.audit_rejected_request(CLI_PRINCIPAL, tool, &f.message).await {
        Ok(()) => f,
        Err(e) => Failure::from(e),
    }
}

pub async fn contain(svc: &IncidentService, a: &ContainArgs) -> Result<(), Failure> {
    let parsed = async {
        let id = a.id.as_deref().map(cli_id).transpose()?;
        check_env(svc, a.env.as_deref(), id).await?;
        Ok::<_, Failure>(ContainDraft {
            id,
            env: a.env.as_deref().map(crate::domain::Env::parse).transpose()?,
            action: value("action", &a.action)?,
            scope: value("scope", &a.scope)?,
            resource: a.resource.clone(),
            namespace: a.namespace.clone(),
            ttl_secs: a.ttl_secs,
            args: script_args(&a.args)?,
        })
    };
    let draft = match parsed.await {
        Ok(d) => d,
        Err(f) => return Err(rejected(svc, "incident_contain", f).await),
    };
    let req = svc.resolve_contain(draft, CLI_PRINCIPAL).await?;
    let report = svc.propose_contain(&req, CLI_PRINCIPAL).await?;
    svc.announce_pending(&report, CLI_PRINCIPAL).await;
    print(&report, a.format.as_deref())
}

pub async fn recover(svc: &IncidentService, a: &RecoverArgs) -> Result<(), Failure> {
    let parsed = async {
        let id = a.id.as_deref().map(cli_id).transpose()?;
        check_env(svc, a.env.as_deref(), id).await?;
        Ok::<_, Failure>(RecoverDraft {
            id,
            method: value("method", &a.method)?,
            resource: a.resource.clone(),
            namespace: a.namespace.clone(),
            backup_id: a.backup_id.clone(),
            args: script_args(&a.args)?,
        })
    };
    let draft = match parsed.await {
        Ok(d) => d,
        Err(f) => return Err(rejected(svc, "incident_recover", f).await),
    };
    let req = svc.resolve_recover(draft).await?;
    let report = svc.propose_recover(&req, CLI_PRINCIPAL).await?;
    svc.announce_pending(&report, CLI_PRINCIPAL).await;
    print(&report, a.format.as_deref())
}

/// A plan for the terminal: summary, changes, inverse changes, next step.
pub(crate) fn table(r: &PlanReport) -> String {
    let mut t = format!("{}\n", r.summary);
    for c in &r.changes {
        t.push_str(&format!("  change:  {c}\n"));
    }
    for c in &r.inverse {
        t.push_str(&format!("  inverse: {c}\n"));
    }
    t.push_str(&crate::service::with_step(
        &r.next_step,
        r.next.as_ref(),
        &crate::cli::failure::CliPhrases,
    ));
    t
}

/// The plan list for the terminal, one plan a line.
pub(crate) fn list_table(l: &PlanList) -> String {
    let more = match &l.next_before {
        Some(b) => format!("\nolder plans may follow: --before {b}"),
        None => String::new(),
    };
    if l.plans.is_empty() {
        return format!("no plans{more}");
    }
    let rows: Vec<Vec<String>> = l
        .plans
        .iter()
        .map(|p| {
            vec![
                p.plan_id.clone(),
                serde_json::to_value(p.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                p.principal.clone(),
                p.approval.clone().unwrap_or_else(|| "none".into()),
                p.summary.clone(),
            ]
        })
        .collect();
    let lines = tables::table(&["PLAN", "STATUS", "PROPOSED BY", "APPROVAL", "SUMMARY"], &rows);
    format!("{lines}{more}")
}

/// A plan view for the terminal: the plan, who may apply it, its approval, its history.
pub(crate) fn view_table(v: &PlanView) -> String {
    let mut t = table(&v.plan);
    t.push_str(&format!("\nproposed for: {}", v.principal));
    match &v.approval {
        Some(a) => t.push_str(&format!(
            "\napproval: {} by {} (approved {}, expires {})",
            a.state,
            a.approver,
            tables::utc(&a.approved_at),
            tables::utc(&a.expires_at)
        )),
        None => t.push_str("\napproval: none"),
    }
    for e in &v.history {
        t.push_str(&format!(
            "\n  #{} {} {} by {}",
            e.seq,
            tables::utc(&e.at),
            e.kind,
            e.actor
        ));
    }
    t
}

pub(crate) fn print(r: &PlanReport, format: Option<&str>) -> Result<(), Failure> {
    let json = match format {
        Some("json") => true,
        Some("table") => false,
        Some(other) => return Err(Failure::input(format!("--format {other}: expected json or table"))),
        None => !std::io::stdout().is_terminal(),
    };
    let text = if json {
        let r = r.clone().phrase(&crate::cli::failure::CliPhrases);
        serde_json::to_string_pretty(&r).map_err(backend)?
    } else {
        table(r)
    };
    tracing::debug!(output = ?text, "cli output");
    writeln!(std::io::stdout().lock(), "{text}").map_err(backend)
}
