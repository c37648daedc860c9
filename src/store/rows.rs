//! Conversions shared by the SQLite and PostgreSQL adapters: timestamps stored as microseconds
//! and enums stored as text, and the row mappers, generic over the sqlx row type.

use std::str::FromStr;

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{
    AppliedAction, MetricPoint, OutboxAttempt, OutboxRow, OutboxStatus, RegisteredHook, SignalGroup, StoreError,
    StoredPlan,
};
use crate::domain::{Incident, IncidentId, Signal, SignalKind, TimelineEntry, audit::AuditEntry, plan::Approval};

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

pub(super) fn parse<T: FromStr>(s: &str, what: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("{what} `{s}`")))
}

/// The column reads the row mappers need, for any sqlx row (`SqliteRow`, `PgRow`). A missing
/// column or a value of another type (a foreign or hand-edited database file) is
/// `StoreError::Corrupt` naming the column, never a panic.
pub(super) trait Cols {
    fn int(&self, col: &str) -> Result<i64, StoreError>;
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError>;
    fn real(&self, col: &str) -> Result<f64, StoreError>;
    fn text(&self, col: &str) -> Result<String, StoreError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError>;

    fn time(&self, col: &str) -> Result<DateTime<Utc>, StoreError> {
        from_micros(self.int(col)?)
    }
    fn opt_time(&self, col: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.opt_int(col)?.map(from_micros).transpose()
    }
    fn incident_id(&self, col: &str) -> Result<Option<IncidentId>, StoreError> {
        Ok(self.opt_int(col)?.map(IncidentId::from_row))
    }
}

/// `row.try_get(col)` with the error naming the column.
fn column<R: Row, T>(row: &R, col: &str) -> Result<T, StoreError>
where
    for<'a> &'a str: ColumnIndex<R>,
    T: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    row.try_get(col).map_err(|e| corrupt(&format!("column `{col}`"), e))
}

impl<R: Row> Cols for R
where
    for<'a> &'a str: ColumnIndex<R>,
    i64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    f64: for<'r> Decode<'r, R::Database> + Type<R::Database>,
    String: for<'r> Decode<'r, R::Database> + Type<R::Database>,
{
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        column(self, col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        column(self, col)
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        column(self, col)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        column(self, col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        column(self, col)
    }
}

/// A row read back from a `Dialect::json_objects` aggregate: one JSON object keyed by column
/// name. Integers and text only round-trip exactly (SQLite writes JSON reals with 15 digits).
pub(super) struct JsonRow(pub(super) serde_json::Map<String, serde_json::Value>);

impl JsonRow {
    /// The rows of the aggregate's text.
    pub(super) fn parse_all(text: &str) -> Result<Vec<JsonRow>, StoreError> {
        let rows: Vec<serde_json::Map<String, serde_json::Value>> =
            serde_json::from_str(text).map_err(|e| corrupt("json rows", e))?;
        Ok(rows.into_iter().map(JsonRow).collect())
    }

    fn get(&self, col: &str) -> Result<&serde_json::Value, StoreError> {
        self.0
            .get(col)
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}`: missing")))
    }

    fn typed<T>(&self, col: &str, f: impl FnOnce(&serde_json::Value) -> Option<T>) -> Result<Option<T>, StoreError> {
        match self.get(col)? {
            serde_json::Value::Null => Ok(None),
            v => f(v)
                .map(Some)
                .ok_or_else(|| StoreError::Corrupt(format!("column `{col}`: unexpected {v}"))),
        }
    }

    fn required<T>(&self, col: &str, v: Option<T>) -> Result<T, StoreError> {
        v.ok_or_else(|| StoreError::Corrupt(format!("column `{col}`: null")))
    }
}

impl Cols for JsonRow {
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        let v = self.opt_int(col)?;
        self.required(col, v)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.typed(col, serde_json::Value::as_i64)
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        let v = self.typed(col, serde_json::Value::as_f64)?;
        self.required(col, v)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        let v = self.opt_text(col)?;
        self.required(col, v)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.typed(col, |v| v.as_str().map(str::to_owned))
    }
}

pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

pub(super) fn incident_from_row(r: &impl Cols) -> Result<Incident, StoreError> {
    Ok(Incident {
        id: IncidentId::from_row(r.int("id")?),
        title: r.text("title")?,
        kind: parse(&r.text("kind")?, "type")?,
        env: r.text("env")?,
        severity: parse(&r.text("severity")?, "severity")?,
        status: parse(&r.text("status")?, "status")?,
        fingerprint: r.text("fingerprint")?,
        first_seen: r.time("first_seen")?,
        last_seen: r.time("last_seen")?,
        signal_count: r.int("signal_count")?,
        labels: serde_json::from_str(&r.text("labels")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
        previous_id: r.incident_id("previous_id")?,
        owner: r.opt_text("owner")?,
        commander: r.opt_text("commander")?,
        acknowledged_at: r.opt_time("acknowledged_at")?,
        acknowledged_by: r.opt_text("acknowledged_by")?,
    })
}

/// The column names a signal is read from: its own table's, or the `s_`-prefixed aliases of a
/// join that also selects an incident's columns (`incident_with_signals`).
pub(super) struct SignalColumns {
    kind: &'static str,
    source: &'static str,
    rule: &'static str,
    series: &'static str,
    entity: &'static str,
    value: &'static str,
    score: &'static str,
    observed_at: &'static str,
    message: &'static str,
}

impl SignalColumns {
    pub(super) const PLAIN: Self = Self {
        kind: "kind",
        source: "source",
        rule: "rule",
        series: "series",
        entity: "entity",
        value: "value",
        score: "score",
        observed_at: "observed_at",
        message: "message",
    };
    pub(super) const PREFIXED: Self = Self {
        kind: "s_kind",
        source: "s_source",
        rule: "s_rule",
        series: "s_series",
        entity: "s_entity",
        value: "s_value",
        score: "s_score",
        observed_at: "s_observed_at",
        message: "s_message",
    };

    pub(super) fn read(&self, r: &impl Cols) -> Result<Signal, StoreError> {
        Ok(Signal {
            kind: parse::<SignalKind>(&r.text(self.kind)?, "signal kind")?,
            source: r.text(self.source)?,
            rule: r.text(self.rule)?,
            series: r.text(self.series)?,
            entity: r.text(self.entity)?,
            value: r.real(self.value)?,
            score: r.real(self.score)?,
            observed_at: r.time(self.observed_at)?,
            message: r.opt_text(self.message)?,
        })
    }
}

pub(super) fn signal_from_row(r: &impl Cols) -> Result<Signal, StoreError> {
    SignalColumns::PLAIN.read(r)
}

/// A row of `signal_groups`' aggregate query.
pub(super) fn signal_group_from_row(r: &impl Cols) -> Result<SignalGroup, StoreError> {
    Ok(SignalGroup {
        rule: r.text("rule")?,
        series: r.text("series")?,
        entity: r.text("entity")?,
        count: r.int("n")?,
        min_value: r.real("lo")?,
        max_value: r.real("hi")?,
        max_score: r.real("sc")?,
        first_at: r.time("t0")?,
        last_at: r.time("t1")?,
    })
}

pub(super) fn timeline_from_row(r: &impl Cols) -> Result<TimelineEntry, StoreError> {
    Ok(TimelineEntry {
        at: r.time("at")?,
        kind: parse(&r.text("kind")?, "timeline kind")?,
        actor: r.text("actor")?,
        message: r.text("message")?,
        data: serde_json::from_str(&r.text("data")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
    })
}

pub(super) fn metric_from_row(r: &impl Cols) -> Result<MetricPoint, StoreError> {
    Ok(MetricPoint {
        env: r.text("env")?,
        source: r.text("source")?,
        name: r.text("name")?,
        labels: serde_json::from_str(&r.text("labels")?).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        value: r.real("value")?,
        observed_at: r.time("observed_at")?,
    })
}

pub(super) fn audit_from_row(r: &impl Cols) -> Result<AuditEntry, StoreError> {
    Ok(AuditEntry {
        seq: r.int("seq")?,
        at: r.time("at")?,
        actor: r.text("actor")?,
        kind: r.text("kind")?,
        incident_id: r.incident_id("incident_id")?,
        plan_id: r.opt_text("plan_id")?,
        // An edited payload that is not JSON is kept as a string, so `verify` reports the
        // broken hash at this seq instead of failing to read the chain.
        payload: {
            let text = r.text("payload")?;
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
        },
        prev_hash: r.text("prev_hash")?,
        hash: r.text("hash")?,
    })
}

pub(super) fn plan_from_row(r: &impl Cols) -> Result<StoredPlan, StoreError> {
    Ok(StoredPlan {
        id: r.text("id")?,
        hash: r.text("hash")?,
        plan: match crate::domain::plan::Plan::from_stored(&r.text("body")?) {
            Ok(p) => p,
            Err(crate::domain::plan::StoredPlanError::OlderVersion) => {
                return Err(StoreError::OutdatedPlan(r.text("id")?));
            }
            Err(e) => return Err(corrupt("plan", e)),
        },
        created_at: r.time("created_at")?,
    })
}

/// An approval and its row id.
pub(super) fn approval_from_row(r: &impl Cols) -> Result<(i64, Approval), StoreError> {
    Ok((
        r.int("id")?,
        Approval {
            plan_id: r.text("plan_id")?,
            plan_hash: r.text("plan_hash")?,
            principal: r.text("principal")?,
            approver: r.text("approver")?,
            approved_at: r.time("approved_at")?,
            expires_at: r.time("expires_at")?,
            used_at: r.opt_time("used_at")?,
        },
    ))
}

pub(super) fn action_from_row(r: &impl Cols) -> Result<AppliedAction, StoreError> {
    Ok(AppliedAction {
        plan_id: r.text("plan_id")?,
        incident_id: r.incident_id("incident_id")?,
        env: r.text("env")?,
        applied_at: r.time("applied_at")?,
        expires_at: r.opt_time("expires_at")?,
        reverted_at: r.opt_time("reverted_at")?,
        revert_attempts: u32::try_from(r.int("revert_attempts")?)
            .map_err(|_| StoreError::Corrupt("actions.revert_attempts out of range".into()))?,
        next_revert_at: r.opt_time("next_revert_at")?,
        revert_failed_at: r.opt_time("revert_failed_at")?,
    })
}

pub(super) fn outbox_from_row(r: &impl Cols) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.int("id")?,
        target: r.text("target")?,
        event: r.text("event")?,
        incident: r.incident_id("incident_id")?,
        payload: serde_json::from_str(&r.text("payload")?)
            .map_err(|e| StoreError::Corrupt(format!("outbox payload: {e}")))?,
        status: OutboxStatus::parse(&r.text("status")?)?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.time("next_attempt_at")?,
        lease_until: r.opt_time("lease_until")?,
        last_status: r.opt_int("last_status")?,
        last_error: r.opt_text("last_error")?,
        created_at: r.time("created_at")?,
        sent_at: r.opt_time("sent_at")?,
    })
}

pub(super) fn webhook_from_row(r: &impl Cols) -> Result<RegisteredHook, StoreError> {
    Ok(RegisteredHook {
        name: r.text("name")?,
        url: r.text("url")?,
        secret_env: r.text("secret_env")?,
        events: serde_json::from_str(&r.text("events")?)
            .map_err(|e| StoreError::Corrupt(format!("webhook events: {e}")))?,
        added_by: r.opt_text("added_by")?,
    })
}

pub(super) fn attempt_from_row(r: &impl Cols) -> Result<OutboxAttempt, StoreError> {
    Ok(OutboxAttempt {
        attempt: r.int("attempt")?,
        at: r.time("at")?,
        http_status: r.opt_int("http_status")?,
        outcome: r.text("outcome")?,
        error: r.opt_text("error")?,
    })
}

/// A plan id with an unfinished intent, and its incident.
pub(super) fn intent_from_row(r: &impl Cols) -> Result<(String, Option<IncidentId>), StoreError> {
    Ok((r.text("plan_id")?, r.incident_id("incident_id")?))
}
