//! `incident-mcp watch`, black-box: the real binary polls a JSON-lines file, opens and updates
//! incidents as lines are appended, keeps going when a source fails, stops with exit 0 on
//! SIGTERM/SIGINT, and a restart continues without duplicating. Synchronisation is on the
//! child's stderr lines (with a deadline), never on sleeps. Plus the systemd unit.

use crate::common;

use std::{
    io::{BufRead, BufReader, Write},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use serde_json::Value;

const DEADLINE: Duration = Duration::from_secs(60);

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    /// A `prod` environment whose sources are `extra` (TOML inline tables followed by a comma)
    /// and `nodes` (`events.jsonl`), with `keys` added to the environment table.
    fn new(extra: &str, keys: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let cfg = format!(
            r#"
[environments.prod]
{keys}
sources = [{extra} {{ kind = "jsonl", name = "nodes", path = "events.jsonl" }}]
[[environments.prod.rules]]
name = "cpu-hot"
type = "resource"
severity = "high"
metric = "cpu"
above = 100.0
entity = "host/{{host}}"
"#
        );
        std::fs::write(dir.path().join("config.toml"), cfg).unwrap();
        std::fs::write(dir.path().join("events.jsonl"), "").unwrap();
        Self { dir }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(common::bin());
        c.env_remove("RUST_LOG")
            .env("INCIDENT_MCP_CONFIG", self.dir.path().join("config.toml"))
            .env("INCIDENT_MCP_DB", self.dir.path().join("incidents.db"))
            .args(args);
        c
    }

    fn append(&self, host: &str, minute: u32, cpu: f64) {
        self.append_to("events.jsonl", host, minute, cpu);
    }

    fn append_to(&self, file: &str, host: &str, minute: u32, cpu: f64) {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(file))
            .unwrap();
        // One write per line, so the watcher never reads half a line.
        let line = format!(
            r#"{{"ts":"2026-11-01T10:{minute:02}:00Z","metric":"cpu","value":{cpu},"labels":{{"host":"{host}"}}}}"#
        );
        f.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn list(&self) -> Value {
        let out = self.cmd(&["list", "--format", "json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn watch(&self) -> Watcher {
        let mut child = self
            .cmd(&["watch", "--env", "prod", "--interval", "100ms"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, lines) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watcher {
            child,
            lines,
            seen: Vec::new(),
        }
    }
}

struct Watcher {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watcher {
    /// Waits for a stderr line matching `want`; fails at the deadline or when stderr closes.
    fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(e) => panic!("no line {what} ({e}); stderr so far:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    /// Exit code after the child ends (its stderr has closed by then).
    fn exit_code(mut self) -> (Option<i32>, Vec<String>) {
        // Drain to EOF so every line is seen, then reap.
        let end = Instant::now() + DEADLINE;
        while let Ok(line) = self.lines.recv_timeout(end.saturating_duration_since(Instant::now())) {
            self.seen.push(line);
        }
        (self.child.wait().unwrap().code(), std::mem::take(&mut self.seen))
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn cycle_with(n_new: usize, n_updated: usize) -> impl Fn(&str) -> bool {
    move |l: &str| l.contains("cycle ") && l.contains(&format!("{n_new} new, {n_updated} updated"))
}

#[test]
fn watch_opens_updates_stops_on_sigterm_and_restarts_without_duplicates() {
    let env = Env::new("", "");
    let mut w = env.watch();
    w.wait_for("watch started", |l| l.contains("watch started: env prod"));
    w.wait_for("an empty cycle", cycle_with(0, 0));

    env.append("a", 0, 95.0);
    w.wait_for("the first incident", cycle_with(1, 0));
    let list = env.list();
    assert_eq!(list["count"], 1);
    assert_eq!(list["incidents"][0]["title"], "cpu-hot on host/a");

    env.append("a", 1, 99.0);
    w.wait_for("an update", cycle_with(0, 1));
    env.append("b", 2, 120.0);
    w.wait_for("a second incident", cycle_with(1, 0));
    let list = env.list();
    assert_eq!(list["count"], 2);
    let a = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["title"] == "cpu-hot on host/a")
        .unwrap();
    assert_eq!(a["signal_count"], 2);
    let id = a["id"].as_str().unwrap();
    let out = env
        .cmd(&["analyze", "--id", id, "--depth", "2", "--format", "json"])
        .output()
        .unwrap();
    let analysis: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(analysis["timeline"][0]["actor"], "watch", "{analysis}");

    w.signal("-TERM");
    let (code, lines) = w.exit_code();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("shutdown: SIGTERM received")),
        "{lines:#?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.contains("watch stopped after")),
        "{lines:#?}"
    );

    // A restart re-reads the file: nothing new, nothing duplicated.
    let out = env.cmd(&["watch", "--env", "prod", "--once"]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("0 new, 0 updated") && err.contains("1 source(s) scanned"),
        "{err}"
    );
    assert_eq!(env.list()["count"], 2);
}

#[test]
fn a_failing_source_is_retried_while_the_others_are_scanned_and_sigint_stops() {
    let env = Env::new(r#"{ kind = "jsonl", name = "broken", path = "missing.jsonl" },"#, "");
    let mut w = env.watch();
    w.wait_for("a source error", |l| l.contains("source broken failed (1 in a row)"));
    env.append("a", 0, 150.0);
    w.wait_for("the good source's incident", cycle_with(1, 0));
    // The second failure may already have gone by while the incident was awaited; any later
    // failure of the same source shows the retries go on, with a growing count.
    w.wait_for("a retry with backoff", |l| {
        l.contains("source broken failed (") && !l.contains("(1 in a row)")
    });
    w.signal("-INT");
    let (code, lines) = w.exit_code();
    assert_eq!(code, Some(0), "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("shutdown: SIGINT received")),
        "{lines:#?}"
    );

    // `--once` reports the failure with exit 2 (for cron and health checks).
    let out = env.cmd(&["watch", "--env", "prod", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn watch_rejects_unknown_env_and_bad_interval() {
    let env = Env::new("", "");
    let out = env.cmd(&["watch", "--env", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let out = env
        .cmd(&["watch", "--env", "prod", "--interval", "0s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("interval"));
}

/// A FIFO as the source holds the first scan open until the test writes to it, so SIGTERM
/// arrives provably mid-scan: the scan still completes and commits, no other scan starts.
#[test]
fn sigterm_during_a_scan_lets_it_finish_and_commit() {
    let env = Env::new(r#"{ kind = "jsonl", name = "pipe", path = "pipe.jsonl" },"#, "");
    let fifo = env.dir.path().join("pipe.jsonl");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let mut w = env.watch();
    w.wait_for("watch started", |l| l.contains("watch started"));
    // Opening a FIFO for writing returns once the scan has opened it for reading.
    let (tx, opened) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::fs::OpenOptions::new().write(true).open(fifo));
    });
    let mut pipe = opened
        .recv_timeout(DEADLINE)
        .expect("the scan opens the source")
        .unwrap();
    w.signal("-TERM");
    w.wait_for("the shutdown notice", |l| l.contains("shutdown: SIGTERM received"));
    let line = r#"{"ts":"2026-11-01T10:00:00Z","metric":"cpu","value":150,"labels":{"host":"p"}}"#;
    pipe.write_all(format!("{line}\n").as_bytes()).unwrap();
    drop(pipe);
    let (code, lines) = w.exit_code();
    assert_eq!(code, Some(0), "{lines:#?}");
    let cycle = lines
        .iter()
        .find(|l| l.contains("cycle 1:"))
        .expect("the cycle completed");
    assert!(
        cycle.contains("1 source(s) scanned") && cycle.contains("1 new"),
        "{cycle}"
    );
    assert!(!lines.iter().any(|l| l.contains("cycle 2:")), "{lines:#?}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l.contains("watch stopped after 1 cycle(s)")),
        "{lines:#?}"
    );
    assert_eq!(env.list()["count"], 1, "the interrupted scan's findings are committed");
}

#[test]
fn a_source_with_its_own_interval_is_scanned_on_its_own_schedule() {
    let env = Env::new(
        r#"{ kind = "jsonl", name = "slow", path = "slow.jsonl" },"#,
        "watch_interval_secs = { slow = 3600 }",
    );
    env.append_to("slow.jsonl", "s", 0, 50.0);
    let mut w = env.watch();
    w.wait_for("both sources in the first cycle", |l| {
        l.contains("cycle 1:") && l.contains("2 source(s) scanned")
    });
    // Evidence in the slow source waits for its hour; the fast one keeps being scanned.
    env.append_to("slow.jsonl", "s", 1, 150.0);
    env.append("a", 1, 150.0);
    w.wait_for("the fast source's incident", |l| {
        l.contains("1 source(s) scanned") && l.contains("1 new")
    });
    for n in 0..3 {
        w.wait_for(&format!("fast-only cycle {n}"), |l| {
            l.contains("cycle ") && l.contains("1 source(s) scanned")
        });
    }
    let list = env.list();
    assert_eq!(list["count"], 1, "host/s is not scanned again within the hour: {list}");
    assert_eq!(list["incidents"][0]["title"], "cpu-hot on host/a");
    w.signal("-TERM");
    assert_eq!(w.exit_code().0, Some(0));

    let bad = Env::new("", "watch_interval_secs = { nope = 5 }");
    let out = bad.cmd(&["watch", "--env", "prod", "--once"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("watch_interval_secs.nope"));
}

fn unit_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/incident-mcp-watch.service")
}

#[test]
fn systemd_unit_has_the_required_keys() {
    let text = std::fs::read_to_string(unit_path()).unwrap();
    let mut section = String::new();
    let mut keys = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        if line.starts_with('[') {
            section = line.to_owned();
        } else if let Some((k, v)) = line.split_once('=') {
            keys.push((section.clone(), k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let get = |k: &str| {
        keys.iter()
            .find(|(s, key, _)| s == "[Service]" && key == k)
            .map(|(_, _, v)| v.as_str())
    };
    assert_eq!(get("Type"), Some("simple"));
    assert_eq!(get("ExecStart"), Some("/usr/local/bin/incident-mcp watch --env prod"));
    assert_eq!(get("Restart"), Some("on-failure"));
    assert_eq!(get("NoNewPrivileges"), Some("yes"));
    assert_eq!(get("ProtectSystem"), Some("strict"));
    assert_eq!(get("KillSignal"), Some("SIGTERM"));
    assert!(get("StateDirectory").is_some() && get("TimeoutStopSec").is_some());
    assert!(get("DynamicUser") == Some("yes") || get("User") == Some("incident-mcp"));
    assert!(
        get("Environment").is_some_and(|_| text.contains("INCIDENT_MCP_DB=/var/lib/incident-mcp/")),
        "the database lives in the StateDirectory"
    );
    assert!(keys.iter().any(|(s, k, _)| s == "[Install]" && k == "WantedBy"));
}

#[test]
fn systemd_analyze_verify_accepts_the_unit() {
    crate::deploy::systemd_verify("incident-mcp-watch.service");
}
