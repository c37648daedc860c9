//! How evidence groups into incidents, as pure decisions the store applies: when a resolved
//! incident's grouping window has passed, what merging new signals or a lifecycle move writes
//! to the timeline, and what an Alertmanager notification does to each alert and incident
//! (alerts never resolve an incident: a human does, with a note). The store reads and writes
//! the rows; these functions take plain data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Serialize;

use super::{IncidentId, Severity, Status, TimelineKind};

/// What happened to an incident during a detection run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new incident was opened.
    Created,
    /// New signals were added to an active incident.
    Updated,
    /// A resolved incident fired again and was reopened.
    Reopened,
    /// Nothing new: every signal was already recorded.
    Unchanged,
}

/// What a notification did to one alert occurrence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    /// First time seen: recorded, and a signal attached to its incident.
    New,
    /// Already recorded with this status (a re-sent notification): nothing changed.
    Repeat,
    /// Was firing, now resolved.
    Resolved,
}

/// The `Created` timeline entry (message, data) of an incident opened for `f`; `previous` is the
/// resolved incident of the same fingerprint it follows.
pub fn opened_entry(title: &str, severity: Severity, previous: Option<i64>) -> (String, BTreeMap<String, String>) {
    let mut data = BTreeMap::from([("severity".to_string(), severity.to_string())]);
    let mut message = format!("opened: {title}");
    if let Some(p) = previous {
        let p = IncidentId::from_row(p);
        data.insert("previous_id".into(), p.to_string());
        message = format!("{message} (fired again after {p} was resolved and the grouping window passed)");
    }
    (message, data)
}

/// Whether a finding opens a new incident instead of reopening the latest one: it is resolved
/// and its grouping window (`window_secs` after `resolved_at`, in micros) has passed.
pub fn window_expired(status: Status, resolved_at: i64, now: DateTime<Utc>, window_secs: u64) -> bool {
    let window = i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    status == Status::Resolved && now.timestamp_micros().saturating_sub(resolved_at) > window
}

/// What merging `added` new signals into an incident records.
pub struct Merge {
    /// The finding's severity where it escalates the incident's (severity only escalates).
    pub escalated: Option<Severity>,
    pub kind: TimelineKind,
    pub message: String,
    pub data: BTreeMap<String, String>,
    pub change: ChangeKind,
}

/// The merge of `added` (> 0) new signals of a finding of `finding` severity into an incident
/// with `status` and `severity`; `created` when the incident was opened for this finding.
pub fn merge(added: usize, status: Status, severity: Severity, finding: Severity, created: bool) -> Merge {
    let reopen = status == Status::Resolved;
    let escalated = (finding > severity).then_some(finding);
    let mut data = BTreeMap::from([("new_signals".to_string(), added.to_string())]);
    if let Some(s) = escalated {
        data.insert("severity".into(), s.to_string());
    }
    let (kind, message, change) = if reopen {
        (
            TimelineKind::Reopened,
            format!("reopened: {added} new signal(s) after resolve, within the grouping window"),
            ChangeKind::Reopened,
        )
    } else if created {
        (
            TimelineKind::Signal,
            format!("{added} signal(s) attached"),
            ChangeKind::Created,
        )
    } else {
        (
            TimelineKind::Signal,
            format!("{added} new signal(s) attached"),
            ChangeKind::Updated,
        )
    };
    Merge {
        escalated,
        kind,
        message,
        data,
        change,
    }
}

/// A lifecycle move the incident's status does not allow.
#[derive(Debug, Clone, PartialEq)]
pub struct IllegalTransition {
    pub id: IncidentId,
    pub from: Status,
    pub to: Status,
    /// The statuses `to` may be reached from, comma-separated.
    pub allowed: String,
}

/// Checks a lifecycle move of incident `id`: `Ok(false)` when it is already there, `Ok(true)`
/// when the move is allowed.
pub fn check_transition(id: IncidentId, from: Status, to: Status) -> Result<bool, IllegalTransition> {
    if from == to {
        return Ok(false);
    }
    if !from.can_move_to(to) {
        let allowed = Status::sources_of(to)
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(IllegalTransition { id, from, to, allowed });
    }
    Ok(true)
}

/// The `StatusChange` timeline entry (message, data) of a move.
pub fn transition_entry(from: Status, to: Status, note: Option<&str>) -> (String, BTreeMap<String, String>) {
    let mut data = BTreeMap::from([
        ("from".to_string(), from.to_string()),
        ("to".to_string(), to.to_string()),
    ]);
    let mut message = format!("{from} → {to}");
    if let Some(n) = note {
        data.insert("note".into(), n.to_owned());
        message = format!("{message}: {n}");
    }
    (message, data)
}

/// What a notification does to one alert occurrence, given whether it is already recorded
/// (`Some(was_firing)`): new ones are recorded, a firing one that now arrives resolved is
/// resolved, anything else is a repeat.
pub fn alert_outcome(firing: bool, recorded: Option<bool>) -> AlertOutcome {
    match recorded {
        None => AlertOutcome::New,
        Some(true) if !firing => AlertOutcome::Resolved,
        Some(_) => AlertOutcome::Repeat,
    }
}

/// One notification's tally for one incident.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertTally {
    /// The notification opened this incident.
    pub created: bool,
    /// New occurrences that arrived firing.
    pub new_firing: usize,
    /// New occurrences, firing or not.
    pub new_alerts: usize,
    /// Occurrences resolved (new ones that arrived resolved, and firing ones now resolved).
    pub resolved: usize,
    /// Signals the store actually added (duplicates excluded).
    pub new_signals: usize,
    /// Up to five distinct alert names, in order of arrival.
    pub names: Vec<String>,
}

/// A timeline entry to write: kind, message, data.
pub type Entry = (TimelineKind, String, BTreeMap<String, String>);

/// What a notification does to one incident.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDecision {
    pub change: ChangeKind,
    /// The incident's status afterwards.
    pub after: Status,
    /// Whether the incident row changes (counts, times or status).
    pub touched: bool,
    /// Contained, and every alert resolved: moved to recovered.
    pub recovered: bool,
    pub entries: Vec<Entry>,
}

fn entry_data(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// The decision for an incident with status `before` and `firing` alerts still firing after
/// this notification; `opened` is the title and severity when the notification opened it.
/// Alerts never resolve an incident: a resolved one reopens when an alert fires again with a
/// new signal, and a contained one with nothing left firing becomes recovered.
pub fn decide_alerts(before: Status, firing: i64, t: &AlertTally, opened: Option<(&str, Severity)>) -> AlertDecision {
    let mut entries = Vec::new();
    let mut after = before;
    let touched = t.new_signals > 0 || t.resolved > 0 || t.created;
    let change = if let Some((title, severity)) = opened.filter(|_| t.created) {
        entries.push((
            TimelineKind::Created,
            format!("opened: {title}"),
            entry_data(&[("severity", severity.to_string())]),
        ));
        ChangeKind::Created
    } else if before == Status::Resolved && t.new_firing > 0 && t.new_signals > 0 {
        after = Status::Open;
        ChangeKind::Reopened
    } else if touched {
        ChangeKind::Updated
    } else {
        ChangeKind::Unchanged
    };
    if t.new_signals > 0 {
        let names = t.names.join(", ");
        let d = entry_data(&[("new_signals", t.new_signals.to_string()), ("alerts", names.clone())]);
        if change == ChangeKind::Reopened {
            let msg = format!("reopened: {} alert(s) fired again after resolve: {names}", t.new_firing);
            entries.push((TimelineKind::Reopened, msg, d));
        } else {
            let msg = format!("{} new alert(s) received: {names}", t.new_alerts);
            entries.push((TimelineKind::Signal, msg, d));
        }
    }
    let mut recovered = false;
    if t.resolved > 0 {
        let msg = if firing == 0 {
            format!(
                "{} alert(s) resolved; none still firing (a human resolves the incident with a note)",
                t.resolved
            )
        } else {
            format!("{} alert(s) resolved; {firing} still firing", t.resolved)
        };
        let d = entry_data(&[
            ("alert_status", "resolved".into()),
            ("resolved_alerts", t.resolved.to_string()),
            ("firing_alerts", firing.to_string()),
        ]);
        entries.push((TimelineKind::Signal, msg, d));
        if before == Status::Contained && firing == 0 {
            after = Status::Recovered;
            recovered = true;
            entries.push((
                TimelineKind::StatusChange,
                "contained → recovered: every alert resolved".into(),
                entry_data(&[("from", "contained".into()), ("to", "recovered".into())]),
            ));
        }
    }
    AlertDecision {
        change,
        after,
        touched,
        recovered,
        entries,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(new_firing: usize, resolved: usize, new_signals: usize) -> AlertTally {
        AlertTally {
            new_firing,
            new_alerts: new_firing,
            resolved,
            new_signals,
            names: vec!["HighErrors".into()],
            ..AlertTally::default()
        }
    }

    #[test]
    fn alert_outcomes() {
        assert_eq!(alert_outcome(true, None), AlertOutcome::New);
        assert_eq!(alert_outcome(false, None), AlertOutcome::New);
        assert_eq!(alert_outcome(false, Some(true)), AlertOutcome::Resolved);
        assert_eq!(alert_outcome(false, Some(false)), AlertOutcome::Repeat);
        assert_eq!(alert_outcome(true, Some(true)), AlertOutcome::Repeat);
    }

    #[test]
    fn alerts_never_resolve_an_incident() {
        for before in [Status::Open, Status::Acknowledged, Status::Recovered] {
            let d = decide_alerts(before, 0, &tally(0, 3, 0), None);
            assert_eq!(d.after, before, "{before}");
            assert!(!d.recovered);
            assert!(
                d.entries[0].1.contains("a human resolves the incident"),
                "{:?}",
                d.entries
            );
        }
    }

    #[test]
    fn a_contained_incident_recovers_when_nothing_fires() {
        let d = decide_alerts(Status::Contained, 0, &tally(0, 2, 0), None);
        assert_eq!(
            (d.after, d.recovered, d.change),
            (Status::Recovered, true, ChangeKind::Updated)
        );
        assert_eq!(d.entries.last().unwrap().0, TimelineKind::StatusChange);
        let still = decide_alerts(Status::Contained, 1, &tally(0, 2, 0), None);
        assert_eq!((still.after, still.recovered), (Status::Contained, false));
    }

    #[test]
    fn a_resolved_incident_reopens_only_on_a_new_firing_signal() {
        let d = decide_alerts(Status::Resolved, 1, &tally(1, 0, 1), None);
        assert_eq!((d.change, d.after), (ChangeKind::Reopened, Status::Open));
        assert_eq!(d.entries[0].0, TimelineKind::Reopened);
        // A duplicate signal (none added) does not reopen.
        let dup = decide_alerts(Status::Resolved, 1, &tally(1, 0, 0), None);
        assert_eq!((dup.change, dup.after), (ChangeKind::Unchanged, Status::Resolved));
        assert!(!dup.touched);
    }

    #[test]
    fn an_opened_incident_records_its_creation_first() {
        let t = AlertTally {
            created: true,
            ..tally(2, 0, 2)
        };
        let d = decide_alerts(Status::Open, 2, &t, Some(("HighErrors on web", Severity::Critical)));
        assert_eq!(d.change, ChangeKind::Created);
        assert_eq!(d.entries[0].0, TimelineKind::Created);
        assert_eq!(d.entries[1].1, "2 new alert(s) received: HighErrors");
    }

    #[test]
    fn grouping_window_and_merges() {
        let now = Utc::now();
        let resolved_at = now.timestamp_micros() - 120_000_000;
        assert!(window_expired(Status::Resolved, resolved_at, now, 60));
        assert!(!window_expired(Status::Resolved, resolved_at, now, 600));
        assert!(!window_expired(Status::Open, resolved_at, now, 60));
        let m = merge(3, Status::Resolved, Severity::Low, Severity::Critical, false);
        assert_eq!(
            (m.change, m.escalated),
            (ChangeKind::Reopened, Some(Severity::Critical))
        );
        let m = merge(1, Status::Open, Severity::Critical, Severity::Low, false);
        assert_eq!((m.change, m.escalated), (ChangeKind::Updated, None));
    }

    #[test]
    fn transitions_are_checked() {
        let id = IncidentId::from_row(1);
        assert_eq!(check_transition(id, Status::Open, Status::Open), Ok(false));
        assert_eq!(check_transition(id, Status::Open, Status::Acknowledged), Ok(true));
        let err = check_transition(id, Status::Open, Status::Recovered).unwrap_err();
        assert!(!err.allowed.is_empty());
    }
}
