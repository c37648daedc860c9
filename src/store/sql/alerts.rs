//! `record_alerts`: Alertmanager notifications with a fixed number of statements each (rows
//! travel as bound multi-row `VALUES` lists, chunked under the parameter limit, so a thousand
//! alerts cost about as many round trips as one). The transaction holds [`Lock::Incidents`],
//! so notifications and detection scans of every replica dedup against each other's committed
//! rows, and locks the incidents it changes.
//!
//! Group commit: notifications that arrive while one is being written queue up, and the next
//! writer applies all of them, in arrival order, in one transaction: shared index pages and the
//! commit's fsync are paid once per group. Each caller still gets its own result, and only
//! after the commit. If a group fails, each of its notifications is retried alone, so one bad
//! notification never fails its neighbours.

use std::collections::HashSet;
use std::sync::Mutex as SyncMutex;

use async_trait::async_trait;
use sqlx::{AnyConnection, Row};
use tokio::sync::oneshot;

use super::{Dialect, Lock, SqlStore, entities::NewLinks, values};
use crate::store::{
    AlertIntake, AlertIntakeResult, AlertStore, StoreError,
    alert_intake::{self, row},
    rows::micros,
};

type Reply = oneshot::Sender<Result<AlertIntakeResult, StoreError>>;

/// Notifications waiting for a writer, and the writer's turn.
#[derive(Default)]
pub(super) struct IntakeQueue {
    /// One writer at a time per store: concurrent webhook posts queue here (fairly) instead of
    /// spinning on SQLite's busy handler for the write lock.
    turn: tokio::sync::Mutex<()>,
    pending: SyncMutex<Vec<(AlertIntake, Reply)>>,
}

/// Notifications per group at most (a group is one transaction).
const MAX_GROUP: usize = 64;

#[async_trait]
impl AlertStore for SqlStore {
    async fn record_alerts(&self, intake: &AlertIntake) -> Result<AlertIntakeResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.intake
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((intake.clone(), reply));
        // The writer runs in its own task: a caller that goes away (a closed connection) never
        // interrupts a group that carries other callers' notifications.
        let store = self.clone();
        tokio::spawn(async move { store.drain_intake().await });
        answer
            .await
            .map_err(|_| StoreError::Database("the alert writer stopped".into()))?
    }
}

impl SqlStore {
    /// Takes the writer's turn and writes queued notifications, a group at a time, until none
    /// are left (a later caller's task then finds the queue empty).
    async fn drain_intake(&self) {
        let _turn = self.intake.turn.lock().await;
        loop {
            let group: Vec<(AlertIntake, Reply)> = {
                let mut q = self.intake.pending.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.len().min(MAX_GROUP);
                q.drain(..n).collect()
            };
            if group.is_empty() {
                break;
            }
            self.write_group(group).await;
        }
    }

    /// Writes `group` in one transaction and answers each caller; on failure, each alone.
    async fn write_group(&self, group: Vec<(AlertIntake, Reply)>) {
        if group.len() > 1 {
            let intakes: Vec<&AlertIntake> = group.iter().map(|(i, _)| i).collect();
            if let Ok(results) = self.write_intakes(&intakes).await {
                for ((_, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
                return;
            }
        }
        for (intake, reply) in group {
            let result = self.write_intakes(&[&intake]).await.map(|mut r| r.remove(0));
            let _ = reply.send(result);
        }
    }

    /// One transaction for `intakes`, applied in order.
    async fn write_intakes(&self, intakes: &[&AlertIntake]) -> Result<Vec<AlertIntakeResult>, StoreError> {
        let sqlite = self.dialect == Dialect::Sqlite;
        let mut conn = self.pool.acquire().await?;
        if sqlite {
            // A page cache that holds the alert and signal indexes (SQLite's default is 2 MiB),
            // and checkpoints every 20000 WAL pages instead of 1000, so an index page that several
            // notifications dirty is copied back to the database once.
            sqlx::query("PRAGMA cache_size = -32768").execute(&mut *conn).await?;
            sqlx::query("PRAGMA wal_autocheckpoint = 20000")
                .execute(&mut *conn)
                .await?;
        }
        let mut tx = self.begin_on(&mut conn, Lock::Incidents).await?;
        let mut results = Vec::with_capacity(intakes.len());
        for intake in intakes {
            results.push(self.apply_intake(&mut tx, intake).await?);
        }
        tx.commit().await?;
        Ok(results)
    }

    /// One notification inside the caller's transaction.
    async fn apply_intake(
        &self,
        tx: &mut AnyConnection,
        intake: &AlertIntake,
    ) -> Result<AlertIntakeResult, StoreError> {
        let d = self.dialect;
        let now = micros(chrono::Utc::now());
        // 1. Which occurrences are already recorded, with their status and incident.
        let keys = alert_intake::key_rows(intake);
        let found = values(
            d,
            tx,
            "WITH k(i, env, fp, st) AS (",
            &format!(
                ") SELECT k.i AS idx, a.status, a.incident_id FROM k {} alerts a
               ON a.env = k.env AND a.fingerprint = k.fp AND a.starts_at = k.st",
                d.keyed_join()
            ),
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
            d,
            tx,
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
                d,
                tx,
                "INSERT INTO incidents (title, kind, env, severity, status, fingerprint, first_seen, last_seen,
                                        labels, created_at, updated_at)",
                "RETURNING id, fingerprint",
                11,
                rows,
            )
            .await?;
            created_ids = alert_intake::created(intake, &to_create, &inserted, &mut slot_ids)?;
        }
        let annotations = alert_intake::annotation_rows(intake, &outcomes, &slot_ids, now);
        if !annotations.is_empty() {
            values(
                d,
                tx,
                "INSERT INTO incident_annotations (incident_id, name, value, alertname, updated_at)",
                "ON CONFLICT (incident_id, name) DO UPDATE SET value = excluded.value,
                   alertname = excluded.alertname, updated_at = excluded.updated_at",
                5,
                annotations,
            )
            .await?;
        }

        // 3. Tally per incident, in order of first mention.
        let mut tallies = alert_intake::tally(intake, &outcomes, &existing, &slot_ids, &created_ids, now)?;

        // 4. Signals (one per new occurrence), new alert rows, resolved alert rows.
        if !tallies.signal_rows.is_empty() {
            let added = values(
                d,
                tx,
                "INSERT INTO signals
                   (incident_id, kind, source, rule, series, entity, observed_at, message, value, score)
                 SELECT column1, column2, column3, column4, column5, column6, column7, column8, 1.0, 1.0 FROM (",
                ") AS v WHERE true ON CONFLICT DO NOTHING RETURNING id, incident_id, series, observed_at",
                8,
                std::mem::take(&mut tallies.signal_rows),
            )
            .await?;
            for r in &added {
                tallies.signal_added(r.get("incident_id"), r.get("observed_at"));
            }
            let linked = alert_intake::signal_links(intake, &tallies.signal_alerts, &added)?;
            let links: Vec<NewLinks<'_>> = linked
                .iter()
                .map(|(incident_id, signal_id, observed_at, entities)| NewLinks {
                    incident_id: *incident_id,
                    signal_id: *signal_id,
                    observed_at: *observed_at,
                    entities,
                })
                .collect();
            self.link_entities(tx, &intake.env, &links).await?;
            values(
                d,
                tx,
                "INSERT INTO alerts (env, fingerprint, starts_at, incident_id, alertname, status, ends_at, labels,
                                     received_at, updated_at)",
                "",
                10,
                std::mem::take(&mut tallies.alert_rows),
            )
            .await?;
        }
        if !tallies.resolved_rows.is_empty() {
            values(
                d,
                tx,
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
            d,
            tx,
            "WITH k(id) AS (",
            &format!(
                ") SELECT i.id, i.status,
                 (SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id AND a.status = 'firing') AS firing
               FROM k JOIN incidents i ON i.id = k.id{}",
                d.for_no_key_update("i")
            ),
            1,
            tallies.order.iter().map(|id| row![*id]).collect(),
        )
        .await?;
        let current = alert_intake::current(&state)?;

        // 6. Incident updates and timeline entries.
        let mut decided = alert_intake::decide(intake, &tallies, &current, now)?;
        values(
            d,
            tx,
            "WITH u(id, n, first, last, status, now) AS (",
            &format!(
                ") UPDATE incidents SET signal_count = signal_count + u.n, first_seen = {}(first_seen, u.first),
                 last_seen = {}(last_seen, u.last), status = u.status, updated_at = u.now
               FROM u WHERE incidents.id = u.id",
                d.least(),
                d.greatest()
            ),
            6,
            std::mem::take(&mut decided.updates),
        )
        .await?;
        values(
            d,
            tx,
            "INSERT INTO timeline (incident_id, at, kind, actor, message, data)",
            "",
            6,
            std::mem::take(&mut decided.timeline),
        )
        .await?;
        let opened = decided.opened();
        Self::insert_detect_hooks(tx, &intake.hooks, &intake.actor, &opened).await?;
        Self::insert_recover_hooks(tx, &intake.hooks, &intake.actor, &decided.recovered).await?;
        Ok(AlertIntakeResult {
            alerts: outcomes,
            incidents: decided.changes,
        })
    }
}
