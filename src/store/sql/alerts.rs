//! `record_alerts`: Alertmanager notifications with a fixed number of statements each (rows
//! travel as bound multi-row `VALUES` lists, chunked under the parameter limit, so a thousand
//! alerts cost about as many round trips as one). The transaction holds [`Lock::Incidents`],
//! so notifications and detection scans of every replica dedup against each other's committed
//! rows, and locks the incidents it changes.
//!
//! Group commit: notifications that arrive while one is being written queue up, and the next
//! writer applies all of them, in arrival order, in one transaction: shared index pages and the
//! commit's fsync are paid once per group, and so are the entity-link statements (the group's
//! links are written together after its notifications: none of them reads the links). Each caller still gets its own result, and only
//! after the commit. If a group fails, each of its notifications is retried alone, so one bad
//! notification never fails its neighbours.

use std::collections::HashSet;
use std::sync::{
    Mutex as SyncMutex,
    atomic::{AtomicU64, Ordering},
};
use std::time::Duration;

use async_trait::async_trait;
use sqlx::{AnyConnection, Connection, Executor, Row, any::AnyRow};
use tokio::sync::oneshot;

use super::{Dialect, Lock, SqlStore, entities::NewLinks, values};
use crate::store::{
    AlertIntake, AlertIntakeResult, AlertStore, StoreError,
    alert_intake::{self, SignalEntities, row},
    rows::micros,
};

type Reply = oneshot::Sender<Result<AlertIntakeResult, StoreError>>;

/// Notifications waiting for a writer, and the writer's turn.
#[derive(Default)]
pub(super) struct IntakeQueue {
    /// One writer at a time per store: concurrent webhook posts queue here (fairly) instead of
    /// spinning on SQLite's busy handler for the write lock. On SQLite the turn holds the
    /// writer's own connection, whose page cache is sized for the alert and signal indexes
    /// ([`WRITER_CACHE_SIZE`]); it is closed once no notification came for [`WRITER_IDLE`], so a
    /// burst's cache does not stay in the server's memory (the pooled readers keep 1 MiB each).
    turn: tokio::sync::Mutex<Option<AnyConnection>>,
    pending: SyncMutex<Vec<(AlertIntake, Reply)>>,
    /// Bumped by every drain: the idle closer only closes a connection nobody used since.
    drains: AtomicU64,
}

/// The SQLite writer's page cache (`PRAGMA cache_size`, KiB when negative): it holds the alert
/// and signal indexes of a burst (SQLite's default is 2 MiB).
const WRITER_CACHE_SIZE: i32 = -32768;

/// How long the SQLite writer's connection stays open without notifications.
const WRITER_IDLE: Duration = Duration::from_secs(2);

/// Notifications per group at most (a group is one transaction).
const MAX_GROUP: usize = 64;

/// The rows of `values` statements that return one [`Dialect::json_rows`] column `j` each: a
/// lookup's rows cross from the database driver's thread as one value per statement instead of
/// one row each.
fn json_rows_of<T: serde::de::DeserializeOwned>(rows: &[AnyRow]) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for r in rows {
        out.extend(super::entities::json_rows::<T>(r)?);
    }
    Ok(out)
}

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
        let mut turn = self.intake.turn.lock().await;
        let generation = self.intake.drains.fetch_add(1, Ordering::Relaxed) + 1;
        loop {
            let group: Vec<(AlertIntake, Reply)> = {
                let mut q = self.intake.pending.lock().unwrap_or_else(|p| p.into_inner());
                let n = q.len().min(MAX_GROUP);
                q.drain(..n).collect()
            };
            if group.is_empty() {
                break;
            }
            self.write_group(&mut turn, group).await;
        }
        if turn.is_some() {
            let store = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(WRITER_IDLE).await;
                store.close_idle_writer(generation).await;
            });
        }
    }

    /// Closes the SQLite writer's connection if no drain ran since drain `generation`; true if
    /// it closed one.
    async fn close_idle_writer(&self, generation: u64) -> bool {
        let mut turn = self.intake.turn.lock().await;
        if self.intake.drains.load(Ordering::Relaxed) != generation {
            return false;
        }
        match turn.take() {
            Some(mut conn) => {
                // Copy the burst from the WAL into the database file while nobody writes: until
                // then every read looks its pages up in the WAL (after a burst of 10,000 alerts
                // the whole database sat there). PASSIVE: never waits for a reader or writer;
                // what it cannot copy now the next checkpoint will.
                if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)").fetch_all(&mut conn).await {
                    tracing::warn!(error = %e, "idle alert writer: WAL checkpoint failed");
                }
                let _ = conn.close().await;
                true
            }
            None => false,
        }
    }

    /// Writes `group` in one transaction and answers each caller; on failure, each alone.
    async fn write_group(&self, writer: &mut Option<AnyConnection>, group: Vec<(AlertIntake, Reply)>) {
        if group.len() > 1 {
            let intakes: Vec<&AlertIntake> = group.iter().map(|(i, _)| i).collect();
            if let Ok(results) = self.write_intakes(writer, &intakes).await {
                for ((_, reply), result) in group.into_iter().zip(results) {
                    let _ = reply.send(Ok(result));
                }
                return;
            }
        }
        for (intake, reply) in group {
            let result = self.write_intakes(writer, &[&intake]).await.map(|mut r| r.remove(0));
            let _ = reply.send(result);
        }
    }

    /// One transaction for `intakes`, applied in order: on SQLite on the writer's own connection
    /// (opened if closed; dropped after an error, so the next group starts on a fresh one), on
    /// PostgreSQL on a pooled one.
    async fn write_intakes(
        &self,
        writer: &mut Option<AnyConnection>,
        intakes: &[&AlertIntake],
    ) -> Result<Vec<AlertIntakeResult>, StoreError> {
        if self.dialect != Dialect::Sqlite {
            let mut conn = self.pool.acquire().await?;
            return self.write_on(&mut conn, intakes).await;
        }
        let mut conn = match writer.take() {
            Some(conn) => conn,
            None => self.open_writer().await?,
        };
        let written = self.write_on(&mut conn, intakes).await;
        if written.is_ok() {
            *writer = Some(conn);
        }
        written
    }

    /// The SQLite writer's connection: the pool's settings, a page cache that holds the alert
    /// and signal indexes, and a checkpoint every 20000 WAL pages instead of 1000, so an index
    /// page that several notifications dirty is copied back to the database once.
    ///
    /// Its statement journals stay in memory (`temp_store = MEMORY`): each multi-row statement
    /// inside the group's transaction keeps the pages it changes, to undo just that statement
    /// if it fails; by default that journal spills to a temporary file past 64 KiB, and the
    /// intake's statements change thousands of pages, so about half of the bytes the server
    /// wrote were journal copies, deleted again unread (bench/README.md). It holds at most the
    /// pages one statement changes (a few MiB), and only while that statement runs.
    async fn open_writer(&self) -> Result<AnyConnection, StoreError> {
        let mut conn = AnyConnection::connect_with(&self.pool.connect_options()).await?;
        let setup = format!(
            "{}; PRAGMA cache_size = {WRITER_CACHE_SIZE}; PRAGMA wal_autocheckpoint = 20000; \
             PRAGMA temp_store = MEMORY",
            super::sqlite_setup(super::READ_CACHE_SIZE)
        );
        conn.execute(setup.as_str()).await?;
        Ok(conn)
    }

    async fn write_on(
        &self,
        conn: &mut AnyConnection,
        intakes: &[&AlertIntake],
    ) -> Result<Vec<AlertIntakeResult>, StoreError> {
        let mut tx = self.begin_on(conn, Lock::Incidents).await?;
        let mut results = Vec::with_capacity(intakes.len());
        let mut linked: Vec<(&str, SignalEntities<'_>)> = Vec::new();
        for intake in intakes {
            results.push(self.apply_intake(&mut tx, intake, &mut linked).await?);
        }
        // The group's entity links, once per environment: nothing in the group reads them,
        // so one set of statements serves every notification of the group.
        let mut envs: Vec<&str> = linked.iter().map(|(env, _)| *env).collect();
        envs.sort_unstable();
        envs.dedup();
        for env in envs {
            let links: Vec<NewLinks<'_>> = linked
                .iter()
                .filter(|(e, _)| *e == env)
                .map(|(_, (incident_id, signal_id, observed_at, entities))| NewLinks {
                    incident_id: *incident_id,
                    signal_id: *signal_id,
                    observed_at: *observed_at,
                    entities,
                })
                .collect();
            self.link_entities(&mut tx, env, &links).await?;
        }
        tx.commit().await?;
        Ok(results)
    }

    /// One notification inside the caller's transaction.
    /// The entity links of the signals it adds are appended to `linked`, for the caller to
    /// write with the rest of the group's.
    async fn apply_intake<'a>(
        &self,
        tx: &mut AnyConnection,
        intake: &'a AlertIntake,
        linked: &mut Vec<(&'a str, SignalEntities<'a>)>,
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
                ") SELECT {} AS j FROM k {} alerts a
               ON a.env = k.env AND a.fingerprint = k.fp AND a.starts_at = k.st",
                d.json_rows("k.i, a.status, a.incident_id"),
                d.keyed_join()
            ),
            4,
            keys,
        )
        .await?;
        let existing = alert_intake::existing(intake, &json_rows_of(&found)?);
        let outcomes = alert_intake::outcomes(intake, &existing);

        // 2. Incidents of new alerts: the latest incident with the fingerprint, else a new one.
        let first_seen = alert_intake::first_seen(intake, &outcomes);
        let (needed, needed_rows) = alert_intake::needed(intake, &first_seen);
        let latest = values(
            d,
            tx,
            "WITH k(slot, fp) AS (",
            &format!(
                ") SELECT {} AS j FROM k
               JOIN incidents i ON i.id = (SELECT MAX(id) FROM incidents WHERE fingerprint = k.fp)",
                d.json_rows("k.slot, i.id")
            ),
            2,
            needed_rows,
        )
        .await?;
        let mut slot_ids = alert_intake::slot_ids(&json_rows_of(&latest)?);
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
            linked.extend(
                alert_intake::signal_links(intake, &tallies.signal_alerts, &added)?
                    .into_iter()
                    .map(|l| (intake.env.as_str(), l)),
            );
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
                ") SELECT {} AS j FROM (SELECT i.id, i.status,
                 (SELECT COUNT(*) FROM alerts a WHERE a.incident_id = i.id AND a.status = 'firing') AS firing
               FROM k JOIN incidents i ON i.id = k.id{}) t",
                d.json_rows("t.id, t.status, t.firing"),
                d.for_no_key_update("i")
            ),
            1,
            tallies.order.iter().map(|id| row![*id]).collect(),
        )
        .await?;
        let current = alert_intake::current(&json_rows_of(&state)?)?;

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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use chrono::{TimeZone, Utc};

    use super::*;
    use crate::{
        domain::{IncidentType, Severity},
        store::{AlertIncident, AlertOutcome, AlertRecord, DetectHooks},
    };

    fn intake(fingerprint: &str) -> AlertIntake {
        AlertIntake {
            env: "prod".into(),
            actor: "alertmanager".into(),
            source: "alertmanager".into(),
            incidents: vec![AlertIncident {
                fingerprint: "prod/HighLatency/service/checkout".into(),
                title: "HighLatency on checkout".into(),
                kind: IncidentType::Availability,
                severity: Severity::High,
                entity: "service/checkout".into(),
                labels: BTreeMap::new(),
            }],
            alerts: vec![AlertRecord {
                fingerprint: fingerprint.into(),
                starts_at: Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap(),
                ends_at: None,
                firing: true,
                alertname: "HighLatency".into(),
                incident: 0,
                labels: BTreeMap::new(),
                message: None,
                entities: Vec::new(),
                annotations: Vec::new(),
            }],
            hooks: DetectHooks::default(),
        }
    }

    fn naming(mut intake: AlertIntake, fingerprint: &str, minute: u32, entities: &[&str]) -> AlertIntake {
        let a = &mut intake.alerts[0];
        a.fingerprint = fingerprint.into();
        a.starts_at = Utc.with_ymd_and_hms(2026, 11, 1, 10, minute, 0).unwrap();
        a.entities = entities
            .iter()
            .map(|e| crate::domain::entity::EntityRef {
                kind: crate::domain::entity::EntityKind::of_prefix(e.split('/').next().unwrap()),
                key: (*e).into(),
            })
            .collect();
        intake
    }

    /// Entity links as text: (incident fingerprint, entity, signals, first signal, first and
    /// last time) per incident entity, then (signal series, entity, time) per signal entity.
    async fn links(store: &SqlStore) -> (Vec<(String, String, i64, i64, i64, i64)>, Vec<(String, String, i64)>) {
        let per_incident = sqlx::query_as(
            "SELECT i.fingerprint, e.entity, ie.signals, ie.first_signal, ie.first_at, ie.last_at
             FROM incident_entities ie JOIN incidents i ON i.id = ie.incident_id JOIN entities e ON e.id = ie.entity_id
             ORDER BY 1, 2",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        let per_signal = sqlx::query_as(
            "SELECT s.series, e.entity, se.observed_at FROM signal_entities se
             JOIN signals s ON s.id = se.signal_id AND s.incident_id = se.incident_id
             JOIN entities e ON e.id = se.entity_id ORDER BY 1, 2",
        )
        .fetch_all(&store.pool)
        .await
        .unwrap();
        (per_incident, per_signal)
    }

    /// A group's entity links are written once, after its notifications: the same rows as when
    /// each notification is written alone (counts add up; the first signal and the first and
    /// last times are the group's).
    #[tokio::test]
    async fn a_groups_entity_links_are_the_links_of_its_notifications_one_by_one() {
        let first = naming(intake("a"), "a", 0, &["service/checkout", "pod/shop/web-1"]);
        let second = naming(
            intake("b"),
            "b",
            5,
            &["service/checkout", "host/db-1", "pod/shop/web-1"],
        );
        let third = naming(intake("c"), "c", 3, &["host/db-1"]);
        let dir = tempfile::tempdir().unwrap();

        let alone = SqlStore::open(&dir.path().join("alone.db")).await.unwrap();
        for i in [&first, &second, &third] {
            alone.record_alerts(i).await.unwrap();
        }
        let grouped = SqlStore::open(&dir.path().join("grouped.db")).await.unwrap();
        let mut writer = None;
        let results = grouped
            .write_intakes(&mut writer, &[&first, &second, &third])
            .await
            .unwrap();
        assert_eq!(results.len(), 3);

        let (per_incident, per_signal) = links(&alone).await;
        assert_eq!(per_signal.len(), 6);
        let checkout = per_incident.iter().find(|r| r.1 == "service/checkout").unwrap();
        assert_eq!(checkout.2, 2, "two of the three signals name it");
        assert_eq!(links(&grouped).await, (per_incident, per_signal));
    }

    /// The writer keeps its connection (and page cache) between notifications of a burst,
    /// gives it back once idle, and opens a fresh one for the next notification; a closer
    /// scheduled before a later drain leaves that drain's connection alone.
    #[tokio::test]
    async fn the_sqlite_writer_connection_is_kept_through_a_burst_and_closed_when_idle() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqlStore::open(&dir.path().join("incidents.db")).await.unwrap();
        let first = store.record_alerts(&intake("a")).await.unwrap();
        assert_eq!(first.alerts, [AlertOutcome::New]);
        let generation = store.intake.drains.load(Ordering::Relaxed);
        assert!(
            store.intake.turn.lock().await.is_some(),
            "kept for the next notification"
        );

        let file = dir.path().join("incidents.db");
        let before = std::fs::metadata(&file).unwrap().len();
        assert!(store.close_idle_writer(generation).await);
        assert!(store.intake.turn.lock().await.is_none());
        let after = std::fs::metadata(&file).unwrap().len();
        assert!(
            after > before,
            "the idle writer checkpointed the burst into the database file ({before} -> {after} bytes)"
        );

        let again = store.record_alerts(&intake("a")).await.unwrap();
        assert_eq!(
            again.alerts,
            [AlertOutcome::Repeat],
            "a fresh connection sees the committed alert"
        );
        assert!(
            !store.close_idle_writer(generation).await,
            "a drain ran since: not idle"
        );
        assert!(store.intake.turn.lock().await.is_some());
    }
}
