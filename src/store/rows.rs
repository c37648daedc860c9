//! Conversions shared by the SQLite and PostgreSQL adapters: timestamps stored as microseconds
//! and enums stored as text.

use std::str::FromStr;

use chrono::{DateTime, Utc};

use super::StoreError;

pub(super) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(super) fn from_micros(v: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(v).ok_or_else(|| StoreError::Corrupt(format!("timestamp {v}")))
}

pub(super) fn parse<T: FromStr>(s: &str, what: &str) -> Result<T, StoreError> {
    s.parse().map_err(|_| StoreError::Corrupt(format!("{what} `{s}`")))
}
