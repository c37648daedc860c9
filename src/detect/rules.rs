//! Threshold and rate rules. Pure: events in, findings out.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::{DateTime, Duration, Utc};
use regex::Regex;

use serde::{Deserialize, Serialize};

use super::{
    ensemble::{Ensemble, EnsembleParams},
    event::{Event, EventBody},
    hst::HstParams,
    log_rules::LogWindow,
    minmax::ScaledHst,
    zscore::RollingZScore,
};
use crate::{
    config::{DetectorKind, RuleConfig},
    domain::{IncidentType, Severity, Signal, SignalKind, Threshold, safe_component, sanitize_untrusted},
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
        re: Option<Regex>,
        when: Vec<super::log_rules::FieldCondition>,
        window: Duration,
        min_count: u64,
    },
    /// A streaming detector per series (metric + labels), state kept across scans.
    Stat { name: String, spec: StatSpec },
}

/// Parameters of a statistical rule's per-series model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StatSpec {
    ZScore {
        window: usize,
        k: f64,
    },
    Hst {
        window: usize,
        seed: u64,
    },
    /// The default detector (`detect::ensemble`): seasons of a day and a week from the
    /// timestamps, plus one of `period` sampling intervals if not 0.
    Ensemble {
        period: usize,
        k: f64,
    },
}

impl StatSpec {
    fn new_model(&self) -> SeriesModel {
        match *self {
            StatSpec::ZScore { window, k } => SeriesModel::ZScore(RollingZScore::new(window, k)),
            StatSpec::Hst { window, seed } => SeriesModel::Hst(Box::new(
                ScaledHst::new(
                    HstParams {
                        window_size: u32::try_from(window).unwrap_or(u32::MAX),
                        ..HstParams::with_seed(seed)
                    },
                    &["value"],
                )
                .expect("one feature and validated parameters"),
            )),
            StatSpec::Ensemble { period, k } => SeriesModel::Ensemble(Box::new(
                Ensemble::new(
                    EnsembleParams {
                        period: u32::try_from(period).unwrap_or(u32::MAX).min(1 << 20),
                        k,
                        ..EnsembleParams::default()
                    },
                    1,
                )
                .expect("one feature and validated parameters"),
            )),
        }
    }

    /// Snapshots made with other parameters are discarded.
    fn tag(&self) -> String {
        format!("{self:?}")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
enum SeriesModel {
    ZScore(RollingZScore),
    Hst(Box<ScaledHst>),
    Ensemble(Box<Ensemble>),
}

impl SeriesModel {
    /// Score then learn `v` observed at `ts` (unix seconds); the default detector reports
    /// its event score (an anomaly's onset, then a hold-off).
    fn score_learn(&mut self, ts: f64, v: f64) -> f64 {
        match self {
            SeriesModel::ZScore(z) => z.score_learn_one(v),
            SeriesModel::Hst(h) => h.score_learn_one(&[v]),
            SeriesModel::Ensemble(e) => e.score_learn_at(Some(ts), &[v]).event,
        }
    }
}

/// Persisted state of one series under one statistical rule.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SeriesState {
    spec: String,
    /// Points at or before this time were already learned (scans that re-read them skip them).
    last_micros: i64,
    model: SeriesModel,
}

/// Detector snapshots by (rule, series key), loaded before a scan and saved with its results.
#[derive(Debug, Default)]
pub struct DetectorStates {
    states: BTreeMap<(String, String), SeriesState>,
    /// Log rules' windows, continued across scans of incremental sources.
    windows: BTreeMap<(String, String), LogWindow>,
    /// The source being evaluated reads only lines not read before (it has a cursor).
    incremental: bool,
    dirty: BTreeSet<(String, String)>,
}

impl DetectorStates {
    /// Loads snapshots; unreadable ones are dropped (the series starts afresh) and counted.
    pub fn load(snapshots: impl IntoIterator<Item = (String, String, String)>) -> (Self, usize) {
        let mut me = Self::default();
        let mut dropped = 0;
        for (rule, series, json) in snapshots {
            match serde_json::from_str::<SeriesState>(&json) {
                Ok(st) => {
                    me.states.insert((rule, series), st);
                }
                Err(_) => match serde_json::from_str::<LogWindow>(&json) {
                    Ok(w) => drop(me.windows.insert((rule, series), w)),
                    Err(_) => dropped += 1,
                },
            }
        }
        (me, dropped)
    }

    /// Snapshots changed by this scan: (rule, series, json).
    pub fn changed(&self) -> Vec<(String, String, String)> {
        self.dirty
            .iter()
            .filter_map(|k| {
                let json = match self.states.get(k) {
                    Some(st) => serde_json::to_string(st).ok()?,
                    None => serde_json::to_string(self.windows.get(k)?).ok()?,
                };
                Some((k.0.clone(), k.1.clone(), json))
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.states.len() + self.windows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.states.is_empty() && self.windows.is_empty()
    }

    /// Whether the next `evaluate` reads an incremental source, whose log windows continue
    /// across scans (a source re-read whole counts each scan afresh).
    pub fn set_incremental(&mut self, incremental: bool) {
        self.incremental = incremental;
    }
}

/// Largest series count a statistical rule tracks per environment (bounds memory).
pub const MAX_SERIES_PER_RULE: usize = 10_000;

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
                let log_rule = r.log_match.is_some() || !r.when.is_empty();
                let matcher = match (&r.metric, &r.log_match) {
                    (Some(name), _) if r.detector != DetectorKind::Threshold => Matcher::Stat {
                        name: name.clone(),
                        spec: match r.detector {
                            DetectorKind::Hst => StatSpec::Hst {
                                window: r.window.unwrap_or(250),
                                seed: r.seed.unwrap_or(42),
                            },
                            DetectorKind::Ensemble => StatSpec::Ensemble {
                                period: r.window.unwrap_or(EnsembleParams::default().period as usize),
                                k: r.k.unwrap_or(EnsembleParams::default().k),
                            },
                            _ => StatSpec::ZScore {
                                window: r.window.unwrap_or(60),
                                k: r.k.unwrap_or(3.0),
                            },
                        },
                    },
                    (Some(name), _) => Matcher::Metric {
                        name: name.clone(),
                        above: r.above,
                        below: r.below,
                    },
                    (None, _) if log_rule => Matcher::Log {
                        re: match &r.log_match {
                            Some(p) => Some(p.regex()?.clone()),
                            None => None,
                        },
                        when: r.when.clone(),
                        window: Duration::seconds(
                            i64::try_from(r.window_secs.unwrap_or(60)).unwrap_or(i64::MAX / 2_000_000),
                        ),
                        min_count: r.min_count.unwrap_or(1).max(1),
                    },
                    (None, _) => return None,
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
    /// The labels of each signal's event with the rule's named captures (parallel to
    /// `signals`), sanitized: what entity extraction reads besides the message.
    pub signal_labels: Vec<BTreeMap<String, String>>,
    /// Number of anomalous points, including those not kept.
    pub crossings: usize,
    pub max_score: f64,
}

impl Finding {
    fn push(&mut self, signal: Signal, labels: impl FnOnce() -> BTreeMap<String, String>) {
        self.crossings += 1;
        self.max_score = self.max_score.max(signal.score);
        if self.signals.len() < MAX_SIGNALS_PER_FINDING {
            self.signals.push(signal);
            self.signal_labels.push(labels());
        }
    }
}

/// Scores every event against every rule; points scoring ≥ threshold become signals.
/// Statistical rules score then learn each new point of each series, updating `states`.
pub fn evaluate(
    rules: &RuleSet,
    events: &[Event],
    source: &str,
    threshold: Threshold,
    states: &mut DetectorStates,
) -> Vec<Finding> {
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
                        push_metric_signal(&mut by_entity, rule, source, name, e, *value, score);
                    }
                }
            }
            Matcher::Log {
                re,
                when,
                window,
                min_count,
            } => {
                let mut windows: HashMap<String, VecDeque<DateTime<Utc>>> = HashMap::new();
                for e in &ordered {
                    let EventBody::Log { message } = &e.body else {
                        continue;
                    };
                    let caps = match re {
                        Some(re) => match re.captures(message) {
                            Some(c) => Some((re, c)),
                            None => continue,
                        },
                        None => None,
                    };
                    if !when.iter().all(|c| c.matches(&e.labels)) {
                        continue;
                    }
                    let entity = render_entity(&rule.cfg.entity, &e.labels, caps.as_ref().map(|(r, c)| (*r, c)));
                    let key = (rule.cfg.name.clone(), format!("log|{source}|{entity}"));
                    let stored = states.windows.get(&key).filter(|_| states.incremental);
                    let w = windows
                        .entry(entity.clone())
                        .or_insert_with(|| LogWindow::seed(stored, *window, e.ts));
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
                        let caps = caps.as_ref().map(|(r, c)| (*r, c));
                        finding_for(&mut by_entity, rule, &entity, &e.labels)
                            .push(signal, || signal_labels(&e.labels, caps));
                    }
                }
                if states.incremental {
                    let cap = MAX_SERIES_PER_RULE * rules.rules.len().max(1);
                    for (entity, w) in windows {
                        let key = (rule.cfg.name.clone(), format!("log|{source}|{entity}"));
                        if states.windows.len() < cap || states.windows.contains_key(&key) {
                            states.windows.insert(key.clone(), LogWindow::keep(&w, *window));
                            states.dirty.insert(key);
                        }
                    }
                }
            }
            Matcher::Stat { name, spec } => {
                for e in &ordered {
                    let EventBody::Metric { name: n, value } = &e.body else {
                        continue;
                    };
                    if n != name {
                        continue;
                    }
                    let key = (rule.cfg.name.clone(), series_key(source, name, &e.labels));
                    let tag = spec.tag();
                    let fresh = states.states.get(&key).is_none_or(|st| st.spec != tag);
                    if fresh && states.states.len() >= MAX_SERIES_PER_RULE * rules.rules.len().max(1) {
                        continue;
                    }
                    let st = if fresh {
                        states.states.insert(
                            key.clone(),
                            SeriesState {
                                spec: tag,
                                last_micros: i64::MIN,
                                model: spec.new_model(),
                            },
                        );
                        states.states.get_mut(&key).expect("just inserted")
                    } else {
                        states.states.get_mut(&key).expect("present")
                    };
                    let at = e.ts.timestamp_micros();
                    if at <= st.last_micros {
                        continue;
                    }
                    st.last_micros = at;
                    let score = st.model.score_learn(at as f64 / 1e6, *value);
                    states.dirty.insert(key);
                    if score >= threshold.get() {
                        push_metric_signal(&mut by_entity, rule, source, name, e, *value, score);
                    }
                }
            }
        }
        findings.extend(by_entity.into_values());
    }
    findings
}

/// Records an anomalous metric sample as a signal of its entity's finding.
fn push_metric_signal(
    by_entity: &mut BTreeMap<String, Finding>,
    rule: &Rule,
    source: &str,
    metric: &str,
    e: &Event,
    value: f64,
    score: f64,
) {
    let entity = render_entity(&rule.cfg.entity, &e.labels, None);
    let signal = signal(
        SignalKind::Metric,
        source,
        rule,
        metric,
        &entity,
        value,
        score,
        e.ts,
        None,
    );
    finding_for(by_entity, rule, &entity, &e.labels).push(signal, || signal_labels(&e.labels, None));
}

/// Identifies a series: source, metric and labels.
fn series_key(source: &str, metric: &str, labels: &BTreeMap<String, String>) -> String {
    let mut k = format!("{source}|{metric}");
    for (n, v) in labels {
        k.push('|');
        k.push_str(n);
        k.push('=');
        k.push_str(v);
    }
    k
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
        signal_labels: Vec::new(),
        crossings: 0,
        max_score: 0.0,
    })
}

/// Labels kept per signal for entity extraction, at most.
const MAX_SIGNAL_LABELS: usize = 32;

/// An event's labels and the rule's named captures (a capture wins over a label of its name),
/// clipped and redacted like the finding's labels.
fn signal_labels(
    labels: &BTreeMap<String, String>,
    caps: Option<(&Regex, &regex::Captures)>,
) -> BTreeMap<String, String> {
    let clean = |k: &str, v: &str| -> (String, String) {
        (
            sanitize_untrusted(k).chars().take(64).collect(),
            sanitize_untrusted(v).chars().take(256).collect(),
        )
    };
    let mut out: BTreeMap<String, String> = labels
        .iter()
        .take(MAX_SIGNAL_LABELS)
        .map(|(k, v)| clean(k, v))
        .collect();
    if let Some((re, c)) = caps {
        for name in re.capture_names().flatten().take(MAX_SIGNAL_LABELS) {
            if let Some(m) = c.name(name) {
                let (k, v) = clean(name, m.as_str());
                out.insert(k, v);
            }
        }
    }
    out
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
        let found = evaluate(
            &dev_rules(None),
            &events,
            "sample",
            Threshold::DEFAULT,
            &mut DetectorStates::default(),
        );
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
        // Each signal keeps its event's labels, with a log rule's named captures, for entity
        // extraction.
        for f in &found {
            assert_eq!(f.signal_labels.len(), f.signals.len());
        }
        assert_eq!(found[0].signal_labels[0]["node"], "node-a");
        let log = &found[1].signal_labels[0];
        assert_eq!(
            (log["host"].as_str(), log["service"].as_str(), log["src_ip"].as_str()),
            ("bastion-1", "sshd", "203.0.113.9")
        );
    }

    #[test]
    fn type_filter_and_threshold_change_what_fires() {
        let (events, _) = parse_jsonl(crate::config::BUILTIN_FILES[0].1);
        let net = evaluate(
            &dev_rules(Some(IncidentType::Network)),
            &events,
            "s",
            Threshold::DEFAULT,
            &mut DetectorStates::default(),
        );
        assert_eq!(net.len(), 1);
        assert!(
            evaluate(
                &dev_rules(Some(IncidentType::Explainability)),
                &events,
                "s",
                Threshold::DEFAULT,
                &mut DetectorStates::default()
            )
            .is_empty()
        );
        // At threshold 0 every sample of every metric rule is anomalous.
        let all = evaluate(
            &dev_rules(Some(IncidentType::Resource)),
            &events,
            "s",
            Threshold::new(0.0).unwrap(),
            &mut DetectorStates::default(),
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

    /// `detector = "default"` runs the default (ensemble) detector per series: a seasonal
    /// series with noise stays quiet, an injected jump is found at the jump, and the state
    /// carries over to the next scan (its points are not learned twice).
    #[test]
    fn default_detector_rule_finds_a_jump_in_a_seasonal_series() {
        let toml = r#"
[environments.t]
[[environments.t.sources]]
name = "m"
kind = "jsonl"
path = "builtin:sample"

[[environments.t.rules]]
name = "latency"
type = "availability"
severity = "medium"
metric = "latency_ms"
detector = "default"
window = 60
entity = "svc/{service}"
"#;
        let cfg = Config::parse_str(toml, "toml", "test").expect("valid config");
        let rules = RuleSet::compile(&cfg.environments["t"].rules, None);
        let t0 = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let mut rng = super::super::hst::Mt19937::new(3);
        let series = |from: usize, to: usize, rng: &mut super::super::hst::Mt19937| -> Vec<Event> {
            (from..to)
                .map(|i| {
                    let season = 20.0 * (i as f64 * std::f64::consts::TAU / 60.0).sin();
                    let jump = if (700..705).contains(&i) { 400.0 } else { 0.0 };
                    Event {
                        ts: t0 + Duration::seconds(i as i64 * 60),
                        body: EventBody::Metric {
                            name: "latency_ms".into(),
                            value: 100.0 + season + 2.0 * rng.random() + jump,
                        },
                        labels: BTreeMap::from([("service".to_owned(), "api".to_owned())]),
                    }
                })
                .collect()
        };
        let mut states = DetectorStates::default();
        let quiet = series(0, 600, &mut rng);
        let found = evaluate(&rules, &quiet, "m", Threshold::DEFAULT, &mut states);
        assert!(
            found.is_empty(),
            "a seasonal series with noise fires nothing: {found:?}"
        );
        let later = series(600, 800, &mut rng);
        let found = evaluate(&rules, &later, "m", Threshold::DEFAULT, &mut states);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].entity, "svc/api");
        let first = found[0].signals.iter().map(|s| s.observed_at).min().unwrap();
        assert_eq!(first, t0 + Duration::seconds(700 * 60), "found at the jump");
        // Re-reading the same points learns nothing new and reports nothing new.
        let again = evaluate(&rules, &later, "m", Threshold::DEFAULT, &mut states);
        assert!(again.is_empty(), "{again:?}");
    }
}
