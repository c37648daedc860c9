//! Threshold and rate rules. Pure: events in, findings out.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use super::event::{Event, EventBody};
use crate::{
    config::RuleConfig,
    domain::{IncidentType, Severity, Signal, SignalKind, Threshold, sanitize_untrusted},
};

/// Signals kept per finding; the count of all crossings is still reported.
pub const MAX_SIGNALS_PER_FINDING: usize = 200;

enum Matcher {
    Metric {
        name: String,
        above: Option<f64>,
        below: Option<f64>,
    },
    Log {
        re: Regex,
        window: Duration,
        min_count: u64,
    },
}

struct Rule {
    cfg: RuleConfig,
    matcher: Matcher,
}

/// Rules of one environment, compiled, optionally restricted to one incident type.
pub struct RuleSet {
    rules: Vec<Rule>,
}

impl RuleSet {
    /// Compiles validated rule configs (see `Config::validate`).
    pub fn compile(rules: &[RuleConfig], only: Option<IncidentType>) -> Self {
        let rules = rules
            .iter()
            .filter(|r| only.is_none_or(|k| r.kind == k))
            .filter_map(|r| {
                let matcher = match (&r.metric, &r.log_match) {
                    (Some(name), _) => Matcher::Metric {
                        name: name.clone(),
                        above: r.above,
                        below: r.below,
                    },
                    (None, Some(re)) => Matcher::Log {
                        re: Regex::new(re).ok()?,
                        window: Duration::seconds(
                            i64::try_from(r.window_secs.unwrap_or(60)).unwrap_or(i64::MAX / 2_000_000),
                        ),
                        min_count: r.min_count.unwrap_or(1).max(1),
                    },
                    (None, None) => return None,
                };
                Some(Rule {
                    cfg: r.clone(),
                    matcher,
                })
            })
            .collect();
        Self { rules }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// Evidence that one rule fired for one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: String,
    pub title: String,
    pub kind: IncidentType,
    pub severity: Severity,
    pub entity: String,
    /// Labels of the first anomalous event, sanitized.
    pub labels: BTreeMap<String, String>,
    /// Anomalous points, oldest first, at most `MAX_SIGNALS_PER_FINDING`.
    pub signals: Vec<Signal>,
    /// Number of anomalous points, including those not kept.
    pub crossings: usize,
    pub max_score: f64,
}

impl Finding {
    fn push(&mut self, signal: Signal) {
        self.crossings += 1;
        self.max_score = self.max_score.max(signal.score);
        if self.signals.len() < MAX_SIGNALS_PER_FINDING {
            self.signals.push(signal);
        }
    }
}

/// Scores every event against every rule; points scoring ≥ threshold become signals.
pub fn evaluate(rules: &RuleSet, events: &[Event], source: &str, threshold: Threshold) -> Vec<Finding> {
    let mut ordered: Vec<&Event> = events.iter().collect();
    ordered.sort_by_key(|e| e.ts);
    let mut findings: Vec<Finding> = Vec::new();
    for rule in &rules.rules {
        let mut by_entity: BTreeMap<String, Finding> = BTreeMap::new();
        match &rule.matcher {
            Matcher::Metric { name, above, below } => {
                for e in &ordered {
                    let EventBody::Metric { name: n, value } = &e.body else {
                        continue;
                    };
                    if n != name {
                        continue;
                    }
                    let score = metric_score(*value, *above, *below);
                    if score >= threshold.get() {
                        let entity = render_entity(&rule.cfg.entity, &e.labels, None);
                        let signal = signal(
                            SignalKind::Metric,
                            source,
                            rule,
                            name,
                            &entity,
                            *value,
                            score,
                            e.ts,
                            None,
                        );
                        finding_for(&mut by_entity, rule, &entity, &e.labels).push(signal);
                    }
                }
            }
            Matcher::Log { re, window, min_count } => {
                let mut windows: HashMap<String, VecDeque<DateTime<Utc>>> = HashMap::new();
                for e in &ordered {
                    let EventBody::Log { message } = &e.body else {
                        continue;
                    };
                    let Some(caps) = re.captures(message) else {
                        continue;
                    };
                    let entity = render_entity(&rule.cfg.entity, &e.labels, Some((re, &caps)));
                    let w = windows.entry(entity.clone()).or_default();
                    w.push_back(e.ts);
                    while w.front().is_some_and(|t| *t < e.ts - *window) {
                        w.pop_front();
                    }
                    let count = w.len() as u64;
                    let score = (count as f64 / *min_count as f64).min(1.0);
                    if score >= threshold.get() {
                        let text = sanitize_untrusted(message);
                        let series = format!("log:{}", rule.cfg.name);
                        let signal = signal(
                            SignalKind::Log,
                            source,
                            rule,
                            &series,
                            &entity,
                            count as f64,
                            score,
                            e.ts,
                            Some(text),
                        );
                        finding_for(&mut by_entity, rule, &entity, &e.labels).push(signal);
                    }
                }
            }
        }
        findings.extend(by_entity.into_values());
    }
    findings
}

/// value/above or below/value, capped to [0, 1].
fn metric_score(value: f64, above: Option<f64>, below: Option<f64>) -> f64 {
    let raw = match (above, below) {
        (Some(limit), _) => value / limit,
        (None, Some(limit)) if value > 0.0 => limit / value,
        (None, Some(_)) => 1.0,
        (None, None) => 0.0,
    };
    if raw.is_finite() { raw.clamp(0.0, 1.0) } else { 1.0 }
}

#[allow(clippy::too_many_arguments)]
fn signal(
    kind: SignalKind,
    source: &str,
    rule: &Rule,
    series: &str,
    entity: &str,
    value: f64,
    score: f64,
    at: DateTime<Utc>,
    message: Option<String>,
) -> Signal {
    Signal {
        kind,
        source: source.to_owned(),
        rule: rule.cfg.name.clone(),
        series: series.to_owned(),
        entity: entity.to_owned(),
        value,
        score,
        observed_at: at,
        message,
    }
}

fn finding_for<'a>(
    map: &'a mut BTreeMap<String, Finding>,
    rule: &Rule,
    entity: &str,
    labels: &BTreeMap<String, String>,
) -> &'a mut Finding {
    map.entry(entity.to_owned()).or_insert_with(|| Finding {
        rule: rule.cfg.name.clone(),
        title: format!("{} on {entity}", rule.cfg.title.as_deref().unwrap_or(&rule.cfg.name)),
        kind: rule.cfg.kind,
        severity: rule.cfg.severity,
        entity: entity.to_owned(),
        labels: labels
            .iter()
            .take(32)
            .map(|(k, v)| {
                (
                    sanitize_untrusted(k).chars().take(64).collect(),
                    sanitize_untrusted(v).chars().take(256).collect(),
                )
            })
            .collect(),
        signals: Vec::new(),
        crossings: 0,
        max_score: 0.0,
    })
}

/// Fills `{name}` from labels or named captures; values are restricted to a safe alphabet.
fn render_entity(
    template: &str,
    labels: &BTreeMap<String, String>,
    caps: Option<(&Regex, &regex::Captures)>,
) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            out.push_str(&rest[open..]);
            rest = "";
            break;
        };
        let key = &after[..close];
        let value = caps
            .and_then(|(_, c)| c.name(key).map(|m| m.as_str().to_owned()))
            .or_else(|| labels.get(key).cloned())
            .unwrap_or_else(|| "unknown".into());
        out.push_str(&safe_component(&value));
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

fn safe_component(v: &str) -> String {
    let s: String = v
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "unknown".into() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{config::Config, detect::parse_jsonl};

    fn dev_rules(only: Option<IncidentType>) -> RuleSet {
        let cfg = Config::builtin();
        RuleSet::compile(&cfg.environments["dev"].rules, only)
    }

    #[test]
    fn sample_data_yields_the_injected_incidents_only() {
        let (events, stats) = parse_jsonl(crate::config::BUILTIN_FILES[0].1);
        assert_eq!(stats.skipped, 0);
        let found = evaluate(&dev_rules(None), &events, "sample", Threshold::DEFAULT);
        let keys: Vec<_> = found.iter().map(|f| (f.rule.as_str(), f.entity.as_str())).collect();
        assert_eq!(
            keys,
            vec![
                ("egress-spike", "pod/shop/web-7"),
                ("ssh-brute-force", "ip/203.0.113.9")
            ]
        );
        assert_eq!(found[0].crossings, 8);
        let injected = found[1]
            .signals
            .iter()
            .filter_map(|s| s.message.as_deref())
            .find(|m| m.contains("IGNORE"))
            .unwrap();
        assert!(injected.contains("password=[REDACTED]") && !injected.contains("hunter2"));
    }

    #[test]
    fn type_filter_and_threshold_change_what_fires() {
        let (events, _) = parse_jsonl(crate::config::BUILTIN_FILES[0].1);
        let net = evaluate(
            &dev_rules(Some(IncidentType::Network)),
            &events,
            "s",
            Threshold::DEFAULT,
        );
        assert_eq!(net.len(), 1);
        assert!(
            evaluate(
                &dev_rules(Some(IncidentType::Explainability)),
                &events,
                "s",
                Threshold::DEFAULT
            )
            .is_empty()
        );
        // At threshold 0 every sample of every metric rule is anomalous.
        let all = evaluate(
            &dev_rules(Some(IncidentType::Resource)),
            &events,
            "s",
            Threshold::new(0.0).unwrap(),
        );
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn entity_values_cannot_inject_structure() {
        let labels = BTreeMap::from([("pod".to_string(), "a/../b {x} \n".to_string())]);
        assert_eq!(
            render_entity("pod/{pod}/{missing}", &labels, None),
            "pod/a_.._b__x___/unknown"
        );
        assert_eq!(metric_score(5.0, None, Some(10.0)), 1.0);
        assert_eq!(metric_score(f64::MAX, Some(1e-300), None), 1.0);
    }
}
