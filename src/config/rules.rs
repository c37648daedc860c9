//! `[[environments.NAME.rules]]`: what detection looks for, parsed and checked at load (a
//! `log_match` regex is compiled here, once). The detect module evaluates these types.

use std::collections::{BTreeMap, HashSet};

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Deserializer};

use crate::domain::{IncidentType, Severity};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: IncidentType,
    pub severity: Severity,
    /// Metric rules: metric name and a limit.
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    /// Log rules: regex on the message (compiled at load) and/or field conditions, window and count.
    #[serde(default)]
    pub log_match: Option<LogPattern>,
    #[serde(default)]
    pub when: Vec<FieldCondition>,
    #[serde(default)]
    pub window_secs: Option<u64>,
    #[serde(default)]
    pub min_count: Option<u64>,
    /// Entity template, `{label}` placeholders.
    pub entity: String,
    /// Metric rules: how a sample is scored. `threshold` (default) uses `above`/`below`;
    /// `zscore` and `hst` learn each series (metric + labels) as it streams.
    #[serde(default)]
    pub detector: DetectorKind,
    /// zscore: points in the rolling window (default 60); hst: window_size (default 250);
    /// default: an extra season of that many sampling intervals (default none: a day and a week
    /// are measured from the timestamps).
    #[serde(default)]
    pub window: Option<usize>,
    /// zscore: deviations of k standard deviations score 0.8 (default 3).
    #[serde(default)]
    pub k: Option<f64>,
    /// hst: random seed (default 42).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Raises the severity with the finding's highest score: severity → minimum score in 0..1,
    /// e.g. `{ high = 0.9, critical = 0.99 }`. `severity` applies below every cut-off.
    #[serde(default)]
    pub severity_by_score: BTreeMap<Severity, f64>,
    /// A runbook for this rule's incidents, shown with them (data: never fetched).
    #[serde(default)]
    pub runbook_url: Option<String>,
}

impl RuleConfig {
    /// The severity of a finding whose highest score is `score`: the most severe entry of
    /// `severity_by_score` the score reaches, never below the rule's `severity`.
    pub fn severity_for(&self, score: f64) -> Severity {
        self.severity_by_score
            .iter()
            .filter(|(_, min)| score >= **min)
            .map(|(s, _)| *s)
            .fold(self.severity, Severity::max)
    }
}

/// How a metric rule scores samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// value/above or below/value, capped at 1.
    #[default]
    Threshold,
    /// Rolling mean and standard deviation per series (3-sigma).
    Zscore,
    /// Half-Space Trees per series (River's algorithm, min-max scaled).
    Hst,
    /// The default detector (what `score --detector default` runs; `detect::ensemble`): tail
    /// probabilities of robust residuals, daily/weekly seasons from the timestamps, one alarm per
    /// anomaly onset; `window` adds a season of that many sampling intervals, `k` (default 4):
    /// a point as rare as a k-sigma Gaussian deviation scores 0.8.
    #[serde(rename = "default", alias = "ensemble")]
    Ensemble,
}

/// Checks an environment's rules: unique names, one kind each (metric or log), sound limits.
pub(super) fn validate(name: &str, rules: &[RuleConfig]) -> Result<(), String> {
    let mut seen = HashSet::new();
    for r in rules {
        let at = format!("environments.{name}.rules.{}", r.name);
        if !seen.insert(&r.name) {
            return Err(format!("{at}: duplicate rule name"));
        }
        if let Some(url) = &r.runbook_url {
            super::check_runbook_url(&format!("{at}.runbook_url"), url)?;
        }
        if r.severity_by_score.values().any(|v| !(0.0..=1.0).contains(v)) {
            return Err(format!("{at}: severity_by_score values must be scores in 0..1"));
        }
        match (&r.metric, r.log_match.is_some() || !r.when.is_empty()) {
            (Some(_), false) if r.detector != DetectorKind::Threshold => {
                if r.above.is_some() || r.below.is_some() {
                    return Err(format!(
                        "{at}: `above`/`below` apply to detector = \"threshold\" only; the threshold argument sets the cut-off"
                    ));
                }
                let max_window = if r.detector == DetectorKind::Ensemble {
                    1 << 20
                } else {
                    100_000
                };
                if r.window.is_some_and(|w| !(2..=max_window).contains(&w)) {
                    return Err(format!("{at}: window must be in 2..={max_window}"));
                }
                if r.k.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
                    return Err(format!("{at}: k must be a positive number"));
                }
            }
            (Some(_), false) => {
                let limit = r.above.or(r.below);
                if r.above.is_some() == r.below.is_some() || !limit.is_some_and(|l| l.is_finite() && l > 0.0) {
                    return Err(format!(
                        "{at}: a metric rule needs exactly one of `above` or `below`, a positive number"
                    ));
                }
            }
            (None, true) => validate_log_rule(r).map_err(|m| format!("{at}: {m}"))?,
            _ => return Err(format!("{at}: set exactly one of `metric` or `log_match`/`when`")),
        }
    }
    Ok(())
}

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
pub fn validate_log_rule(r: &RuleConfig) -> Result<(), String> {
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
}
