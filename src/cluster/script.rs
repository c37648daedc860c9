//! The script backend: runs configured scripts (the seed's `self_heal.sh` container restart)
//! by id only, from a fixed absolute path, pinned by sha256, with an argv array checked
//! against a per-script schema. Never a shell: the program is the script's path and every
//! argument is one argv element. The environment is cleared (only `PATH=/usr/bin:/bin` and the
//! script's configured `env`), stdin is `/dev/null`, the working directory is fixed (`/` by
//! default), the script runs in its own process group so a timeout kills its children too,
//! and its output is capped and sanitised before it reaches an outcome.
//!
//! **TOCTOU.** The file is hashed at plan time and again immediately before `exec`, and a
//! group- or world-writable file is refused. Between that last hash and the interpreter
//! reading the file there is still a short window, so the file and every directory above it
//! must be owned by root and not writable by the server's user; the hash then catches
//! upgrades and mistakes, and the permissions keep the server itself from being the attacker.

mod spec;

use std::{collections::BTreeMap, os::unix::process::ExitStatusExt, path::Path, process::Stdio, time::Instant};

use async_trait::async_trait;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncReadExt};

pub use self::spec::{ScriptArg, ScriptConfig, ScriptInverse, check_arg, validate_scripts};
use super::{ActionSpec, Backend, BackendError, BackendPlan, Change, DryRun};
use crate::domain::{
    plan::{BlastRadius, TargetVersion},
    policy::Policy,
    sanitize_untrusted,
};

/// `PATH` of every script run (overridable only by the script's own `env`).
pub const SCRIPT_PATH_ENV: &str = "/usr/bin:/bin";
/// `ActionSpec::params` keys naming script arguments start with this.
pub const ARG_PREFIX: &str = "arg.";
const ERR_TAIL_CHARS: usize = 400;

/// The [`Backend`] for allowlisted scripts.
#[derive(Debug, Clone, Default)]
pub struct ScriptBackend {
    scripts: BTreeMap<String, ScriptConfig>,
}

impl ScriptBackend {
    pub fn new(scripts: impl IntoIterator<Item = ScriptConfig>) -> Self {
        Self {
            scripts: scripts.into_iter().map(|s| (s.id.clone(), s)).collect(),
        }
    }

    fn script(&self, id: &str) -> Result<&ScriptConfig, BackendError> {
        self.scripts.get(id).ok_or_else(|| BackendError::NotFound {
            what: format!("script {}", crate::domain::safe_component(id)),
        })
    }

    fn target(s: &ScriptConfig) -> TargetVersion {
        TargetVersion {
            kind: "script".into(),
            namespace: None,
            name: s.id.clone(),
            resource_version: s.sha256.clone(),
        }
    }

    async fn run(&self, s: &ScriptConfig, argv: &[String]) -> Result<Value, BackendError> {
        let mut cmd = tokio::process::Command::new(&s.path);
        cmd.args(argv)
            .env_clear()
            .env("PATH", SCRIPT_PATH_ENV)
            .envs(&s.env)
            .current_dir(&s.working_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| BackendError::Failed(format!("script {} could not start: {}", s.id, e.kind())))?;
        // The group id is the child's pid. Linux never hands out a pid that is the id of a
        // group with members (the unreaped child, or a descendant still holding our pipes), so
        // the id still names this script's group when it is killed.
        let group = GroupKill(child.id());
        let out = tokio::spawn(read_capped(child.stdout.take(), s.max_output_bytes));
        let err = tokio::spawn(read_capped(child.stderr.take(), s.max_output_bytes));
        let finished = tokio::time::timeout(s.timeout, async {
            let status = child.wait().await;
            (status, out.await, err.await)
        })
        .await;
        let Ok((status, Ok(out), Ok(err))) = finished else {
            group.kill().await;
            let _ = child.kill().await;
            return Err(BackendError::Failed(format!(
                "script {} timed out after {}s and was killed with its process group",
                s.id,
                s.timeout.as_secs()
            )));
        };
        group.disarm();
        let status = status.map_err(|e| BackendError::Failed(format!("script {}: {}", s.id, e.kind())))?;
        let (stdout, stderr) = (clean(&out.0, out.1), clean(&err.0, err.1));
        if !status.success() {
            let tail: String = {
                let chars: Vec<char> = stderr.chars().collect();
                chars[chars.len().saturating_sub(ERR_TAIL_CHARS)..].iter().collect()
            };
            let how = match (status.code(), status.signal()) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(sig)) => format!("was killed by signal {sig}"),
                (None, None) => "failed".into(),
            };
            return Err(BackendError::Failed(format!("script {} {how}: {tail}", s.id)));
        }
        Ok(json!({
            "backend": "script",
            "script": s.id,
            "sha256": s.sha256,
            "argv": argv,
            "exit_code": status.code(),
            "duration_ms": u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            "stdout": stdout,
            "stderr": stderr,
            "truncated": out.1 || err.1,
        }))
    }
}

/// Kills the script's whole process group (`kill -KILL -PGID`) unless disarmed, also when the
/// apply future is dropped. `std` has no safe `killpg` and this crate forbids `unsafe`, so
/// this runs `/bin/kill` (fixed path, argv, empty environment).
struct GroupKill(Option<u32>);

impl GroupKill {
    fn command(&self) -> Option<std::process::Command> {
        // Never 0 or 1: `kill -- -1` would signal every process we may signal.
        let pgid = self.0.filter(|p| *p > 1)?;
        let kill = ["/bin/kill", "/usr/bin/kill"]
            .into_iter()
            .find(|p| Path::new(p).exists())?;
        let mut c = std::process::Command::new(kill);
        c.args(["-s", "KILL", "--", &format!("-{pgid}")])
            .env_clear()
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        Some(c)
    }

    async fn kill(mut self) {
        if let Some(c) = self.command() {
            let _ = tokio::process::Command::from(c).status().await;
        }
        self.0 = None;
    }

    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        if let Some(mut c) = self.command() {
            let _ = c.status();
        }
    }
}

/// Reads to EOF (so the writer never blocks on a full pipe), keeping the first `cap` bytes.
async fn read_capped(r: Option<impl AsyncRead + Unpin>, cap: usize) -> (Vec<u8>, bool) {
    let (mut kept, mut truncated) = (Vec::new(), false);
    let Some(mut r) = r else { return (kept, truncated) };
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = r.read(&mut buf).await {
        let room = cap.saturating_sub(kept.len());
        kept.extend_from_slice(&buf[..n.min(room)]);
        truncated |= n > room;
    }
    (kept, truncated)
}

/// Output as shown in outcomes: each line sanitised (control characters, secrets, 512-char
/// clip), the truncation marked.
fn clean(bytes: &[u8], truncated: bool) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut out: Vec<String> = text.lines().map(sanitize_untrusted).collect();
    if truncated {
        out.push("[output truncated]".into());
    }
    out.join("\n")
}

#[async_trait]
impl Backend for ScriptBackend {
    async fn plan(&self, spec: &ActionSpec) -> Result<BackendPlan, BackendError> {
        let s = self.script(&spec.resource)?;
        let values: BTreeMap<String, String> = spec
            .params
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(ARG_PREFIX)?.to_owned(), v.clone())))
            .collect();
        let argv = s.argv(&values)?;
        s.check_hash(&s.sha256).await?;
        let mut targets = vec![Self::target(s)];
        let mut inverse = Vec::new();
        if let Some(inv) = &s.inverse {
            let is = self.script(&inv.script)?;
            let inv_values = inv
                .args
                .iter()
                .filter_map(|(to, from)| Some((to.clone(), values.get(from)?.clone())))
                .collect();
            let inv_argv = is.argv(&inv_values)?;
            is.check_hash(&is.sha256).await?;
            inverse.push(Change::Script {
                script: is.id.clone(),
                sha256: is.sha256.clone(),
                argv: inv_argv,
            });
            targets.push(Self::target(is));
        }
        Ok(BackendPlan {
            changes: vec![Change::Script {
                script: s.id.clone(),
                sha256: s.sha256.clone(),
                argv,
            }],
            inverse,
            targets,
            blast_radius: BlastRadius::default(),
            labels: BTreeMap::new(),
            healthy_replicas_after: None,
            dry_run: DryRun::NotSupported,
        })
    }

    async fn current_versions(&self, targets: &[TargetVersion]) -> Result<Vec<TargetVersion>, BackendError> {
        let mut now = Vec::with_capacity(targets.len());
        for t in targets {
            if t.kind != "script" {
                return Err(BackendError::Invalid(format!(
                    "the script backend has no {} targets",
                    t.kind
                )));
            }
            let s = self.script(&t.name)?;
            now.push(TargetVersion {
                resource_version: s.current_hash().await?,
                ..Self::target(s)
            });
        }
        Ok(now)
    }

    fn recheck(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<(), BackendError> {
        for change in changes {
            let Change::Script { script, .. } = change else {
                return Err(BackendError::Invalid(
                    "the script backend applies script changes only".into(),
                ));
            };
            self.script(script)?;
            if !policy.allows_script(script) {
                return Err(BackendError::Refused(format!(
                    "script {script} is not allowlisted in env {env}"
                )));
            }
        }
        Ok(())
    }

    async fn apply(&self, env: &str, policy: &Policy, changes: &[Change]) -> Result<Vec<Value>, BackendError> {
        let mut outcomes = Vec::with_capacity(changes.len());
        for change in changes {
            let Change::Script { script, sha256, argv } = change else {
                return Err(BackendError::Invalid(
                    "the script backend applies script changes only".into(),
                ));
            };
            let s = self.script(script)?;
            if !policy.allows_script(script) {
                return Err(BackendError::Refused(format!(
                    "script {script} is not allowlisted in env {env}"
                )));
            }
            // The plan's argv is re-checked against the schema: a stored plan is data too.
            if argv.len() != s.args.len() {
                return Err(BackendError::Invalid(format!(
                    "script {script} takes {} arguments",
                    s.args.len()
                )));
            }
            for (a, v) in s.args.iter().zip(argv) {
                if !v.is_empty() || a.required {
                    check_arg(script, a, v)?;
                }
            }
            s.check_hash(sha256).await?;
            outcomes.push(self.run(s, argv).await?);
        }
        Ok(outcomes)
    }
}
