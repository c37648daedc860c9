//! `detect` (scan an environment now) and `replay` (recorded telemetry through the pipeline,
//! against a throw-away copy of the store).

use std::{path::PathBuf, sync::Arc};

use clap::Args;

use super::{
    failure::{Failure, backend},
    flags::{DetectFlags, detect_request},
    inputs::Inputs,
    output::{Output, emit},
    progress::TerminalBar,
    table,
};
use crate::{
    config::{Config, FileSource, SourceConfig},
    service::{Caller, DetectRequest, IncidentService, ServiceError},
    store::{SqliteStore, StoreLocation},
};

#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Environment to scan [default: the configuration's default_env, or its only environment]
    #[arg(long)]
    pub env: Option<String>,
    /// Only rules of this incident type (network, app-vuln, auth, resource, availability, explainability, other)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Score cut-off in 0..1 [default: 0.8]
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    /// A configured source name or kind (k8s-logs, prometheus, ...), file:PATH for a log
    /// file (JSON lines or text), or stdin
    #[arg(long)]
    pub source: Option<String>,
    /// Also analyze every incident found, at this depth (0-3)
    #[arg(long, value_name = "DEPTH", allow_negative_numbers = true)]
    pub analyze_depth: Option<i64>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// Environment whose rules and detector state to use [default: the default environment]
    #[arg(long)]
    pub env: Option<String>,
    /// Recorded events, JSON lines as the jsonl source reads them
    #[arg(long)]
    pub file: PathBuf,
    /// The configured source the recording stands in for (dedup keys include it)
    /// [default: the environment's first source]
    #[arg(long = "as-source")]
    pub as_source: Option<String>,
    /// Only rules of this incident type
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Score cut-off in 0..1 [default: 0.8]
    #[arg(long, allow_negative_numbers = true)]
    pub threshold: Option<f64>,
    #[command(flatten)]
    pub out: Output,
}

/// The detect request of `detect`'s flags (and an inputs file); checked before any store opens.
pub fn request(cfg: &Config, a: &DetectArgs, inputs: Option<&Inputs>) -> Result<DetectRequest, Failure> {
    let flags = DetectFlags {
        env: a.env.as_deref(),
        kind: a.kind.as_deref(),
        threshold: a.threshold,
        source: a.source.clone(),
        analyze_depth: a.analyze_depth,
    };
    detect_request(cfg, flags, inputs)
}

pub async fn detect(svc: &IncidentService, req: DetectRequest, out: &Output) -> Result<(), Failure> {
    let report = match TerminalBar::on_tty() {
        Some(bar) => {
            let r = svc.detect_with_progress(req, Caller::CLI, &bar).await;
            bar.finish();
            r?
        }
        None => svc.detect(req, Caller::CLI).await?,
    };
    emit(out, &report, table::detect)
}

/// Replays against a snapshot of the store at `real` (SQLite only); nothing is stored.
pub async fn replay(
    a: &ReplayArgs,
    mut cfg: Config,
    real: StoreLocation,
    inputs: Option<&Inputs>,
) -> Result<(), Failure> {
    let flags = DetectFlags {
        env: a.env.as_deref(),
        kind: a.kind.as_deref(),
        threshold: a.threshold,
        ..Default::default()
    };
    let req = detect_request(&cfg, flags, inputs)?;
    let known = cfg.env_names().join(", ");
    let env = cfg.resolve_env(req.env.as_ref())?;
    let Some(env_cfg) = cfg.environments.get_mut(env.as_str()) else {
        return Err(ServiceError::UnknownEnv {
            env: env.to_string(),
            known,
        }
        .into());
    };
    let name = match &a.as_source {
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
    env_cfg.sources = vec![SourceConfig::Jsonl(FileSource {
        name,
        path: std::path::absolute(&a.file)
            .unwrap_or_else(|_| a.file.clone())
            .display()
            .to_string(),
    })];
    if !a.file.is_file() {
        return Err(Failure::input(format!("--file {}: no such file", a.file.display())));
    }
    // A snapshot of the real store (or an empty one), so dedup and detector state are those of
    // now; the snapshot is thrown away.
    let scratch = tempfile::tempdir().map_err(|e| backend(format!("cannot create a scratch directory: {e}")))?;
    let copy = scratch.path().join("replay.db");
    let real = match real {
        StoreLocation::Sqlite(path) => path,
        // The throw-away copy is a SQLite file (VACUUM INTO); a PostgreSQL database has no such
        // copy here, and replaying against it would write to the real store.
        StoreLocation::Postgres(_) => {
            return Err(Failure::input(
                "replay needs the SQLite store, and the database is a PostgreSQL URL (--db, INCIDENT_MCP_DB or \
                 [storage] db); point --db at a SQLite file to replay against a copy of it",
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
    emit(&a.out, &report, table::detect)
}
