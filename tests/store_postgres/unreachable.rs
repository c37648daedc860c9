//! An unreachable PostgreSQL fails fast: a port nobody listens on answers "connection refused"
//! at once, and the store says so, naming host and port, instead of waiting out the pool's
//! acquire timeout and saying only "pool timed out". The password never shows.

use std::time::{Duration, Instant};

use incident_mcp::store::PgStore;

use crate::common;

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_connection_fails_fast_naming_host_and_port() {
    common::init_logs();
    // A free loopback port: bound, then released, so nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let password = common::secret("pg-unreachable-password");
    let url = format!("postgres://incident:{password}@127.0.0.1:{port}/ops");
    let started = Instant::now();
    let err = match PgStore::connect(&url).await {
        Ok(_) => panic!("connected to a port nobody listens on"),
        Err(e) => e.to_string(),
    };
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}: {err}");
    assert!(err.contains("connection refused"), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    assert!(!err.contains(&password), "{err}");
    assert!(!err.contains("pool timed out"), "{err}");
}
