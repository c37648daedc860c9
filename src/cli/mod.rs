//! Command line: the same service as MCP and REST. Exit codes: 0 success, 1 input or
//! detection errors (unknown env, invalid flag, bad threshold, unknown incident), 2 API or
//! backend failures (source or database unavailable).
//!
//! This file parses, sets up (logging, configuration, the store) and dispatches; each command
//! group's flags and handler live in its own file, and the shared helpers (`failure`,
//! `output`, `flags`) import none of the command files.

mod approve;
mod audit;
mod command;
mod database;
mod detect;
mod failure;
mod flags;
mod generate;
mod identity;
mod incidents;
mod inputs;
mod manage;
mod notify;
mod output;
mod plans;
mod postmortem;
mod progress;
mod remote;
mod remote_commands;
mod respond;
mod score;
mod serve;
mod settings;
mod table;
mod table_kube;
mod watch;

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;

pub use self::{
    command::{Cli, Command},
    failure::{EXIT_BACKEND, EXIT_INPUT, EXIT_OK},
};
use self::{
    failure::{Failure, backend, report},
    inputs::Inputs,
};
use crate::{config::Config, service::IncidentService, store::StoreLocation};

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
            report(&Failure::input(clap_message(&e.to_string(), &command_named())));
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

/// clap's error as one line: the error, its "did you mean" tip, and where to read more
/// (`incident-mcp SUBCOMMAND --help`, from clap's usage line).
fn clap_message(rendered: &str, named: &str) -> String {
    let mut parts = Vec::new();
    let mut command = named.to_owned();
    for line in rendered.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if let Some(usage) = line.strip_prefix("Usage:") {
            let words: Vec<&str> = usage
                .split_whitespace()
                .take_while(|w| !w.starts_with(['[', '<', '-']))
                .collect();
            if !words.is_empty() {
                command = words.join(" ");
            }
        } else if line.starts_with("For more information") {
        } else if let Some(tip) = line.strip_prefix("tip:") {
            let tip = tip.trim();
            match tip.split_once(" exists: ") {
                Some((_, names)) if tip.starts_with("a similar") || tip.starts_with("some similar") => {
                    parts.push(format!("did you mean {names}?"))
                }
                _ => parts.push(tip.to_owned()),
            }
        } else {
            parts.push(line.trim_start_matches("error: ").to_owned());
        }
    }
    format!("{} (see {command} --help)", parts.join("; "))
}

/// The (sub)command the command line names, e.g. `incident-mcp audit verify`.
fn command_named() -> String {
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let mut words = vec!["incident-mcp".to_owned()];
    for arg in std::env::args().skip(1) {
        let Some(sub) = cmd.find_subcommand(&arg).cloned() else {
            continue;
        };
        words.push(sub.get_name().to_owned());
        cmd = sub;
    }
    words.join(" ")
}

fn init_tracing(cli: &Cli) -> Result<(), crate::logging::LogFileError> {
    let default = match (&cli.command, cli.verbose) {
        (_, true) => "incident_mcp=debug,info",
        (Command::Serve(_), false) => "info",
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

/// The server configuration and, when `--config` names an inputs file (`cli::inputs`), its
/// inputs; the configuration then comes from `INCIDENT_MCP_CONFIG` or is the built-in one.
fn load_config(cli: &Cli) -> Result<(Config, Option<Inputs>), Failure> {
    let (server_file, inputs) = match &cli.config {
        Some(p) => match inputs::inputs_file(p).map_err(Failure::input)? {
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
    // Commands that need neither a configuration nor a store.
    match &cli.command {
        Command::Config {
            what: settings::ConfigCommand::Default,
        } => return settings::default(),
        Command::Score(args) => return score::run(args).map_err(Failure::from_exit),
        Command::Auth(a) => return remote::auth(a).await,
        Command::Approver { what } => return plans::approver(what),
        Command::Completions(a) => return generate::completions(a, <Cli as clap::CommandFactory>::command()),
        Command::Man => return generate::man(<Cli as clap::CommandFactory>::command()),
        _ => {}
    }
    let (cfg, inputs) = load_config(&cli)?;
    if let Command::Config {
        what: settings::ConfigCommand::Check { out },
    } = &cli.command
    {
        return settings::check(&cfg, out);
    }
    if inputs.is_some()
        && !matches!(
            cli.command,
            Command::Detect(_) | Command::Watch(_) | Command::Replay(_) | Command::Hook(_)
        )
    {
        return Err(Failure::input(
            "--config names an inputs file (env, type, types, threshold, source, analyze_depth, hooks): \
             only detect, watch, replay and hook read one; pass the server configuration in INCIDENT_MCP_CONFIG",
        ));
    }
    if !matches!(cli.command, Command::Serve(_))
        && let Some(remote) = remote::Remote::from_credentials()?
    {
        return remote_commands::run(&cli.command, &remote, inputs.as_ref()).await;
    }
    // An explicitly named database must be in an existing directory.
    match (&cli.db, &cfg.storage.db) {
        (Some(db), _) => database::check_directory("--db", db)?,
        (None, Some(db)) => database::check_directory("[storage] db", db)?,
        (None, None) => {}
    }
    let searched = database::shown(&db_location(&cli, &cfg));
    local(&cli, cfg, inputs)
        .await
        .map_err(|f| database::name_in_not_found(f, &searched))
}

/// A command on the local store.
async fn local(cli: &Cli, cfg: Config, inputs: Option<Inputs>) -> Result<(), Failure> {
    // What is checked before the store opens (a refused flag creates no database).
    match &cli.command {
        Command::Serve(a) => {
            let addr = serve::address(a, &cfg)?;
            let location = db_location(cli, &cfg);
            serve::run(service(cli, cfg).await?, a, addr, &location).await
        }
        Command::Detect(a) => {
            let req = detect::request(&cfg, a, inputs.as_ref())?;
            detect::detect(&service(cli, cfg).await?, req, &a.out).await
        }
        Command::Replay(a) => {
            let location = db_location(cli, &cfg);
            detect::replay(a, cfg, location, inputs.as_ref()).await
        }
        Command::Watch(args) => {
            let flags = flags::DetectFlags {
                env: args.env.as_deref(),
                kind: args.kind.as_deref(),
                threshold: args.threshold,
                ..Default::default()
            };
            let req = flags::detect_request(&cfg, flags, inputs.as_ref())?;
            let location = db_location(cli, &cfg);
            let svc = service(cli, cfg).await?;
            let _metrics = serve::metrics_listener(&svc, args.metrics_addr).await?;
            let _outbox = svc.spawn_dispatcher()?;
            let _responder = match args.no_response_tasks {
                true => None,
                false => Some(crate::leader::start(&svc, &location).await?),
            };
            watch::run(svc, req, args).await.map_err(Failure::from_exit)
        }
        command => {
            let svc = service(cli, cfg).await?;
            dispatch(&svc, command, inputs.as_ref()).await
        }
    }
}

/// The commands that only need the service.
async fn dispatch(svc: &IncidentService, command: &Command, inputs: Option<&Inputs>) -> Result<(), Failure> {
    match command {
        Command::Analyze(a) => incidents::analyze(svc, a).await,
        Command::List(a) => incidents::list(svc, a).await,
        Command::Get(a) => incidents::get(svc, a).await,
        Command::Ack(a) => incidents::ack(svc, a).await,
        Command::Resolve(a) => incidents::resolve(svc, a).await,
        Command::Declare(a) => manage::declare(svc, a).await,
        Command::Note(a) => manage::note(svc, a).await,
        Command::Assign(a) => manage::assign(svc, a).await,
        Command::Severity(a) => manage::severity(svc, a).await,
        Command::Postmortem(a) => postmortem::postmortem(svc, a).await,
        Command::Approve(a) => plans::approve(svc, a).await,
        Command::Deny(a) => plans::deny(svc, a).await,
        Command::Code(a) => plans::code(svc, a).await,
        Command::Plans(a) => plans::plans(svc, a).await,
        Command::Plan(a) => plans::plan(svc, a).await,
        Command::Apply(a) => plans::apply(svc, a).await,
        Command::Audit { what } => audit::run(svc, what).await,
        Command::Notify(a) => notify::notify(svc, a).await,
        Command::Outbox { what } => notify::outbox(svc, what).await,
        Command::Hook(a) => notify::hook(svc, a, inputs).await,
        Command::Contain(a) => respond::contain(svc, a).await,
        Command::Recover(a) => respond::recover(svc, a).await,
        Command::Containments(a) => respond::containments(svc, a).await,
        Command::Sandbox(a) => respond::sandbox(svc, a).await,
        Command::Serve(_)
        | Command::Detect(_)
        | Command::Replay(_)
        | Command::Watch(_)
        | Command::Config { .. }
        | Command::Score(_)
        | Command::Auth(_)
        | Command::Approver { .. }
        | Command::Completions(_)
        | Command::Man => unreachable!("handled in run"),
    }
}
