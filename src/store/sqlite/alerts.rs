//! `record_alerts` for SQLite: one Alertmanager notification in one `BEGIN IMMEDIATE`
//! transaction with a fixed number of statements. Rows travel as bound multi-row `VALUES`
//! lists (chunked under SQLite's variable limit), so a thousand alerts cost about as many
//! round trips as one.

use std::collections::HashSet;

use sqlx::{Row, SqliteConnection, sqlite::SqliteRow};

use super::{SqliteStore, micros};
use crate::store::{
    AlertIntake, AlertIntakeResult, StoreError,
    alert_intake::{self, Arg, row},
};

/// Notifications are written one at a time per process: concurrent webhook posts queue here
/// (fairly) instead of spinning on SQLite's busy handler for the write lock.
static INTAKE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Bound variables per statement, under SQLite's limit of 32766.
const MAX_VARS: usize = 30_000;

/// Runs `{head} VALUES (?, …), (?, …) {tail}` over `rows` (all `cols` wide), chunked under the
/// variable limit, and returns every row the statements return.
async fn values(
    tx: &mut SqliteConnection,
    head: &str,
    tail: &str,
    cols: usize,
    rows: Vec<Vec<Arg>>,
) -> Result<Vec<SqliteRow>, StoreError> {
    let mut out = Vec::new();
    let tuple = format!("({})", vec!["?"; cols].join(", "));
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take((MAX_VARS / cols).max(1)).collect();
        let sql = format!("{head} VALUES {} {tail}", vec![tuple.as_str(); chunk.len()].join(", "));
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

impl SqliteStore {
    pub(super) async fn record_alerts_tx(&self, intake: &AlertIntake) -> Result<AlertIntakeResult, StoreError> {
        let _turn = INTAKE.lock().await;
        let now = micros(chrono::Utc::now());
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // A page cache that holds the alert and signal indexes (SQLite's default is 2 MiB), and
        // checkpoints every 20000 WAL pages instead of 1000, so an index page that several
        // notifications dirty is copied back to the database once (+30% in bench/alert_intake.sh).
        sqlx::query("PRAGMA cache_size = -32768").execute(&mut *tx).await?;
        sqlx::query("PRAGMA wal_autocheckpoint = 20000")
            .execute(&mut *tx)
            .await?;

        // 1. Which occurrences are already recorded, with their status and incident. SQLite does
        //    not reorder a CROSS JOIN: the key list stays the outer loop, each key a primary-key
        //    lookup.
        let keys = alert_intake::key_rows(intake);
        let found = values(
            &mut tx,
            "WITH k(i, env, fp, st) AS (",
            ") SELECT k.i AS idx, a.status, a.incident_id FROM k CROSS JOIN alerts a
               ON a.env = k.env AND a.fingerprint = k.fp AND a.starts_at = k.st",
            4,
            keys,
        )
        .await?;
        let existing = alert_intake::existing(intake, &found)?;
        let outcomes = alert_intake::outcomes(intake, &existing);

        // 2. Incidents of new alerts: the latest incident with the fingerprint, else a new one.
        let first_seen = alert_intake::first_seen(intake, &outcomes);
        let (needed, needed_rows) = alert_intake::needed(intake, &first_seen);
        let latest = values(
            &mut tx,
            "WITH k(slot, fp) AS (",
            ") SELECT k.slot AS slot, i.id FROM k
               JOIN incidents i ON i.id = (SELECT MAX(id) FROM incidents WHERE fingerprint = k.fp)",
            2,
            needed_rows,
        )
        .await?;
        let mut slot_ids = alert_intake::slot_ids(&latest)?;
        let to_create: Vec<usize> = needed.iter().copied().filter(|s| !slot_ids.contains_key(s)).collect();
        let mut created_ids = HashSet::new();
        if !to_create.is_empty() {
            let rows = to_create
                .iter()
                .map(|&s| alert_intake::incident_row(intake, s, &first_seen, now))
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
            created_ids = alert_intake::created(intake, &to_create, &inserted, &mut slot_ids)?;
        }

        // 3. Tally per incident, in order of first mention.
        let mut tallies = alert_intake::tally(intake, &outcomes, &existing, &slot_ids, &created_ids, now)?;

        // 4. Signals (one per new occurrence), new alert rows, resolved alert rows.
        if !tallies.signal_rows.is_empty() {
            let added = values(
                &mut tx,
                "INSERT OR IGNORE INTO signals
                   (incident_id, kind, source, rule, series, entity, observed_at, message, value, score)
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, 1.0, 1.0 FROM (",
                ") WHERE true RETURNING incident_id, observed_at",
                8,
                std::mem::take(&mut tallies.signal_rows),
            )
            .await?;
            for r in &added {
                tallies.signal_added(r.get("incident_id"), r.get("observed_at"));
            }
            values(
                &mut tx,
                "INSERT INTO alerts (env, fingerprint, starts_at, incident_id, alertname, status, ends_at, labels,
                                     received_at, updated_at)",
                "",
                10,
                std::mem::take(&mut tallies.alert_rows),
            )
            .await?;
        }
        if !tallies.resolved_rows.is_empty() {
            // Every key column compared with a list value: the list is the outer loop and each
            // alert is found by primary key.
            values(
                &mut tx,
                "WITH r(env, fp, st, en, now) AS (",
                ") UPDATE alerts SET status = 'resolved', ends_at = COALESCE(r.en, r.now), updated_at = r.now
                   FROM r WHERE alerts.env = r.env AND alerts.fingerprint = r.fp AND alerts.starts_at = r.st",
                5,
                std::mem::take(&mut tallies.resolved_rows),
            )
            .await?;
        }

        // 5. Status and firing count of every touched incident, after the alert updates.
        let state = values(
            &mut tx,
            "WITH k(id) AS (",
            ") SELECT i.id, i.status,
                 (SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id AND a.status = 'firing') AS firing
               FROM k JOIN incidents i ON i.id = k.id",
            1,
            tallies.order.iter().map(|id| row![*id]).collect(),
        )
        .await?;
        let current = alert_intake::current(&state)?;

        // 6. Incident updates and timeline entries.
        let mut decided = alert_intake::decide(intake, &tallies, &current, now)?;
        values(
            &mut tx,
            "WITH u(id, n, first, last, status, now) AS (",
            ") UPDATE incidents SET signal_count = signal_count + u.n, first_seen = MIN(first_seen, u.first),
                 last_seen = MAX(last_seen, u.last), status = u.status, updated_at = u.now
               FROM u WHERE incidents.id = u.id",
            6,
            std::mem::take(&mut decided.updates),
        )
        .await?;
        values(
            &mut tx,
            "INSERT INTO timeline (incident_id, at, kind, actor, message, data)",
            "",
            6,
            std::mem::take(&mut decided.timeline),
        )
        .await?;
        let opened = decided.opened();
        Self::insert_detect_hooks(&mut tx, &intake.hooks, &intake.actor, &opened).await?;
        Self::insert_recover_hooks(&mut tx, &intake.hooks, &intake.actor, &decided.recovered).await?;
        tx.commit().await?;
        Ok(AlertIntakeResult {
            alerts: outcomes,
            incidents: decided.changes,
        })
    }
}
