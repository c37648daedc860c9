//! Command line: the same service as MCP and REST. Exit codes: 0 success, 1 input or
//! detection errors (unknown env, invalid flag, bad threshold, unknown incident), 2 API or
//! backend failures (source or database unavailable).

mod approve;
mod audit;
mod failure;
mod identity;
mod inputs;
mod notify;
mod progress;
mod remote;
mod remote_commands;
mod respond;
mod score;
mod table;
mod watch;

use std::{
    io::{IsTerminal, Write},
    net::SocketAddr,
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
};

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::{
    cli::inputs::Inputs,
    config::{Config, DEFAULT_TOML},
    domain::{Depth, DomainError, Env, IncidentType, Status, Threshold},
    mcp::{IncidentServer, ToolPolicy},
    service::*,
    store::{SqliteStore, StoreLocation},
};

pub const EXIT_OK: u8 = 0;
pub const EXIT_INPUT: u8 = 1;
pub const EXIT_BACKEND: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "incident-mcp",
    version,
    about = "Incident response for SRE agents: detect, analyze, contain, recover, notify (MCP server, REST API and CLI)"
)]
pub struct Cli {
    /// SQLite database file, or a postgres:// URL for PostgreSQL (several replicas on one database)
    /// [default: the platform data dir, e.g. ~/.local/share/incident-mcp/incidents.db]
    #[arg(long, global = true, env = "INCIDENT_MCP_DB")]
    pub db: Option<PathBuf>,
    /// Configuration file (.toml, .json, .yaml) [default: built-in, with the `dev` sample environment]
    #[arg(long, global = true, env = "INCIDENT_MCP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Debug logging to stderr
    #[arg(long, short, global = true)]
    pub verbose: bool,
    /// Also append logs to this file (its filter: INCIDENT_MCP_LOG_FILE_FILTER, else the stderr one)
    #[arg(
        long,
        global = true,
        env = "INCIDENT_MCP_LOG_FILE",
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub log_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Json,
    Table,
}

#[derive(Debug, Args)]
pub struct Output {
    /// Output format [default: table on a terminal, json otherwise]
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the MCP server: stdio by default, streamable HTTP (+ REST API) with --http
    Serve {
        /// Listen on this address for streamable HTTP at /mcp and the REST API at /api
        #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "")]
        http: Option<String>,
        /// Expose only read-only tools; REST refuses every request that changes something (403)
        #[arg(long)]
        read_only: bool,
        /// Hide destructive tools; REST refuses contain, recover, apply and approve (403)
        #[arg(long)]
        disable_destructive: bool,
        /// Leave TTL reverts and start-up reconciliation of interrupted actions to another
        /// replica (several replicas on one PostgreSQL database: exactly one runs them)
        #[arg(long)]
        no_response_tasks: bool,
    },
    /// Scan an environment's telemetry and open or update incidents; prints `alert: ...` for
    /// each incident opened or updated, and the most severe one found as `id`
    Detect {
        /// Environment to scan [default: the configuration's default_env, or its only environment]
        #[arg(long)]
        env: Option<String>,
        /// Only rules of this incident type (network, app-vuln, auth, resource, availability, explainability, other)
        #[arg(long = "type")]
        kind: Option<String>,
        /// Score cut-off in 0..1 [default: 0.8]
        #[arg(long, allow_negative_numbers = true)]
        threshold: Option<f64>,
        /// A configured source name or kind (k8s-logs, prometheus, ...), file:PATH for a log
        /// file (JSON lines or text), or stdin
        #[arg(long)]
        source: Option<String>,
        /// Also analyze every incident found, at this depth (0-3)
        #[arg(long, value_name = "DEPTH", allow_negative_numbers = true)]
        analyze_depth: Option<i64>,
        #[command(flatten)]
        out: Output,
    },
    /// Analyze an incident
    Analyze {
        /// Incident id: INC-000123 or 123
        #[arg(long)]
        id: String,
        /// Detail level 0-3
        #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
        depth: i64,
        #[command(flatten)]
        out: Output,
    },
    /// List incidents, most recently active first
    List {
        #[arg(long)]
        env: Option<String>,
        #[arg(long)]
        status: Option<String>,
        #[arg(long = "type")]
        kind: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
    /// Show one incident
    Get {
        #[arg(long)]
        id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Acknowledge an open incident
    Ack {
        #[arg(long)]
        id: String,
        #[arg(long)]
        note: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Resolve an incident with a note (refused while containments of it are in place, unless
    /// --keep-containments)
    Resolve {
        #[arg(long)]
        id: String,
        #[arg(long)]
        note: String,
        /// Resolve leaving the incident's containments in place (noted in the timeline)
        #[arg(long)]
        keep_containments: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Run recorded telemetry (JSON lines) through the whole detect pipeline of an environment
    /// against a copy of the store: reports the incidents it would open or update, changes nothing
    Replay {
        /// Environment whose rules and detector state to use [default: the default environment]
        #[arg(long)]
        env: Option<String>,
        /// Recorded events, JSON lines as the jsonl source reads them
        #[arg(long)]
        file: PathBuf,
        /// The configured source the recording stands in for (dedup keys include it)
        /// [default: the environment's first source]
        #[arg(long = "as-source")]
        as_source: Option<String>,
        /// Only rules of this incident type
        #[arg(long = "type")]
        kind: Option<String>,
        /// Score cut-off in 0..1 [default: 0.8]
        #[arg(long, allow_negative_numbers = true)]
        threshold: Option<f64>,
        #[command(flatten)]
        out: Output,
    },
    /// Configuration helpers
    Config {
        #[command(subcommand)]
        what: ConfigCommand,
    },
    /// Score a CSV stream with an anomaly detector: one score per row on stdout
    Score(crate::cli::score::ScoreArgs),
    /// Scan an environment's sources every interval until SIGTERM/SIGINT (the continuous pipeline)
    Watch(crate::cli::watch::WatchArgs),
    /// Approve a pending containment/recovery plan as the human at this terminal (shows the plan,
    /// then asks for the target's name): single-use, bound to the plan's exact hash and principal,
    /// expiring
    Approve {
        /// Plan id as shown by the tool that proposed it (plan-...)
        plan_id: String,
        /// Seconds the approval stays valid (1-3600)
        #[arg(long, default_value_t = 300)]
        ttl_secs: u64,
        /// Which configured approver you are (asked for their password when they have one)
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        /// Apply the plan at once, as its proposer's plan (the audit names you and the proposer)
        #[arg(long)]
        apply: bool,
        #[command(flatten)]
        out: Output,
    },
    /// Deny a pending plan as the human at this terminal, saying why: final, the agent sees it
    Deny {
        /// Plan id (plan-...)
        plan_id: String,
        /// Why the plan is denied (the agent sees it)
        #[arg(long)]
        reason: String,
        /// Which configured approver you are (asked for their password when they have one)
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Get a one-time code to approve a pending plan in an agent's MCP dialog, as the human at
    /// this terminal (shown once, single-use, expires with the approval it would give)
    Code {
        /// Plan id (plan-...)
        plan_id: String,
        /// Which configured approver you are (asked for their password when they have one)
        #[arg(long = "as", value_name = "NAME")]
        as_name: Option<String>,
    },
    /// Approver tools (`hash-password` makes the `password_hash` of an `[[approvers]]` entry)
    Approver {
        #[command(subcommand)]
        what: ApproverCommand,
    },
    /// List the newest containment/recovery plans (--pending: only those waiting for a human)
    Plans {
        /// Only plans still waiting for a human's approval
        #[arg(long)]
        pending: bool,
        /// How many plans to list (1-200)
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after this plan (the previous page's `next_before`)
        #[arg(long, value_name = "PLAN_ID")]
        before: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Show a plan before approving it: its exact changes, inverse, newest approval and audit history
    Plan {
        /// Plan id (plan-...)
        plan_id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Apply a plan proposed at this terminal (contain/recover) once another human approved it:
    /// exactly as approved, once
    Apply {
        /// Plan id as printed by contain/recover (plan-...)
        plan_id: String,
        #[command(flatten)]
        out: Output,
    },
    /// Queue a notification about an incident to a configured target and deliver the outbox now
    Notify(crate::cli::notify::NotifyArgs),
    /// The notification outbox (`list --dead` shows undeliverable notifications)
    Outbox {
        #[command(subcommand)]
        what: crate::cli::notify::OutboxCommand,
    },
    /// Register, list or remove signed webhooks for lifecycle events (besides the config's);
    /// `hook --url URL --event E` registers one, `hook --config hooks.yaml` a file's
    Hook(crate::cli::notify::HookArgs),
    /// Store a bearer key (file mode 0600, never printed) and, with --server, use that running
    /// server over REST for every command that has a route (`auth --remove` forgets them)
    Auth(crate::cli::remote::AuthArgs),
    /// Plan a containment (isolate, pause, block, cordon, delete-pod); prints the plan, which
    /// stays pending until another human approves it (`approve <plan-id>`)
    Contain(crate::cli::respond::ContainArgs),
    /// Plan a recovery (rollback, restore, revert); prints the pending plan
    Recover(crate::cli::respond::RecoverArgs),
    /// What is isolated, blocked, paused or cordoned now: since when, TTL, who proposed and
    /// who approved it
    Containments {
        /// Only containments in this environment
        #[arg(long)]
        env: Option<String>,
        /// Only containments of this incident
        #[arg(long)]
        id: Option<String>,
        #[command(flatten)]
        out: Output,
    },
    /// Show an environment's sandbox, the simulated cluster of `[environments.NAME.cluster]
    /// kind = "sandbox"`: its objects and what containment changed on them
    Sandbox {
        #[arg(long, default_value = "dev")]
        env: String,
        #[command(flatten)]
        out: Output,
    },
    /// The tamper-evident audit log of proposals, approvals, refusals and actions
    Audit {
        #[command(subcommand)]
        what: AuditCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum ApproverCommand {
    /// Read a new password (from the terminal without echo, or one line on stdin) and print its
    /// argon2 hash for `password_hash` in an `[[approvers]]` entry
    HashPassword,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 when intact, 1 naming the first bad entry
    Verify {
        /// An entry's `SEQ:HASH` kept outside the database (from `audit anchor`, a webhook's
        /// `audit_anchor`, PagerDuty's custom details): also catches a rewrite of the whole chain.
        /// Repeatable.
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<crate::domain::audit::AuditAnchor>,
        #[command(flatten)]
        out: Output,
    },
    /// Print the chain's head as `SEQ:HASH`, to keep somewhere the database's writers cannot reach
    Anchor {
        #[command(flatten)]
        out: Output,
    },
    /// Recent entries, newest first
    List {
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        out: Output,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the documented example configuration (the built-in default)
    Default,
    /// Validate a configuration (--config or the built-in) and list its environments
    Check,
}

use crate::cli::failure::report;
pub(crate) use crate::cli::failure::{Failure, backend, cli_id};

/// Entry point used by `main`.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                let _ = e.print();
                return ExitCode::from(if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                    EXIT_INPUT
                } else {
                    EXIT_OK
                });
            }
            let rendered = e.to_string();
            let message = rendered
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect::<Vec<_>>()
                .join(" ");
            report(&Failure::input(format!(
                "{} (see incident-mcp --help)",
                message.trim_start_matches("error: ")
            )));
            return ExitCode::from(EXIT_INPUT);
        }
    };
    if let Err(e) = init_tracing(&cli) {
        eprintln!("Error: {e}");
        return ExitCode::from(EXIT_INPUT);
    }
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_BACKEND);
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(f) => {
            tracing::debug!(code = f.code, error_code = f.error_code, message = %f.message, "cli error");
            report(&f);
            ExitCode::from(f.code)
        }
    }
}

fn init_tracing(cli: &Cli) -> Result<(), crate::logging::LogFileError> {
    let default = match (&cli.command, cli.verbose) {
        (_, true) => "incident_mcp=debug,info",
        (Command::Serve { .. }, false) => "info",
        (Command::Watch(_), false) => "warn,incident_mcp::cli::watch=info",
        // kube logs every failed request at error level; the CLI reports it as its one `Error:` line.
        _ => "warn,kube_client::client::builder=off",
    };
    crate::logging::init(&crate::logging::LogTargets {
        stderr_default: Some(default),
        file: cli.log_file.as_deref().filter(|p| !p.as_os_str().is_empty()),
    })
}

/// Default database path: the platform data directory, else the working directory.
pub fn default_db_path() -> PathBuf {
    directories::ProjectDirs::from("", "", "incident-mcp")
        .map(|d| d.data_dir().join("incidents.db"))
        .unwrap_or_else(|| PathBuf::from("incidents.db"))
}

/// The server configuration and, when `--config` names an inputs file (`cli_inputs`), its
/// inputs; the configuration then comes from `INCIDENT_MCP_CONFIG` or is the built-in one.
fn load_config(cli: &Cli) -> Result<(Config, Option<Inputs>), Failure> {
    let (server_file, inputs) = match &cli.config {
        Some(p) => match crate::cli::inputs::inputs_file(p).map_err(Failure::input)? {
            Some(inputs) => {
                let from_env = std::env::var_os("INCIDENT_MCP_CONFIG")
                    .map(PathBuf::from)
                    .filter(|e| !e.as_os_str().is_empty() && e != p);
                (from_env, Some(inputs))
            }
            None => (Some(p.clone()), None),
        },
        None => (None, None),
    };
    let cfg = match &server_file {
        Some(p) => Config::load_file(p).map_err(Failure::input)?,
        None => Config::builtin(),
    };
    Ok((cfg.with_api_key_from_env(), inputs))
}

/// The flags of `detect`, `watch` and `replay`; an inputs file fills what they leave out.
#[derive(Default)]
pub(crate) struct DetectFlags<'a> {
    pub env: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub threshold: Option<f64>,
    pub source: Option<String>,
    pub analyze_depth: Option<i64>,
}

/// The detect request built from flags and inputs; the environment is resolved (default
/// environment) and must be configured.
fn detect_request(cfg: &Config, f: DetectFlags<'_>, inputs: Option<&Inputs>) -> Result<DetectRequest, Failure> {
    let mut req = detect_request_as_given(f, inputs)?;
    let env = cfg.resolve_env(req.env.as_ref())?;
    if cfg.env(&env).is_none() {
        return Err(ServiceError::UnknownEnv {
            env: env.to_string(),
            known: cfg.env_names().join(", "),
        }
        .into());
    }
    req.env = Some(env);
    Ok(req)
}

/// The detect request as flags and inputs give it (no environment: the server's default).
pub(crate) fn detect_request_as_given(f: DetectFlags<'_>, inputs: Option<&Inputs>) -> Result<DetectRequest, Failure> {
    let i = inputs.cloned().unwrap_or_default();
    let env = match f.env.map(str::to_owned).or(i.env) {
        Some(e) => Some(Env::parse(&e)?),
        None => None,
    };
    let types = i
        .types
        .iter()
        .map(|t| t.parse::<IncidentType>().map_err(|e| field("types", e)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(DetectRequest {
        env,
        kind: f
            .kind
            .map(str::to_owned)
            .or(i.kind)
            .as_deref()
            .map(str::parse::<IncidentType>)
            .transpose()
            .map_err(|e| field("type", e))?,
        types,
        threshold: f.threshold.or(i.threshold).map(Threshold::new).transpose()?,
        source: f.source.or(i.source),
        analyze_depth: f
            .analyze_depth
            .or(i.analyze_depth)
            .map(Depth::new)
            .transpose()
            .map_err(|e| field("analyze-depth", e))?,
    })
}

/// `--db`, else `[storage] db`, else the default file: a SQLite path or a PostgreSQL URL.
fn db_location(cli: &Cli, cfg: &Config) -> StoreLocation {
    let raw = cli
        .db
        .clone()
        .or_else(|| cfg.storage.db.clone())
        .unwrap_or_else(default_db_path);
    StoreLocation::parse(&raw)
}

/// The service over the configured store; every command that uses the real store comes here.
async fn service(cli: &Cli, cfg: Config) -> Result<IncidentService, Failure> {
    crate::app::open(&db_location(cli, &cfg), cfg)
        .await
        .map_err(|e| match e {
            crate::app::AppError::Store(e) => Failure {
                error_code: "storage_unavailable",
                ..backend(e)
            },
            e => backend(e),
        })
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Config { what } = &cli.command {
        return match what {
            ConfigCommand::Default => {
                print!("{DEFAULT_TOML}");
                Ok(())
            }
            ConfigCommand::Check => {
                let (cfg, _) = load_config(&cli)?;
                println!("configuration ok; environments: {}", cfg.env_names().join(", "));
                Ok(())
            }
        };
    }
    if let Command::Score(args) = &cli.command {
        return crate::cli::score::run(args).map_err(Failure::from_exit);
    }
    if let Command::Auth(a) = &cli.command {
        return crate::cli::remote::auth(a).await;
    }
    let (cfg, inputs) = load_config(&cli)?;
    if inputs.is_some()
        && !matches!(
            cli.command,
            Command::Detect { .. } | Command::Watch(_) | Command::Replay { .. } | Command::Hook { .. }
        )
    {
        return Err(Failure::input(
            "--config names an inputs file (env, type, types, threshold, source, analyze_depth, hooks): \
             only detect, watch, replay and hook read one; pass the server configuration in INCIDENT_MCP_CONFIG",
        ));
    }
    if !matches!(cli.command, Command::Serve { .. })
        && let Some(remote) = crate::cli::remote::Remote::from_credentials()?
    {
        return crate::cli::remote_commands::run(&cli.command, &remote, inputs.as_ref()).await;
    }
    match &cli.command {
        Command::Serve {
            http,
            read_only,
            disable_destructive,
            no_response_tasks,
        } => {
            let policy = ToolPolicy {
                read_only: *read_only,
                disable_destructive: *disable_destructive,
            };
            let addr = match http {
                None => None,
                Some(a) => {
                    let raw = if a.is_empty() {
                        cfg.server.http_addr.clone()
                    } else {
                        a.clone()
                    };
                    let addr: SocketAddr = raw.parse().map_err(|_| {
                        Failure::input(format!("--http: `{raw}` is not an address like 127.0.0.1:8787"))
                    })?;
                    crate::http::check_bind(&addr, cfg.api_key().is_some()).map_err(Failure::input)?;
                    Some(addr)
                }
            };
            let location = db_location(&cli, &cfg);
            let svc = service(&cli, cfg).await?;
            let _outbox = svc.spawn_dispatcher()?;
            let _responder = match no_response_tasks {
                true => None,
                false => Some(crate::leader::start(&svc, &location).await?),
            };
            match addr {
                Some(addr) => crate::http::serve(svc, addr, policy).await.map_err(backend),
                None => IncidentServer::new(svc, policy).serve_stdio().await.map_err(backend),
            }
        }
        Command::Detect {
            env,
            kind,
            threshold,
            source,
            analyze_depth,
            out,
        } => {
            let flags = DetectFlags {
                env: env.as_deref(),
                kind: kind.as_deref(),
                threshold: *threshold,
                source: source.clone(),
                analyze_depth: *analyze_depth,
            };
            let req = detect_request(&cfg, flags, inputs.as_ref())?;
            let svc = service(&cli, cfg).await?;
            let report = match crate::cli::progress::TerminalBar::on_tty() {
                Some(bar) => {
                    let r = svc.detect_with_progress(req, Caller::CLI, &bar).await;
                    bar.finish();
                    r?
                }
                None => svc.detect(req, Caller::CLI).await?,
            };
            emit(out, &report, crate::cli::table::detect)
        }
        Command::Replay {
            env,
            file,
            as_source,
            kind,
            threshold,
            out,
        } => {
            let flags = DetectFlags {
                env: env.as_deref(),
                kind: kind.as_deref(),
                threshold: *threshold,
                ..Default::default()
            };
            let req = detect_request(&cfg, flags, inputs.as_ref())?;
            let mut cfg = cfg;
            let known = cfg.env_names().join(", ");
            let env = cfg.resolve_env(req.env.as_ref())?;
            let Some(env_cfg) = cfg.environments.get_mut(env.as_str()) else {
                return Err(ServiceError::UnknownEnv {
                    env: env.to_string(),
                    known,
                }
                .into());
            };
            let name = match as_source {
                Some(n) if env_cfg.sources.iter().any(|s| s.name() == n) => n.clone(),
                Some(n) => {
                    return Err(Failure::input(format!(
                        "--as-source {n}: not a source of environment {env}"
                    )));
                }
                None => env_cfg
                    .sources
                    .first()
                    .map(|s| s.name().to_owned())
                    .unwrap_or_else(|| "replay".into()),
            };
            // The recording replaces the environment's sources, under the name it stands in for.
            env_cfg.sources = vec![crate::config::SourceConfig::Jsonl(crate::config::FileSource {
                name,
                path: std::path::absolute(file)
                    .unwrap_or_else(|_| file.clone())
                    .display()
                    .to_string(),
            })];
            if !file.is_file() {
                return Err(Failure::input(format!("--file {}: no such file", file.display())));
            }
            // A snapshot of the real store (or an empty one), so dedup and detector state are
            // those of now; the snapshot is thrown away.
            let scratch =
                tempfile::tempdir().map_err(|e| backend(format!("cannot create a scratch directory: {e}")))?;
            let copy = scratch.path().join("replay.db");
            let real = match db_location(&cli, &cfg) {
                StoreLocation::Sqlite(path) => path,
                // The throw-away copy is a SQLite file (VACUUM INTO); a PostgreSQL database has
                // no such copy here, and replaying against it would write to the real store.
                StoreLocation::Postgres(_) => {
                    return Err(Failure::input(
                        "replay needs the SQLite store, and the database is a PostgreSQL URL \
                         (--db, INCIDENT_MCP_DB or [storage] db); point --db at a SQLite file to \
                         replay against a copy of it",
                    ));
                }
            };
            if real.exists() {
                let store = SqliteStore::open(&real).await.map_err(backend)?;
                store.snapshot_to(&copy).await.map_err(backend)?;
            }
            let store = SqliteStore::open(&copy).await.map_err(backend)?;
            let svc = IncidentService::new(Arc::new(store), Arc::new(cfg));
            let mut report = svc.detect(req, Caller::CLI).await?;
            report.summary = format!("replay (nothing stored): {}", report.summary);
            emit(out, &report, crate::cli::table::detect)
        }
        Command::Analyze { id, depth, out } => {
            let req = AnalyzeRequest {
                id: cli_id(id)?,
                depth: Some(Depth::new(*depth)?),
            };
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.analyze(req).await?, crate::cli::table::analysis)
        }
        Command::List {
            env,
            status,
            kind,
            limit,
            out,
        } => {
            let req = ListRequest {
                env: env.as_deref().map(Env::parse).transpose()?,
                status: status
                    .as_deref()
                    .map(str::parse::<Status>)
                    .transpose()
                    .map_err(|e| field("status", e))?,
                kind: kind
                    .as_deref()
                    .map(str::parse::<IncidentType>)
                    .transpose()
                    .map_err(|e| field("type", e))?,
                limit: Some(*limit),
            };
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.list(req).await?, crate::cli::table::list)
        }
        Command::Get { id, out } => {
            let id = cli_id(id)?;
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.get(GetRequest { id }).await?, crate::cli::table::detail)
        }
        Command::Ack { id, note, out } => {
            let req = AckRequest {
                id: cli_id(id)?,
                note: note.clone(),
            };
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.ack(req, Caller::CLI).await?, crate::cli::table::lifecycle)
        }
        Command::Resolve {
            id,
            note,
            keep_containments,
            out,
        } => {
            let req = ResolveRequest {
                id: cli_id(id)?,
                note: note.clone(),
                keep_containments: *keep_containments,
            };
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.resolve(req, Caller::CLI).await?, crate::cli::table::lifecycle)
        }
        Command::Watch(args) => {
            let flags = DetectFlags {
                env: args.env.as_deref(),
                kind: args.kind.as_deref(),
                threshold: args.threshold,
                ..Default::default()
            };
            let req = detect_request(&cfg, flags, inputs.as_ref())?;
            let location = db_location(&cli, &cfg);
            let svc = service(&cli, cfg).await?;
            let _outbox = svc.spawn_dispatcher()?;
            let _responder = match args.no_response_tasks {
                true => None,
                false => Some(crate::leader::start(&svc, &location).await?),
            };
            crate::cli::watch::run(svc, req, args).await.map_err(Failure::from_exit)
        }
        Command::Approve {
            plan_id,
            ttl_secs,
            as_name,
            apply,
            out,
        } => {
            let svc = service(&cli, cfg).await?;
            let approver = match crate::cli::identity::terminal_approver(svc.approvers(), as_name.as_deref()) {
                Ok(a) => a,
                Err(message) => {
                    if let Err(crate::cli::approve::Refused::Service(e)) =
                        crate::cli::approve::refuse_unknown_approver(&svc, plan_id, &message).await
                    {
                        return Err(Failure::from(e));
                    }
                    return Err(Failure::input(message));
                }
            };
            let done = crate::cli::approve::approve(&svc, plan_id, &approver, *ttl_secs, *apply)
                .await
                .map_err(|r| match r {
                    crate::cli::approve::Refused::Service(e) => Failure::from(e),
                    crate::cli::approve::Refused::Declined(message) => Failure::input(message),
                })?;
            let report = match done {
                crate::cli::approve::Approved::Applied(r) => return emit(out, &r, |r| r.summary.clone()),
                crate::cli::approve::Approved::Granted(r) => r,
            };
            emit(out, &report, |r| r.summary.clone())
        }
        Command::Deny {
            plan_id,
            reason,
            as_name,
            out,
        } => {
            let svc = service(&cli, cfg).await?;
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(Failure::input(
                    "not denied: `incident-mcp deny` is for a human at an interactive terminal; approvers deny on \
                     the approval page, in Slack, or with POST /api/plans/{plan_id}/deny and their own key",
                ));
            }
            let approver =
                crate::cli::identity::terminal_approver(svc.approvers(), as_name.as_deref()).map_err(Failure::input)?;
            let view = svc.deny_plan(plan_id, &approver, reason).await?;
            emit(out, &view, |v| v.plan.summary.clone())
        }
        Command::Code { plan_id, as_name } => {
            let svc = service(&cli, cfg).await?;
            if !std::io::IsTerminal::is_terminal(&std::io::stdin()) {
                return Err(Failure::input(
                    "no code issued: `incident-mcp code` is for a human at an interactive terminal; approvers also \
                     get codes on the approval page",
                ));
            }
            let approver =
                crate::cli::identity::terminal_approver(svc.approvers(), as_name.as_deref()).map_err(Failure::input)?;
            let issued = svc.issue_code(plan_id, &approver).await?;
            // Printed to the human only: never logged (the log file records other CLI output).
            tracing::debug!(plan = %issued.plan_id, approver = %issued.approver, "one-time code issued");
            println!(
                "{}\none-time code for {} as {}, valid until {} (single use): type it into the agent's approval \
                 dialog",
                issued.code,
                issued.plan_id,
                issued.approver,
                issued.expires_at.to_rfc3339()
            );
            Ok(())
        }
        Command::Approver {
            what: ApproverCommand::HashPassword,
        } => {
            let password = if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
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
            let hash = crate::service::hash_password(password)
                .map_err(|message| Failure::from_exit((EXIT_BACKEND, message)))?;
            println!("{hash}");
            Ok(())
        }
        Command::Plans {
            pending,
            limit,
            before,
            out,
        } => {
            let svc = service(&cli, cfg).await?;
            let req = crate::service::PlanListRequest {
                pending: *pending,
                limit: Some(*limit),
                before: before.clone(),
            };
            let list = svc.list_plans(&req).await?;
            emit(out, &list, crate::cli::respond::list_table)
        }
        Command::Plan { plan_id, out } => {
            let svc = service(&cli, cfg).await?;
            let view = svc.plan_view(plan_id).await?;
            emit(out, &view, crate::cli::respond::view_table)
        }
        Command::Apply { plan_id, out } => {
            let svc = service(&cli, cfg).await?;
            let report = svc.apply_plan(plan_id, crate::cli::respond::CLI_PRINCIPAL).await?;
            emit(out, &report, crate::cli::respond::table)
        }
        Command::Audit { what } => {
            let svc = service(&cli, cfg).await?;
            match what {
                AuditCommand::Verify { anchors, out } => {
                    let v = svc.audit_verify(anchors).await?;
                    emit(out, &v, crate::cli::audit::verification)?;
                    match v.intact {
                        true => Ok(()),
                        false => Err(Failure {
                            error_code: "conflict",
                            printed: true,
                            ..Failure::input(v.summary)
                        }),
                    }
                }
                AuditCommand::Anchor { out } => match svc.audit_anchor().await? {
                    Some(a) => emit(out, &a, |a| a.to_string()),
                    None => Err(Failure {
                        error_code: "not_found",
                        ..Failure::input("the audit log is empty: there is nothing to anchor yet")
                    }),
                },
                AuditCommand::List { limit, out } => {
                    emit(out, &svc.audit_recent(*limit).await?, crate::cli::audit::list)
                }
            }
        }
        Command::Notify(args) => {
            let svc = service(&cli, cfg).await?;
            crate::cli::notify::notify(&svc, args).await
        }
        Command::Outbox { what } => {
            let svc = service(&cli, cfg).await?;
            crate::cli::notify::outbox(&svc, what).await
        }
        Command::Hook(hook) => {
            let svc = service(&cli, cfg).await?;
            crate::cli::notify::hook(&svc, hook, inputs.as_ref()).await
        }
        Command::Contain(args) => {
            let svc = service(&cli, cfg).await?;
            crate::cli::respond::contain(&svc, args).await
        }
        Command::Recover(args) => {
            let svc = service(&cli, cfg).await?;
            crate::cli::respond::recover(&svc, args).await
        }
        Command::Containments { env, id, out } => {
            let req = ContainmentsRequest {
                env: env.as_deref().map(Env::parse).transpose()?,
                id: id.as_deref().map(str::parse).transpose()?,
            };
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.containments(&req).await?, crate::cli::table::containments)
        }
        Command::Sandbox { env, out } => {
            let env = Env::parse(env)?;
            let svc = service(&cli, cfg).await?;
            emit(out, &svc.sandbox_view(&env).await?, crate::cli::table::sandbox)
        }
        Command::Config { .. } | Command::Score(_) | Command::Auth(_) => unreachable!("handled above"),
    }
}

fn field(name: &str, mut e: DomainError) -> DomainError {
    e.field = name.to_owned();
    e.message = format!("--{name}: {}", e.message);
    e
}

/// Prints `value` as pretty JSON on stdout (and at debug level in the logs).
pub(crate) fn print_json<T: serde::Serialize>(value: &T) {
    let text = serde_json::to_string_pretty(value).unwrap_or_default();
    tracing::debug!(output = ?text, "cli output");
    println!("{text}");
}

pub(crate) fn emit<T: serde::Serialize>(out: &Output, value: &T, table: fn(&T) -> String) -> Result<(), Failure> {
    let format = out.format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Table
    } else {
        Format::Json
    });
    let text = match format {
        Format::Json => serde_json::to_string_pretty(value).map_err(backend)?,
        Format::Table => table(value),
    };
    tracing::debug!(output = ?text, "cli output");
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{text}").map_err(backend)
}
