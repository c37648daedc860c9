//! Incidents: detection merges (dedup by fingerprint), reads, lifecycle moves. Detection holds
//! [`Lock::Incidents`] and locks the incident rows it changes, as transitions do.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{AnyConnection, Row};

use super::{Dialect, Lock, SqlStore, entities::NewLinks};
use crate::domain::{Incident, IncidentId, Severity, Signal, Status, TimelineEntry, TimelineKind, grouping as merge};
use crate::store::{
    ChangeKind, DetectionBatch, DetectorSnapshot, IncidentChange, IncidentFilter, IncidentStore, IncidentTally,
    MetricPoint, NewFinding, NewOutboxRow, SignalGroup, StoreError, Transition,
    rows::{
        Cols, SignalColumns, incident_from_row, metric_from_row, micros, parse, signal_from_row, signal_group_from_row,
        timeline_from_row,
    },
};

/// Upper bound on metric points kept for `metrics://recent`.
const METRIC_POINTS_KEPT: i64 = 5000;

impl SqlStore {
    pub(super) async fn insert_timeline(
        tx: &mut AnyConnection,
        id: i64,
        at: DateTime<Utc>,
        kind: TimelineKind,
        actor: &str,
        message: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO timeline (incident_id, at, kind, actor, message, data) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(micros(at))
        .bind(kind.as_str())
        .bind(actor)
        .bind(message)
        .bind(serde_json::to_string(data).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
        Ok(())
    }

    async fn insert_incident(
        tx: &mut AnyConnection,
        env: &str,
        actor: &str,
        f: &NewFinding,
        previous: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        let first = f.signals.iter().map(|s| s.observed_at).min().unwrap_or(now);
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO incidents (title, kind, env, severity, status, fingerprint, first_seen, last_seen, labels, created_at, updated_at, previous_id)
             VALUES ($1, $2, $3, $4, 'open', $5, $6, $7, $8, $9, $10, $11) RETURNING id",
        )
        .bind(&f.title)
        .bind(f.kind.as_str())
        .bind(env)
        .bind(f.severity.as_str())
        .bind(&f.fingerprint)
        .bind(micros(first))
        .bind(micros(first))
        .bind(serde_json::to_string(&f.labels).unwrap_or_else(|_| "{}".into()))
        .bind(micros(now))
        .bind(micros(now))
        .bind(previous)
        .fetch_one(&mut *tx)
        .await?;
        let (message, data) = merge::opened_entry(&f.title, f.severity, previous);
        Self::insert_timeline(tx, id, now, TimelineKind::Created, actor, &message, &data).await?;
        Ok(id)
    }

    /// Whether a signal is already recorded on any incident of `fingerprint`.
    async fn known_signal(tx: &mut AnyConnection, fingerprint: &str, s: &Signal) -> Result<bool, StoreError> {
        Ok(sqlx::query(
            "SELECT 1 FROM signals s JOIN incidents i ON i.id = s.incident_id
             WHERE i.fingerprint = $1 AND s.rule = $2 AND s.series = $3 AND s.entity = $4
               AND s.observed_at = $5 AND s.value = $6
             LIMIT 1",
        )
        .bind(fingerprint)
        .bind(&s.rule)
        .bind(&s.series)
        .bind(&s.entity)
        .bind(micros(s.observed_at))
        .bind(s.value)
        .fetch_optional(&mut *tx)
        .await?
        .is_some())
    }

    /// Merges one finding inside the caller's transaction, which holds [`Lock::Incidents`];
    /// the incident row is locked too, so a concurrent transition waits or is waited for.
    pub(super) async fn merge_finding(
        &self,
        tx: &mut AnyConnection,
        env: &str,
        actor: &str,
        window_secs: u64,
        f: &NewFinding,
    ) -> Result<IncidentChange, StoreError> {
        let now = Utc::now();
        let latest = sqlx::query(&format!(
            "SELECT id, status, severity, COALESCE(resolved_at, updated_at) AS resolved_at
             FROM incidents WHERE fingerprint = $1 ORDER BY id DESC LIMIT 1{}",
            self.dialect.for_no_key_update("")
        ))
        .bind(&f.fingerprint)
        .fetch_optional(&mut *tx)
        .await?;
        let mut fresh = Vec::with_capacity(f.signals.len());
        for (i, s) in f.signals.iter().enumerate() {
            if latest.is_none() || !Self::known_signal(tx, &f.fingerprint, s).await? {
                fresh.push(i);
            }
        }
        let (id, status, severity, created) = match latest {
            Some(row) if fresh.is_empty() => {
                return Ok(IncidentChange {
                    id: IncidentId::from_row(row.get("id")),
                    change: ChangeKind::Unchanged,
                    new_signals: 0,
                });
            }
            Some(row) => {
                let status = parse::<Status>(row.get("status"), "status")?;
                let expired = merge::window_expired(status, row.get("resolved_at"), now, window_secs);
                if expired {
                    let id = Self::insert_incident(tx, env, actor, f, Some(row.get("id")), now).await?;
                    (id, Status::Open, f.severity, true)
                } else {
                    let severity = parse::<Severity>(row.get("severity"), "severity")?;
                    (row.get::<i64, _>("id"), status, severity, false)
                }
            }
            None => (
                Self::insert_incident(tx, env, actor, f, None, now).await?,
                Status::Open,
                f.severity,
                true,
            ),
        };
        let mut inserted: Vec<(usize, i64)> = Vec::with_capacity(fresh.len());
        for i in fresh {
            let s = &f.signals[i];
            let signal_id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO signals (incident_id, kind, source, rule, series, entity, value, score, observed_at, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING RETURNING id",
            )
            .bind(id)
            .bind(s.kind.as_str())
            .bind(&s.source)
            .bind(&s.rule)
            .bind(&s.series)
            .bind(&s.entity)
            .bind(s.value)
            .bind(s.score)
            .bind(micros(s.observed_at))
            .bind(&s.message)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(sid) = signal_id {
                inserted.push((i, sid));
            }
        }
        let added = inserted.len();
        let entities: Vec<_> = inserted.iter().map(|(i, _)| f.entities_of(*i)).collect();
        let links: Vec<NewLinks<'_>> = inserted
            .iter()
            .zip(&entities)
            .map(|((i, sid), e)| NewLinks {
                incident_id: id,
                signal_id: *sid,
                observed_at: micros(f.signals[*i].observed_at),
                entities: e,
            })
            .collect();
        self.link_entities(tx, env, &links).await?;
        if added == 0 {
            return Ok(IncidentChange {
                id: IncidentId::from_row(id),
                change: ChangeKind::Unchanged,
                new_signals: 0,
            });
        }
        let reopen = status == Status::Resolved;
        let m = merge::merge(added, status, severity, f.severity, created);
        let (least, greatest) = (self.dialect.least(), self.dialect.greatest());
        sqlx::query(&format!(
            "UPDATE incidents SET
               signal_count = (SELECT COUNT(*) FROM signals WHERE incident_id = $1),
               first_seen = {least}(first_seen, (SELECT MIN(observed_at) FROM signals WHERE incident_id = $1)),
               last_seen = {greatest}(last_seen, (SELECT MAX(observed_at) FROM signals WHERE incident_id = $1)),
               status = CASE WHEN $2 THEN 'open' ELSE status END,
               resolved_at = CASE WHEN $2 THEN NULL ELSE resolved_at END,
               severity = COALESCE($4, severity),
               updated_at = $3
             WHERE id = $1"
        ))
        .bind(id)
        .bind(reopen)
        .bind(micros(now))
        .bind(m.escalated.map(Severity::as_str))
        .execute(&mut *tx)
        .await?;
        Self::insert_timeline(tx, id, now, m.kind, actor, &m.message, &m.data).await?;
        Ok(IncidentChange {
            id: IncidentId::from_row(id),
            change: m.change,
            new_signals: added,
        })
    }

    /// A lifecycle move under the incident's row lock; `outbox` rows are inserted in the same
    /// transaction when it changes something.
    pub(super) async fn transition_tx(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
        outbox: Vec<NewOutboxRow>,
    ) -> Result<Transition, StoreError> {
        let mut tx = self.begin(Lock::Rows).await?;
        let current = self
            .fetch_incident(&mut tx, id, true)
            .await?
            .ok_or(StoreError::NotFound(id))?;
        let from = current.status;
        if !merge::check_transition(id, from, to)? {
            tx.commit().await?;
            return Ok(Transition {
                incident: current,
                previous: from,
                changed: false,
            });
        }
        let now = Utc::now();
        sqlx::query(
            "UPDATE incidents SET status = $1, updated_at = $2, \
             resolved_at = CASE WHEN $1 = 'resolved' THEN $2 ELSE NULL END WHERE id = $3",
        )
        .bind(to.as_str())
        .bind(micros(now))
        .bind(id.row())
        .execute(&mut *tx)
        .await?;
        let (message, data) = merge::transition_entry(from, to, note);
        Self::insert_timeline(
            &mut tx,
            id.row(),
            now,
            TimelineKind::StatusChange,
            actor,
            &message,
            &data,
        )
        .await?;
        Self::insert_outbox(&mut tx, &outbox, now).await?;
        let incident = self
            .fetch_incident(&mut tx, id, false)
            .await?
            .ok_or(StoreError::NotFound(id))?;
        tx.commit().await?;
        Ok(Transition {
            incident,
            previous: from,
            changed: true,
        })
    }

    /// `for_update` locks the row until the transaction ends. `NO KEY UPDATE`, as every incident
    /// writer here takes: they serialise, while inserts that only reference the incident (a
    /// signal, a timeline row) need no wait.
    pub(super) async fn fetch_incident(
        &self,
        conn: &mut AnyConnection,
        id: IncidentId,
        for_update: bool,
    ) -> Result<Option<Incident>, StoreError> {
        let lock = if for_update {
            self.dialect.for_no_key_update("")
        } else {
            String::new()
        };
        let row = sqlx::query(&format!("SELECT * FROM incidents WHERE id = $1{lock}"))
            .bind(id.row())
            .fetch_optional(&mut *conn)
            .await?;
        row.as_ref().map(incident_from_row).transpose()
    }
}

#[async_trait]
impl IncidentStore for SqlStore {
    async fn record_detection(&self, batch: DetectionBatch) -> Result<Vec<IncidentChange>, StoreError> {
        let mut tx = self.begin(Lock::Incidents).await?;
        let mut changes = Vec::with_capacity(batch.findings.len());
        for f in &batch.findings {
            changes.push(
                self.merge_finding(&mut tx, &batch.env, &batch.actor, batch.dedup_window_secs, f)
                    .await?,
            );
        }
        Self::insert_detect_hooks(&mut tx, &batch.hooks, &batch.actor, &changes).await?;
        let now = micros(Utc::now());
        for m in &batch.metrics {
            sqlx::query(
                "INSERT INTO metric_points (env, source, name, labels, value, observed_at, ingested_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(&m.env)
            .bind(&m.source)
            .bind(&m.name)
            .bind(serde_json::to_string(&m.labels).unwrap_or_default())
            .bind(m.value)
            .bind(micros(m.observed_at))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        if !batch.metrics.is_empty() {
            sqlx::query(
                "DELETE FROM metric_points WHERE id NOT IN
                   (SELECT id FROM metric_points ORDER BY observed_at DESC, id DESC LIMIT $1)",
            )
            .bind(METRIC_POINTS_KEPT)
            .execute(&mut *tx)
            .await?;
        }
        for c in &batch.cursors {
            sqlx::query(
                "INSERT INTO source_cursors (env, source, cursor, updated_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (env, source) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
            )
            .bind(&batch.env)
            .bind(&c.source)
            .bind(&c.cursor)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        for d in &batch.detector_states {
            sqlx::query(
                "INSERT INTO detector_state (env, rule, series, state, updated_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (env, rule, series) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
            )
            .bind(&batch.env)
            .bind(&d.rule)
            .bind(&d.series)
            .bind(&d.state)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(changes)
    }

    async fn detector_states(&self, env: &str) -> Result<Vec<DetectorSnapshot>, StoreError> {
        let rows = sqlx::query("SELECT rule, series, state FROM detector_state WHERE env = $1")
            .bind(env)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| DetectorSnapshot {
                rule: r.get("rule"),
                series: r.get("series"),
                state: r.get("state"),
            })
            .collect())
    }

    async fn source_cursor(&self, env: &str, source: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT cursor FROM source_cursors WHERE env = $1 AND source = $2")
                .bind(env)
                .bind(source)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn get_incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        self.fetch_incident(&mut conn, id, false).await
    }

    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        const SQL: &str = "SELECT * FROM incidents
               WHERE (CAST($1 AS TEXT) IS NULL OR env = $1) AND (CAST($2 AS TEXT) IS NULL OR status = $2)
                 AND (CAST($3 AS TEXT) IS NULL OR kind = $3)
                 AND (CAST($5 AS BIGINT) IS NULL OR updated_at < $5 OR (updated_at = $5 AND id < $6))
               ORDER BY updated_at DESC, id DESC LIMIT $4";
        let (env, status, kind) = (
            f.env.as_deref(),
            f.status.map(|s| s.as_str()),
            f.kind.map(|k| k.as_str()),
        );
        let (limit, after_micros, after_row) = (
            i64::from(f.limit),
            f.after.map(|c| c.updated_micros),
            f.after.map_or(0, |c| c.row),
        );
        if let Some(direct) = &self.direct {
            let page = direct.read(|c| {
                let mut page = Vec::with_capacity(f.limit.min(256) as usize);
                let params = rusqlite::named_params! {"$1": env, "$2": status, "$3": kind, "$4": limit, "$5": after_micros, "$6": after_row};
                super::direct::each_row(c, SQL, params, |r| {
                    page.push(incident_from_row(r)?);
                    Ok(())
                })?;
                Ok(page)
            });
            if let Some(page) = page {
                return Ok(page);
            }
        }
        let rows = sqlx::query(SQL)
            .bind(env)
            .bind(status)
            .bind(kind)
            .bind(limit)
            .bind(after_micros)
            .bind(after_row)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn signals(&self, id: IncidentId, limit: u32) -> Result<Vec<Signal>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        newest_signals(&mut conn, id, limit).await
    }

    async fn incident_with_signals(
        &self,
        id: IncidentId,
        limit: u32,
    ) -> Result<Option<crate::store::IncidentWithSignals>, StoreError> {
        // One statement: the incident's row once per newest signal (or once, with no signal),
        // its annotations as one JSON array of objects (text and integers only: SQLite writes JSON reals
        // with 15 digits, so the signals' values travel as columns). sqlx hands every
        // statement and every row between the connection's thread and the caller: one
        // statement instead of three is a third of `incident_get`'s time under load.
        let sql = incident_with_signals_sql(self.dialect);
        if let Some(direct) = &self.direct {
            let read = direct.read(|c| {
                let mut out = WithSignals::default();
                let params = rusqlite::named_params! {"$1": id.row(), "$2": i64::from(limit)};
                super::direct::each_row(c, sql, params, |r| out.add(r))?;
                Ok(out.finish()?)
            });
            if let Some(read) = read {
                return Ok(read);
            }
        }
        let rows = sqlx::query(sql)
            .bind(id.row())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        let mut out = WithSignals::default();
        for r in &rows {
            out.add(r)?;
        }
        out.finish()
    }

    async fn signal_groups(&self, id: IncidentId) -> Result<Vec<SignalGroup>, StoreError> {
        let rows = sqlx::query(
            "SELECT rule, series, entity, COUNT(*) AS n, MIN(value) AS lo, MAX(value) AS hi, MAX(score) AS sc,
                    MIN(observed_at) AS t0, MAX(observed_at) AS t1
             FROM signals WHERE incident_id = $1 GROUP BY rule, series, entity ORDER BY t0, rule, series, entity",
        )
        .bind(id.row())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(signal_group_from_row).collect()
    }

    async fn timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>, StoreError> {
        let rows = sqlx::query("SELECT * FROM timeline WHERE incident_id = $1 ORDER BY id")
            .bind(id.row())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(timeline_from_row).collect()
    }

    async fn transition(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
    ) -> Result<Transition, StoreError> {
        self.transition_tx(id, to, actor, note, Vec::new()).await
    }

    async fn related(&self, id: IncidentId, limit: u32) -> Result<Vec<Incident>, StoreError> {
        // Through the entities its signals fired for (their text, as `entities` stores a subject)
        // and each entity's incidents: no join of signals with signals, whatever their number.
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE id <> $1 AND id IN (
                SELECT o.incident_id FROM incidents me
                JOIN entities e ON e.env = me.env
                  AND e.entity IN (SELECT DISTINCT entity FROM signals WHERE incident_id = $1)
                JOIN incident_entities o ON o.entity_id = e.id
                WHERE me.id = $1)
             ORDER BY updated_at DESC, id DESC LIMIT $2",
        )
        .bind(id.row())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn incident_tally(&self) -> Result<Vec<IncidentTally>, StoreError> {
        let rows =
            sqlx::query("SELECT status, kind, severity, COUNT(*) AS n FROM incidents GROUP BY status, kind, severity")
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| {
                Ok(IncidentTally {
                    status: r.try_get("status")?,
                    kind: r.try_get("kind")?,
                    severity: r.try_get("severity")?,
                    count: r.try_get("n")?,
                })
            })
            .collect()
    }

    async fn recent_metrics(&self, limit: u32) -> Result<Vec<MetricPoint>, StoreError> {
        let rows = sqlx::query("SELECT * FROM metric_points ORDER BY observed_at DESC, id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(metric_from_row).collect()
    }
}

async fn newest_signals(conn: &mut AnyConnection, id: IncidentId, limit: u32) -> Result<Vec<Signal>, StoreError> {
    // The newest ids first, sorted from the incident's index entries alone (they carry the
    // time and the row id), then only those rows read.
    let rows = sqlx::query(
        "SELECT * FROM signals WHERE id IN
           (SELECT id FROM signals WHERE incident_id = $1 ORDER BY observed_at DESC, id DESC LIMIT $2)
         ORDER BY observed_at DESC, id DESC",
    )
    .bind(id.row())
    .bind(i64::from(limit))
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(signal_from_row).collect()
}

/// `incident_with_signals`' statement for `dialect`, built once per process (it is on
/// `incident_get`'s path).
fn incident_with_signals_sql(dialect: Dialect) -> &'static str {
    fn build(d: Dialect) -> String {
        format!(
            "SELECT i.*,
               (SELECT {anns} FROM incident_annotations a WHERE a.incident_id = $1) AS anns,
               s.id AS s_id, s.kind AS s_kind, s.source AS s_source, s.rule AS s_rule, s.series AS s_series,
               s.entity AS s_entity, s.value AS s_value, s.score AS s_score, s.observed_at AS s_observed_at,
               s.message AS s_message
             FROM incidents i LEFT JOIN
               (SELECT * FROM signals WHERE id IN
                  (SELECT id FROM signals WHERE incident_id = $1 ORDER BY observed_at DESC, id DESC LIMIT $2)) s
               ON s.incident_id = i.id
             WHERE i.id = $1
             ORDER BY s.observed_at DESC, s.id DESC",
            anns = d.json_objects("a", &["name", "value", "alertname", "updated_at"]),
        )
    }
    static SQLITE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| build(Dialect::Sqlite));
    static POSTGRES: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| build(Dialect::Postgres));
    match dialect {
        Dialect::Sqlite => &SQLITE,
        Dialect::Postgres => &POSTGRES,
    }
}

/// `incident_with_signals` assembled from its statement's rows: the incident's columns on each,
/// one newest signal per row (none when the incident has none), the annotations on the first.
#[derive(Default)]
struct WithSignals {
    first: Option<(Incident, Option<String>)>,
    signals: Vec<Signal>,
}

impl WithSignals {
    fn add(&mut self, r: &impl Cols) -> Result<(), StoreError> {
        if self.first.is_none() {
            let incident = incident_from_row(r)?;
            let anns = incident.from_alerts().then(|| r.text("anns")).transpose()?;
            self.first = Some((incident, anns));
        }
        if r.opt_int("s_id")?.is_some() {
            self.signals.push(SignalColumns::PREFIXED.read(r)?);
        }
        Ok(())
    }

    fn finish(self) -> Result<Option<crate::store::IncidentWithSignals>, StoreError> {
        let Some((incident, anns)) = self.first else {
            return Ok(None);
        };
        let annotations = match anns {
            Some(text) => super::manage::annotations_from_json(&text)?,
            None => Vec::new(),
        };
        Ok(Some(crate::store::IncidentWithSignals {
            incident,
            signals: self.signals,
            annotations,
        }))
    }
}
