//! The decisions of detection merging and lifecycle moves shared by both adapters: when a
//! resolved incident's grouping window has passed, what a merge or a move writes to the
//! timeline. The adapters read and write the rows (SQL, locking); these take plain data.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{ChangeKind, NewFinding, StoreError};
use crate::domain::{IncidentId, Severity, Status, TimelineKind};

/// The `Created` timeline entry (message, data) of an incident opened for `f`; `previous` is the
/// resolved incident of the same fingerprint it follows.
pub(super) fn opened_entry(f: &NewFinding, previous: Option<i64>) -> (String, BTreeMap<String, String>) {
    let mut data = BTreeMap::from([("severity".to_string(), f.severity.to_string())]);
    let mut message = format!("opened: {}", f.title);
    if let Some(p) = previous {
        let p = IncidentId::from_row(p);
        data.insert("previous_id".into(), p.to_string());
        message = format!("{message} (fired again after {p} was resolved and the grouping window passed)");
    }
    (message, data)
}

/// Whether a finding opens a new incident instead of reopening the latest one: it is resolved
/// and its grouping window (`window_secs` after `resolved_at`, in micros) has passed.
pub(super) fn window_expired(status: Status, resolved_at: i64, now: DateTime<Utc>, window_secs: u64) -> bool {
    let window = i64::try_from(window_secs.saturating_mul(1_000_000)).unwrap_or(i64::MAX);
    status == Status::Resolved && now.timestamp_micros().saturating_sub(resolved_at) > window
}

/// What merging `added` new signals into an incident records.
pub(super) struct Merge {
    /// The finding's severity where it escalates the incident's (severity only escalates).
    pub escalated: Option<Severity>,
    pub kind: TimelineKind,
    pub message: String,
    pub data: BTreeMap<String, String>,
    pub change: ChangeKind,
}

/// The merge of `added` (> 0) new signals of a finding of `finding` severity into an incident
/// with `status` and `severity`; `created` when the incident was opened for this finding.
pub(super) fn merge(added: usize, status: Status, severity: Severity, finding: Severity, created: bool) -> Merge {
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

/// Checks a lifecycle move of incident `id`: `Ok(false)` when it is already there, `Ok(true)`
/// when the move is allowed.
pub(super) fn check_transition(id: IncidentId, from: Status, to: Status) -> Result<bool, StoreError> {
    if from == to {
        return Ok(false);
    }
    if !from.can_move_to(to) {
        let allowed = Status::sources_of(to)
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(StoreError::IllegalTransition { id, from, to, allowed });
    }
    Ok(true)
}

/// The `StatusChange` timeline entry (message, data) of a move.
pub(super) fn transition_entry(from: Status, to: Status, note: Option<&str>) -> (String, BTreeMap<String, String>) {
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
