//! PostgreSQL source: the OpenClaw `explainability_metrics(timestamp, feature_name, importance)`
//! table, read incrementally in `(timestamp, feature_name)` order from a read-only session.
//!
//! The cursor is the last `(timestamp, feature_name)` read; the service stores it in the same
//! transaction as the scan's findings, so a row is read by exactly one committed scan: none
//! twice, none skipped (rows are assumed unique per timestamp and feature, as OpenClaw writes
//! them, and appended in time order; a row inserted later with an older timestamp than the
//! cursor is not read). Each feature is one series: metric `metric` with label `feature`.
//! The connection URL comes from an environment variable and never appears in logs or errors.

use std::{collections::BTreeMap, str::FromStr, time::Duration};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{
    ConnectOptions, Connection, Row,
    postgres::{PgConnectOptions, PgConnection},
};

use super::{
    event::{Event, EventBody},
    source::{Fetched, SourceError},
};
use crate::config::PostgresSource;

/// Position after the last row read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PgCursor {
    pub ts_micros: i64,
    pub feature: String,
}

pub async fn fetch(src: &PostgresSource, cursor: Option<&str>) -> Result<Fetched, SourceError> {
    let fail = |reason: String| SourceError::new(&src.name, reason);
    let cursor: Option<PgCursor> = match cursor {
        Some(c) => Some(serde_json::from_str(c).map_err(|e| fail(format!("stored cursor is corrupt: {e}")))?),
        None => None,
    };
    let url = std::env::var(&src.url_env).map_err(|_| {
        fail(format!(
            "environment variable {} (PostgreSQL URL) is not set",
            src.url_env
        ))
    })?;
    // The parse error could echo the URL (and its password): report only that it is invalid.
    let opts = PgConnectOptions::from_str(&url)
        .map_err(|_| fail(format!("the URL in {} is not a valid PostgreSQL URL", src.url_env)))?
        .application_name("incident-mcp")
        .options([
            ("default_transaction_read_only", "on"),
            ("TimeZone", "UTC"),
            ("statement_timeout", &format!("{}s", src.timeout_secs)),
        ])
        .disable_statement_logging();
    let timeout = Duration::from_secs(src.timeout_secs);
    let mut conn: PgConnection = tokio::time::timeout(timeout, PgConnection::connect_with(&opts))
        .await
        .map_err(|_| fail(format!("connecting timed out after {}s", src.timeout_secs)))?
        .map_err(|e| fail(format!("cannot connect: {}", redact(&e.to_string(), &url))))?;

    let sql_base = format!(
        "SELECT \"timestamp\"::timestamptz AS ts, feature_name::text AS feature, importance::float8 AS importance \
         FROM {} ",
        src.table
    );
    let order = "ORDER BY \"timestamp\"::timestamptz, feature_name::text LIMIT $";
    let rows = match &cursor {
        Some(c) => {
            let after = DateTime::from_timestamp_micros(c.ts_micros)
                .ok_or_else(|| fail("stored cursor time is out of range".into()))?;
            sqlx::query(&format!(
                "{sql_base}WHERE (\"timestamp\"::timestamptz, feature_name::text) > ($1, $2) {order}3"
            ))
            .bind(after)
            .bind(&c.feature)
            .bind(i64::from(src.max_rows))
            .fetch_all(&mut conn)
            .await
        }
        None => {
            sqlx::query(&format!("{sql_base}{order}1"))
                .bind(i64::from(src.max_rows))
                .fetch_all(&mut conn)
                .await
        }
    }
    .map_err(|e| {
        fail(format!(
            "query on {} failed: {}",
            src.table,
            redact(&e.to_string(), &url)
        ))
    })?;
    let _ = conn.close().await;

    let mut out = Fetched::default();
    let mut last: Option<PgCursor> = cursor.clone();
    for r in &rows {
        out.stats.lines += 1;
        let ts: DateTime<Utc> = r
            .try_get("ts")
            .map_err(|e| fail(format!("bad timestamp column: {e}")))?;
        let feature: String = r
            .try_get("feature")
            .map_err(|e| fail(format!("bad feature_name column: {e}")))?;
        let importance: Option<f64> = r
            .try_get("importance")
            .map_err(|e| fail(format!("bad importance column: {e}")))?;
        last = Some(PgCursor {
            ts_micros: ts.timestamp_micros(),
            feature: feature.clone(),
        });
        match importance.filter(|v| v.is_finite()) {
            Some(value) => out.events.push(Event {
                ts,
                body: EventBody::Metric {
                    name: src.metric.clone(),
                    value,
                },
                labels: BTreeMap::from([("feature".to_owned(), feature)]),
            }),
            None => {
                out.stats.skipped += 1;
                if out.stats.problems.len() < 5 {
                    out.stats.problems.push(format!(
                        "{} {feature}: importance is NULL or not finite",
                        ts.to_rfc3339()
                    ));
                }
            }
        }
    }
    out.cursor = match last {
        Some(c) if Some(&c) != cursor.as_ref() => Some(serde_json::to_string(&c).expect("cursor serializes")),
        _ => None,
    };
    Ok(out)
}

pub(crate) use crate::domain::redact_url as redact;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_and_url() {
        let url = "postgres://reader:s3cr3t-canary@db.internal:5432/openclaw";
        let msg = format!("failed for {url} with s3cr3t-canary");
        let r = redact(&msg, url);
        assert!(!r.contains("s3cr3t-canary"), "{r}");
        assert!(r.contains("<url>"));
    }
}
