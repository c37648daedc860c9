//! Prometheus metrics: the process's one registry, every series it exports, and the small
//! calls the service layer and the adapters record through ([`global`]). `/metrics` (the HTTP
//! listener and `--metrics-addr`) encodes it in the OpenMetrics text format, after the service
//! refreshed the values computed from the store at scrape time (incidents, outbox).
//!
//! **Cardinality.** No label value is caller text taken as is. Fixed vocabularies are
//! `&'static str` (interfaces, outcomes, channels, states); names that come from our own
//! routers or code (tool names, route templates, reason codes) pass [`LabelValues`] in capped
//! mode: a safe alphabet, a length limit and a cap on distinct values, past which everything
//! is `other`; names that come from the configuration (notification targets, sources) pass it
//! in allowlist mode: only the configured names, everything else is `other`.
//!
//! A leaf module: it imports nothing from the crate, so every module may record into it.

mod labels;
mod vocab;

use std::{
    sync::{LazyLock, Mutex},
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram, info::Info},
    registry::{Registry, Unit},
};

pub use labels::{LabelValues, MAX_LABEL_LEN, MAX_NAMES, OTHER};
use vocab::OUTBOX_STATES;
pub use vocab::{ActionOutcome, Channel, Decision, Delivery, Interface, Outcome, STORE_ERROR_KINDS};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    interface: &'static str,
    name: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallKey {
    interface: &'static str,
    name: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ApprovalLabels {
    channel: &'static str,
    decision: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DetectionLabels {
    source: String,
    change: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SourceLabels {
    source: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    target: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    target: String,
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IncidentLabels {
    state: &'static str,
    r#type: &'static str,
    severity: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TransportLabels {
    transport: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;
type FloatGauge = Gauge<f64, std::sync::atomic::AtomicU64>;

/// Seconds, from a millisecond tool call to a minute-long scan.
const CALL_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Seconds from the first anomalous point to the incident: a second to a day (replays of old
/// data land in +Inf).
const LAG_BUCKETS: [f64; 12] = [
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0,
];

fn call_histogram() -> Histogram {
    Histogram::new(CALL_BUCKETS)
}

fn lag_histogram() -> Histogram {
    Histogram::new(LAG_BUCKETS)
}

/// One row of the incident tally the store reports at scrape time (already mapped to closed
/// sets by the caller).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IncidentCount {
    pub state: &'static str,
    pub kind: &'static str,
    pub severity: &'static str,
    pub count: i64,
}

/// One target's undelivered rows at scrape time.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxCount {
    pub target: String,
    /// `pending`, `inflight` or `dead`.
    pub state: &'static str,
    pub rows: i64,
    /// Age of the oldest such row.
    pub oldest_age: Duration,
}

/// The registry and its series.
pub struct Metrics {
    registry: Registry,
    calls: Family<CallLabels, Counter>,
    call_duration: HistogramFamily<CallKey>,
    refusals: Family<ReasonLabels, Counter>,
    approvals: Family<ApprovalLabels, Counter>,
    actions: Family<ActionLabels, Counter>,
    detections: Family<DetectionLabels, Counter>,
    detection_lag: HistogramFamily<SourceLabels>,
    deliveries: Family<DeliveryLabels, Counter>,
    outbox_rows: Family<OutboxLabels, Gauge>,
    outbox_oldest: Family<OutboxLabels, FloatGauge>,
    incidents: Family<IncidentLabels, Gauge>,
    sessions: Family<TransportLabels, Gauge>,
    store_errors: Family<KindLabels, Counter>,
    /// Call names per interface: tool names, `METHOD /route/{template}`, commands.
    names: [LabelValues; 3],
    reasons: LabelValues,
    actions_seen: LabelValues,
    /// Configured notification targets.
    targets: LabelValues,
    /// Configured sources, plus `file`, `stdin` and `alertmanager`.
    sources: LabelValues,
    /// Held while scrape-time values are replaced and while encoding, so no scrape sees them
    /// half replaced.
    scrape: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// The process's registry.
pub fn global() -> &'static Metrics {
    static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);
    &METRICS
}

impl Metrics {
    /// A fresh registry with every series registered (and none recorded yet).
    pub fn new() -> Self {
        let mut r = Registry::with_prefix("incident_mcp");
        let calls = Family::default();
        r.register(
            "calls",
            "Calls by interface (mcp tool, rest route, cli command), name and outcome",
            Family::clone(&calls),
        );
        let call_duration: HistogramFamily<CallKey> = Family::new_with_constructor(call_histogram);
        r.register_with_unit(
            "call_duration",
            "Latency of calls by interface and name",
            Unit::Seconds,
            call_duration.clone(),
        );
        let refusals = Family::default();
        r.register(
            "refusals",
            "Refused requests by reason (policy, approval check, server mode, request)",
            Family::clone(&refusals),
        );
        let approvals = Family::default();
        r.register(
            "approvals",
            "Human decisions on plans by channel and decision",
            Family::clone(&approvals),
        );
        let actions = Family::default();
        r.register(
            "actions",
            "Containment and recovery actions by action and outcome (applied, failed, reverted, revert_failed)",
            Family::clone(&actions),
        );
        let detections = Family::default();
        r.register(
            "detections",
            "Incidents found by detection or Alertmanager, by source and change (created, updated, reopened, unchanged)",
            Family::clone(&detections),
        );
        let detection_lag: HistogramFamily<SourceLabels> = Family::new_with_constructor(lag_histogram);
        r.register_with_unit(
            "detection_lag",
            "Time from the first anomalous point (or alert start) to the incident being opened, by source",
            Unit::Seconds,
            detection_lag.clone(),
        );
        let deliveries = Family::default();
        r.register(
            "notifications",
            "Outbox delivery attempts by target and outcome (sent, retry, dead)",
            Family::clone(&deliveries),
        );
        let outbox_rows = Family::default();
        r.register(
            "outbox_rows",
            "Undelivered outbox rows by target and state (pending, inflight, dead), at scrape time",
            Family::clone(&outbox_rows),
        );
        let outbox_oldest = Family::default();
        r.register_with_unit(
            "outbox_oldest_age",
            "Age of the oldest undelivered outbox row by target and state, at scrape time",
            Unit::Seconds,
            Family::clone(&outbox_oldest),
        );
        let incidents = Family::default();
        r.register(
            "incidents",
            "Incidents by state, type and severity, at scrape time",
            Family::clone(&incidents),
        );
        let sessions = Family::default();
        r.register(
            "sessions_open",
            "MCP sessions held, by transport (http, stdio)",
            Family::clone(&sessions),
        );
        let store_errors = Family::default();
        r.register("store_errors", "Database errors by kind", Family::clone(&store_errors));
        r.register(
            "build",
            "The running build",
            Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]),
        );
        let sources = LabelValues::allowlist();
        sources.allow(["file", "stdin", "alertmanager"]);
        // Error counters and the closed vocabularies exist at 0 from the start, so `rate()`
        // and `increase()` see their first event and a dashboard shows 0, not "no data".
        for kind in STORE_ERROR_KINDS {
            let _ = store_errors.get_or_create(&KindLabels { kind });
        }
        for channel in Channel::ALL {
            for decision in [Decision::Approved, Decision::Denied] {
                let _ = approvals.get_or_create(&ApprovalLabels {
                    channel: channel.as_str(),
                    decision: decision.as_str(),
                });
            }
        }
        Self {
            registry: r,
            calls,
            call_duration,
            refusals,
            approvals,
            actions,
            detections,
            detection_lag,
            deliveries,
            outbox_rows,
            outbox_oldest,
            incidents,
            sessions,
            store_errors,
            names: [
                LabelValues::capped(MAX_NAMES),
                LabelValues::capped(MAX_NAMES),
                LabelValues::capped(MAX_NAMES),
            ],
            reasons: LabelValues::capped(64),
            actions_seen: LabelValues::capped(32),
            targets: LabelValues::allowlist(),
            sources,
            scrape: Mutex::new(()),
        }
    }

    fn names(&self, i: Interface) -> &LabelValues {
        &self.names[i as usize]
    }

    /// Notification targets from the configuration (others count as `other`); their delivery
    /// counters exist at 0 from now on.
    pub fn allow_targets<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        self.targets.allow(names);
        for target in self.targets.known() {
            for outcome in [Delivery::Sent, Delivery::Retry, Delivery::Dead] {
                let _ = self.deliveries.get_or_create(&DeliveryLabels {
                    target: target.clone(),
                    outcome: outcome.as_str(),
                });
            }
        }
    }

    /// Source names from the configuration (others count as `other`).
    pub fn allow_sources<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        self.sources.allow(names);
    }

    /// A call on `interface`: `name` is `None` when it is not one of ours (an unknown tool, an
    /// unrouted path), and counts as `other`.
    pub fn call(&self, interface: Interface, name: Option<&str>, outcome: Outcome, took: Duration) {
        let name = name.map_or_else(|| OTHER.to_owned(), |n| self.names(interface).value(n));
        self.call_duration
            .get_or_create(&CallKey {
                interface: interface.as_str(),
                name: name.clone(),
            })
            .observe(took.as_secs_f64());
        self.calls
            .get_or_create(&CallLabels {
                interface: interface.as_str(),
                name,
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// A refused request, by its reason code.
    pub fn refusal(&self, reason: &str) {
        let reason = self.reasons.value(reason);
        self.refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// A human's decision on a plan (`None`: a channel no adapter named, counted as `other`).
    pub fn approval(&self, channel: Option<Channel>, decision: Decision) {
        self.approvals
            .get_or_create(&ApprovalLabels {
                channel: channel.map_or(OTHER, Channel::as_str),
                decision: decision.as_str(),
            })
            .inc();
    }

    /// An action's outcome; `action` is the plan's action (`isolate`, `rollback`, ...).
    pub fn action(&self, action: &str, outcome: ActionOutcome) {
        let action = self.actions_seen.value(action);
        self.actions
            .get_or_create(&ActionLabels {
                action,
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// An incident change by detection from `source` (`change`: created, updated, reopened,
    /// unchanged), with the lag from its first anomalous point when it was opened.
    pub fn detection(&self, source: &str, change: &'static str, lag: Option<Duration>) {
        let source = self.sources.value(source);
        if let Some(lag) = lag {
            self.detection_lag
                .get_or_create(&SourceLabels { source: source.clone() })
                .observe(lag.as_secs_f64());
        }
        self.detections.get_or_create(&DetectionLabels { source, change }).inc();
    }

    /// One delivery attempt of an outbox row to `target`.
    pub fn delivery(&self, target: &str, outcome: Delivery) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                target: self.targets.value(target),
                outcome: outcome.as_str(),
            })
            .inc();
    }

    /// MCP sessions held on `transport` now.
    pub fn sessions_open(&self, transport: &'static str, n: usize) {
        self.sessions
            .get_or_create(&TransportLabels { transport })
            .set(i64::try_from(n).unwrap_or(i64::MAX));
    }

    /// One more (`+1`) or one fewer (`-1`) session on `transport`.
    pub fn session_delta(&self, transport: &'static str, delta: i64) {
        self.sessions
            .get_or_create(&TransportLabels { transport })
            .inc_by(delta);
    }

    /// A database error; `kind` is one of [`STORE_ERROR_KINDS`].
    pub fn store_error(&self, kind: &'static str) {
        self.store_errors.get_or_create(&KindLabels { kind }).inc();
    }

    /// Replaces the incident tally (`None`: unknown, the series are dropped).
    pub fn set_incidents(&self, rows: Option<&[IncidentCount]>) {
        let _scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.incidents.clear();
        for r in rows.unwrap_or_default() {
            self.incidents
                .get_or_create(&IncidentLabels {
                    state: r.state,
                    r#type: r.kind,
                    severity: r.severity,
                })
                .inc_by(r.count);
        }
    }

    /// Replaces the outbox depth and ages (`None`: unknown, the series are dropped). Rows of
    /// targets outside the configuration add up under `other`; configured targets without
    /// undelivered rows show 0.
    pub fn set_outbox(&self, rows: Option<&[OutboxCount]>) {
        let _scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        self.outbox_rows.clear();
        self.outbox_oldest.clear();
        let Some(rows) = rows else {
            return;
        };
        for target in self.targets.known() {
            for state in OUTBOX_STATES {
                let labels = OutboxLabels {
                    target: target.clone(),
                    state,
                };
                let _ = self.outbox_rows.get_or_create(&labels);
                let _ = self.outbox_oldest.get_or_create(&labels);
            }
        }
        for r in rows {
            let labels = OutboxLabels {
                target: self.targets.value(&r.target),
                state: r.state,
            };
            self.outbox_rows.get_or_create(&labels).inc_by(r.rows);
            let oldest = self.outbox_oldest.get_or_create(&labels);
            let age = r.oldest_age.as_secs_f64();
            if age > oldest.get() {
                oldest.set(age);
            }
        }
    }

    /// The exposition: OpenMetrics text, ending in `# EOF`.
    pub fn encode(&self) -> String {
        let _scrape = self.scrape.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = text::encode(&mut out, &self.registry);
        out
    }
}

/// The `Content-Type` of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests;
