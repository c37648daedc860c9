//! Telemetry events read from JSON-lines sources.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// One telemetry event: a metric sample or a log line.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub ts: DateTime<Utc>,
    pub body: EventBody,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventBody {
    Metric { name: String, value: f64 },
    Log { message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvent {
    ts: DateTime<Utc>,
    #[serde(default)]
    metric: Option<String>,
    #[serde(default)]
    value: Option<f64>,
    #[serde(default)]
    log: Option<String>,
    #[serde(default)]
    level: Option<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// What a parse skipped, so a scan can report it instead of failing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParseStats {
    pub lines: usize,
    pub skipped: usize,
    /// First few problems, `line N: reason`.
    pub problems: Vec<String>,
}

/// Lines longer than this are skipped (defends against unbounded input).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// Parses JSON lines; malformed lines are counted and skipped, never fatal.
pub fn parse_jsonl(text: &str) -> (Vec<Event>, ParseStats) {
    let mut stats = ParseStats::default();
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        stats.lines += 1;
        match parse_line(line) {
            Ok(e) => events.push(e),
            Err(reason) => {
                stats.skipped += 1;
                if stats.problems.len() < 5 {
                    stats.problems.push(format!("line {}: {reason}", i + 1));
                }
            }
        }
    }
    (events, stats)
}

pub(super) fn parse_line(line: &str) -> Result<Event, String> {
    if line.len() > MAX_LINE_BYTES {
        return Err(format!("longer than {MAX_LINE_BYTES} bytes"));
    }
    let raw: RawEvent = serde_json::from_str(line).map_err(|e| e.to_string())?;
    let body = match (raw.metric, raw.value, raw.log) {
        (Some(name), Some(value), None) if value.is_finite() => EventBody::Metric { name, value },
        (None, None, Some(message)) => EventBody::Log {
            message: match raw.level {
                Some(l) => format!("[{l}] {message}"),
                None => message,
            },
        },
        _ => return Err("an event has either `metric` with a finite `value`, or `log`".into()),
    };
    Ok(Event {
        ts: raw.ts,
        body,
        labels: raw.labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_bad_lines_and_reports_them() {
        let text = concat!(
            r#"{"ts":"2026-11-01T10:00:00Z","metric":"m","value":1.5,"labels":{"pod":"a"}}"#,
            "\n",
            "not json\n",
            r#"{"ts":"2026-11-01T10:00:01Z","log":"hello"}"#,
            "\n",
            r#"{"ts":"2026-11-01T10:00:01Z","metric":"m"}"#,
            "\n",
            r#"{"ts":"2026-11-01T10:00:01Z","log":"x","extra":1}"#,
            "\n",
        );
        let (events, stats) = parse_jsonl(text);
        assert_eq!(events.len(), 2);
        assert_eq!((stats.lines, stats.skipped), (5, 3));
        assert!(stats.problems[0].starts_with("line 2:"));
    }
}
