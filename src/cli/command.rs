//! The command line's grammar: global flags and one variant per command, each command's own
//! flags defined in its group's file next to its handler.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use super::{
    audit::AuditCommand,
    detect::{DetectArgs, ReplayArgs},
    generate::CompletionsArgs,
    incidents::{AckArgs, AnalyzeArgs, GetArgs, ListArgs, ResolveArgs},
    manage::{AssignArgs, DeclareArgs, NoteArgs, SeverityArgs},
    notify::{HookArgs, NotifyArgs, OutboxCommand},
    plans::{ApplyArgs, ApproveArgs, ApproverCommand, CodeArgs, DenyArgs, PlanArgs, PlansArgs},
    remote::AuthArgs,
    respond::{ContainArgs, ContainmentsArgs, RecoverArgs, SandboxArgs},
    score::ScoreArgs,
    serve::ServeArgs,
    settings::ConfigCommand,
    watch::WatchArgs,
};

#[derive(Debug, Parser)]
#[command(
    name = "incident-mcp",
    version,
    about = "Incident response for SRE agents: detect, analyze, contain, recover, notify (MCP server, REST API and CLI)"
)]
pub struct Cli {
    /// SQLite database file, or a postgres:// URL for PostgreSQL (several replicas on one database)
    /// [default: the platform data dir, e.g. ~/.local/share/incident-mcp/incidents.db]
    #[arg(long, global = true, env = "INCIDENT_MCP_DB", help_heading = "Global options")]
    pub db: Option<PathBuf>,
    /// Configuration file (.toml, .json, .yaml) [default: built-in, with the `dev` sample environment]
    #[arg(long, global = true, env = "INCIDENT_MCP_CONFIG", help_heading = "Global options")]
    pub config: Option<PathBuf>,
    /// Debug logging to stderr
    #[arg(long, short, global = true, help_heading = "Global options")]
    pub verbose: bool,
    /// Also append logs to this file (its filter: INCIDENT_MCP_LOG_FILE_FILTER, else the stderr one)
    #[arg(
        long,
        global = true,
        env = "INCIDENT_MCP_LOG_FILE",
        hide_env_values = true,
        value_name = "PATH",
        help_heading = "Global options"
    )]
    pub log_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server: stdio by default, streamable HTTP (+ REST API) with --http
    Serve(ServeArgs),
    /// Scan an environment's telemetry and open or update incidents; prints `alert: ...` for
    /// each incident opened or updated, and the most severe one found as `id`
    Detect(DetectArgs),
    /// Analyze an incident
    Analyze(AnalyzeArgs),
    /// List incidents, most recently active first
    List(ListArgs),
    /// Show one incident
    Get(GetArgs),
    /// Acknowledge an incident at any active status (an open one becomes acknowledged)
    Ack(AckArgs),
    /// Resolve an incident with a note (refused while containments of it are in place, unless
    /// --keep-containments)
    Resolve(ResolveArgs),
    /// Declare an incident by hand: title, type, severity, affected entities, a first note
    Declare(DeclareArgs),
    /// Add a note to an incident's timeline
    Note(NoteArgs),
    /// Assign an incident's owner and/or incident commander
    Assign(AssignArgs),
    /// Change an incident's severity, saying why
    Severity(SeverityArgs),
    /// An incident's post-mortem record (the `incident-postmortem` prompt's): who proposed,
    /// approved, applied and reverted what and when, the phase durations (time to detect,
    /// acknowledge, contain, recover, resolve) and the whole timeline
    Postmortem(GetArgs),
    /// Run recorded telemetry (JSON lines) through the whole detect pipeline of an environment
    /// against a copy of the store: reports the incidents it would open or update, changes nothing
    Replay(ReplayArgs),
    /// Configuration helpers
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// Score a CSV stream with an anomaly detector: one score per row on stdout
    Score(ScoreArgs),
    /// Scan an environment's sources every interval until SIGTERM/SIGINT (the continuous pipeline)
    Watch(WatchArgs),
    /// Approve a pending containment/recovery plan as the human at this terminal (shows the plan,
    /// then asks for the target's name): single-use, bound to the plan's exact hash and principal,
    /// expiring
    Approve(ApproveArgs),
    /// Deny a pending plan as the human at this terminal, saying why: final, the agent sees it
    Deny(DenyArgs),
    /// Get a one-time code to approve a pending plan in an agent's MCP dialog, as the human at
    /// this terminal (shown once, single-use, expires with the approval it would give)
    Code(CodeArgs),
    /// Approver tools (`hash-password` makes the `password_hash` of an `[[approvers]]` entry)
    Approver {
        #[command(subcommand)]
        what: ApproverCommand,
    },
    /// List the newest containment/recovery plans (--pending: only those waiting for a human)
    Plans(PlansArgs),
    /// Show a plan before approving it: its exact changes, inverse, newest approval and audit history
    Plan(PlanArgs),
    /// Apply a plan proposed at this terminal (contain/recover) once another human approved it:
    /// exactly as approved, once
    Apply(ApplyArgs),
    /// Queue a notification about an incident to a configured target and deliver the outbox now
    Notify(NotifyArgs),
    /// The notification outbox (`list --dead` shows undeliverable notifications)
    Outbox {
        #[command(subcommand)]
        what: OutboxCommand,
    },
    /// Register, list or remove signed webhooks for lifecycle events (besides the config's);
    /// `hook --url URL --event E` registers one, `hook --config hooks.yaml` a file's
    Hook(HookArgs),
    /// Store a bearer key (file mode 0600, never printed) and, with --server, use that running
    /// server over REST for every command that has a route (`auth --remove` forgets them)
    Auth(AuthArgs),
    /// Plan a containment (isolate, pause, block, cordon, delete-pod); prints the plan, which
    /// stays pending until another human approves it (`approve <plan-id>`)
    Contain(ContainArgs),
    /// Plan a recovery (rollback, restore, revert); prints the pending plan
    Recover(RecoverArgs),
    /// What is isolated, blocked, paused or cordoned now: since when, TTL, who proposed and
    /// who approved it
    Containments(ContainmentsArgs),
    /// Show an environment's sandbox, the simulated cluster of `[environments.NAME.cluster]
    /// kind = "sandbox"`: its objects and what containment changed on them
    Sandbox(SandboxArgs),
    /// Print a shell completion script (bash, zsh or fish) on stdout, e.g.
    /// `incident-mcp completions bash > /etc/bash_completion.d/incident-mcp`
    Completions(CompletionsArgs),
    /// Print the man page (roff) on stdout, e.g. `incident-mcp man > incident-mcp.1`
    Man,
    /// The tamper-evident audit log of proposals, approvals, refusals and actions
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
}
