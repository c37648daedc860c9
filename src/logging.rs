//! Log set-up shared by the binary and the test harness: human-readable logs on stderr (stdout
//! carries the stdio protocol) and, optionally, a log file that every process appends to.
//!
//! The log file has its own filter (`INCIDENT_MCP_LOG_FILE_FILTER`, `RUST_LOG` syntax), so an
//! operator can keep stderr quiet while the file records debug detail: tool results, REST
//! responses, CLI output and appended audit rows are all logged at debug level. The test suite
//! points every process at one file and scans it for its planted secret canary.

use std::{
    fs::{File, OpenOptions},
    io::IsTerminal,
    path::Path,
    sync::Mutex,
};

use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// Log file every process appends to (also `--log-file`).
pub const LOG_FILE_ENV: &str = "INCIDENT_MCP_LOG_FILE";
/// Filter of the log file (`RUST_LOG` syntax); default: the stderr filter.
pub const LOG_FILE_FILTER_ENV: &str = "INCIDENT_MCP_LOG_FILE_FILTER";

/// Where logs go and how much of them.
#[derive(Debug, Default, Clone)]
pub struct LogTargets<'a> {
    /// Log to stderr with `RUST_LOG`, else this filter; `None`: no stderr logging.
    pub stderr_default: Option<&'a str>,
    /// Also append to this file.
    pub file: Option<&'a Path>,
}

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open log file {path}: {source}")]
pub struct LogFileError {
    path: String,
    source: std::io::Error,
}

/// Installs the global subscriber; a second call (tests) leaves the first one in place.
pub fn init(targets: &LogTargets<'_>) -> Result<(), LogFileError> {
    let env_filter = || std::env::var("RUST_LOG").ok().and_then(|v| EnvFilter::try_new(v).ok());
    let stderr = targets.stderr_default.map(|default| {
        let filter = env_filter().unwrap_or_else(|| EnvFilter::new(default));
        tracing_subscriber::fmt::layer()
            .with_writer(RedactCodes(std::io::stderr))
            .with_target(false)
            .with_ansi(std::io::stderr().is_terminal())
            .with_filter(filter)
    });
    let file = match targets.file {
        Some(path) => {
            let handle = open_append(path)?;
            let filter = std::env::var(LOG_FILE_FILTER_ENV)
                .ok()
                .and_then(|v| EnvFilter::try_new(v).ok())
                .or_else(env_filter)
                .unwrap_or_else(|| EnvFilter::new(targets.stderr_default.unwrap_or("info")));
            Some(
                tracing_subscriber::fmt::layer()
                    // One `write` per event on an O_APPEND file: lines from concurrent
                    // processes do not interleave.
                    .with_writer(RedactCodes(Mutex::new(handle)))
                    .with_ansi(false)
                    .with_filter(filter),
            )
        }
        None => None,
    };
    let _ = tracing_subscriber::registry().with(stderr).with(file).try_init();
    tracing::debug!(
        pid = std::process::id(),
        version = env!("CARGO_PKG_VERSION"),
        "process started"
    );
    Ok(())
}

/// Writes each formatted event with one-time approval codes blanked out: a code reaches the
/// server inside the client's dialog answer, which rmcp logs at debug level, and no log may keep
/// it (`service::codes`).
struct RedactCodes<M>(M);

impl<'a, M: tracing_subscriber::fmt::MakeWriter<'a>> tracing_subscriber::fmt::MakeWriter<'a> for RedactCodes<M> {
    type Writer = RedactWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactWriter(self.0.make_writer())
    }
}

struct RedactWriter<W>(W);

impl<W: std::io::Write> std::io::Write for RedactWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        // One write per event, as the formatter gives it.
        self.0.write_all(redact_codes(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// `text` with anything shaped like a one-time code (`XXXX-XXXX` in the code alphabet, or any
/// 8 letters/digits given as a `code` value) replaced.
pub fn redact_codes(text: &str) -> std::borrow::Cow<'_, str> {
    use std::sync::OnceLock;
    static SHAPED: OnceLock<regex::Regex> = OnceLock::new();
    static KEYED: OnceLock<regex::Regex> = OnceLock::new();
    let shaped = SHAPED.get_or_init(|| regex::Regex::new(r"\b[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}\b").expect("regex"));
    let keyed = KEYED.get_or_init(|| {
        regex::Regex::new(r#"(?i)(\bcode\b\\?"?\s*[:=]\s*(?:String\()?\\?")[0-9a-z]{4}[- ]?[0-9a-z]{4}\b"#)
            .expect("regex")
    });
    if !shaped.is_match(text) && !keyed.is_match(text) {
        return std::borrow::Cow::Borrowed(text);
    }
    let once = shaped.replace_all(text, "[CODE]");
    std::borrow::Cow::Owned(keyed.replace_all(&once, "${1}[CODE]").into_owned())
}

fn open_append(path: &Path) -> Result<File, LogFileError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogFileError {
            path: path.display().to_string(),
            source,
        })
}

/// The log file named by `INCIDENT_MCP_LOG_FILE`, if any.
pub fn file_from_env() -> Option<std::path::PathBuf> {
    std::env::var_os(LOG_FILE_ENV).filter(|v| !v.is_empty()).map(Into::into)
}

#[cfg(test)]
mod tests {
    use super::redact_codes;

    #[test]
    fn codes_are_blanked_in_every_form_they_reach_a_log() {
        for line in [
            r#"content: Object {"code": String("6225-U3SQ")}"#,
            r#"{"code":"6225-u3sq"}"#,
            r#"{\"code\":\"6225U3SQ\"}"#,
            "typed 6225-U3SQ",
        ] {
            let out = redact_codes(line);
            assert!(
                !out.to_uppercase().contains("6225") && out.contains("[CODE]"),
                "{line} -> {out}"
            );
        }
        assert_eq!(
            redact_codes("plan-0123456789abcdef INC-000001"),
            "plan-0123456789abcdef INC-000001"
        );
    }
}
