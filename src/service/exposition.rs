//! `/metrics`: the values computed from the store at scrape time (incidents by state, type
//! and severity; the outbox's undelivered rows per target), then the whole registry encoded.
//! The counters themselves are recorded where things happen (`crate::metrics`).

use chrono::{DateTime, Utc};

use super::IncidentService;
use crate::{
    domain::{IncidentType, Severity, Status, grouping::ChangeKind},
    metrics::{self, IncidentCount, OTHER, OutboxCount},
};

/// `s` as a wire name of `T`, else `other` (a row written by another version).
fn closed<T: std::str::FromStr + Copy>(s: &str, name: fn(T) -> &'static str) -> &'static str {
    s.parse::<T>().map_or(OTHER, name)
}

impl IncidentService {
    /// The Prometheus exposition (OpenMetrics text). A store that cannot be read leaves the
    /// scrape-time series out (they are unknown, not zero) and the rest is still served.
    pub async fn metrics_exposition(&self) -> String {
        let m = metrics::global();
        match self.store.incident_tally().await {
            Ok(rows) => {
                let counts: Vec<IncidentCount> = rows
                    .iter()
                    .map(|r| IncidentCount {
                        state: closed(&r.status, Status::as_str),
                        kind: closed(&r.kind, IncidentType::as_str),
                        severity: closed(&r.severity, Severity::as_str),
                        count: r.count,
                    })
                    .collect();
                m.set_incidents(Some(&counts));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot count incidents");
                m.set_incidents(None);
            }
        }
        match self.store.outbox_tally().await {
            Ok(rows) => {
                let now = Utc::now();
                let counts: Vec<OutboxCount> = rows
                    .into_iter()
                    .map(|r| OutboxCount {
                        state: r.status.as_str(),
                        rows: r.rows,
                        oldest_age: (now - r.oldest).to_std().unwrap_or_default(),
                        target: r.target,
                    })
                    .collect();
                m.set_outbox(Some(&counts));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics: cannot read the outbox");
                m.set_outbox(None);
            }
        }
        m.encode()
    }
}

/// Records what a detection (a scan or an Alertmanager notification) did to one incident:
/// `source` is a configured source's name, `file:PATH` (counted as `file`), `stdin` or
/// `alertmanager`; `first` is the first anomalous point's time (or the alert's start), whose
/// distance to now is the detection lag of an incident opened or reopened.
pub(super) fn record_detection(source: &str, change: ChangeKind, first: Option<DateTime<Utc>>) {
    let source = if source.starts_with("file:") { "file" } else { source };
    let (word, opened) = match change {
        ChangeKind::Created => ("created", true),
        ChangeKind::Updated => ("updated", false),
        ChangeKind::Reopened => ("reopened", true),
        ChangeKind::Unchanged => ("unchanged", false),
    };
    let lag = first
        .filter(|_| opened)
        .map(|t| (Utc::now() - t).to_std().unwrap_or_default());
    metrics::global().detection(source, word, lag);
}

/// Records a refusal by the `reason` of its audit payload (every refusal is audited with one).
pub(super) fn record_refusal(payload: &serde_json::Value) {
    let reason = payload.get("reason").and_then(serde_json::Value::as_str);
    metrics::global().refusal(reason.unwrap_or("unspecified"));
}
