//! The suite-wide secret-canary check (issue 5, acceptance 4) and what it stands on:
//! - `--log-file` / `INCIDENT_MCP_LOG_FILE` appends every process's logs to one file at its own
//!   filter, with tool results, CLI output and errors, REST responses and audit rows at debug;
//! - `scripts/canary-scan` fails on a canary in the log or the JUnit report (without printing
//!   it), on a channel missing from the log, on a missing canary, and on a failed nextest run;
//! - under nextest, the setup script has planted this run's canary and the shared log file.

use crate::common;

use std::{path::Path, process::Command};

use assert_cmd::Command as Cmd;

/// A canary of the shape the setup script plants.
fn fresh_canary() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("cnry{:024x}", nanos ^ (u128::from(std::process::id()) << 64))
}

/// Runs the scanner on `dir` (canary, suite.log) and `junit`; returns (exit code, stdout, stderr).
fn scan(dir: &Path, junit: &Path, nextest_exit: i32, extra: &[&str]) -> (i32, String, String) {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/canary-scan"))
        .arg("--dir")
        .arg(dir)
        .arg("--junit")
        .arg(junit)
        .arg("--nextest-exit")
        .arg(nextest_exit.to_string())
        .args(extra)
        .output()
        .expect("python3 runs the scanner");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A log line for every channel the scanner requires.
const ALL_CHANNELS: &str = "\
DEBUG incident_mcp::logging: process started pid=1
DEBUG rmcp::service: response message id=1 result=...
DEBUG incident_mcp::http::trace: rest response method=GET path=/api/incidents status=200
DEBUG incident_mcp::cli: cli output output={}
DEBUG incident_mcp::cli: cli error code=1 message=unknown incident
DEBUG incident_mcp::store::sqlite::audit: audit row seq=1 kind=proposal
";

const JUNIT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="4" failures="0" errors="0">
  <testsuite name="@setup-script:canary" tests="1" skipped="0" errors="0" failures="0">
    <properties>
      <property name="output-env:INCIDENT_MCP_TEST_CANARY" value="@CANARY@"/>
    </properties>
    <testcase name="canary" classname="@setup-script:canary"/>
  </testsuite>
  <testsuite name="incident-mcp::a" tests="3" disabled="0" errors="0" failures="0">
    <testcase name="t1"><system-out>ok</system-out></testcase>
    <testcase name="t2"/><testcase name="t3"/>
  </testsuite>
</testsuites>
"#;

struct Fixture {
    dir: tempfile::TempDir,
    canary: String,
}

impl Fixture {
    fn new(log: &str, junit: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let canary = fresh_canary();
        std::fs::write(dir.path().join("canary"), format!("{canary}\n")).unwrap();
        std::fs::write(dir.path().join("suite.log"), log.replace("@CANARY@", &canary)).unwrap();
        std::fs::write(dir.path().join("junit.xml"), junit.replace("@CANARY@", &canary)).unwrap();
        Self { dir, canary }
    }
    fn scan(&self, nextest_exit: i32) -> (i32, String, String) {
        self.scan_with(nextest_exit, &[])
    }
    fn scan_with(&self, nextest_exit: i32, extra: &[&str]) -> (i32, String, String) {
        scan(self.dir.path(), &self.dir.path().join("junit.xml"), nextest_exit, extra)
    }
}

fn last_line(s: &str) -> &str {
    s.lines().last().unwrap_or_default()
}

/// The setup script's record of the canary it exported is not a leak, and not a test.
#[test]
fn a_clean_run_passes_and_counts_the_scan_as_one_more_test() {
    let f = Fixture::new(ALL_CHANNELS, JUNIT);
    let (code, out, err) = f.scan(0);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(last_line(&out), "4 passed, 0 failed", "{out}");
    assert!(out.contains("canary scan: passed"), "{out}");
}

#[test]
fn a_canary_in_the_log_fails_the_run_and_is_never_printed() {
    let log = format!("{ALL_CHANNELS}WARN incident_mcp::notify: delivery failed url=https://hooks.example/@CANARY@\n");
    let f = Fixture::new(&log, JUNIT);
    let (code, out, err) = f.scan(0);
    assert_eq!(code, 1, "{out}{err}");
    assert_eq!(last_line(&out), "3 passed, 1 failed", "{out}");
    assert!(err.contains("canary leaked at") && err.contains("suite.log:7"), "{err}");
    assert!(err.contains("<CANARY>"), "the line is shown masked: {err}");
    assert!(
        !out.contains(&f.canary) && !err.contains(&f.canary),
        "the scanner never prints the canary"
    );
}

#[test]
fn a_canary_in_a_tests_captured_output_fails_the_run() {
    let junit = JUNIT.replace(
        "<system-out>ok</system-out>",
        "<system-out>token=@CANARY@-pd</system-out>",
    );
    let f = Fixture::new(ALL_CHANNELS, &junit);
    let (code, out, err) = f.scan(0);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("junit.xml:10"), "{err}");
}

#[test]
fn a_channel_missing_from_the_log_fails_the_run() {
    let log: String = ALL_CHANNELS
        .lines()
        .filter(|l| !l.contains("audit row"))
        .map(|l| format!("{l}\n"))
        .collect();
    let f = Fixture::new(&log, JUNIT);
    let (code, out, err) = f.scan(0);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("channel `audit rows` never reached"), "{err}");
    // A subset of the suite (`scripts/test --test x`) need not exercise every channel...
    let (code, out, err) = f.scan_with(0, &["--partial"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("channel `audit rows` not exercised"), "{out}");
    // ...but a leak still fails it.
    let leaky = Fixture::new(&format!("{log}DEBUG x: token=@CANARY@\n"), JUNIT);
    assert_eq!(leaky.scan_with(0, &["--partial"]).0, 1);
}

#[test]
fn no_planted_canary_fails_the_run() {
    let f = Fixture::new(ALL_CHANNELS, JUNIT);
    std::fs::write(f.dir.path().join("canary"), "\n").unwrap();
    let (code, out, err) = f.scan(0);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no canary planted"), "{err}");
}

#[test]
fn a_failed_nextest_run_fails_even_when_its_report_shows_no_failure() {
    let f = Fixture::new(ALL_CHANNELS, JUNIT);
    let (code, out, _) = f.scan(101);
    assert_eq!(code, 1);
    assert_eq!(last_line(&out), "4 passed, 1 failed", "{out}");
}

/// The binary's log file gets debug detail at its own filter while stderr keeps its default.
#[test]
fn the_log_file_has_its_own_filter_and_records_cli_output_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("all.log");
    let db = dir.path().join("incidents.db");
    let run = |args: &[&str]| {
        Cmd::new(common::bin())
            .env_remove("INCIDENT_MCP_CONFIG")
            .env_remove("RUST_LOG")
            .env("INCIDENT_MCP_DB", &db)
            .env("INCIDENT_MCP_LOG_FILE", &log)
            .env("INCIDENT_MCP_LOG_FILE_FILTER", "incident_mcp=debug,warn")
            .args(args)
            .output()
            .unwrap()
    };
    let ok = run(&["detect", "--env", "dev", "--format", "json"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(
        ok.stderr.is_empty(),
        "stderr stays at its default (warn): {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&["analyze", "--id", "INC-999999"]);
    assert_eq!(bad.status.code(), Some(1));
    // The built-in policy refuses a protected namespace: the refusal is an audit row.
    let contain = "contain --env dev --id INC-000001 --action isolate --resource web-1 --namespace kube-system";
    let refused = run(&contain.split(' ').collect::<Vec<_>>());
    assert_eq!(
        refused.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.contains("process started")).count(),
        3,
        "{text}"
    );
    let output = lines
        .iter()
        .find(|l| l.contains("cli output"))
        .expect("the detect output is logged");
    assert!(output.contains("incidents"), "{output}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("cli error") && l.contains("INC-999999")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("audit row")),
        "the refusal is logged as an audit row: {text}"
    );

    let unwritable = dir.path().join("no/such/dir/x.log");
    let out = Cmd::new(common::bin())
        .env("INCIDENT_MCP_DB", &db)
        .arg("--log-file")
        .arg(&unwritable)
        .args(["list"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("Error: cannot open log file") && err.lines().count() == 1,
        "{err}"
    );
}

/// Under nextest the setup script has planted the canary every test secret derives from, and the
/// shared log file this process appends to.
#[test]
fn under_nextest_the_canary_and_the_shared_log_are_in_place() {
    if std::env::var_os("NEXTEST_RUN_ID").is_none() {
        // `cargo test`: no setup script ran; the per-process fallback still makes secrets unique.
        assert!(common::secret("x").starts_with(common::canary()));
        return;
    }
    let canary = std::env::var("INCIDENT_MCP_TEST_CANARY").expect("setup script exported the canary");
    assert_eq!(common::canary(), canary);
    assert!(common::secret("hook").contains(&canary));
    let log = std::env::var("INCIDENT_MCP_LOG_FILE").expect("setup script exported the log file");
    let dir = Path::new(&log).parent().unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("canary")).unwrap().trim(), canary);
    common::init_logs();
    let marker = format!("canary-scan-probe-{}", std::process::id());
    tracing::debug!(marker = %marker, "probe");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains(&marker),
        "this test process's debug logs reach the shared file"
    );
}
