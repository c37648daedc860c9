//! The dialect seam: everything the SQLite and PostgreSQL versions of a query differ in. Queries
//! are written once with `$N` placeholders (both drivers accept them) and standard SQL
//! (`ON CONFLICT`, `RETURNING`, `UPDATE ... FROM`, `CAST(... AS TEXT)`, `IS NOT DISTINCT FROM`,
//! `COUNT(*) FILTER`); what remains is here.
//!
//! How writers serialise:
//! - SQLite has one writer: every write transaction starts with `BEGIN IMMEDIATE`, so a
//!   read-then-write inside it is safe, and the row locks below are empty.
//! - PostgreSQL serves several replicas: writes that append to the audit chain hold the
//!   transaction-level advisory lock [`Lock::Audit`] (the chain never forks), detection and
//!   alert intake hold [`Lock::Incidents`] (dedup by fingerprint), rows that are read and then
//!   changed are locked (`FOR UPDATE` / `FOR NO KEY UPDATE`), and outbox claims skip rows
//!   another replica holds (`SKIP LOCKED`).

/// Which database a [`super::SqlStore`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// What a write transaction serialises against, besides the row locks its statements take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Lock {
    /// Nothing beyond its rows.
    Rows,
    /// The audit chain: appends run one at a time across replicas.
    Audit,
    /// Incident dedup: detection scans and alert notifications run one at a time.
    Incidents,
}

/// Advisory lock key serialising audit appends across replicas ("incident-mcp audit").
const AUDIT_LOCK: i64 = 0x1c1d_a0d1_0000_0001;
/// Advisory lock key serialising detection and alert intake (dedup by fingerprint).
const INCIDENTS_LOCK: i64 = 0x1c1d_a0d1_0000_0002;

impl Dialect {
    /// The statement that opens a write transaction (`None`: the driver's plain `BEGIN`).
    pub(super) fn begin(self) -> Option<&'static str> {
        match self {
            Dialect::Sqlite => Some("BEGIN IMMEDIATE"),
            Dialect::Postgres => None,
        }
    }

    /// The advisory lock a write transaction takes first, if the database needs one.
    pub(super) fn lock_key(self, lock: Lock) -> Option<i64> {
        match (self, lock) {
            (Dialect::Sqlite, _) | (_, Lock::Rows) => None,
            (Dialect::Postgres, Lock::Audit) => Some(AUDIT_LOCK),
            (Dialect::Postgres, Lock::Incidents) => Some(INCIDENTS_LOCK),
        }
    }

    /// Suffix of a `SELECT` whose rows are then changed by this transaction.
    pub(super) fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Suffix of a `SELECT` of incident rows that this transaction then updates: `NO KEY`, as
    /// every incident writer takes, so inserts that only reference the incident need no wait.
    pub(super) fn for_no_key_update(self, of: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres if of.is_empty() => " FOR NO KEY UPDATE".into(),
            Dialect::Postgres => format!(" FOR NO KEY UPDATE OF {of}"),
        }
    }

    /// Suffix of the outbox claim's `SELECT`: rows another replica holds are skipped.
    pub(super) fn skip_locked(self, of: &str) -> String {
        match self {
            Dialect::Sqlite => String::new(),
            Dialect::Postgres => format!(" FOR UPDATE OF {of} SKIP LOCKED"),
        }
    }

    /// The two-argument minimum and maximum (`MIN(a, b)` is SQLite's scalar form).
    pub(super) fn least(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MIN",
            Dialect::Postgres => "LEAST",
        }
    }

    pub(super) fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Postgres => "GREATEST",
        }
    }

    /// The join from a bound key list to a table that must keep the list as the outer loop
    /// (SQLite does not reorder a `CROSS JOIN`; PostgreSQL's planner chooses well by itself).
    pub(super) fn keyed_join(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CROSS JOIN",
            Dialect::Postgres => "JOIN",
        }
    }

    /// The insertion order of `actions` rows (SQLite's `rowid`, PostgreSQL's `seq` column).
    pub(super) fn actions_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// The condition "the JSON text in `col` has `env` = `$env` and a true `destructive`
    /// (or 1, as SQLite's `json_extract` compares)".
    pub(super) fn destructive_in_env(self, col: &str, env: &str) -> String {
        match self {
            Dialect::Sqlite => {
                format!("json_extract({col}, '$.env') = {env} AND json_extract({col}, '$.destructive') = 1")
            }
            Dialect::Postgres => format!(
                "{col}::jsonb ->> 'env' = {env} AND {col}::jsonb -> 'destructive' IN ('true'::jsonb, '1'::jsonb)"
            ),
        }
    }

    /// Bound parameters per statement, under SQLite's 32766 and PostgreSQL's 65535.
    pub(super) fn max_params(self) -> usize {
        30_000
    }

    /// A one-column `SELECT` of the ids in the JSON array bound at `param` (`[1,2,3]`).
    pub(super) fn id_list(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({param})"),
            Dialect::Postgres => {
                format!("SELECT CAST(value AS BIGINT) FROM jsonb_array_elements_text(CAST({param} AS jsonb))")
            }
        }
    }

    /// A one-column `SELECT` of the strings in the JSON array bound at `param`.
    pub(super) fn text_list(self, param: &str) -> String {
        match self {
            Dialect::Sqlite => format!("SELECT value FROM json_each({param})"),
            Dialect::Postgres => format!("SELECT value FROM jsonb_array_elements_text(CAST({param} AS jsonb))"),
        }
    }

    /// An aggregate turning the rows of a `SELECT` into one JSON array of objects keyed by
    /// column name (`[]` when there are none), columns `cols` of the table alias `t`; read it
    /// back with `rows::JsonRow`, through the same row mappers as a plain row.
    pub(super) fn json_objects(self, t: &str, cols: &[&str]) -> String {
        let pairs: Vec<String> = cols.iter().map(|c| format!("'{c}', {t}.{c}")).collect();
        let pairs = pairs.join(", ");
        match self {
            Dialect::Sqlite => format!("json_group_array(json_object({pairs}))"),
            Dialect::Postgres => format!("COALESCE(json_agg(json_build_object({pairs})), '[]'::json)::text"),
        }
    }

    /// An aggregate turning the rows of a `SELECT` into one JSON array of arrays of `cols` (`[]`
    /// when there are none): a large result travels as one value instead of a row each (the
    /// driver hands each row over between threads).
    pub(super) fn json_rows(self, cols: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_group_array(json_array({cols}))"),
            Dialect::Postgres => format!("COALESCE(json_agg(json_build_array({cols})), '[]'::json)::text"),
        }
    }
}
