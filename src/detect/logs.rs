//! Log streams: lines of JSON-lines, JSON or plain text, read from files, stdin or pod logs.
//!
//! Each line becomes one event (`format = "auto"`, the only format):
//! - our JSON-lines event schema (`{"ts":..,"metric":..}` / `{"ts":..,"log":..}`) as `kind = "jsonl"` reads it;
//! - any other JSON object: a log event whose message is the line, whose top-level scalar fields are
//!   labels (for field rules) and whose time is `ts`, `time`, `timestamp` or `@timestamp` if RFC 3339;
//! - anything else: a log event whose message is the line, timed by a leading RFC 3339 timestamp
//!   (`2026-11-01T10:00:00Z sshd[1]: ...`, as `kubectl logs --timestamps` prints) or else by `now`.
//!
//! Lines are untrusted: they are only ever stored through the rule engine, which sanitises them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::{
    event::{Event, EventBody, MAX_LINE_BYTES, ParseStats, parse_line},
    source::{MAX_SOURCE_BYTES, SourceError},
};

/// Fields of a JSON log line kept as labels (the rest are ignored).
pub const MAX_FIELDS: usize = 32;

/// Parses log text; `base` labels (e.g. namespace and pod) are added to every event.
/// Lines that are empty or start with `#` are skipped as in JSON lines; lines longer than
/// `MAX_LINE_BYTES` are truncated (and counted in `problems`), never fatal.
pub fn parse_log_text(text: &str, base: &BTreeMap<String, String>, now: DateTime<Utc>) -> (Vec<Event>, ParseStats) {
    let mut stats = ParseStats::default();
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let mut line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        stats.lines += 1;
        if line.len() > MAX_LINE_BYTES {
            line = clip_bytes(line, MAX_LINE_BYTES);
            note(&mut stats, i, format!("truncated to {MAX_LINE_BYTES} bytes"));
        }
        match parse_log_line(line, now) {
            Ok(mut e) => {
                for (k, v) in base {
                    e.labels.insert(k.clone(), v.clone());
                }
                events.push(e);
            }
            Err(reason) => {
                stats.skipped += 1;
                note(&mut stats, i, reason);
            }
        }
    }
    (events, stats)
}

fn note(stats: &mut ParseStats, i: usize, reason: String) {
    if stats.problems.len() < 5 {
        stats.problems.push(format!("line {}: {reason}", i + 1));
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub fn clip_bytes(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// One line → one event. Errors only for lines that use our event schema but break it.
pub fn parse_log_line(line: &str, now: DateTime<Utc>) -> Result<Event, String> {
    if line.starts_with('{')
        && let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(line)
    {
        if obj.contains_key("metric") || obj.contains_key("log") {
            return parse_line(line);
        }
        let ts = ["ts", "time", "timestamp", "@timestamp"]
            .iter()
            .find_map(|k| obj.get(*k)?.as_str().and_then(parse_ts))
            .unwrap_or(now);
        let labels = obj
            .iter()
            .filter_map(|(k, v)| {
                let v = match v {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.clone(), v))
            })
            .take(MAX_FIELDS)
            .collect();
        return Ok(Event {
            ts,
            body: EventBody::Log {
                message: line.to_owned(),
            },
            labels,
        });
    }
    let (ts, message) = split_timestamp(line).unwrap_or((now, line));
    Ok(Event {
        ts,
        body: EventBody::Log {
            message: message.to_owned(),
        },
        labels: BTreeMap::new(),
    })
}

/// Splits a leading RFC 3339 timestamp (any precision) off a line: `(time, rest)`.
pub fn split_timestamp(line: &str) -> Option<(DateTime<Utc>, &str)> {
    let (head, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    Some((parse_ts(head)?, rest.trim_start()))
}

fn parse_ts(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s).ok().map(|t| t.with_timezone(&Utc))
}

/// Reads standard input to EOF (at most `MAX_SOURCE_BYTES`).
pub async fn read_stdin(name: &str) -> Result<String, SourceError> {
    let mut bytes = Vec::new();
    tokio::io::stdin()
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(|e| SourceError::new(name, format!("cannot read standard input: {e}")))?;
    if bytes.len() as u64 > MAX_SOURCE_BYTES {
        return Err(SourceError::new(
            name,
            format!("standard input is larger than {MAX_SOURCE_BYTES} bytes"),
        ));
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        "2026-12-01T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn text_json_and_schema_lines() {
        let text = concat!(
            "2026-11-01T10:00:00.123456789Z sshd[1]: Failed password for root from 10.0.0.1\n",
            "no timestamp here\n",
            "# comment\n",
            r#"{"time":"2026-11-01T10:00:02Z","status":503,"path":"/x","nested":{"a":1}}"#,
            "\n",
            r#"{"ts":"2026-11-01T10:00:03Z","log":"hi","labels":{"pod":"a"}}"#,
            "\n",
            r#"{"ts":"2026-11-01T10:00:03Z","log":"x","bogus":1}"#,
            "\n",
        );
        let base = BTreeMap::from([("pod".to_string(), "web-1".to_string())]);
        let (ev, stats) = parse_log_text(text, &base, now());
        assert_eq!((ev.len(), stats.lines, stats.skipped), (4, 5, 1));
        assert_eq!(ev[0].ts.timestamp_subsec_nanos(), 123_456_789);
        assert_eq!(
            ev[0].body,
            EventBody::Log {
                message: "sshd[1]: Failed password for root from 10.0.0.1".into()
            }
        );
        assert_eq!(ev[1].ts, now());
        assert_eq!(ev[2].labels["status"], "503");
        assert!(!ev[2].labels.contains_key("nested"));
        assert_eq!(ev[2].ts.to_rfc3339(), "2026-11-01T10:00:02+00:00");
        assert_eq!(ev[3].labels["pod"], "web-1", "base labels win");
        assert!(stats.problems[0].starts_with("line 6:"), "{:?}", stats.problems);
    }

    #[test]
    fn long_lines_are_truncated_on_a_char_boundary() {
        let line = "é".repeat(MAX_LINE_BYTES);
        let (ev, stats) = parse_log_text(&line, &BTreeMap::new(), now());
        let EventBody::Log { message } = &ev[0].body else {
            panic!()
        };
        assert!(message.len() <= MAX_LINE_BYTES && message.len() > MAX_LINE_BYTES - 4);
        assert_eq!(stats.skipped, 0);
        assert!(stats.problems[0].contains("truncated"));
    }
}
