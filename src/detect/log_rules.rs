//! What a log rule matches: a regex on the message (compiled once, when the config is loaded)
//! and conditions on fields (JSON fields of the line, or labels). Counting per group in a sliding
//! window happens in `rules::evaluate`; the group is the rendered `entity`. For incremental
//! sources (each scan reads only new lines) a group's window is persisted as a `LogWindow`.

use std::collections::{BTreeMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer, Serialize};

use crate::config::RuleConfig;

/// Longest `log_match` pattern accepted.
pub const MAX_PATTERN_CHARS: usize = 1024;
/// Compiled-program size limit handed to the `regex` crate (linear-time matching).
const REGEX_SIZE_LIMIT: usize = 1 << 20;
/// Most conditions in one rule's `when`.
const MAX_CONDITIONS: usize = 16;

/// A `log_match` regex compiled when the config is parsed. An invalid pattern is kept as its
/// error so that validation can report it with the rule's name.
#[derive(Debug, Clone)]
pub struct LogPattern {
    compiled: Result<Regex, String>,
}

impl LogPattern {
    pub fn new(pattern: &str) -> Self {
        let compiled = if pattern.chars().count() > MAX_PATTERN_CHARS {
            Err(format!("longer than {MAX_PATTERN_CHARS} characters"))
        } else {
            RegexBuilder::new(pattern)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| e.to_string().lines().last().unwrap_or_default().trim().to_owned())
        };
        Self { compiled }
    }

    pub fn regex(&self) -> Option<&Regex> {
        self.compiled.as_ref().ok()
    }
}

impl<'de> Deserialize<'de> for LogPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::new(&String::deserialize(d)?))
    }
}

/// A string, number or boolean in the config, compared as text with the field's value.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Scalar {
    Text(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Float(f) => f.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

/// One condition on a field: exactly one of `equals`, `in`, or a numeric range `min`/`max`
/// (inclusive; either may be left out). A missing field never matches.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldCondition {
    /// Field (top-level key of a JSON log line) or label name.
    pub field: String,
    #[serde(default)]
    pub equals: Option<Scalar>,
    #[serde(default, rename = "in")]
    pub one_of: Option<Vec<Scalar>>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

impl FieldCondition {
    pub fn matches(&self, fields: &BTreeMap<String, String>) -> bool {
        let Some(v) = fields.get(&self.field) else {
            return false;
        };
        if let Some(want) = &self.equals {
            return *v == want.text();
        }
        if let Some(set) = &self.one_of {
            return set.iter().any(|s| *v == s.text());
        }
        let Ok(n) = v.trim().parse::<f64>() else {
            return false;
        };
        self.min.is_none_or(|m| n >= m) && self.max.is_none_or(|m| n <= m)
    }

    fn check(&self) -> Result<(), String> {
        let ranged = self.min.is_some() || self.max.is_some();
        let kinds = [self.equals.is_some(), self.one_of.is_some(), ranged];
        if self.field.is_empty() || kinds.iter().filter(|k| **k).count() != 1 {
            return Err(format!(
                "when: condition on `{}` needs a field and exactly one of `equals`, `in`, or `min`/`max`",
                self.field
            ));
        }
        if [self.min, self.max].iter().flatten().any(|m| !m.is_finite()) {
            return Err(format!("when: `{}`: min/max must be finite numbers", self.field));
        }
        Ok(())
    }
}

/// Checks a log rule (one with `log_match` and/or `when`); the message names what is wrong.
pub fn validate(r: &RuleConfig) -> Result<(), String> {
    if let Some(Err(e)) = r.log_match.as_ref().map(|p| &p.compiled) {
        return Err(format!("log_match is not a valid regex: {e}"));
    }
    if r.when.len() > MAX_CONDITIONS {
        return Err(format!("when: at most {MAX_CONDITIONS} conditions"));
    }
    r.when.iter().try_for_each(FieldCondition::check)?;
    if r.window_secs.unwrap_or(0) == 0 || r.min_count.unwrap_or(0) == 0 {
        return Err("a log rule needs window_secs and min_count above 0".into());
    }
    Ok(())
}

/// Line times kept per persisted window (the score saturates at `min_count` anyway).
pub const MAX_WINDOW_TIMES: usize = 10_000;

/// One group's sliding window of a log rule, persisted with a scan's findings so that the next
/// scan of an incremental source continues counting where this one stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogWindow {
    /// The rule's `window_secs` when counted; a changed window starts afresh.
    pub window_secs: i64,
    /// Times (µs) of the matching lines still inside the window, oldest first.
    pub times: VecDeque<i64>,
}

impl LogWindow {
    /// The window a scan continues from when its first line of the group is at `first`: the stored
    /// one, unless the rule changed or `first` is not newer than every stored line (then the scan
    /// re-reads counted lines and counts afresh).
    pub fn seed(stored: Option<&LogWindow>, window: Duration, first: DateTime<Utc>) -> VecDeque<DateTime<Utc>> {
        let Some(w) = stored.filter(|w| w.window_secs == window.num_seconds()) else {
            return VecDeque::new();
        };
        if w.times.back().is_some_and(|t| *t >= first.timestamp_micros()) {
            return VecDeque::new();
        }
        w.times
            .iter()
            .filter_map(|t| DateTime::from_timestamp_micros(*t))
            .collect()
    }

    /// The newest `MAX_WINDOW_TIMES` times of a window, to persist.
    pub fn keep(times: &VecDeque<DateTime<Utc>>, window: Duration) -> Self {
        let skip = times.len().saturating_sub(MAX_WINDOW_TIMES);
        Self {
            window_secs: window.num_seconds(),
            times: times.iter().skip(skip).map(|t| t.timestamp_micros()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_and_patterns() {
        let f = BTreeMap::from([
            ("status".to_string(), "503".to_string()),
            ("action".to_string(), "DENY".to_string()),
        ]);
        let c = |t: &str| toml::from_str::<FieldCondition>(t).unwrap();
        assert!(c("field = 'status'\nmin = 500\nmax = 599").matches(&f));
        assert!(!c("field = 'status'\nmin = 400\nmax = 499").matches(&f));
        assert!(c("field = 'status'\nequals = 503").matches(&f));
        assert!(c("field = 'action'\nin = ['DENY', 'REJECT']").matches(&f));
        assert!(!c("field = 'missing'\nequals = 'x'").matches(&f));
        assert!(c("field = 'status'\nequals = 1\nmin = 2").check().is_err());
        assert!(c("field = 'status'").check().is_err());
        assert!(LogPattern::new("(").regex().is_none());
        assert!(LogPattern::new(&"a".repeat(MAX_PATTERN_CHARS + 1)).regex().is_none());
        assert!(LogPattern::new("a{1000}{1000}").regex().is_none(), "size limit");
        assert!(LogPattern::new("(?P<ip>[0-9.]+)").regex().is_some());
    }

    #[test]
    fn a_window_continues_only_with_newer_lines_and_the_same_width() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let w = Duration::seconds(60);
        let kept = LogWindow::keep(&VecDeque::from([t(0), t(10)]), w);
        assert_eq!(LogWindow::seed(Some(&kept), w, t(11)), VecDeque::from([t(0), t(10)]));
        assert!(
            LogWindow::seed(Some(&kept), w, t(10)).is_empty(),
            "re-read lines count afresh"
        );
        assert!(LogWindow::seed(Some(&kept), Duration::seconds(30), t(11)).is_empty());
        assert!(LogWindow::seed(None, w, t(11)).is_empty());
    }
}
