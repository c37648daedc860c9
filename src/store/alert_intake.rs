//! The bookkeeping of `record_alerts`: the rows read from the database in, the rows to write
//! out (as bound values), with each alert's and incident's decision taken by
//! `domain::grouping` (`alert_outcome`, `decide_alerts`). The adapter runs the statements.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::{
    AlertIntake, AlertOutcome, IncidentAlertChange, IncidentChange, StoreError,
    alerts::AlertRecord,
    rows::{Cols, micros, parse},
};
use crate::domain::{
    IncidentId, SignalKind, Status,
    grouping::{AlertTally, alert_outcome, decide_alerts},
};

/// A bound value.
pub(super) enum Arg {
    Int(i64),
    Text(String),
    OptInt(Option<i64>),
    OptText(Option<String>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<&str> for Arg {
    fn from(v: &str) -> Self {
        Arg::Text(v.to_owned())
    }
}
impl From<String> for Arg {
    fn from(v: String) -> Self {
        Arg::Text(v)
    }
}
impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Self {
        Arg::OptInt(v)
    }
}
impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Self {
        Arg::OptText(v)
    }
}

/// One row of bound values.
macro_rules! row {
    ($($v:expr),+ $(,)?) => { vec![$(crate::store::alert_intake::Arg::from($v)),+] };
}
pub(super) use row;

/// Per-incident tally while a notification is applied.
#[derive(Default)]
pub(super) struct Tally {
    slot: usize,
    first: Option<i64>,
    last: Option<i64>,
    counts: AlertTally,
}

fn data(m: &BTreeMap<String, String>) -> String {
    serde_json::to_string(m).unwrap_or_else(|_| "{}".into())
}

/// Step 1: what the notification does to each alert, given the recorded ones (`existing`,
/// parallel to `intake.alerts`: whether it was firing, and its incident).
pub(super) fn outcomes(intake: &AlertIntake, existing: &[Option<(bool, i64)>]) -> Vec<AlertOutcome> {
    intake
        .alerts
        .iter()
        .zip(existing)
        .map(|(a, e)| alert_outcome(a.firing, e.map(|(was_firing, _)| was_firing)))
        .collect()
}

/// Step 1: the keys (index, env, fingerprint, starts_at) to look the alerts up by.
pub(super) fn key_rows(intake: &AlertIntake) -> Vec<Vec<Arg>> {
    intake
        .alerts
        .iter()
        .enumerate()
        .map(|(i, a)| {
            row![
                i as i64,
                intake.env.as_str(),
                a.fingerprint.as_str(),
                micros(a.starts_at)
            ]
        })
        .collect()
}

/// Step 1: the recorded alerts (rows of index, status, incident id), parallel to
/// `intake.alerts`: whether each was firing, and its incident.
pub(super) fn existing(intake: &AlertIntake, found: &[(i64, String, i64)]) -> Vec<Option<(bool, i64)>> {
    let mut existing: Vec<Option<(bool, i64)>> = vec![None; intake.alerts.len()];
    for (idx, status, incident_id) in found {
        if let Some(slot) = usize::try_from(*idx).ok().and_then(|i| existing.get_mut(i)) {
            *slot = Some((status == "firing", *incident_id));
        }
    }
    existing
}

/// Step 2: the earliest `startsAt` of the new alerts of each incident slot.
pub(super) fn first_seen(intake: &AlertIntake, outcomes: &[AlertOutcome]) -> HashMap<usize, i64> {
    let mut first_seen: HashMap<usize, i64> = HashMap::new();
    for (a, o) in intake.alerts.iter().zip(outcomes) {
        if *o == AlertOutcome::New {
            let t = micros(a.starts_at);
            first_seen
                .entry(a.incident)
                .and_modify(|f| *f = (*f).min(t))
                .or_insert(t);
        }
    }
    first_seen
}

/// Step 2: the slots needing an incident, in order, and their (slot, fingerprint) rows to find
/// the latest incident of each fingerprint by.
pub(super) fn needed(intake: &AlertIntake, first_seen: &HashMap<usize, i64>) -> (Vec<usize>, Vec<Vec<Arg>>) {
    let mut needed: Vec<usize> = first_seen.keys().copied().collect();
    needed.sort_unstable();
    let rows = needed
        .iter()
        .map(|&s| row![s as i64, intake.incidents[s].fingerprint.as_str()])
        .collect();
    (needed, rows)
}

/// Step 2: the incident of each slot found (rows of slot, incident id).
pub(super) fn slot_ids(latest: &[(i64, i64)]) -> HashMap<usize, i64> {
    let mut slot_ids = HashMap::new();
    for (slot, id) in latest {
        if let Ok(slot) = usize::try_from(*slot) {
            slot_ids.insert(slot, *id);
        }
    }
    slot_ids
}

/// Step 2: records the incidents opened for `to_create` (inserted rows of `id`,
/// `fingerprint`) as their slots' incidents; returns their ids.
pub(super) fn created(
    intake: &AlertIntake,
    to_create: &[usize],
    inserted: &[impl Cols],
    slot_ids: &mut HashMap<usize, i64>,
) -> Result<HashSet<i64>, StoreError> {
    let by_fp: HashMap<String, i64> = inserted
        .iter()
        .map(|r| Ok((r.text("fingerprint")?, r.int("id")?)))
        .collect::<Result<_, StoreError>>()?;
    let mut created_ids = HashSet::new();
    for &s in to_create {
        let id = *by_fp
            .get(&intake.incidents[s].fingerprint)
            .ok_or_else(|| StoreError::Database("an inserted incident was not returned".into()))?;
        slot_ids.insert(s, id);
        created_ids.insert(id);
    }
    Ok(created_ids)
}

/// Step 2: the annotations the new alerts carry, as `incident_annotations` rows (incident_id,
/// name, value, alertname, updated_at): one per incident and name, the last new alert's value.
pub(super) fn annotation_rows(
    intake: &AlertIntake,
    outcomes: &[AlertOutcome],
    slot_ids: &HashMap<usize, i64>,
    now: i64,
) -> Vec<Vec<Arg>> {
    let mut latest: BTreeMap<(i64, &str), (&str, &str)> = BTreeMap::new();
    for (a, o) in intake.alerts.iter().zip(outcomes) {
        let Some(&id) = slot_ids.get(&a.incident).filter(|_| *o == AlertOutcome::New) else {
            continue;
        };
        for (name, value) in &a.annotations {
            latest.insert((id, name.as_str()), (value.as_str(), a.alertname.as_str()));
        }
    }
    latest
        .into_iter()
        .map(|((id, name), (value, alertname))| row![id, name, value, alertname, now])
        .collect()
}

/// Step 5: status and firing alerts of each touched incident (rows of id, status, firing).
pub(super) fn current(state: &[(i64, String, i64)]) -> Result<HashMap<i64, (Status, i64)>, StoreError> {
    let mut current = HashMap::new();
    for (id, status, firing) in state {
        current.insert(*id, (parse(status, "status")?, *firing));
    }
    Ok(current)
}

/// An `incidents` row (title, kind, env, severity, status, fingerprint, first_seen, last_seen,
/// labels, created_at, updated_at) for the incident of `slot`.
pub(super) fn incident_row(intake: &AlertIntake, slot: usize, first_seen: &HashMap<usize, i64>, now: i64) -> Vec<Arg> {
    let i = &intake.incidents[slot];
    let first = first_seen.get(&slot).copied().unwrap_or(now);
    let labels = serde_json::to_string(&i.labels).unwrap_or_else(|_| "{}".into());
    row![
        i.title.as_str(),
        i.kind.as_str(),
        intake.env.as_str(),
        i.severity.as_str(),
        "open",
        i.fingerprint.as_str(),
        first,
        first,
        labels,
        now,
        now
    ]
}

/// Step 3: the tally per incident and the rows to write.
pub(super) struct Tallies {
    /// Touched incidents in order of first mention.
    pub order: Vec<i64>,
    pub tally: HashMap<i64, Tally>,
    /// `alerts` rows (env, fingerprint, starts_at, incident_id, alertname, status, ends_at,
    /// labels, received_at, updated_at).
    pub alert_rows: Vec<Vec<Arg>>,
    /// `signals` rows (incident_id, kind, source, rule, series, entity, observed_at, message).
    pub signal_rows: Vec<Vec<Arg>>,
    /// The incident and the alert (its index in `AlertIntake::alerts`) of each signal row.
    pub signal_alerts: Vec<(i64, usize)>,
    /// Resolved alerts (env, fingerprint, starts_at, ends_at, now).
    pub resolved_rows: Vec<Vec<Arg>>,
}

impl Tallies {
    /// Counts a signal the database inserted (not a duplicate) for incident `id`.
    pub fn signal_added(&mut self, id: i64, at: i64) {
        if let Some(t) = self.tally.get_mut(&id) {
            t.counts.new_signals += 1;
            t.first = Some(t.first.map_or(at, |f| f.min(at)));
            t.last = Some(t.last.map_or(at, |l| l.max(at)));
        }
    }
}

/// Step 3: tallies the alerts per incident (`slot_ids`: incident of each slot of a new alert;
/// `created_ids`: the incidents this notification opened).
pub(super) fn tally(
    intake: &AlertIntake,
    outcomes: &[AlertOutcome],
    existing: &[Option<(bool, i64)>],
    slot_ids: &HashMap<usize, i64>,
    created_ids: &HashSet<i64>,
    now: i64,
) -> Result<Tallies, StoreError> {
    let env = intake.env.as_str();
    let mut order: Vec<i64> = Vec::new();
    let mut tally: HashMap<i64, Tally> = HashMap::new();
    let (mut alert_rows, mut signal_rows, mut resolved_rows) = (Vec::new(), Vec::new(), Vec::new());
    let mut signal_alerts = Vec::new();
    for (i, (a, o)) in intake.alerts.iter().zip(outcomes).enumerate() {
        let id = match (existing[i], slot_ids.get(&a.incident)) {
            (Some((_, id)), _) | (None, Some(&id)) => id,
            (None, None) => return Err(StoreError::Database("alert without an incident".into())),
        };
        let t = tally.entry(id).or_insert_with(|| {
            order.push(id);
            Tally {
                slot: a.incident,
                counts: AlertTally {
                    created: created_ids.contains(&id),
                    ..AlertTally::default()
                },
                ..Tally::default()
            }
        });
        match o {
            AlertOutcome::New => {
                let c = &mut t.counts;
                c.new_alerts += 1;
                if a.firing {
                    c.new_firing += 1;
                } else {
                    c.resolved += 1;
                }
                if c.names.len() < 5 && !c.names.contains(&a.alertname) {
                    c.names.push(a.alertname.clone());
                }
                alert_rows.push(alert_row(a, id, env, now));
                signal_rows.push(signal_row(a, id, intake));
                signal_alerts.push((id, i));
            }
            AlertOutcome::Resolved => {
                t.counts.resolved += 1;
                resolved_rows.push(row![
                    env,
                    a.fingerprint.as_str(),
                    micros(a.starts_at),
                    a.ends_at.map(micros),
                    now
                ]);
            }
            AlertOutcome::Repeat => {}
        }
    }
    Ok(Tallies {
        order,
        tally,
        alert_rows,
        signal_rows,
        signal_alerts,
        resolved_rows,
    })
}

/// Step 6: what to write for the touched incidents.
pub(super) struct Decisions {
    /// Incident updates (id, new signals, first, last, status, now).
    pub updates: Vec<Vec<Arg>>,
    /// `timeline` rows (incident_id, at, kind, actor, message, data).
    pub timeline: Vec<Vec<Arg>>,
    pub changes: Vec<IncidentAlertChange>,
    /// Incidents this notification recovered (contained, every alert resolved).
    pub recovered: Vec<IncidentId>,
}

impl Decisions {
    /// The changes as [`IncidentChange`]s, for the detection hooks.
    pub fn opened(&self) -> Vec<IncidentChange> {
        self.changes
            .iter()
            .map(|c| IncidentChange {
                id: c.id,
                change: c.change,
                new_signals: c.new_alerts,
            })
            .collect()
    }
}

/// Step 6: incident updates and timeline entries, given each touched incident's status and
/// firing alerts after the alert updates (`current`).
pub(super) fn decide(
    intake: &AlertIntake,
    tallies: &Tallies,
    current: &HashMap<i64, (Status, i64)>,
    now: i64,
) -> Result<Decisions, StoreError> {
    let (mut updates, mut timeline) = (Vec::new(), Vec::new());
    let mut changes = Vec::with_capacity(tallies.order.len());
    let mut recovered = Vec::new();
    let actor = intake.actor.as_str();
    for id in &tallies.order {
        let t = &tallies.tally[id];
        let (before, firing) = current
            .get(id)
            .copied()
            .ok_or(StoreError::NotFound(IncidentId::from_row(*id)))?;
        let inc = &intake.incidents[t.slot];
        let d = decide_alerts(before, firing, &t.counts, Some((inc.title.as_str(), inc.severity)));
        for (kind, message, entry) in &d.entries {
            timeline.push(row![*id, now, kind.as_str(), actor, message.as_str(), data(entry)]);
        }
        if d.recovered {
            recovered.push(IncidentId::from_row(*id));
        }
        if d.touched {
            updates.push(row![
                *id,
                t.counts.new_signals as i64,
                t.first.unwrap_or(i64::MAX),
                t.last.unwrap_or(i64::MIN),
                d.after.as_str(),
                now
            ]);
        }
        changes.push(IncidentAlertChange {
            id: IncidentId::from_row(*id),
            slot: t.slot,
            change: d.change,
            new_alerts: t.counts.new_alerts,
            resolved_alerts: t.counts.resolved,
            firing_alerts: firing,
            status: d.after,
        });
    }
    Ok(Decisions {
        updates,
        timeline,
        changes,
        recovered,
    })
}

fn alert_row(a: &AlertRecord, id: i64, env: &str, now: i64) -> Vec<Arg> {
    let labels = serde_json::to_string(&a.labels).unwrap_or_else(|_| "{}".into());
    let status = if a.firing { "firing" } else { "resolved" };
    row![
        env,
        a.fingerprint.as_str(),
        micros(a.starts_at),
        id,
        a.alertname.as_str(),
        status,
        a.ends_at.map(micros),
        labels,
        now,
        now
    ]
}

/// A signal just inserted: its incident, row id, time, and the entities it names.
pub(super) type SignalEntities<'a> = (i64, i64, i64, std::borrow::Cow<'a, [crate::domain::entity::EntityRef]>);

/// The signals just inserted (rows of `id`, `incident_id`, `series`, `observed_at`) with the
/// entities each names: its alert's, else its incident's entity alone.
pub(super) fn signal_links<'a>(
    intake: &'a AlertIntake,
    signal_alerts: &[(i64, usize)],
    added: &[impl Cols],
) -> Result<Vec<SignalEntities<'a>>, StoreError> {
    let by_key: HashMap<(i64, &str, i64), usize> = signal_alerts
        .iter()
        .map(|&(id, i)| {
            let a = &intake.alerts[i];
            ((id, a.fingerprint.as_str(), micros(a.starts_at)), i)
        })
        .collect();
    let mut out = Vec::with_capacity(added.len());
    for r in added {
        let (incident, series, at) = (r.int("incident_id")?, r.text("series")?, r.int("observed_at")?);
        let Some(&i) = by_key.get(&(incident, series.as_str(), at)) else {
            continue;
        };
        let a = &intake.alerts[i];
        let entities = if a.entities.is_empty() {
            super::subject_only(&intake.incidents[a.incident].entity)
        } else {
            std::borrow::Cow::Borrowed(a.entities.as_slice())
        };
        out.push((incident, r.int("id")?, at, entities));
    }
    Ok(out)
}

fn signal_row(a: &AlertRecord, id: i64, intake: &AlertIntake) -> Vec<Arg> {
    row![
        id,
        SignalKind::Alert.as_str(),
        intake.source.as_str(),
        a.alertname.as_str(),
        a.fingerprint.as_str(),
        intake.incidents[a.incident].entity.as_str(),
        micros(a.starts_at),
        a.message.clone()
    ]
}
