//! Reads of the SQLite store on the calling thread, for the hottest read paths (`incident_get`,
//! `incident_list`).
//!
//! sqlx runs every SQLite connection on a thread of its own and hands each statement and its
//! rows between that thread and the caller: two context switches per statement, which under
//! load cost more CPU than the read itself. A point read from SQLite's page cache or the OS's
//! file cache takes microseconds, so these paths read on the caller's thread through a small set
//! of `rusqlite` connections (`query_only`, same file, WAL). sqlx stays the store of record: it
//! runs the migrations and every write, and answers every read this module declines. A direct read
//! that fails in any way (SQLite busy, no free connection, an unexpected value) is dropped and the
//! same read goes through the sqlx pool, which reports errors as every other method does.

use std::sync::{
    Mutex,
    atomic::{AtomicU64, Ordering},
};

use rusqlite::{Connection, OpenFlags};

use super::READ_CACHE_SIZE;
use crate::store::{StoreError, rows::Cols, rows::corrupt};

/// Direct read connections on one SQLite file.
pub(super) struct DirectReads {
    path: String,
    /// Idle connections; at most `max` exist (idle or in use).
    idle: Mutex<Vec<Connection>>,
    opened: Mutex<usize>,
    max: usize,
    /// Reads answered here, and reads declined (left to the pool).
    served: AtomicU64,
    declined: AtomicU64,
}

impl DirectReads {
    pub(super) fn new(path: &str) -> Self {
        // One per core: a caller holds a connection only while it reads, without awaiting.
        let max = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 8));
        Self {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
            opened: Mutex::new(0),
            max,
            served: AtomicU64::new(0),
            declined: AtomicU64::new(0),
        }
    }

    /// Runs `f` on a connection of this file, on this thread. `None` when there is no free
    /// connection or `f` failed (SQLite busy included): the caller reads through the pool.
    pub(super) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T, ReadError>) -> Option<T> {
        let Some(conn) = self.take() else {
            self.declined.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        let out = f(&conn);
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        match out {
            Ok(v) => {
                self.served.fetch_add(1, Ordering::Relaxed);
                Some(v)
            }
            Err(e) => {
                self.declined.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "direct SQLite read declined; reading through the pool");
                None
            }
        }
    }

    fn take(&self) -> Option<Connection> {
        if let Some(c) = self.idle.lock().ok()?.pop() {
            return Some(c);
        }
        {
            let mut opened = self.opened.lock().ok()?;
            if *opened >= self.max {
                return None;
            }
            *opened += 1;
        }
        match self.open() {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::debug!(error = %e, "cannot open a direct SQLite read connection");
                if let Ok(mut opened) = self.opened.lock() {
                    *opened -= 1;
                }
                None
            }
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let c = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        // Never wait on this thread: a busy database sends the read to the pool, which may.
        c.execute_batch(&format!(
            "PRAGMA query_only = ON; PRAGMA busy_timeout = 0; PRAGMA cache_size = {READ_CACHE_SIZE}"
        ))?;
        Ok(c)
    }

    /// Reads answered here and reads declined so far.
    pub(super) fn counts(&self) -> (u64, u64) {
        (
            self.served.load(Ordering::Relaxed),
            self.declined.load(Ordering::Relaxed),
        )
    }

    /// Connections opened so far (tests).
    #[cfg(test)]
    fn opened(&self) -> usize {
        self.opened.lock().map_or(0, |n| *n)
    }
}

/// Why a direct read was declined.
#[derive(Debug, thiserror::Error)]
pub(super) enum ReadError {
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `sql` (prepared once per connection) with named parameters (`$1`... as the SQL spells
/// them) and hands each row to `f`.
pub(super) fn each_row(
    conn: &Connection,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    mut f: impl FnMut(&Lite<'_, '_>) -> Result<(), StoreError>,
) -> Result<(), ReadError> {
    // Looked up once per statement: rusqlite's lookup by name asks SQLite for every column's
    // name on every read (a fifth of a page's CPU).
    let mut st = conn.prepare_cached(sql)?;
    let names: Vec<String> = st.column_names().into_iter().map(str::to_owned).collect();
    let mut rows = st.query(params)?;
    while let Some(row) = rows.next()? {
        f(&Lite { row, names: &names })?;
    }
    Ok(())
}

/// A `rusqlite` row read through the store's row mappers.
pub(super) struct Lite<'a, 'b> {
    row: &'a rusqlite::Row<'b>,
    names: &'a [String],
}

impl Lite<'_, '_> {
    fn get<T: rusqlite::types::FromSql>(&self, col: &str) -> Result<T, StoreError> {
        let idx = self
            .names
            .iter()
            .position(|n| n == col)
            .ok_or_else(|| StoreError::Corrupt(format!("column `{col}`: missing")))?;
        self.row.get(idx).map_err(|e| corrupt(&format!("column `{col}`"), e))
    }
}

impl Cols for Lite<'_, '_> {
    fn int(&self, col: &str) -> Result<i64, StoreError> {
        self.get(col)
    }
    fn opt_int(&self, col: &str) -> Result<Option<i64>, StoreError> {
        self.get(col)
    }
    fn real(&self, col: &str) -> Result<f64, StoreError> {
        self.get(col)
    }
    fn text(&self, col: &str) -> Result<String, StoreError> {
        self.get(col)
    }
    fn opt_text(&self, col: &str) -> Result<Option<String>, StoreError> {
        self.get(col)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file() -> (tempfile::TempDir, String) {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.db").to_str().expect("utf-8").to_owned();
        let c = Connection::open(&path).expect("create");
        c.execute_batch(
            "PRAGMA journal_mode = WAL; CREATE TABLE t (a INTEGER, b TEXT); INSERT INTO t VALUES (7, NULL)",
        )
        .expect("setup");
        (dir, path)
    }

    #[test]
    fn reads_through_the_row_mappers_and_reuses_its_connection() {
        let (_dir, path) = file();
        let d = DirectReads::new(&path);
        for _ in 0..3 {
            let got = d.read(|c| {
                let mut out = Vec::new();
                each_row(
                    c,
                    "SELECT a, b FROM t WHERE a = $1",
                    rusqlite::named_params! {"$1": 7},
                    |r| {
                        out.push((r.int("a")?, r.opt_text("b")?));
                        Ok(())
                    },
                )?;
                Ok(out)
            });
            assert_eq!(got, Some(vec![(7, None)]));
        }
        assert_eq!(d.opened(), 1);
        assert_eq!(d.counts(), (3, 0));
    }

    #[test]
    fn declines_on_any_failure_and_keeps_the_connection() {
        let (_dir, path) = file();
        let d = DirectReads::new(&path);
        // A null where the mapper needs a value, a column the statement lacks: corrupt for the
        // mappers, so declined (the pool would report it), not a panic.
        for col in ["b", "c"] {
            let got = d.read(|c| {
                let mut out = Vec::new();
                each_row(c, "SELECT a, b FROM t", &[], |r| {
                    out.push(r.text(col)?);
                    Ok(())
                })?;
                Ok(out)
            });
            assert_eq!(got, None, "{col}");
        }
        // `query_only`: a write through a direct connection is refused.
        let write = d.read(|c| Ok(c.execute("DELETE FROM t", [])?));
        assert_eq!(write, None);
        let left = d.read(|c| Ok(c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))?));
        assert_eq!(left, Some(1));
        assert_eq!(d.opened(), 1);
        assert_eq!(d.counts(), (1, 3));
    }

    #[test]
    fn declines_when_the_file_cannot_be_opened() {
        let d = DirectReads::new("/nonexistent-dir/none.db");
        assert_eq!(
            d.read(|c| Ok(c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0))?)),
            None
        );
        assert_eq!(d.opened(), 0);
    }
}
