//! The PostgreSQL explainability source against a real PostgreSQL server (Debian's package,
//! installed by `.ci/run`): an `explainability_metrics` series with an injected drift is
//! found by `incident-mcp detect --env test --type explainability` through a read-only role;
//! later runs read only new rows (none twice, none skipped), keep detector state across
//! processes, and a server that is down is a backend failure (exit 2) that writes nothing.
//! The role's password is a canary that must never appear in any output.

use crate::common;
use crate::pg;

use std::{process::Command, sync::LazyLock};

use serde_json::Value;

/// The reader role's password, derived from the suite-wide canary.
static PASSWORD: LazyLock<String> = LazyLock::new(|| common::secret("pg-reader-password"));

/// The table and the read-only role with `password` (the canary is `[a-z0-9-]`: safe to quote).
fn setup(password: &str) -> String {
    assert!(
        password.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        "unquotable password"
    );
    format!(
        r#"
CREATE TABLE explainability_metrics (
    "timestamp"  timestamptz      NOT NULL,
    feature_name text             NOT NULL,
    importance   double precision
);
-- 600 minutes of three features with bounded wiggle; `income` drifts up by 0.3 at minute 450.
INSERT INTO explainability_metrics
SELECT timestamptz '2026-11-01 00:00:00+00' + m * interval '1 minute', f.name,
       f.base + 0.01 * sin(m * 0.7 + f.phase) + 0.01 * sin(m * 1.3)
              + CASE WHEN f.name = 'income' AND m >= 450 THEN 0.3 ELSE 0 END
FROM generate_series(0, 599) AS m,
     (VALUES ('income', 0.30, 0.0), ('age', 0.20, 1.0), ('zip_code', 0.10, 2.0)) AS f(name, base, phase);
CREATE ROLE reader LOGIN PASSWORD '{password}';
GRANT SELECT ON explainability_metrics TO reader;
"#
    )
}

const CONFIG: &str = r#"
[environments.test]
[[environments.test.sources]]
name = "openclaw-pg"
kind = "postgres"
url_env = "TEST_PG_URL"

[[environments.test.rules]]
name = "importance-drift"
title = "Feature importance drift"
type = "explainability"
severity = "medium"
metric = "feature_importance"
detector = "zscore"
window = 60
entity = "feature/{feature}"

# Same table, read 250 rows per scan: paging must neither skip nor repeat rows.
[environments.paged]
[[environments.paged.sources]]
name = "openclaw-pg"
kind = "postgres"
url_env = "TEST_PG_URL"
max_rows = 250

[[environments.paged.rules]]
name = "importance-drift"
type = "explainability"
severity = "medium"
metric = "feature_importance"
detector = "zscore"
window = 60
entity = "feature/{feature}"
"#;

struct Run {
    dir: tempfile::TempDir,
    url: String,
}

impl Run {
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(common::bin())
            .env_remove("OPENCLAW_API_KEY")
            .env("INCIDENT_MCP_DB", self.dir.path().join("incidents.db"))
            .env("INCIDENT_MCP_CONFIG", self.dir.path().join("pg.toml"))
            .env("TEST_PG_URL", &self.url)
            .arg("--verbose")
            .args(args)
            .output()
            .expect("run incident-mcp");
        let (o, e) = (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        assert!(
            !o.contains(PASSWORD.as_str()) && !e.contains(PASSWORD.as_str()),
            "the database password leaked:\n{o}\n{e}"
        );
        (out.status.code().unwrap_or(-1), o, e)
    }

    fn detect(&self, env: &str) -> Value {
        let (code, out, err) = self.run(&["detect", "--env", env, "--type", "explainability", "--format", "json"]);
        assert_eq!(code, 0, "detect --env {env} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }
}

fn points(report: &Value) -> u64 {
    report["sources"][0]["metric_points"].as_u64().expect("metric_points")
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_in_explainability_metrics_is_found_once_and_rows_are_read_once() {
    let mut cluster = pg::PgCluster::start().await;
    cluster.exec("CREATE DATABASE openclaw").await;
    let admin = cluster.url("postgres", None, "openclaw");
    {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&admin).await.expect("connect");
        c.execute(setup(&PASSWORD).as_str()).await.expect("setup");
    }
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("pg.toml"), CONFIG).expect("config");
    let run = Run {
        url: cluster.url("reader", Some(PASSWORD.as_str()), "openclaw"),
        dir,
    };

    // First scan: all 1800 rows, one incident, for the drifting feature only.
    let first = run.detect("test");
    assert_eq!(points(&first), 1800, "{first:#}");
    assert_eq!(first["created"], 1, "{first:#}");
    let found = &first["incidents"][0];
    assert_eq!(found["entity"], "feature/income");
    assert_eq!(found["type"], "explainability");
    assert!(found["max_score"].as_f64().unwrap() >= 0.8);

    // Second scan: nothing new to read, nothing opened or updated.
    let second = run.detect("test");
    assert_eq!(
        (points(&second), second["created"].as_u64(), second["updated"].as_u64()),
        (0, Some(0), Some(0)),
        "{second:#}"
    );

    // New ordinary rows: only they are read, scored against the state the first process
    // saved (no fresh warm-up, so no false alarm), and still no duplicate incident.
    {
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&admin).await.expect("connect");
        c.execute(
            "INSERT INTO explainability_metrics
             SELECT timestamptz '2026-11-01 00:00:00+00' + m * interval '1 minute', f.name,
                    f.base + 0.01 * sin(m * 0.7 + f.phase) + 0.01 * sin(m * 1.3)
             FROM generate_series(600, 629) AS m,
                  (VALUES ('income', 0.60, 0.0), ('age', 0.20, 1.0), ('zip_code', 0.10, 2.0)) AS f(name, base, phase)",
        )
        .await
        .expect("insert");
    }
    let third = run.detect("test");
    assert_eq!(
        (points(&third), third["created"].as_u64(), third["updated"].as_u64()),
        (90, Some(0), Some(0)),
        "{third:#}"
    );
    let (code, out, _) = run.run(&["list", "--format", "json"]);
    assert_eq!(code, 0);
    let list: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(list["incidents"].as_array().map(Vec::len), Some(1), "{list:#}");

    // Paging 250 rows at a time reads every row exactly once and finds the same drift.
    let mut total = 0;
    let mut created = 0;
    for _ in 0..20 {
        let r = run.detect("paged");
        let n = points(&r);
        created += r["created"].as_u64().unwrap();
        if n == 0 {
            break;
        }
        assert!(n <= 250);
        total += n;
    }
    assert_eq!(total, 1890);
    assert_eq!(created, 1);

    // The server is down: exit 2, one line naming the source, nothing written.
    cluster.stop();
    let (code, out, err) = run.run(&["detect", "--env", "test", "--type", "explainability"]);
    assert_eq!(code, 2, "{out}{err}");
    let last = err.lines().last().unwrap_or_default();
    assert!(last.starts_with("Error: ") && last.contains("openclaw-pg"), "{err}");
    let (_, out, _) = run.run(&["list", "--format", "json"]);
    let after: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(after["incidents"].as_array().map(Vec::len), Some(2));
}

#[test]
fn missing_url_variable_is_a_backend_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pg.toml"), CONFIG).unwrap();
    let out = Command::new(common::bin())
        .env_remove("TEST_PG_URL")
        .env("INCIDENT_MCP_DB", dir.path().join("incidents.db"))
        .env("INCIDENT_MCP_CONFIG", dir.path().join("pg.toml"))
        .args(["detect", "--env", "test"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("TEST_PG_URL"), "{err}");
}
