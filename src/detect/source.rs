//! Reading telemetry sources named in the config (or, from the CLI only, a file path).
//! Every source yields the same thing: events (metric samples, log lines) plus parse stats,
//! and for incremental sources the cursor to store once the scan's results are committed.

use std::path::{Path, PathBuf};

use crate::config::{BUILTIN_FILES, FileSource, SourceConfig};

use super::{
    event::{Event, ParseStats, parse_jsonl},
    k8s_logs, logs, postgres, prometheus,
};

/// Largest source file read in one scan.
pub const MAX_SOURCE_BYTES: u64 = 256 * 1024 * 1024;

/// A source to scan.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceRef {
    /// A source configured for the environment, by name.
    Configured(SourceConfig),
    /// A file given on the command line by the operator (`--source file:PATH`).
    File(PathBuf),
    /// Standard input, read to EOF (`--source stdin`, CLI only).
    Stdin,
}

impl SourceRef {
    pub fn name(&self) -> String {
        match self {
            SourceRef::Configured(s) => s.name().to_owned(),
            SourceRef::File(p) => format!("file:{}", p.display()),
            SourceRef::Stdin => "stdin".to_owned(),
        }
    }
}

/// The source could not be read: a backend failure (CLI exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("source `{source_name}` unavailable: {reason}")]
pub struct SourceError {
    pub source_name: String,
    pub reason: String,
}

impl SourceError {
    pub fn new(source_name: &str, reason: impl Into<String>) -> Self {
        Self {
            source_name: source_name.to_owned(),
            reason: reason.into(),
        }
    }
}

/// What one scan of one source read.
#[derive(Debug, Default)]
pub struct Fetched {
    pub events: Vec<Event>,
    pub stats: ParseStats,
    /// Position after the last row read, for incremental sources; stored with the scan's results.
    pub cursor: Option<String>,
}

/// Reads a source. `base` resolves relative configured paths; `cursor` is where the previous
/// committed scan of an incremental source stopped.
pub async fn fetch(src: &SourceRef, base: Option<&Path>, cursor: Option<&str>) -> Result<Fetched, SourceError> {
    let name = src.name();
    match src {
        SourceRef::Configured(SourceConfig::Jsonl(f)) => jsonl(&name, read_file_source(&name, f, base).await?),
        SourceRef::Configured(SourceConfig::Logs(f)) => Ok(log_text(&read_file_source(&name, f, base).await?)),
        SourceRef::File(p) => Ok(log_text(&read_path(&name, p).await?)),
        SourceRef::Stdin => Ok(log_text(&logs::read_stdin(&name).await?)),
        SourceRef::Configured(SourceConfig::K8sLogs(k)) => k8s_logs::fetch(&name, k, base, cursor).await,
        SourceRef::Configured(SourceConfig::Prometheus(p)) => prometheus::fetch(p).await,
        SourceRef::Configured(SourceConfig::Postgres(p)) => postgres::fetch(p, cursor).await,
    }
}

fn jsonl(_name: &str, text: String) -> Result<Fetched, SourceError> {
    let (events, stats) = parse_jsonl(&text);
    Ok(Fetched {
        events,
        stats,
        cursor: None,
    })
}

/// JSON lines, other JSON objects or plain text (see `logs`), timed `now` when a line has no time.
fn log_text(text: &str) -> Fetched {
    let (events, stats) = logs::parse_log_text(text, &Default::default(), chrono::Utc::now());
    Fetched {
        events,
        stats,
        cursor: None,
    }
}

async fn read_file_source(name: &str, f: &FileSource, base: Option<&Path>) -> Result<String, SourceError> {
    if let Some(file) = f.path.strip_prefix("builtin:") {
        return BUILTIN_FILES
            .iter()
            .find(|(n, _)| *n == file)
            .map(|(_, text)| (*text).to_owned())
            .ok_or_else(|| SourceError::new(name, format!("no built-in file `{file}`")));
    }
    let p = PathBuf::from(&f.path);
    let path = match base {
        Some(b) if p.is_relative() => b.join(p),
        _ => p,
    };
    read_path(name, &path).await
}

async fn read_path(name: &str, path: &Path) -> Result<String, SourceError> {
    let fail = |reason: String| SourceError::new(name, reason);
    let meta = tokio::fs::metadata(path)
        .await
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(fail(format!(
            "{} is larger than {MAX_SOURCE_BYTES} bytes",
            path.display()
        )));
    }
    let bytes = tokio::fs::read(path)
        .await
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
