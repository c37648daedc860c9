//! Reading telemetry sources named in the config (or, from the CLI only, a file path).

use std::path::{Path, PathBuf};

use crate::config::{BUILTIN_FILES, SourceConfig};

/// Largest source file read in one scan.
pub const MAX_SOURCE_BYTES: u64 = 256 * 1024 * 1024;

/// A source to scan.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceRef {
    /// A source configured for the environment, by name.
    Configured(SourceConfig),
    /// A file given on the command line by the operator (`--source file:PATH`).
    File(PathBuf),
}

impl SourceRef {
    pub fn name(&self) -> String {
        match self {
            SourceRef::Configured(s) => s.name.clone(),
            SourceRef::File(p) => format!("file:{}", p.display()),
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

/// Reads a source's whole text. `base` resolves relative configured paths.
pub async fn read_source(src: &SourceRef, base: Option<&Path>) -> Result<String, SourceError> {
    let fail = |reason: String| SourceError {
        source_name: src.name(),
        reason,
    };
    let path = match src {
        SourceRef::Configured(cfg) => {
            if let Some(name) = cfg.path.strip_prefix("builtin:") {
                return BUILTIN_FILES
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, text)| (*text).to_owned())
                    .ok_or_else(|| fail(format!("no built-in file `{name}`")));
            }
            let p = PathBuf::from(&cfg.path);
            match base {
                Some(b) if p.is_relative() => b.join(p),
                _ => p,
            }
        }
        SourceRef::File(p) => p.clone(),
    };
    let meta = tokio::fs::metadata(&path)
        .await
        .map_err(|e| fail(format!("cannot open {}: {e}", path.display())))?;
    if meta.len() > MAX_SOURCE_BYTES {
        return Err(fail(format!(
            "{} is larger than {MAX_SOURCE_BYTES} bytes",
            path.display()
        )));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}
