//! Black-box tests of the real binary: every exit-code path, the one-line `Error:`
//! messages, persistence across processes, and stdio hygiene of `serve`.

use crate::common;

use std::{
    io::{BufRead, BufReader, Write},
    process::{Command, Stdio},
};

use assert_cmd::Command as Cmd;
use serde_json::Value;

struct Cli {
    dir: tempfile::TempDir,
}

impl Cli {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn db(&self) -> String {
        self.dir.path().join("incidents.db").display().to_string()
    }
    fn cmd(&self, args: &[&str]) -> Cmd {
        let mut c = Cmd::new(common::bin());
        c.env_remove("INCIDENT_MCP_CONFIG")
            .env_remove("OPENCLAW_API_KEY")
            .env("INCIDENT_MCP_DB", self.db());
        c.args(args);
        c
    }
    /// Runs and returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
    fn json(&self, args: &[&str]) -> Value {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "{args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: stdout is not JSON ({e}): {out}"))
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

/// Asserts a failure exit with exactly one `Error: ...` line on stderr containing `needle`.
fn assert_fails(cli: &Cli, args: &[&str], code: i32, needle: &str) {
    let (got, out, err) = cli.run(args);
    assert_eq!(got, code, "{args:?}: stderr was {err}");
    assert!(out.is_empty(), "{args:?}: nothing on stdout on failure, got {out}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{args:?}: one line on stderr, got {err}");
    assert!(
        lines[0].starts_with("Error: ") && lines[0].contains(needle),
        "{args:?}: {err}"
    );
}

#[test]
fn exit_0_detect_and_lifecycle() {
    let cli = Cli::new();
    let r = cli.json(&["detect", "--env", "dev", "--type", "network", "--threshold", "0.7"]);
    assert_eq!(r["created"], 1);
    assert_eq!(r["incidents"][0]["entity"], "pod/shop/web-7");
    let r = cli.json(&["detect", "--env", "dev"]);
    assert_eq!(
        (r["created"].as_u64(), r["incidents"].as_array().map(Vec::len)),
        (Some(1), Some(2))
    );
    let a = cli.json(&["analyze", "--id", "INC-000001", "--depth", "2", "--format", "json"]);
    assert_eq!(a["affected_resources"][0]["entity"], "pod/shop/web-7");
    assert!(a["timeline"].is_array());
    let (code, table, _) = cli.run(&["analyze", "--id", "INC-000002", "--format", "table"]);
    assert_eq!(code, 0);
    assert!(
        table.contains("affected resources") && table.contains("ip/203.0.113.9"),
        "{table}"
    );
    // What depth 1 adds around the attacker, and what to do about it (nothing runs).
    assert!(
        table.contains("entities by depth") && table.contains("user/root") && table.contains("host/bastion-1"),
        "{table}"
    );
    assert!(
        table.contains("suggested actions") && table.contains(r#""action":"block","resource":"203.0.113.9""#),
        "{table}"
    );
    assert_eq!(
        cli.json(&["ack", "--id", "INC-000002", "--note", "paged"])["incident"]["status"],
        "acknowledged"
    );
    assert_eq!(
        cli.json(&["resolve", "--id", "INC-000002", "--note", "ip blocked"])["incident"]["status"],
        "resolved"
    );
    let (code, table, _) = cli.run(&["list", "--format", "table"]);
    assert_eq!(code, 0);
    assert!(
        table.starts_with("ID") && table.contains("INC-000002  resolved"),
        "{table}"
    );
}

#[test]
fn data_survives_a_restart() {
    let cli = Cli::new();
    cli.json(&["detect", "--env", "dev"]);
    cli.json(&["resolve", "--id", "INC-000001", "--note", "rolled back"]);
    // Each command is a fresh process opening the same database file.
    let list = cli.json(&["list"]);
    assert_eq!(list["count"], 2);
    let one = cli.json(&["get", "--id", "INC-000001"]);
    assert_eq!(one["incident"]["status"], "resolved");
    let a = cli.json(&["analyze", "--id", "INC-000001", "--depth", "2"]);
    let tl = a["timeline"].as_array().unwrap();
    assert_eq!(tl.last().unwrap()["data"]["note"], "rolled back");
}

#[test]
fn exit_1_input_errors() {
    let cli = Cli::new();
    assert_fails(
        &cli,
        &["detect", "--env", "qa"],
        1,
        "unknown environment `qa`; configured environments: dev, prod, staging",
    );
    assert_fails(
        &cli,
        &["detect", "--env", "dev", "--threshold", "1.5"],
        1,
        "threshold: 1.5 is outside 0..1",
    );
    assert_fails(
        &cli,
        &["detect", "--env", "dev", "--threshold", "-0.2"],
        1,
        "outside 0..1",
    );
    assert_fails(
        &cli,
        &["detect", "--env", "dev", "--threshold", "high"],
        1,
        "invalid value 'high'",
    );
    assert_fails(
        &cli,
        &["detect", "--env", "dev", "--bogus"],
        1,
        "unexpected argument '--bogus'",
    );
    assert_fails(&cli, &["detect", "--analyze-depth", "4"], 1, "analyze-depth");
    assert_fails(&cli, &["detect", "--env", "dev", "--type", "weather"], 1, "--type");
    assert_fails(&cli, &["detect", "--env", "Dev!"], 1, "not a valid environment name");
    assert_fails(
        &cli,
        &["detect", "--env", "dev", "--source", "nope"],
        1,
        "unknown source `nope`",
    );
    assert_fails(&cli, &["analyze", "--id", "INC-000042"], 1, "no incident INC-000042");
    assert_fails(&cli, &["analyze", "--id", "42; rm -rf /"], 1, "is not an incident id");
    assert_fails(&cli, &["analyze", "--id", "INC-000001", "--depth", "7"], 1, "depth");
    assert_fails(&cli, &["list", "--status", "closed"], 1, "--status");
    assert_fails(&cli, &["resolve", "--id", "INC-000001"], 1, "--note");
    assert_fails(&cli, &["frobnicate"], 1, "unrecognized subcommand");
    let bad_cfg = cli.write("bad.toml", "[environments.x]\nsurprise = 1\n");
    assert_fails(&cli, &["--config", &bad_cfg, "detect", "--env", "x"], 1, "surprise");
    // An illegal lifecycle move is an input error too.
    cli.json(&["detect", "--env", "dev"]);
    cli.json(&["resolve", "--id", "INC-000001", "--note", "x"]);
    assert_fails(&cli, &["ack", "--id", "INC-000001"], 1, "cannot become acknowledged");
    // Nothing was written by the failed calls above.
    assert_eq!(cli.json(&["list"])["count"], 2);
}

#[test]
fn exit_2_backend_failures() {
    let cli = Cli::new();
    assert_fails(
        &cli,
        &["detect", "--env", "dev", "--source", "file:/nonexistent/events.jsonl"],
        2,
        "unavailable",
    );
    let missing = cli.write(
        "missing-source.toml",
        "[[environments.edge.sources]]\nname = \"gone\"\nkind = \"jsonl\"\npath = \"/nonexistent/edge.jsonl\"\n",
    );
    assert_fails(
        &cli,
        &["--config", &missing, "detect", "--env", "edge"],
        2,
        "source `gone` unavailable",
    );
    let blocker = cli.write("not-a-dir", "");
    let db = format!("{blocker}/incidents.db");
    assert_fails(&cli, &["--db", &db, "list"], 2, "database");
}

/// A database file edited by hand (a value of the wrong type where a number belongs) is a
/// storage error naming the column, exit 2: never a panic.
#[tokio::test]
async fn a_hand_edited_database_is_exit_2_naming_the_column_not_a_panic() {
    use sqlx::Connection;
    let cli = Cli::new();
    assert_eq!(cli.json(&["detect", "--env", "dev", "--format", "json"])["created"], 2);
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", cli.db()))
        .await
        .unwrap();
    sqlx::query("UPDATE incidents SET signal_count = 'many' WHERE id = 1")
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    for args in [&["list"][..], &["get", "--id", "INC-000001"]] {
        let (code, out, err) = cli.run(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty() && !err.contains("panicked"), "{args:?}: {err}");
        assert!(
            err.contains("Error: storage unavailable: corrupt row: column `signal_count`"),
            "{err}"
        );
    }
}

#[test]
fn config_default_prints_a_valid_documented_config() {
    let cli = Cli::new();
    let (code, out, _) = cli.run(&["config", "default"]);
    assert_eq!(code, 0);
    assert!(out.contains("[environments.dev]") && out.contains("OPENCLAW_API_KEY"));
    let path = cli.write("copy.toml", &out);
    let (code, out, err) = cli.run(&["--config", &path, "config", "check"]);
    assert_eq!(
        (code, out.trim()),
        (0, "configuration ok; environments: dev, prod, staging"),
        "{err}"
    );
    let json_cfg = cli.write(
        "c.json",
        r#"{"environments":{"lab":{"sources":[{"name":"s","kind":"jsonl","path":"events.jsonl"}]}}}"#,
    );
    cli.write(
        "events.jsonl",
        "{\"ts\":\"2026-11-01T00:00:00Z\",\"metric\":\"m\",\"value\":1}\n",
    );
    let r = cli.json(&["--config", &json_cfg, "detect", "--env", "lab"]);
    assert_eq!(
        r["sources"][0]["events"], 1,
        "relative source paths resolve against the config file"
    );
}

#[test]
fn http_refuses_a_public_bind_without_a_key() {
    let cli = Cli::new();
    assert_fails(
        &cli,
        &["serve", "--http", "0.0.0.0:0"],
        1,
        "refusing to listen on non-loopback address",
    );
    assert_fails(&cli, &["serve", "--http", "not-an-address"], 1, "--http");
}

#[test]
fn stdio_carries_only_protocol_and_survives_garbage() {
    let cli = Cli::new();
    let mut child = Command::new(common::bin())
        .args(["--db", &cli.db(), "--verbose", "serve"])
        .env_remove("INCIDENT_MCP_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#;
    writeln!(stdin, "{init}").unwrap();
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let v: Value = serde_json::from_str(&line).expect("stdout line is JSON-RPC");
    assert_eq!(v["result"]["serverInfo"]["name"], "incident-mcp");
    writeln!(stdin, r#"{{"jsonrpc":"2.0","method":"notifications/initialized"}}"#).unwrap();
    writeln!(stdin, "this is not json").unwrap();
    writeln!(stdin, r#"{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"incident_get","arguments":{{"id":"INC-000001"}}}}}}"#).unwrap();
    // Every stdout line is JSON-RPC; the server keeps serving after garbage.
    loop {
        line.clear();
        assert!(stdout.read_line(&mut line).unwrap() > 0, "server closed stdout");
        let v: Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("non-protocol output on stdout ({e}): {line}"));
        assert_eq!(v["jsonrpc"], "2.0");
        if v["id"] == 2 {
            assert_eq!(v["result"]["isError"], true);
            assert!(
                v["result"]["content"][0]["text"]
                    .as_str()
                    .unwrap()
                    .contains("no incident INC-000001")
            );
            break;
        }
    }
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "stdio server exits cleanly on EOF: {status:?}");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!err.is_empty(), "--verbose logs go to stderr");
}

#[test]
fn replay_reports_what_detect_would_do_and_stores_nothing() {
    let cli = Cli::new();
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/dev-events.jsonl");
    // Empty store: the recorded events would open the two injected incidents.
    let r = cli.json(&["replay", "--env", "dev", "--file", sample, "--format", "json"]);
    assert_eq!(r["created"], 2, "{r:#}");
    assert!(r["summary"].as_str().unwrap().starts_with("replay (nothing stored)"));
    let list = cli.json(&["list", "--format", "json"]);
    assert_eq!(list["incidents"].as_array().map(Vec::len), Some(0), "{list:#}");

    // Once detect has recorded them, replaying the same events would change nothing.
    assert_eq!(cli.json(&["detect", "--env", "dev"])["created"], 2);
    let before = cli.json(&["get", "--id", "INC-000001", "--format", "json"]);
    let r = cli.json(&["replay", "--env", "dev", "--file", sample, "--format", "json"]);
    assert_eq!(
        (r["created"].as_u64(), r["updated"].as_u64()),
        (Some(0), Some(0)),
        "{r:#}"
    );
    // New evidence for a known incident would update it, but the store stays as it was.
    let more = cli.write(
        "more.jsonl",
        r#"{"ts":"2030-01-01T00:00:00Z","metric":"net_tx_bytes_per_second","value":9e9,"labels":{"namespace":"shop","pod":"web-7"}}"#,
    );
    let r = cli.json(&["replay", "--env", "dev", "--file", &more, "--format", "json"]);
    assert_eq!(
        (r["created"].as_u64(), r["updated"].as_u64()),
        (Some(0), Some(1)),
        "{r:#}"
    );
    assert_eq!(cli.json(&["get", "--id", "INC-000001", "--format", "json"]), before);
    assert_eq!(
        cli.json(&["list", "--format", "json"])["incidents"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    assert_fails(
        &cli,
        &["replay", "--env", "dev", "--file", "/nonexistent.jsonl"],
        1,
        "no such file",
    );
    assert_fails(&cli, &["replay", "--env", "nope", "--file", sample], 1, "nope");
}
