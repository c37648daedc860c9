//! `record_alerts` for PostgreSQL: one Alertmanager notification in one transaction with a
//! fixed number of statements, as in SQLite (rows travel as bound multi-row `VALUES` lists).
//! The transaction holds [`INCIDENTS_LOCK`], so notifications and detection scans of every
//! replica dedup against each other's committed rows, and locks the incidents it changes.

use std::collections::{BTreeMap, HashMap, HashSet};

use sqlx::{PgConnection, Row, postgres::PgRow};

use super::{INCIDENTS_LOCK, PgStore, lock, micros, parse};
use crate::{
    domain::{IncidentId, SignalKind, Status, TimelineKind},
    store::{
        AlertIntake, AlertIntakeResult, AlertOutcome, ChangeKind, IncidentAlertChange, StoreError, alerts::AlertRecord,
    },
};

/// Bound parameters per statement, under PostgreSQL's limit of 65535.
const MAX_VARS: usize = 30_000;

/// A bound value.
enum Arg {
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

macro_rules! row {
    ($($v:expr),+ $(,)?) => { vec![$(Arg::from($v)),+] };
}

/// Runs `{head} VALUES ($1, …), ($n, …) {tail}` over `rows` (all `cols` wide), chunked under
/// the parameter limit, and returns every row the statements return.
async fn values(
    tx: &mut PgConnection,
    head: &str,
    tail: &str,
    cols: usize,
    rows: Vec<Vec<Arg>>,
) -> Result<Vec<PgRow>, StoreError> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take((MAX_VARS / cols).max(1)).collect();
        let tuples: Vec<String> = (0..chunk.len())
            .map(|r| {
                let params: Vec<String> = (1..=cols).map(|c| format!("${}", r * cols + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!("{head} VALUES {} {tail}", tuples.join(", "));
        let mut q = sqlx::query(&sql).persistent(false);
        for arg in chunk.into_iter().flatten() {
            q = match arg {
                Arg::Int(v) => q.bind(v),
                Arg::Text(v) => q.bind(v),
                Arg::OptInt(v) => q.bind(v),
                Arg::OptText(v) => q.bind(v),
            };
        }
        out.extend(q.fetch_all(&mut *tx).await?);
    }
    Ok(out)
}

/// Per-incident tally while a notification is applied.
#[derive(Default)]
struct Tally {
    slot: usize,
    created: bool,
    new_firing: usize,
    new_alerts: usize,
    resolved: usize,
    new_signals: usize,
    first: Option<i64>,
    last: Option<i64>,
    names: Vec<String>,
}

fn data(pairs: &[(&str, String)]) -> String {
    let m: BTreeMap<&str, &str> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    serde_json::to_string(&m).unwrap_or_else(|_| "{}".into())
}

impl PgStore {
    pub(super) async fn record_alerts_tx(&self, intake: &AlertIntake) -> Result<AlertIntakeResult, StoreError> {
        let now = micros(chrono::Utc::now());
        let env = intake.env.as_str();
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, INCIDENTS_LOCK).await?;

        // 1. Which occurrences are already recorded, with their status and incident.
        let keys = intake
            .alerts
            .iter()
            .enumerate()
            .map(|(i, a)| row![i as i64, env, a.fingerprint.as_str(), micros(a.starts_at)])
            .collect();
        let found = values(
            &mut tx,
            "WITH k(i, env, fp, st) AS (",
            ") SELECT k.i AS idx, a.status, a.incident_id FROM k JOIN alerts a
               ON a.env = k.env AND a.fingerprint = k.fp AND a.starts_at = k.st",
            4,
            keys,
        )
        .await?;
        let mut existing: Vec<Option<(bool, i64)>> = vec![None; intake.alerts.len()];
        for r in &found {
            let idx: i64 = r.get("idx");
            let firing = r.get::<String, _>("status") == "firing";
            if let Some(slot) = usize::try_from(idx).ok().and_then(|i| existing.get_mut(i)) {
                *slot = Some((firing, r.get("incident_id")));
            }
        }
        let outcomes: Vec<AlertOutcome> = intake
            .alerts
            .iter()
            .zip(&existing)
            .map(|(a, e)| match e {
                None => AlertOutcome::New,
                Some((true, _)) if !a.firing => AlertOutcome::Resolved,
                Some(_) => AlertOutcome::Repeat,
            })
            .collect();

        // 2. Incidents of new alerts: the latest incident with the fingerprint, else a new one.
        let mut first_seen: HashMap<usize, i64> = HashMap::new();
        for (a, o) in intake.alerts.iter().zip(&outcomes) {
            if *o == AlertOutcome::New {
                let t = micros(a.starts_at);
                first_seen
                    .entry(a.incident)
                    .and_modify(|f| *f = (*f).min(t))
                    .or_insert(t);
            }
        }
        let mut needed: Vec<usize> = first_seen.keys().copied().collect();
        needed.sort_unstable();
        let mut slot_ids: HashMap<usize, i64> = HashMap::new();
        let latest = values(
            &mut tx,
            "WITH k(slot, fp) AS (",
            ") SELECT k.slot AS slot, i.id FROM k
               JOIN incidents i ON i.id = (SELECT MAX(id) FROM incidents WHERE fingerprint = k.fp)",
            2,
            needed
                .iter()
                .map(|&s| row![s as i64, intake.incidents[s].fingerprint.as_str()])
                .collect(),
        )
        .await?;
        for r in &latest {
            if let Ok(slot) = usize::try_from(r.get::<i64, _>("slot")) {
                slot_ids.insert(slot, r.get("id"));
            }
        }
        let to_create: Vec<usize> = needed.iter().copied().filter(|s| !slot_ids.contains_key(s)).collect();
        let mut created_ids = HashSet::new();
        if !to_create.is_empty() {
            let rows = to_create
                .iter()
                .map(|&s| {
                    let i = &intake.incidents[s];
                    let first = first_seen.get(&s).copied().unwrap_or(now);
                    let labels = serde_json::to_string(&i.labels).unwrap_or_else(|_| "{}".into());
                    row![
                        i.title.as_str(),
                        i.kind.as_str(),
                        env,
                        i.severity.as_str(),
                        "open",
                        i.fingerprint.as_str(),
                        first,
                        first,
                        labels,
                        now,
                        now
                    ]
                })
                .collect();
            let inserted = values(
                &mut tx,
                "INSERT INTO incidents (title, kind, env, severity, status, fingerprint, first_seen, last_seen,
                                        labels, created_at, updated_at)",
                "RETURNING id, fingerprint",
                11,
                rows,
            )
            .await?;
            let by_fp: HashMap<String, i64> = inserted.iter().map(|r| (r.get("fingerprint"), r.get("id"))).collect();
            for s in to_create {
                let id = *by_fp
                    .get(&intake.incidents[s].fingerprint)
                    .ok_or_else(|| StoreError::Database("an inserted incident was not returned".into()))?;
                slot_ids.insert(s, id);
                created_ids.insert(id);
            }
        }

        // 3. Tally per incident, in order of first mention.
        let mut order: Vec<i64> = Vec::new();
        let mut tally: HashMap<i64, Tally> = HashMap::new();
        let (mut alert_rows, mut signal_rows, mut resolved_rows) = (Vec::new(), Vec::new(), Vec::new());
        for (i, (a, o)) in intake.alerts.iter().zip(&outcomes).enumerate() {
            let id = match (existing[i], slot_ids.get(&a.incident)) {
                (Some((_, id)), _) | (None, Some(&id)) => id,
                (None, None) => return Err(StoreError::Database("alert without an incident".into())),
            };
            let t = tally.entry(id).or_insert_with(|| {
                order.push(id);
                Tally {
                    slot: a.incident,
                    created: created_ids.contains(&id),
                    ..Tally::default()
                }
            });
            match o {
                AlertOutcome::New => {
                    t.new_alerts += 1;
                    if a.firing {
                        t.new_firing += 1;
                    } else {
                        t.resolved += 1;
                    }
                    if t.names.len() < 5 && !t.names.contains(&a.alertname) {
                        t.names.push(a.alertname.clone());
                    }
                    alert_rows.push(alert_row(a, id, env, now));
                    signal_rows.push(signal_row(a, id, intake));
                }
                AlertOutcome::Resolved => {
                    t.resolved += 1;
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

        // 4. Signals (one per new occurrence), new alert rows, resolved alert rows.
        if !signal_rows.is_empty() {
            let added = values(
                &mut tx,
                "INSERT INTO signals
                   (incident_id, kind, source, rule, series, entity, observed_at, message, value, score)
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, 1.0, 1.0 FROM (",
                ") AS v ON CONFLICT DO NOTHING RETURNING incident_id, observed_at",
                8,
                signal_rows,
            )
            .await?;
            for r in &added {
                if let Some(t) = tally.get_mut(&r.get::<i64, _>("incident_id")) {
                    let at: i64 = r.get("observed_at");
                    t.new_signals += 1;
                    t.first = Some(t.first.map_or(at, |f| f.min(at)));
                    t.last = Some(t.last.map_or(at, |l| l.max(at)));
                }
            }
            values(
                &mut tx,
                "INSERT INTO alerts (env, fingerprint, starts_at, incident_id, alertname, status, ends_at, labels,
                                     received_at, updated_at)",
                "",
                10,
                alert_rows,
            )
            .await?;
        }
        if !resolved_rows.is_empty() {
            values(
                &mut tx,
                "WITH r(env, fp, st, en, now) AS (",
                ") UPDATE alerts SET status = 'resolved', ends_at = COALESCE(r.en, r.now), updated_at = r.now
                   FROM r WHERE alerts.env = r.env AND alerts.fingerprint = r.fp AND alerts.starts_at = r.st",
                5,
                resolved_rows,
            )
            .await?;
        }

        // 5. Status and firing count of every touched incident, after the alert updates.
        let state = values(
            &mut tx,
            "WITH k(id) AS (",
            ") SELECT i.id, i.status,
                 (SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id AND a.status = 'firing') AS firing
               FROM k JOIN incidents i ON i.id = k.id FOR NO KEY UPDATE OF i",
            1,
            order.iter().map(|id| row![*id]).collect(),
        )
        .await?;
        let mut current: HashMap<i64, (Status, i64)> = HashMap::new();
        for r in &state {
            current.insert(r.get("id"), (parse(r.get("status"), "status")?, r.get("firing")));
        }

        // 6. Incident updates and timeline entries.
        let (mut updates, mut timeline) = (Vec::new(), Vec::new());
        let mut changes = Vec::with_capacity(order.len());
        let mut recovered = Vec::new();
        let actor = intake.actor.as_str();
        for id in &order {
            let t = &tally[id];
            let (before, firing) = current
                .get(id)
                .copied()
                .ok_or(StoreError::NotFound(IncidentId::from_row(*id)))?;
            let mut after = before;
            let touched = t.new_signals > 0 || t.resolved > 0 || t.created;
            let mut entry = |kind: TimelineKind, message: String, data: String| {
                timeline.push(row![*id, now, kind.as_str(), actor, message, data]);
            };
            let change = if t.created {
                let inc = &intake.incidents[t.slot];
                entry(
                    TimelineKind::Created,
                    format!("opened: {}", inc.title),
                    data(&[("severity", inc.severity.to_string())]),
                );
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
                let d = data(&[("new_signals", t.new_signals.to_string()), ("alerts", names.clone())]);
                if change == ChangeKind::Reopened {
                    let msg = format!("reopened: {} alert(s) fired again after resolve: {names}", t.new_firing);
                    entry(TimelineKind::Reopened, msg, d);
                } else {
                    entry(
                        TimelineKind::Signal,
                        format!("{} new alert(s) received: {names}", t.new_alerts),
                        d,
                    );
                }
            }
            if t.resolved > 0 {
                let msg = if firing == 0 {
                    format!(
                        "{} alert(s) resolved; none still firing (a human resolves the incident with a note)",
                        t.resolved
                    )
                } else {
                    format!("{} alert(s) resolved; {firing} still firing", t.resolved)
                };
                let d = data(&[
                    ("alert_status", "resolved".into()),
                    ("resolved_alerts", t.resolved.to_string()),
                    ("firing_alerts", firing.to_string()),
                ]);
                entry(TimelineKind::Signal, msg, d);
                if before == Status::Contained && firing == 0 {
                    after = Status::Recovered;
                    recovered.push(IncidentId::from_row(*id));
                    entry(
                        TimelineKind::StatusChange,
                        "contained → recovered: every alert resolved".into(),
                        data(&[("from", "contained".into()), ("to", "recovered".into())]),
                    );
                }
            }
            if touched {
                updates.push(row![
                    *id,
                    t.new_signals as i64,
                    t.first.unwrap_or(i64::MAX),
                    t.last.unwrap_or(i64::MIN),
                    after.as_str(),
                    now
                ]);
            }
            changes.push(IncidentAlertChange {
                id: IncidentId::from_row(*id),
                slot: t.slot,
                change,
                new_alerts: t.new_alerts,
                resolved_alerts: t.resolved,
                firing_alerts: firing,
                status: after,
            });
        }
        values(
            &mut tx,
            "WITH u(id, n, first, last, status, now) AS (",
            ") UPDATE incidents SET signal_count = signal_count + u.n, first_seen = LEAST(first_seen, u.first),
                 last_seen = GREATEST(last_seen, u.last), status = u.status, updated_at = u.now
               FROM u WHERE incidents.id = u.id",
            6,
            updates,
        )
        .await?;
        values(
            &mut tx,
            "INSERT INTO timeline (incident_id, at, kind, actor, message, data)",
            "",
            6,
            timeline,
        )
        .await?;
        let opened: Vec<_> = changes
            .iter()
            .map(|c| crate::store::IncidentChange {
                id: c.id,
                change: c.change,
                new_signals: c.new_alerts,
            })
            .collect();
        Self::insert_detect_hooks(&mut tx, &intake.hooks, &intake.actor, &opened).await?;
        Self::insert_recover_hooks(&mut tx, &intake.hooks, &intake.actor, &recovered).await?;
        tx.commit().await?;
        Ok(AlertIntakeResult {
            alerts: outcomes,
            incidents: changes,
        })
    }
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
