//! `incident-mcp contain` and `recover`: plan a containment or recovery as the human at this
//! terminal (principal `cli`) and print the plan. Nothing changes until someone else approves
//! it (`incident-mcp approve <plan-id>`; nobody approves their own plan).

use std::io::{IsTerminal, Write};

use clap::Args;

use crate::service::{ContainRequest, IncidentService, PlanList, PlanReport, PlanView, RecoverRequest};

/// Whose plans the CLI makes.
pub const CLI_PRINCIPAL: &str = "cli";

#[derive(Debug, Args)]
pub struct ContainArgs {
    /// Environment of the incident (checked against the incident's)
    #[arg(long)]
    pub env: Option<String>,
    /// Incident id, e.g. INC-000001
    #[arg(long)]
    pub id: String,
    /// isolate, pause, block, cordon or delete-pod
    #[arg(long)]
    pub action: String,
    /// Pod, deployment/NAME, node, IP/CIDR, or script/ID
    #[arg(long)]
    pub resource: String,
    /// Namespace of the target
    #[arg(long, alias = "scope")]
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
    #[arg(long)]
    pub id: String,
    /// rollback, restore or revert
    #[arg(long)]
    pub method: String,
    /// Workload for rollback/restore, e.g. deployment/web
    #[arg(long)]
    pub resource: Option<String>,
    #[arg(long, alias = "scope")]
    pub namespace: Option<String>,
    /// Backup to restore (`latest` for the newest)
    #[arg(long = "backup", alias = "backup-id")]
    pub backup_id: Option<String>,
    /// A script argument (`resource script/ID`), repeatable
    #[arg(long = "arg", value_name = "NAME=VALUE")]
    pub args: Vec<String>,
    #[arg(long)]
    pub format: Option<String>,
}

type Failure = (u8, String);

fn input(e: impl std::fmt::Display) -> Failure {
    (crate::cli::EXIT_INPUT, e.to_string())
}

fn service_failure(e: crate::ServiceError) -> Failure {
    let code = match e.class() {
        crate::service::ErrorClass::Backend => crate::cli::EXIT_BACKEND,
        _ => crate::cli::EXIT_INPUT,
    };
    (code, e.to_string())
}

/// Parses the flags the way the MCP tool parses its arguments (same type, same checks).
fn request<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, Failure> {
    serde_json::from_value(v).map_err(input)
}

/// `--arg NAME=VALUE` flags as a map.
fn script_args(flags: &[String]) -> Result<std::collections::BTreeMap<String, String>, Failure> {
    flags
        .iter()
        .map(|f| match f.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(input(format!(
                "--arg {}: expected NAME=VALUE",
                crate::domain::clip(f, 60)
            ))),
        })
        .collect()
}

async fn check_env(svc: &IncidentService, env: Option<&str>, id: &str) -> Result<(), Failure> {
    let Some(env) = env else { return Ok(()) };
    let id = id.parse().map_err(input)?;
    let detail = svc
        .get(crate::service::GetRequest { id })
        .await
        .map_err(service_failure)?;
    if detail.incident.env != env {
        return Err(input(format!(
            "--env {env}: {id} belongs to environment {}",
            detail.incident.env
        )));
    }
    Ok(())
}

/// Audits a request refused before it reached the service (flags that do not parse, another
/// environment's incident), then returns the failure.
async fn rejected(svc: &IncidentService, tool: &str, f: Failure) -> Failure {
    if f.0 == crate::cli::EXIT_BACKEND {
        return f;
    }
    match svc.audit_rejected_request(CLI_PRINCIPAL, tool, &f.1).await {
        Ok(()) => f,
        Err(e) => service_failure(e),
    }
}

pub async fn contain(svc: &IncidentService, a: &ContainArgs) -> Result<(), Failure> {
    let parsed = async {
        check_env(svc, a.env.as_deref(), &a.id).await?;
        request::<ContainRequest>(serde_json::json!({
            "id": a.id.trim(), "action": a.action, "resource": a.resource,
            "namespace": a.namespace, "ttl_secs": a.ttl_secs, "args": script_args(&a.args)?,
        }))
    };
    let req = match parsed.await {
        Ok(r) => r,
        Err(f) => return Err(rejected(svc, "incident_contain", f).await),
    };
    let report = svc
        .propose_contain(&req, CLI_PRINCIPAL)
        .await
        .map_err(service_failure)?;
    svc.announce_pending(&report, CLI_PRINCIPAL).await;
    print(&report, a.format.as_deref())
}

pub async fn recover(svc: &IncidentService, a: &RecoverArgs) -> Result<(), Failure> {
    let parsed = async {
        check_env(svc, a.env.as_deref(), &a.id).await?;
        request::<RecoverRequest>(serde_json::json!({
            "id": a.id.trim(), "method": a.method, "resource": a.resource,
            "namespace": a.namespace, "backup_id": a.backup_id, "args": script_args(&a.args)?,
        }))
    };
    let req = match parsed.await {
        Ok(r) => r,
        Err(f) => return Err(rejected(svc, "incident_recover", f).await),
    };
    let report = svc
        .propose_recover(&req, CLI_PRINCIPAL)
        .await
        .map_err(service_failure)?;
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
    t.push_str(&r.next_step);
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
    let lines = l
        .plans
        .iter()
        .map(|p| {
            format!(
                "{}  {:<11} {:<9} approval: {:<7} {}",
                p.plan_id,
                serde_json::to_value(p.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                p.principal,
                p.approval.as_deref().unwrap_or("none"),
                p.summary
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
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
            a.approved_at.to_rfc3339(),
            a.expires_at.to_rfc3339()
        )),
        None => t.push_str("\napproval: none"),
    }
    for e in &v.history {
        t.push_str(&format!(
            "\n  #{} {} {} by {}",
            e.seq,
            e.at.to_rfc3339(),
            e.kind,
            e.actor
        ));
    }
    t
}

fn print(r: &PlanReport, format: Option<&str>) -> Result<(), Failure> {
    let json = match format {
        Some("json") => true,
        Some("table") => false,
        Some(other) => return Err(input(format!("--format {other}: expected json or table"))),
        None => !std::io::stdout().is_terminal(),
    };
    let text = if json {
        serde_json::to_string_pretty(r).map_err(input)?
    } else {
        table(r)
    };
    tracing::debug!(output = ?text, "cli output");
    writeln!(std::io::stdout().lock(), "{text}").map_err(|e| (crate::cli::EXIT_BACKEND, e.to_string()))
}
