//! The real binary with `--db postgres://...`: detect, list, ack through PostgreSQL with a
//! password-authenticated role; a wrong password is a backend failure (exit 2) whose message
//! names neither password; replay refuses a PostgreSQL store instead of writing to it.

use std::{str::FromStr, sync::LazyLock};

use assert_cmd::Command as Cmd;
use serde_json::Value;
use sqlx::{ConnectOptions, Connection, Executor, PgConnection, postgres::PgConnectOptions};

use crate::{common, pg};

/// The role's password and a wrong one, both derived from the suite-wide canary.
static PASSWORD: LazyLock<String> = LazyLock::new(|| common::secret("pg-store-password"));
static WRONG: LazyLock<String> = LazyLock::new(|| common::secret("pg-store-wrong-password"));

/// A server with role `incident` (scram-sha-256, `PASSWORD`) owning database `ops`.
async fn server() -> pg::PgCluster {
    common::init_logs();
    assert!(
        PASSWORD.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "unquotable password"
    );
    let cluster = pg::PgCluster::start().await;
    // Not through `cluster.exec`: sqlx logs statements, and this one carries the password.
    let opts = PgConnectOptions::from_str(&cluster.url("postgres", None, "postgres"))
        .expect("url")
        .disable_statement_logging();
    let mut admin = PgConnection::connect_with(&opts).await.expect("connect as postgres");
    admin
        .execute(format!("CREATE ROLE incident LOGIN PASSWORD '{}'", *PASSWORD).as_str())
        .await
        .expect("create role");
    cluster.exec("CREATE DATABASE ops OWNER incident").await;
    cluster
}

/// Runs the binary (built-in config): (exit code, stdout, stderr); neither password may appear.
fn run(db: &str, args: &[&str]) -> (i32, String, String) {
    let out = Cmd::new(common::bin())
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", db)
        .arg("--verbose")
        .args(args)
        .output()
        .expect("run incident-mcp");
    let (o, e) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    for secret in [PASSWORD.as_str(), WRONG.as_str()] {
        assert!(
            !o.contains(secret) && !e.contains(secret),
            "a password leaked:\n{o}\n{e}"
        );
    }
    (out.status.code().unwrap_or(-1), o, e)
}

fn json(db: &str, args: &[&str]) -> Value {
    let (code, out, err) = run(db, args);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn detect_then_list_through_postgres_and_no_password_in_any_output() {
    let cluster = server().await;
    let url = cluster.url("incident", Some(PASSWORD.as_str()), "ops");
    let r = json(&url, &["detect", "--env", "dev", "--format", "json"]);
    let created = r["created"].as_u64().expect("created");
    assert!(created >= 1, "{r:#}");
    // A second process: the same data again is deduplicated in the database.
    let again = json(&url, &["detect", "--env", "dev", "--format", "json"]);
    assert_eq!(again["created"], 0, "{again:#}");
    let list = json(&url, &["list", "--format", "json"]);
    assert_eq!(list["count"].as_u64(), Some(created), "{list:#}");
    let first = list["incidents"][0]["id"].as_str().expect("id").to_owned();
    let acked = json(&url, &["ack", "--id", &first, "--note", "paged", "--format", "json"]);
    assert_eq!(acked["incident"]["status"], "acknowledged");
    // `postgresql://` works too, and `--db` wins over the environment variable.
    let alt = url.replacen("postgres://", "postgresql://", 1);
    let out = Cmd::new(common::bin())
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", "/nonexistent/dir/never-used.db")
        .args(["--db", &alt, "list", "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["count"].as_u64(), Some(created));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_config_file_names_the_database_without_its_password() {
    let cluster = server().await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("incident.toml");
    let url = cluster.url("incident", None, "ops");
    std::fs::write(&config, format!("[storage]\ndb = \"{url}\"\n")).unwrap();
    let list = |password: Option<&str>| {
        let mut cmd = Cmd::new(common::bin());
        cmd.env_remove("INCIDENT_MCP_DB")
            .env_remove("PGPASSWORD")
            .env("INCIDENT_MCP_CONFIG", &config)
            .args(["list", "--format", "json"]);
        if let Some(p) = password {
            cmd.env("PGPASSWORD", p);
        }
        let out = cmd.output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!text.contains(PASSWORD.as_str()), "the password leaked: {text}");
        out
    };
    // PGPASSWORD supplies it.
    let out = list(Some(PASSWORD.as_str()));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["count"], 0);
    // Without it, PostgreSQL refuses: a backend failure, not a silent SQLite file.
    let out = list(None);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn an_invalid_url_is_refused_without_echoing_it() {
    let url = format!("postgres://incident:{}@127.0.0.1:notaport/ops", *PASSWORD);
    let (code, out, err) = run(&url, &["list"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not a valid PostgreSQL URL"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_password_is_exit_2_without_the_password() {
    let cluster = server().await;
    let url = cluster.url("incident", Some(WRONG.as_str()), "ops");
    let (code, out, err) = run(&url, &["list", "--format", "json"]);
    assert_eq!(code, 2, "{out}{err}");
    // With --format json the error is also a JSON document on stdout, without the password.
    let doc: serde_json::Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(doc["error_code"], "storage_unavailable", "{out}");
    assert!(!out.contains(WRONG.as_str()), "{out}");
    let line = err
        .lines()
        .find(|l| l.starts_with("Error: "))
        .unwrap_or_else(|| panic!("{err}"));
    assert!(line.contains("cannot connect to PostgreSQL at 127.0.0.1:"), "{line}");
    assert!(line.contains("password authentication failed"), "{line}");
}

#[tokio::test(flavor = "multi_thread")]
async fn replay_needs_the_sqlite_store() {
    let cluster = server().await;
    let url = cluster.url("incident", Some(PASSWORD.as_str()), "ops");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("events.jsonl");
    std::fs::write(&file, "").unwrap();
    let (code, out, err) = run(&url, &["replay", "--env", "dev", "--file", file.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("replay needs the SQLite store"), "{err}");
    // Nothing was created in the database: replay never connected.
    let (code, out, _) = run(&url, &["list", "--format", "json"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["count"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_processes_detecting_at_once_open_each_incident_once() {
    let cluster = server().await;
    let url = cluster.url("incident", Some(PASSWORD.as_str()), "ops");
    let scan = || {
        let url = url.clone();
        std::thread::spawn(move || json(&url, &["detect", "--env", "dev", "--format", "json"]))
    };
    let (a, b) = (scan(), scan());
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    let created = a["created"].as_u64().unwrap() + b["created"].as_u64().unwrap();
    assert_eq!(created, 2, "the sample data has two incidents: {a:#}\n{b:#}");
    let list = json(&url, &["list", "--format", "json"]);
    assert_eq!(list["count"].as_u64(), Some(created), "{a:#}\n{b:#}\n{list:#}");
    let incidents = list["incidents"].as_array().unwrap();
    let mut fingerprints: Vec<&str> = incidents.iter().filter_map(|i| i["fingerprint"].as_str()).collect();
    fingerprints.sort();
    fingerprints.dedup();
    assert_eq!(
        fingerprints.len(),
        incidents.len(),
        "one incident per fingerprint: {list:#}"
    );
}
