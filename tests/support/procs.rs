//! Real servers started by tests (Prometheus, Alertmanager): a child process that is killed and
//! reaped on drop, its log, the address it reports, and polling helpers.
#![allow(dead_code)]

use std::{
    fs::File,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A child process killed (and reaped) when dropped; its output goes to a log file.
pub struct Proc {
    name: &'static str,
    child: std::sync::Mutex<Child>,
    log: PathBuf,
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command, dir: &Path) -> Self {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("log file");
        let err = out.try_clone().expect("log file");
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Self {
            name,
            child: std::sync::Mutex::new(child),
            log,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn assert_alive(&self) {
        let exited = self
            .child
            .lock()
            .map(|mut c| c.try_wait())
            .ok()
            .and_then(Result::ok)
            .flatten();
        if let Some(status) = exited {
            panic!("{} exited with {status}; log:\n{}", self.name, self.log_text());
        }
    }

    /// The address the process reports in its log after `marker` (e.g. `address=`).
    pub async fn bound_addr(&self, marker: &str) -> SocketAddr {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            self.assert_alive();
            let text = self.log_text();
            let found = text.lines().find_map(|l| {
                let rest = &l[l.find(marker)? + marker.len()..];
                let addr: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':')
                    .collect();
                addr.parse::<SocketAddr>().ok().filter(|a| a.port() != 0)
            });
            if let Some(a) = found {
                return a;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not report its address; log:\n{text}",
                self.name
            );
            // Paces the poll; readiness is decided by the log line above.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(c) = self.child.get_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Polls `check` until it yields a value; fails the test with `what` at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        // Paces the poll; the condition itself decides.
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A binary from an environment variable or the first of `names` found on PATH.
pub fn find_bin(var: &str, names: &[&str]) -> PathBuf {
    if let Some(p) = std::env::var_os(var) {
        return PathBuf::from(p);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "none of {names:?} on PATH (install the Debian packages prometheus and prometheus-alertmanager, or set {var})"
    );
}
