//! Issue 4, acceptance 4: the script backend with real scripts. The fixture scripts in
//! tests/scripts/ are copied into a fresh temporary directory per test and pinned by the
//! sha256 computed here; they report what they saw through files in `$OUT_DIR`.

use crate::canary_value;

use std::{
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use incident_mcp::{
    cluster::{ActionSpec, Backend, BackendError, BackendPlan, Change, DryRun, KubeVerb, script::ScriptBackend},
    config::Config,
    domain::{
        policy::{Action, Policy},
        sha256_hex,
    },
};

const DNS_LABEL: &str = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$";

struct Fixture {
    _dir: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let out = root.join("out");
        std::fs::create_dir(&out).unwrap();
        Self { _dir: dir, root, out }
    }

    /// Copies a fixture script, makes it 0755 and returns its path and sha256.
    fn install(&self, name: &str) -> (PathBuf, String) {
        let body = std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts").join(name)).unwrap();
        let path = self.root.join(name);
        std::fs::write(&path, &body).unwrap();
        chmod(&path, 0o755);
        (path, sha256_hex(&body))
    }

    /// A `[[scripts]]` entry for fixture `file`, with `$OUT_DIR` allowlisted and `extra` keys.
    fn script(&self, id: &str, file: &str, extra: &str) -> String {
        let (path, sha) = self.install(file);
        format!(
            "[[scripts]]\nid = '{id}'\npath = '{}'\nsha256 = '{sha}'\nenv = {{ OUT_DIR = '{}' }}\n{extra}\n",
            path.display(),
            self.out.display()
        )
    }

    /// The backend and the `prod` policy allowlisting `allowed`.
    fn load(&self, scripts: &str, allowed: &[&str]) -> (ScriptBackend, Policy) {
        let toml = format!("{scripts}\n[environments.prod.policy]\nscripts = {allowed:?}\n");
        let cfg = Config::parse_str(&toml, "toml", "test").unwrap();
        (ScriptBackend::new(cfg.scripts), cfg.environments["prod"].policy.clone())
    }

    /// `restart-container` (record.sh with `container` and a careless `reason`), allowlisted.
    fn restart(&self) -> (ScriptBackend, Policy) {
        let restart = self.script("restart-container", "record.sh", &restart_args());
        self.load(&restart, &["restart-container"])
    }

    fn exists(&self, name: &str) -> bool {
        self.out.join(name).exists()
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn restart_args() -> String {
    format!(
        "args = [{{ name = 'container', pattern = '{DNS_LABEL}', required = true }}, \
         {{ name = 'reason', pattern = '.*', max_len = 512 }}]"
    )
}

fn spec(id: &str, args: &[(&str, &str)]) -> ActionSpec {
    ActionSpec {
        env: "prod".into(),
        incident: "INC-000001".into(),
        action: Action::Restore,
        namespace: None,
        resource: id.into(),
        params: args
            .iter()
            .map(|(k, v)| (format!("arg.{k}"), (*v).to_owned()))
            .collect(),
    }
}

async fn planned(backend: &ScriptBackend, id: &str, args: &[(&str, &str)]) -> BackendPlan {
    backend.plan(&spec(id, args)).await.unwrap()
}

fn script_change(script: &str, sha256: &str, argv: &[&str]) -> Change {
    Change::Script {
        script: script.into(),
        sha256: sha256.into(),
        argv: argv.iter().map(|a| (*a).to_owned()).collect(),
    }
}

#[test]
fn runs_with_exact_argv_as_data_and_a_scrubbed_environment() {
    // A secret in our environment, derived from the suite-wide canary: the script must not see it.
    let planted = canary_value::secret("script-env-secret");
    // SAFETY: set before any other thread exists (the runtime is built afterwards).
    unsafe { std::env::set_var("INCIDENT_MCP_CANARY_SECRET", &planted) };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let fx = Fixture::new();
        let canary = fx.root.join("pwned");
        let (backend, policy) = fx.restart();
        // `reason` has a careless pattern: shell syntax passes it, and must arrive as plain data.
        let reason = format!(
            "oom; touch {0} $(touch {0}) `touch {0}` 'q' \"dq\" ../x *",
            canary.display()
        );
        let plan = planned(
            &backend,
            "restart-container",
            &[("container", "web-1"), ("reason", &reason)],
        )
        .await;
        let Change::Script { script, sha256, argv } = &plan.changes[0] else {
            panic!("{plan:?}")
        };
        assert_eq!(
            (script.as_str(), argv.clone()),
            ("restart-container", vec!["web-1".to_owned(), reason.clone()])
        );
        assert_eq!(plan.dry_run, DryRun::NotSupported);
        assert_eq!(plan.targets[0].kind, "script");
        assert_eq!(&plan.targets[0].resource_version, sha256);
        assert!(plan.inverse.is_empty());
        assert!(!fx.exists("argv"), "planning runs nothing");

        let outcomes = backend.apply("prod", &policy, &plan.changes).await.unwrap();
        let recorded = std::fs::read_to_string(fx.out.join("argv")).unwrap();
        assert_eq!(
            recorded,
            format!("web-1\n{reason}\n"),
            "argv exactly, one element per argument"
        );
        assert!(!canary.exists(), "no shell ever interpreted an argument");
        let env = std::fs::read_to_string(fx.out.join("env")).unwrap();
        assert!(!env.contains(&planted) && !env.contains("INCIDENT_MCP_CANARY"), "{env}");
        assert!(env.lines().any(|l| l == "PATH=/usr/bin:/bin"), "{env}");
        assert!(
            env.lines().any(|l| l == format!("OUT_DIR={}", fx.out.display())),
            "{env}"
        );
        let keys: Vec<&str> = env.lines().filter_map(|l| l.split('=').next()).collect();
        let shell_own = ["PATH", "OUT_DIR", "PWD", "SHLVL", "_", "OLDPWD"];
        assert!(keys.iter().all(|k| shell_own.contains(k)), "leaked: {env}");
        let o = &outcomes[0];
        assert_eq!(o["exit_code"], 0);
        assert_eq!(o["truncated"], false);
        assert!(o["duration_ms"].is_u64());
        assert_eq!(o["stdout"], "restarted container web-1");
    });
}

#[tokio::test]
async fn hostile_arguments_are_rejected_at_plan_naming_the_argument() {
    let fx = Fixture::new();
    let canary = fx.root.join("pwned");
    let (backend, _) = fx.restart();
    let c = canary.display();
    let cases: Vec<(&str, String, &str)> = vec![
        ("container", format!("web;touch {c}"), "pattern"),
        ("container", format!("$(touch {c})"), "pattern"),
        ("container", format!("`touch {c}`"), "pattern"),
        ("container", "web\ntouch".into(), "control character"),
        ("container", "../web".into(), "pattern"),
        ("container", "-rf".into(), "starts with `-`"),
        ("container", "web\0x".into(), "control character"),
        ("container", "a".repeat(300), "longer than 253"),
        // The careless `.*` pattern does not let these through either.
        ("reason", "two\nlines".into(), "control character"),
        ("reason", "nul\0byte".into(), "control character"),
        ("reason", "esc\x1b[2J".into(), "control character"),
        ("reason", "--force".into(), "starts with `-`"),
        ("reason", "x".repeat(513), "longer than 512"),
    ];
    for (name, value, why) in cases {
        let args = if name == "container" {
            vec![("container", value.as_str())]
        } else {
            vec![("container", "web-1"), ("reason", value.as_str())]
        };
        let err = backend.plan(&spec("restart-container", &args)).await.unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, BackendError::Invalid(_)), "{value:?}: {err:?}");
        assert!(
            msg.contains(&format!("argument {name} of script restart-container")) && msg.contains(why),
            "{value:?}: {msg}"
        );
    }
    let err = backend
        .plan(&spec("restart-container", &[("container", "web-1"), ("cmd", "x")]))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no argument cmd"), "{err}");
    let err = backend
        .plan(&spec("restart-container", &[("reason", "x")]))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("argument container of script restart-container is required"),
        "{err}"
    );
    assert!(!canary.exists() && !fx.exists("argv"));
}

#[tokio::test]
async fn a_script_changed_after_planning_is_refused_and_not_run() {
    let fx = Fixture::new();
    let (backend, policy) = fx.restart();
    let plan = planned(&backend, "restart-container", &[("container", "web-1")]).await;
    let path = fx.root.join("record.sh");
    let mut body = std::fs::read_to_string(&path).unwrap();
    body.push_str("touch \"$OUT_DIR/ran\"\n");
    std::fs::write(&path, body).unwrap();

    let now = backend.current_versions(&plan.targets).await.unwrap();
    assert_ne!(now[0].resource_version, plan.targets[0].resource_version, "rehashed");
    let err = backend.apply("prod", &policy, &plan.changes).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Changed { what, .. } if what == "script restart-container"),
        "{err:?}"
    );
    assert!(!fx.exists("ran") && !fx.exists("argv"), "a changed script never runs");
    let err = backend
        .plan(&spec("restart-container", &[("container", "web-1")]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, BackendError::Changed { .. }),
        "planning refuses it too: {err:?}"
    );
    // With the file restored, a plan carrying another hash than the configured pin is refused too.
    let (_, sha) = fx.install("record.sh");
    let forged = script_change("restart-container", &"0".repeat(64), &["web-1", ""]);
    assert!(matches!(
        backend.apply("prod", &policy, &[forged]).await,
        Err(BackendError::Changed { .. })
    ));
    assert_eq!(sha, plan.targets[0].resource_version);
}

fn alive(pid: u32) -> bool {
    // A zombie (state Z) waiting for init to reap it is dead.
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit(')').next().and_then(|r| r.split_whitespace().next()) != Some("Z"))
}

#[tokio::test]
async fn a_timeout_kills_the_script_and_its_children() {
    let fx = Fixture::new();
    let (backend, policy) = fx.load(&fx.script("slow", "slow.sh", "timeout_secs = 1"), &["slow"]);
    let plan = planned(&backend, "slow", &[]).await;
    let started = Instant::now();
    let err = backend.apply("prod", &policy, &plan.changes).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("timed out after 1s")),
        "{err:?}"
    );
    let pid: u32 = std::fs::read_to_string(fx.out.join("child.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // SIGKILL is delivered asynchronously: wait for the kernel to finish the child, bounded.
    let deadline = Instant::now() + Duration::from_secs(5);
    while alive(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        !alive(pid),
        "the child `sleep` ({pid}) in the script's group was killed"
    );
    assert!(!fx.exists("finished"));
}

#[tokio::test]
async fn output_over_the_cap_is_truncated_and_marked() {
    let fx = Fixture::new();
    let (backend, policy) = fx.load(&fx.script("loud", "loud.sh", "max_output_bytes = 1000"), &["loud"]);
    let plan = planned(&backend, "loud", &[]).await;
    let o = &backend.apply("prod", &policy, &plan.changes).await.unwrap()[0];
    let stdout = o["stdout"].as_str().unwrap();
    assert_eq!(o["truncated"], true);
    assert!(stdout.ends_with("\n[output truncated]"), "{stdout}");
    assert!(
        stdout.len() <= 1000 + 20 && stdout.starts_with("012345678\n"),
        "{}",
        stdout.len()
    );
    assert!(!stdout.contains("last line"));
    assert_eq!(o["exit_code"], 0, "the script ran to the end: its pipe never filled up");
}

#[tokio::test]
async fn a_failing_script_reports_its_exit_code_and_redacted_stderr() {
    let fx = Fixture::new();
    let (backend, policy) = fx.load(&fx.script("fail", "fail.sh", ""), &["fail"]);
    let plan = planned(&backend, "fail", &[]).await;
    let err = backend.apply("prod", &policy, &plan.changes).await.unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, BackendError::Failed(_)), "{err:?}");
    assert!(
        msg.contains("script fail exited with code 3") && msg.contains("docker said no"),
        "{msg}"
    );
    assert!(!msg.contains("hunter2"), "secrets never reach outcomes: {msg}");
}

#[tokio::test]
async fn unknown_scripts_and_scripts_not_allowlisted_are_refused() {
    let fx = Fixture::new();
    let scripts = fx.script("marker", "marker.sh", "") + &fx.script("restart-container", "record.sh", &restart_args());
    let (backend, policy) = fx.load(&scripts, &["restart-container"]);
    assert!(matches!(
        backend.plan(&spec("nope", &[])).await,
        Err(BackendError::NotFound { .. })
    ));
    let unknown = script_change("nope", &"0".repeat(64), &[]);
    assert!(matches!(
        backend.apply("prod", &policy, &[unknown]).await,
        Err(BackendError::NotFound { .. })
    ));

    let plan = planned(&backend, "marker", &[]).await;
    let err = backend.apply("prod", &policy, &plan.changes).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m == "script marker is not allowlisted in env prod"),
        "{err:?}"
    );
    let err = backend
        .apply("dev", &Policy::default(), &plan.changes)
        .await
        .unwrap_err();
    assert!(matches!(err, BackendError::Refused(_)), "deny by default");
    assert!(!fx.exists("ran"), "a refused script never runs");

    // A stored plan is re-checked: a tampered argv, or a Kubernetes change, is refused.
    let ok = planned(&backend, "restart-container", &[("container", "web-1")]).await;
    let Change::Script { sha256, .. } = &ok.changes[0] else {
        unreachable!()
    };
    for argv in [&["-rf", ""][..], &["web-1"], &["web-1", "", "x"], &["web-1", "a\nb"]] {
        let tampered = script_change("restart-container", sha256, argv);
        let err = backend.apply("prod", &policy, &[tampered]).await.unwrap_err();
        assert!(matches!(err, BackendError::Invalid(_)), "{argv:?}: {err:?}");
    }
    let kube = Change::Kube {
        verb: KubeVerb::Delete,
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some("shop".into()),
        name: "web-1".into(),
        patch: None,
        body: None,
        resource_version: None,
    };
    assert!(matches!(
        backend.apply("prod", &policy, &[kube]).await,
        Err(BackendError::Invalid(_))
    ));
    assert!(!fx.exists("argv"));
}

#[tokio::test]
async fn group_or_world_writable_scripts_are_refused() {
    let fx = Fixture::new();
    let (backend, policy) = fx.load(&fx.script("marker", "marker.sh", ""), &["marker"]);
    let path = fx.root.join("marker.sh");
    chmod(&path, 0o775);
    let err = backend.plan(&spec("marker", &[])).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("group- or world-writable")),
        "{err:?}"
    );
    chmod(&path, 0o755);
    let plan = planned(&backend, "marker", &[]).await;
    chmod(&path, 0o757);
    let err = backend.apply("prod", &policy, &plan.changes).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("world-writable")),
        "{err:?}"
    );
    assert!(!fx.exists("ran"));
    chmod(&path, 0o755);
    chmod(&fx.root, 0o777);
    let err = backend.apply("prod", &policy, &plan.changes).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("the directory of script file")),
        "{err:?}"
    );
    assert!(!fx.exists("ran"));
    chmod(&fx.root, 0o700);
    backend.apply("prod", &policy, &plan.changes).await.unwrap();
    assert!(fx.exists("ran"), "the same plan runs once the file is safe again");
}

#[tokio::test]
async fn the_inverse_script_is_planned_from_config() {
    let fx = Fixture::new();
    let stop = fx.script("stop-container", "record.sh", &format!(
        "args = [{{ name = 'name', pattern = '{DNS_LABEL}', required = true }}]\ninverse = {{ script = 'start-container', args = {{ container = 'name' }} }}"
    ));
    let start = fx.script("start-container", "record.sh", &restart_args());
    let (backend, _) = fx.load(&(stop + &start), &[]);
    let plan = planned(&backend, "stop-container", &[("name", "web-1")]).await;
    let Change::Script { sha256, .. } = &plan.changes[0] else {
        unreachable!()
    };
    assert_eq!(
        plan.inverse,
        vec![script_change("start-container", sha256, &["web-1", ""])]
    );
    let names: Vec<&str> = plan.targets.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["stop-container", "start-container"]);
}
