//! One leader for the response tasks (TTL reverts, start-up reconciliation of interrupted
//! actions) among the replicas of one database.
//!
//! On SQLite the process is always the leader: the tasks start at once, as before. On PostgreSQL
//! every replica may run `serve` or `watch`; the one holding the session-level advisory lock
//! [`LEADER_LOCK`] on a dedicated connection runs the tasks, the others try to take the lock
//! every [`POLL`]. PostgreSQL releases a session lock when the session ends, so a leader that
//! exits or is killed (`kill -9` closes its socket) frees it at once, and a follower takes over
//! within one [`POLL`], then runs reconciliation and the overdue TTL reverts before anything
//! else. TCP keepalives on the lock's connection bound how long a leader cut off by the network
//! keeps the lock. The leader checks its connection every [`HEARTBEAT`]; when it is gone it
//! stops the tasks and goes back to trying, so two replicas never run them for longer than one
//! heartbeat (and a revert applied twice is still one revert: the inverse changes are
//! idempotent and the action is marked reverted once).

use std::{str::FromStr, time::Duration};

use secrecy::ExposeSecret;
use sqlx::{ConnectOptions, Connection, PgConnection, postgres::PgConnectOptions};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{
    service::{IncidentService, ServiceError},
    store::StoreLocation,
};

/// The advisory lock key of the response tasks (distinct from the store's transaction locks).
pub const LEADER_LOCK: i64 = 0x1c1d_a0d1_0000_0010;
/// How often a follower tries to take the lock: the bound on a takeover after the leader died.
pub const POLL: Duration = Duration::from_secs(1);
/// How often the leader checks that its lock's connection is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);

/// Runs while held; dropping it stops the response tasks (and releases the lock).
pub struct ResponseTasks {
    _stop: DropGuard,
}

/// Starts the response tasks for a process using `location`: at once on SQLite; on PostgreSQL
/// when (and as long as) this replica holds the leader lock.
pub async fn start(svc: &IncidentService, location: &StoreLocation) -> Result<ResponseTasks, ServiceError> {
    let url = match location {
        StoreLocation::Sqlite(_) => {
            return Ok(ResponseTasks {
                _stop: svc.start_response_tasks().await?,
            });
        }
        StoreLocation::Postgres(url) => url,
    };
    // The URL parsed as the store parsed it; its errors never echo it.
    let opts = PgConnectOptions::from_str(url.expose_secret())
        .map_err(|_| ServiceError::Backend("the database URL is not a valid PostgreSQL URL".into()))?
        .application_name("incident-mcp leader")
        .options([
            ("tcp_keepalives_idle", "10"),
            ("tcp_keepalives_interval", "5"),
            ("tcp_keepalives_count", "3"),
        ])
        .disable_statement_logging();
    let stop = CancellationToken::new();
    // A first try in the caller, so a lone replica reconciles before it serves, as on SQLite.
    let mut conn = None;
    let first = match try_lock(&opts, &mut conn).await {
        Ok(true) => {
            tracing::info!("this replica runs the response tasks (it holds the leader lock)");
            Some(svc.start_response_tasks().await?)
        }
        Ok(false) => None,
        Err(e) => {
            tracing::warn!(error = %e, "cannot try the response-tasks lock; retrying");
            None
        }
    };
    if first.is_none() {
        tracing::info!("another replica runs the response tasks; this one takes over if it stops");
    }
    tokio::spawn(supervise(svc.clone(), opts, conn, first, stop.clone()));
    Ok(ResponseTasks {
        _stop: stop.drop_guard(),
    })
}

async fn supervise(
    svc: IncidentService,
    opts: PgConnectOptions,
    mut conn: Option<PgConnection>,
    mut tasks: Option<DropGuard>,
    stop: CancellationToken,
) {
    loop {
        if tasks.is_some() {
            // Leader: keep the lock's session alive; lose it, stop the tasks.
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tokio::time::sleep(HEARTBEAT) => {}
            }
            let alive = match conn.as_mut() {
                Some(c) => c.ping().await.is_ok(),
                None => false,
            };
            if !alive {
                tracing::warn!(
                    "lost the response-tasks lock (its database session ended); stopping the response tasks"
                );
                tasks = None;
                conn = None;
            }
            continue;
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(POLL) => {}
        }
        match try_lock(&opts, &mut conn).await {
            Ok(true) => {
                tracing::info!("took over the response tasks (this replica now holds the leader lock)");
                match svc.start_response_tasks().await {
                    Ok(guard) => tasks = Some(guard),
                    Err(e) => {
                        // Give the lock back so another replica can try.
                        tracing::error!(error = %e, "response tasks failed to start; releasing the leader lock");
                        conn = None;
                    }
                }
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot try the response-tasks lock; retrying");
                conn = None;
            }
        }
    }
    // Tasks stop first (their guard), then the session ends and the lock with it.
    drop(tasks);
    if let Some(c) = conn {
        let _ = c.close().await;
    }
}

/// One non-blocking attempt on the lock, over the kept connection (opened if need be).
async fn try_lock(opts: &PgConnectOptions, conn: &mut Option<PgConnection>) -> Result<bool, String> {
    if conn.is_none() {
        let c = PgConnection::connect_with(opts).await.map_err(|e| describe(&e))?;
        *conn = Some(c);
    }
    let c = conn.as_mut().expect("connected above");
    sqlx::query_scalar::<_, bool>("SELECT pg_try_advisory_lock($1)")
        .bind(LEADER_LOCK)
        .fetch_one(c)
        .await
        .map_err(|e| describe(&e))
}

/// An error without the URL: the kind of failure only.
fn describe(e: &sqlx::Error) -> String {
    match e {
        sqlx::Error::Io(io) => format!("connection failed: {}", io.kind()),
        sqlx::Error::Database(d) => format!("database error {}", d.code().unwrap_or_default()),
        sqlx::Error::Tls(_) => "TLS failed".into(),
        _ => "the database connection failed".into(),
    }
}
