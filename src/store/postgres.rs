//! PostgreSQL adapter, for teams running several replicas on one database. Each method is one
//! transaction, as in the SQLite adapter; where SQLite's single writer (`BEGIN IMMEDIATE`) made
//! a read-then-write safe, this adapter takes a lock that every replica honours:
//!
//! - audit appends (and every write that carries an audit entry) hold the transaction-level
//!   advisory lock [`AUDIT_LOCK`], so the chain never forks;
//! - detection and alert intake hold [`INCIDENTS_LOCK`], so dedup by fingerprint holds under
//!   concurrent scans, and lock the incident rows they change (`FOR NO KEY UPDATE`), as
//!   transitions do;
//! - outbox claims use `FOR UPDATE SKIP LOCKED`, so a row goes to exactly one replica;
//! - an approval is spent with `UPDATE ... WHERE used_at IS NULL` under the audit lock.

mod actions;
mod alerts;
mod audit;
mod outbox;
mod sandbox;

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    ConnectOptions, PgConnection, Row,
    postgres::{PgConnectOptions, PgPool, PgPoolOptions},
};

use super::merge;
use super::rows::{
    from_micros, incident_from_row, metric_from_row, micros, parse, signal_from_row, signal_group_from_row,
    timeline_from_row,
};
use super::*;
use crate::domain::TimelineKind;

/// Upper bound on metric points kept for `metrics://recent`.
const METRIC_POINTS_KEPT: i64 = 5000;

/// Advisory lock key serialising audit appends across replicas ("incident-mcp audit").
const AUDIT_LOCK: i64 = 0x1c1d_a0d1_0000_0001;
/// Advisory lock key serialising detection and alert intake (dedup by fingerprint).
const INCIDENTS_LOCK: i64 = 0x1c1d_a0d1_0000_0002;

pub struct PgStore {
    pool: PgPool,
}

/// Takes a transaction-level advisory lock, released at commit or rollback.
async fn lock(tx: &mut PgConnection, key: i64) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(key)
        .execute(&mut *tx)
        .await?;
    Ok(())
}

impl PgStore {
    /// Connects to a `postgres://` or `postgresql://` URL and runs the migrations of
    /// `migrations/postgres` (sqlx serialises concurrent migrators with an advisory lock, so
    /// replicas may start together). Errors never carry the URL or its password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let scrub = |e: &dyn std::fmt::Display| crate::domain::redact_url(&e.to_string(), url);
        // The parse error could echo the URL: say only that it is invalid.
        let opts = PgConnectOptions::from_str(url)
            .map_err(|_| StoreError::Database("the database URL is not a valid PostgreSQL URL".into()))?
            .application_name("incident-mcp")
            .options([("TimeZone", "UTC")])
            .disable_statement_logging();
        let where_ = format!(
            "PostgreSQL at {}:{}/{}",
            opts.get_host(),
            opts.get_port(),
            opts.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(8)
            // A refused connection is retried (the server may be starting) until this runs out.
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to {where_}: {}", scrub(&e))))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(scrub(&e)))?;
        Ok(Self { pool })
    }

    async fn insert_timeline(
        tx: &mut PgConnection,
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
        tx: &mut PgConnection,
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
        let (message, data) = merge::opened_entry(f, previous);
        Self::insert_timeline(tx, id, now, TimelineKind::Created, actor, &message, &data).await?;
        Ok(id)
    }

    /// Whether a signal is already recorded on any incident of `fingerprint`.
    async fn known_signal(tx: &mut PgConnection, fingerprint: &str, s: &Signal) -> Result<bool, StoreError> {
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

    /// Merges one finding inside the caller's transaction, which holds [`INCIDENTS_LOCK`];
    /// the incident row is locked too, so a concurrent transition waits or is waited for.
    async fn merge_finding(
        tx: &mut PgConnection,
        env: &str,
        actor: &str,
        window_secs: u64,
        f: &NewFinding,
    ) -> Result<IncidentChange, StoreError> {
        let now = Utc::now();
        let latest = sqlx::query(
            "SELECT id, status, severity, COALESCE(resolved_at, updated_at) AS resolved_at
             FROM incidents WHERE fingerprint = $1 ORDER BY id DESC LIMIT 1 FOR NO KEY UPDATE",
        )
        .bind(&f.fingerprint)
        .fetch_optional(&mut *tx)
        .await?;
        let mut fresh = Vec::with_capacity(f.signals.len());
        for s in &f.signals {
            if latest.is_none() || !Self::known_signal(tx, &f.fingerprint, s).await? {
                fresh.push(s);
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
        let mut added = 0usize;
        for s in fresh {
            let r = sqlx::query(
                "INSERT INTO signals (incident_id, kind, source, rule, series, entity, value, score, observed_at, message)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT DO NOTHING",
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
            .execute(&mut *tx)
            .await?;
            added += r.rows_affected() as usize;
        }
        if added == 0 {
            return Ok(IncidentChange {
                id: IncidentId::from_row(id),
                change: ChangeKind::Unchanged,
                new_signals: 0,
            });
        }
        let reopen = status == Status::Resolved;
        let m = merge::merge(added, status, severity, f.severity, created);
        sqlx::query(
            "UPDATE incidents SET
               signal_count = (SELECT COUNT(*) FROM signals WHERE incident_id = $1),
               first_seen = LEAST(first_seen, (SELECT MIN(observed_at) FROM signals WHERE incident_id = $1)),
               last_seen = GREATEST(last_seen, (SELECT MAX(observed_at) FROM signals WHERE incident_id = $1)),
               status = CASE WHEN $2 THEN 'open' ELSE status END,
               resolved_at = CASE WHEN $2 THEN NULL ELSE resolved_at END,
               severity = COALESCE($4, severity),
               updated_at = $3
             WHERE id = $1",
        )
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
    async fn transition_tx(
        &self,
        id: IncidentId,
        to: Status,
        actor: &str,
        note: Option<&str>,
        outbox: Vec<NewOutboxRow>,
    ) -> Result<Transition, StoreError> {
        let mut tx = self.pool.begin().await?;
        let current = Self::fetch_incident(&mut tx, id, true)
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
        let incident = Self::fetch_incident(&mut tx, id, false)
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
    async fn fetch_incident(
        conn: &mut PgConnection,
        id: IncidentId,
        for_update: bool,
    ) -> Result<Option<Incident>, StoreError> {
        let sql = if for_update {
            "SELECT * FROM incidents WHERE id = $1 FOR NO KEY UPDATE"
        } else {
            "SELECT * FROM incidents WHERE id = $1"
        };
        let row = sqlx::query(sql).bind(id.row()).fetch_optional(&mut *conn).await?;
        row.as_ref().map(incident_from_row).transpose()
    }
}

#[async_trait]
impl Store for PgStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        self.append_audit_tx(entry).await
    }
    async fn audit_page(&self, after: i64, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_page_q(after, limit).await
    }
    async fn audit_recent(&self, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.audit_recent_q(limit).await
    }
    async fn audit_head(&self) -> Result<Option<AuditHead>, StoreError> {
        self.audit_head_q().await
    }
    async fn save_plan(&self, plan: &Plan, audit: NewAuditEntry) -> Result<StoredPlan, StoreError> {
        self.save_plan_tx(plan, audit).await
    }
    async fn get_plan(&self, id: &str) -> Result<Option<StoredPlan>, StoreError> {
        self.get_plan_q(id).await
    }
    async fn save_approval(&self, approval: &Approval, audit: NewAuditEntry) -> Result<(), StoreError> {
        self.save_approval_tx(approval, audit).await
    }
    async fn use_approval(&self, req: ApprovalUse) -> Result<ApprovalUseResult, StoreError> {
        self.use_approval_tx(req).await
    }
    async fn destructive_usage(
        &self,
        env: &str,
        incident: Option<IncidentId>,
        since: DateTime<Utc>,
    ) -> Result<Usage, StoreError> {
        self.destructive_usage_q(env, incident, since).await
    }
    async fn finish_action(&self, action: Option<&AppliedAction>, audit: Vec<NewAuditEntry>) -> Result<(), StoreError> {
        self.finish_action_tx(action, audit).await
    }
    async fn open_actions(&self, q: OpenActions) -> Result<Vec<AppliedAction>, StoreError> {
        self.open_actions_q(q).await
    }

    async fn record_action_failure(&self, f: ActionFailure, now: DateTime<Utc>) -> Result<(), StoreError> {
        self.record_action_failure_tx(f, now).await
    }
    async fn mark_reverted(
        &self,
        plan_id: &str,
        by: &str,
        at: DateTime<Utc>,
        audit: NewAuditEntry,
    ) -> Result<bool, StoreError> {
        self.mark_reverted_tx(plan_id, by, at, audit).await
    }
    async fn plan_proposal(&self, plan_id: &str) -> Result<Option<AuditEntry>, StoreError> {
        self.plan_proposal_q(plan_id).await
    }
    async fn recent_plans(&self, before: Option<&str>, limit: u32) -> Result<Vec<StoredPlan>, StoreError> {
        self.recent_plans_q(before, limit).await
    }
    async fn latest_approval(&self, plan_id: &str) -> Result<Option<Approval>, StoreError> {
        self.latest_approval_q(plan_id).await
    }
    async fn plan_audit(&self, plan_id: &str, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.plan_audit_q(plan_id, limit).await
    }
    async fn incident_audit(&self, id: IncidentId, limit: u32) -> Result<Vec<AuditEntry>, StoreError> {
        self.incident_audit_q(id, limit).await
    }
    async fn unfinished_intents(&self) -> Result<Vec<(String, Option<IncidentId>)>, StoreError> {
        self.unfinished_intents_q().await
    }

    async fn record_alerts(&self, intake: &AlertIntake) -> Result<AlertIntakeResult, StoreError> {
        self.record_alerts_tx(intake).await
    }

    async fn record_detection(&self, batch: DetectionBatch) -> Result<Vec<IncidentChange>, StoreError> {
        let mut tx = self.pool.begin().await?;
        lock(&mut tx, INCIDENTS_LOCK).await?;
        let mut changes = Vec::with_capacity(batch.findings.len());
        for f in &batch.findings {
            changes.push(Self::merge_finding(&mut tx, &batch.env, &batch.actor, batch.dedup_window_secs, f).await?);
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
        Self::fetch_incident(&mut conn, id, false).await
    }

    async fn list_incidents(&self, f: &IncidentFilter) -> Result<Vec<Incident>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM incidents
             WHERE ($1::text IS NULL OR env = $1) AND ($2::text IS NULL OR status = $2)
               AND ($3::text IS NULL OR kind = $3)
             ORDER BY updated_at DESC, id DESC LIMIT $4",
        )
        .bind(f.env.as_deref())
        .bind(f.status.map(|s| s.as_str()))
        .bind(f.kind.map(|k| k.as_str()))
        .bind(i64::from(f.limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn signals(&self, id: IncidentId, limit: u32) -> Result<Vec<Signal>, StoreError> {
        let rows =
            sqlx::query("SELECT * FROM signals WHERE incident_id = $1 ORDER BY observed_at DESC, id DESC LIMIT $2")
                .bind(id.row())
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
        rows.iter().map(signal_from_row).collect()
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
        let rows = sqlx::query(
            "SELECT * FROM incidents WHERE id <> $1 AND id IN (
                SELECT DISTINCT s2.incident_id FROM signals s1 JOIN signals s2 ON s1.entity = s2.entity
                WHERE s1.incident_id = $1)
             ORDER BY updated_at DESC, id DESC LIMIT $2",
        )
        .bind(id.row())
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn recent_metrics(&self, limit: u32) -> Result<Vec<MetricPoint>, StoreError> {
        let rows = sqlx::query("SELECT * FROM metric_points ORDER BY observed_at DESC, id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(metric_from_row).collect()
    }
}
