//! The one SQL adapter: every port of the store implemented once over sqlx's `Any` driver, for
//! SQLite (the embedded default: WAL, `synchronous=FULL`, `busy_timeout`, foreign keys) and
//! PostgreSQL (several replicas on one database). Each method is one transaction; the few
//! places where the two databases differ (transaction start, locks, a handful of functions)
//! are [`Dialect`] calls. Every write that reports success has been committed.

mod actions;
mod alerts;
mod audit;
mod dialect;
mod direct;
mod entities;
mod incidents;
mod manage;
mod outbox;
mod plans;
mod sandbox;
mod similar;

use std::{path::Path, str::FromStr, time::Duration};

use sqlx::{
    AnyConnection, AnyPool, ConnectOptions, Connection, Executor, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions, AnyRow},
    postgres::PgConnectOptions,
};

pub use dialect::Dialect;
use dialect::Lock;

use super::StoreError;
use super::alert_intake::Arg;

/// How long opening a PostgreSQL connection may take before the store gives up.
const PG_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a pooled SQLite connection may sit unused before it is closed.
const SQLITE_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// SQLite page cache per pooled connection (`PRAGMA cache_size`; negative: KiB). Reads are
/// point lookups and short ranges, and a WAL reader drops its cache whenever another connection
/// committed, so SQLite's 2 MiB default mostly holds stale pages. 256 KiB (64 pages) keeps the
/// B-trees' upper levels; leaf pages come from the OS's file cache. Under random `incident_get`
/// load on 10,000 incidents the pooled connections' caches were 4 MiB of the server's heap at
/// 1 MiB each (the alert writer has its own connection and cache, see `alerts::IntakeQueue`).
pub(crate) const READ_CACHE_SIZE: i32 = -256;

/// The settings of every SQLite connection, with a page cache of `cache_size` (KiB if negative).
pub(crate) fn sqlite_setup(cache_size: i32) -> String {
    format!(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA busy_timeout = 10000; \
         PRAGMA foreign_keys = ON; PRAGMA cache_size = {cache_size}"
    )
}

/// The store over one SQLite file or one PostgreSQL database.
#[derive(Clone)]
pub struct SqlStore {
    pool: AnyPool,
    dialect: Dialect,
    /// Shared by clones (the alert writer task holds one).
    intake: std::sync::Arc<alerts::IntakeQueue>,
    /// Ids of committed entities, shared by clones.
    entity_ids: std::sync::Arc<entities::EntityIds>,
    /// SQLite only: reads on the caller's thread for the hottest paths (see `direct`).
    direct: Option<std::sync::Arc<direct::DirectReads>>,
}

/// The SQLite store (`SqlStore::open`).
pub type SqliteStore = SqlStore;
/// The PostgreSQL store (`SqlStore::connect`).
pub type PgStore = SqlStore;

impl SqlStore {
    /// Opens (creating if needed) a SQLite database file and runs `migrations/sqlite`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError::Database(format!("cannot create {}: {e}", dir.display())))?;
        }
        let abs = std::path::absolute(path)
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        let file = abs
            .to_str()
            .ok_or_else(|| StoreError::Database(format!("{} is not valid UTF-8", path.display())))?;
        let opts = AnyConnectOptions::from_str(&format!("sqlite://{}?mode=rwc", url_path(file)))
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?
            .disable_statement_logging();
        let pool = AnyPoolOptions::new()
            // Four, not two (which measured the same calls/s with ~4 MiB less memory): a pooled
            // writer waits for SQLite's write lock while holding its connection (`BEGIN
            // IMMEDIATE` during an alert burst), and with two, two such writers (the outbox
            // dispatcher, a detector, a person's `ack`) would leave no connection for reads.
            .max_connections(4)
            // A local file cannot go away under an open connection: no ping on every acquire
            // (with sqlx's SQLite driver each ping is a round trip to the connection's thread,
            // a third of an `incident_get`'s CPU under load).
            .test_before_acquire(false)
            // The hottest reads do not use the pool (`direct`): connections a burst opened
            // (each a thread with its own cache and statements) close after 10 s unused
            // instead of sqlx's 10 minutes; the next user opens one in about a millisecond.
            .idle_timeout(SQLITE_IDLE_TIMEOUT)
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute(sqlite_setup(READ_CACHE_SIZE).as_str()).await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("cannot open {}: {e}", path.display())))?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))?;
        Ok(Self {
            pool,
            dialect: Dialect::Sqlite,
            intake: Default::default(),
            entity_ids: Default::default(),
            direct: Some(std::sync::Arc::new(direct::DirectReads::new(file))),
        })
    }

    /// SQLite: how many reads the direct path answered and how many it left to the pool.
    #[doc(hidden)]
    pub fn direct_read_counts(&self) -> Option<(u64, u64)> {
        self.direct.as_ref().map(|d| d.counts())
    }

    /// The same store with every read going through the sqlx pool (SQLite's direct reads off),
    /// for tests that compare both paths.
    #[doc(hidden)]
    pub fn reading_through_the_pool(&self) -> Self {
        Self {
            direct: None,
            ..self.clone()
        }
    }

    /// Connects to a `postgres://` or `postgresql://` URL and runs `migrations/postgres` (sqlx
    /// serialises concurrent migrators with an advisory lock, so replicas may start together).
    /// An unreachable server fails within a few seconds, naming host and port. Errors never
    /// carry the URL or its password.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let scrub = |e: &dyn std::fmt::Display| crate::domain::redact_url(&e.to_string(), url);
        // The parse error could echo the URL: say only that it is invalid.
        let invalid = || StoreError::Database("the database URL is not a valid PostgreSQL URL".into());
        let pg = PgConnectOptions::from_str(url).map_err(|_| invalid())?;
        let where_ = format!(
            "PostgreSQL at {}:{}/{}",
            pg.get_host(),
            pg.get_port(),
            pg.get_database().unwrap_or("")
        );
        let opts = AnyConnectOptions::from_str(url)
            .map_err(|_| invalid())?
            .disable_statement_logging();
        // One direct attempt first: the pool would retry a refused connection until its
        // acquire timeout and then report only "pool timed out".
        match tokio::time::timeout(PG_CONNECT_TIMEOUT, AnyConnection::connect_with(&opts)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
            }
            Ok(Err(e)) => {
                return Err(StoreError::Database(format!(
                    "cannot connect to {where_}: {}",
                    connect_error(&e, &scrub)
                )));
            }
            Err(_) => {
                return Err(StoreError::Database(format!(
                    "cannot connect to {where_}: no answer within {} s",
                    PG_CONNECT_TIMEOUT.as_secs()
                )));
            }
        }
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            // A connection lost later is retried (the server may be restarting) until this runs out.
            .acquire_timeout(Duration::from_secs(10))
            .after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("SET application_name = 'incident-mcp'; SET TimeZone = 'UTC'")
                        .await?;
                    Ok(())
                })
            })
            .connect_with(opts)
            .await
            .map_err(|e| StoreError::Database(format!("cannot connect to {where_}: {}", scrub(&e))))?;
        sqlx::migrate!("./migrations/postgres")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Migration(scrub(&e)))?;
        Ok(Self {
            pool,
            dialect: Dialect::Postgres,
            intake: Default::default(),
            entity_ids: Default::default(),
            direct: None,
        })
    }

    /// Which database this store talks to.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Writes a consistent copy of a SQLite database to `dest` (which must not exist), for
    /// what-if runs such as `replay` that must not touch the real store.
    pub async fn snapshot_to(&self, dest: &Path) -> Result<(), StoreError> {
        if self.dialect != Dialect::Sqlite {
            return Err(StoreError::Database("snapshots are only taken of SQLite stores".into()));
        }
        let dest = dest
            .to_str()
            .ok_or_else(|| StoreError::Database(format!("{} is not valid UTF-8", dest.display())))?;
        sqlx::query("VACUUM INTO $1").bind(dest).execute(&self.pool).await?;
        Ok(())
    }

    /// Opens a write transaction holding `lock` (see [`Dialect`]).
    async fn begin(&self, lock: Lock) -> Result<Transaction<'static, sqlx::Any>, StoreError> {
        let tx = match self.dialect.begin() {
            Some(sql) => self.pool.begin_with(sql).await?,
            None => self.pool.begin().await?,
        };
        self.take_lock(tx, lock).await
    }

    /// [`SqlStore::begin`] on a connection the caller holds (to set it up before and after).
    async fn begin_on<'c>(
        &self,
        conn: &'c mut AnyConnection,
        lock: Lock,
    ) -> Result<Transaction<'c, sqlx::Any>, StoreError> {
        let tx = match self.dialect.begin() {
            Some(sql) => sqlx::Connection::begin_with(conn, sql).await?,
            None => sqlx::Connection::begin(conn).await?,
        };
        self.take_lock(tx, lock).await
    }

    async fn take_lock<'c>(
        &self,
        mut tx: Transaction<'c, sqlx::Any>,
        lock: Lock,
    ) -> Result<Transaction<'c, sqlx::Any>, StoreError> {
        if let Some(key) = self.dialect.lock_key(lock) {
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(key)
                .execute(&mut *tx)
                .await?;
        }
        Ok(tx)
    }
}

/// "connection refused" and friends in words, else the driver's (scrubbed) message.
fn connect_error(e: &sqlx::Error, scrub: &dyn Fn(&dyn std::fmt::Display) -> String) -> String {
    match e {
        sqlx::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => "connection refused".into(),
            std::io::ErrorKind::TimedOut => "connection timed out".into(),
            _ => scrub(io),
        },
        _ => scrub(e),
    }
}

/// Percent-encodes what a `sqlite://` URL's path cannot carry literally.
fn url_path(file: &str) -> String {
    let mut out = String::with_capacity(file.len());
    for c in file.chars() {
        if c.is_control() || " \"#<>?`{}%".contains(c) {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Runs `{head} VALUES ($1, …), ($n, …) {tail}` over `rows` (all `cols` wide), in chunks of
/// [`chunk_rows`] rows, and returns every row the statements return, in order.
///
/// The statements are prepared once per connection and kept (sqlx's statement cache): chunks
/// come in power-of-two sizes only (256 rows at most), so a writer sees a handful of distinct
/// statements per `head` instead of one per row count, each of which SQLite had to parse again
/// (a multi-row `VALUES` of thousands of parameters: an eighth of the alert writer's CPU).
async fn values(
    dialect: Dialect,
    tx: &mut AnyConnection,
    head: &str,
    tail: &str,
    cols: usize,
    rows: Vec<Vec<Arg>>,
) -> Result<Vec<AnyRow>, StoreError> {
    let mut out = Vec::new();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let n = chunk_rows(dialect, cols, rows.len());
        let chunk: Vec<Vec<Arg>> = rows.by_ref().take(n).collect();
        let sql = values_sql(dialect, head, tail, cols, chunk.len());
        let mut q = sqlx::query(&sql);
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

/// Rows per multi-row statement at most: a kept statement's compiled program grows with its rows,
/// and 2,048-row statements held ~8 MiB on the alert writer while it was open.
const MAX_CHUNK_ROWS: usize = 256;

/// Rows in the next chunk of `remaining` rows `cols` wide: the largest power of two that fits
/// `remaining`, [`MAX_CHUNK_ROWS`] and the parameter limit.
fn chunk_rows(dialect: Dialect, cols: usize, remaining: usize) -> usize {
    let most = (dialect.max_params() / cols.max(1)).clamp(1, remaining.clamp(1, MAX_CHUNK_ROWS));
    1 << most.ilog2()
}

/// `{head} VALUES (p, ...), ... {tail}` for `rows` rows of `cols` parameters, all bound in
/// order, written into one buffer (a statement can carry thousands of them). SQLite gets
/// anonymous `?`: sqlx resolves a named `$N` through `sqlite3_bind_parameter_name`, a linear
/// scan, so a multi-row `VALUES` of thousands of `$N` costs quadratic time (it made alert intake
/// six times slower than positional binding). PostgreSQL gets `$1`, `$2`, ...
fn values_sql(dialect: Dialect, head: &str, tail: &str, cols: usize, rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = String::with_capacity(head.len() + tail.len() + 16 + rows * cols * 8);
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 1..=cols {
            if c > 1 {
                sql.push_str(", ");
            }
            match dialect {
                Dialect::Sqlite => sql.push('?'),
                Dialect::Postgres => {
                    let _ = write!(sql, "${}", r * cols + c);
                }
            }
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

#[cfg(test)]
mod tests {
    use super::{Dialect, MAX_CHUNK_ROWS, chunk_rows, url_path, values_sql};

    #[test]
    fn values_chunks_come_in_power_of_two_sizes_under_the_parameter_limit() {
        let sizes = |cols: usize, mut remaining: usize| {
            let mut out = Vec::new();
            while remaining > 0 {
                let n = chunk_rows(Dialect::Sqlite, cols, remaining);
                out.push(n);
                remaining -= n;
            }
            out
        };
        assert_eq!(sizes(8, 700), [256, 256, 128, 32, 16, 8, 4]);
        assert_eq!(sizes(3, 1), [1]);
        assert_eq!(sizes(8, 255), [128, 64, 32, 16, 8, 4, 2, 1]);
        assert_eq!(sizes(1, 400 * MAX_CHUNK_ROWS), [MAX_CHUNK_ROWS; 400]);
        // 30,000 parameters at most: 1,000-column rows go 16 to a statement.
        assert_eq!(sizes(1_000, 40), [16, 16, 8]);
        // Wider rows than the limit still go one per statement.
        assert_eq!(sizes(40_000, 2), [1, 1]);
    }

    #[test]
    fn values_lists_number_postgres_parameters_and_leave_sqlite_anonymous() {
        assert_eq!(
            values_sql(Dialect::Postgres, "INSERT INTO t (a, b)", "RETURNING a", 2, 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) RETURNING a"
        );
        assert_eq!(
            values_sql(Dialect::Sqlite, "WITH k(a) AS (", ") SELECT a FROM k", 1, 3),
            "WITH k(a) AS ( VALUES (?), (?), (?) ) SELECT a FROM k"
        );
    }

    /// The bundled SQLite was built with the options `.cargo/config.toml` gives it (a cached
    /// build of libsqlite3-sys without them would keep memory statistics and their mutex).
    #[tokio::test]
    async fn the_bundled_sqlite_is_built_without_memory_statistics() {
        let dir = tempfile::tempdir().unwrap();
        let store = super::SqlStore::open(&dir.path().join("x.db")).await.unwrap();
        let options: Vec<String> = sqlx::query_scalar("SELECT compile_options FROM pragma_compile_options")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        for want in ["DEFAULT_MEMSTATUS=0", "USE_ALLOCA"] {
            assert!(options.iter().any(|o| o == want), "{want} missing from {options:?}");
        }
    }

    #[test]
    fn sqlite_paths_survive_the_url() {
        assert_eq!(url_path("/var/lib/a b/x#1?.db"), "/var/lib/a%20b/x%231%3F.db");
        assert_eq!(url_path("/tmp/100%.db"), "/tmp/100%25.db");
    }
}
