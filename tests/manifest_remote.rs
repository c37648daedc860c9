//! Remote CLI mode: after `incident-mcp auth --key KEY --server URL` the CLI is a REST client of
//! a running `incident-mcp serve --http`. The same command list (the manifest's examples and the
//! everyday commands) runs once on a local store and once, from another HOME with no database,
//! against a real server process on its own fresh store: the exit codes, stdout and `Error:`
//! lines are identical, but for when and through which door each store was written: wall-clock
//! times, and the actor of timeline entries (`cli` locally, `rest` for the server's REST API,
//! which is what the remote CLI is to it), are masked. The key
//! file is mode 0600 and the key never appears in any output; the suite's canary scan checks
//! the server's and the CLI's logs for it.

use crate::manifest::{BASH_PATTERN, Ctx, JENKINS_AS_BASH, api_key, translate};

use std::os::unix::fs::PermissionsExt;

use serde_json::Value;

/// (seed the incidents counter first, the command or script as written).
const COMMANDS: &[(Option<i64>, &str)] = &[
    (Some(122), "openclaw incident detect --env staging --type network"),
    (None, "openclaw incident analyze --id 123 --format json"),
    (None, "openclaw incident contain --id 123 --action isolate"),
    (None, "openclaw incident contain --id 123 --scope cluster"),
    (None, "openclaw incident recover --id 123 --backup latest"),
    (
        Some(455),
        r#"mkdir -p path/to && echo '{"env": "staging", "types": ["app-vuln", "network"]}' > path/to/config.json
openclaw incident detect --config path/to/config.json"#,
    ),
    (None, "openclaw incident analyze --id 456 --depth 1"),
    (
        None,
        "openclaw incident recover --id 456 --method rollback --backup latest",
    ),
    (Some(788), BASH_PATTERN),
    (
        None,
        "openclaw incident contain --id 789 --action isolate --resource k8s-pod",
    ),
    (None, "openclaw incident recover --id 789 --method rollback"),
    (None, "openclaw incident detect --env prod --type network"),
    (None, JENKINS_AS_BASH),
    (None, "cat incident.log"),
    (
        None,
        "openclaw incident detect --env dev --type app-vuln --threshold 0.7",
    ),
    (None, "openclaw incident detect --env dev --analyze-depth 2"),
    (None, "openclaw incident detect --env dev --format table"),
    (
        None,
        "openclaw incident hook --url https://your-k8s-webhook.com --event detect",
    ),
    (
        None,
        "printf 'hooks:\\n  - url: https://pagerduty.com\\n    events: [detect, analyze]\\n' > hooks.yaml
openclaw incident hook --config hooks.yaml",
    ),
    (None, "openclaw incident hook list"),
    (None, "openclaw incident list --env staging"),
    (None, "openclaw incident get --id 123"),
    (None, "openclaw incident ack --id 123 --note 'on it'"),
    (
        None,
        "openclaw incident resolve --id 789 --note 'throttled the batch job'",
    ),
    (None, "openclaw incident plans --pending"),
    (None, "openclaw incident get --id 999 --format json"),
    (
        None,
        "response=$(openclaw incident detect --env invalid)
if [ $? -eq 1 ]; then echo \"Error: Invalid environment\"; exit 1; fi",
    ),
    (None, "openclaw incident detect --env invalid --format json"),
    (None, "openclaw incident hook remove --name pagerduty-com"),
];

/// Fields holding when something was written (different in two stores by nature).
const WALL_CLOCK: &[&str] = &[
    "created_at",
    "updated_at",
    "at",
    "approved_at",
    "expires_at",
    "used_at",
    "acknowledged_at",
];

fn mask(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, v) in m.iter_mut() {
                if WALL_CLOCK.contains(&k.as_str()) && v.is_string() {
                    *v = Value::String("<time>".into());
                } else if (k == "actor" || k == "added_by" || k == "acknowledged_by") && (v == "cli" || v == "rest") {
                    *v = Value::String("<adapter>".into());
                } else {
                    mask(v);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(mask),
        _ => {}
    }
}

/// Where a "no incident" / "no plan" error looked (`in database PATH` locally, `on server URL`
/// remotely): the one part of an error that differs by design.
fn searched_masked(text: &str) -> String {
    regex::Regex::new(r"(no (?:incident|plan) \S+) (?:in database|on server) [^;\s]+;")
        .unwrap()
        .replace_all(text, "$1 in <store>;")
        .into_owned()
}

/// stdout with wall-clock times masked (JSON), or as is (text).
fn normalized(stdout: &str) -> String {
    let stdout = &searched_masked(stdout);
    match serde_json::from_str::<Value>(stdout) {
        Ok(mut v) => {
            mask(&mut v);
            serde_json::to_string_pretty(&v).unwrap()
        }
        Err(_) => stdout.to_owned(),
    }
}

/// The `Error:` lines of stderr (warnings and logs are the process's own business).
fn errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.starts_with("Error:"))
        .map(searched_masked)
        .collect()
}

#[tokio::test]
async fn remote_mode_prints_what_local_mode_prints() {
    let local = Ctx::new(None);
    local.seed(0).await;
    let mut server = Ctx::new(None);
    server.seed(0).await;
    let base = server.start_server().await;
    // The client: its own HOME, and a database path that must never be created.
    let client = Ctx::new(None);
    let auth = client.bash(&translate(&format!(
        "openclaw auth --key $OPENCLAW_API_KEY --server {base}"
    )));
    assert_eq!(auth.code, 0, "{}", auth.stderr);
    let key = api_key();
    assert!(
        !auth.stdout.contains(&key) && !auth.stderr.contains(&key),
        "auth echoed the key"
    );
    let file = client.home().join(".config/incident-mcp/credentials.json");
    let meta = std::fs::metadata(&file).expect("the key file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let dir = std::fs::metadata(file.parent().unwrap()).unwrap();
    assert_eq!(dir.permissions().mode() & 0o777, 0o700);

    for (seed, text) in COMMANDS {
        if let Some(last) = seed {
            local.seed(*last).await;
            server.seed(*last).await;
        }
        let script = translate(text);
        let here = local.bash(&script);
        let there = client.bash(&script);
        assert_eq!(
            (here.code, normalized(&here.stdout), errors(&here.stderr)),
            (there.code, normalized(&there.stdout), errors(&there.stderr)),
            "`{text}`: local (left) and remote (right) differ\nremote stderr: {}",
            there.stderr
        );
        for out in [&there.stdout, &there.stderr] {
            assert!(!out.contains(&key), "`{text}`: the key appeared in the output");
        }
    }
    assert!(!client.db.exists(), "remote mode never opened a local store");
    let server_log = server.server.as_ref().unwrap().0.log_text();
    assert!(!server_log.contains(&key), "the key appeared in the server's log");

    // A wrong key: exit 2 (API failure), `unauthorized`, and the key is not shown.
    let wrong = client.bash(&translate(&format!("openclaw auth --key not-the-key --server {base}")));
    assert_eq!(wrong.code, 2, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("invalid") && !wrong.stderr.contains("not-the-key"),
        "{}",
        wrong.stderr
    );
    let o = client.bash("incident-mcp detect --env staging --format json");
    assert_eq!(o.code, 0, "the stored key still works: {}", o.stderr);

    // Commands without a REST route are refused, not run on a local store.
    let o = client.bash("incident-mcp audit verify");
    assert_eq!(o.code, 1);
    assert!(o.stderr.contains("no REST route"), "{}", o.stderr);
    assert!(!client.db.exists());

    // Back to local mode.
    let o = client.bash("incident-mcp auth --remove");
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!file.exists());
}

/// A human approver drives the same server from their own machine with their own key: the
/// agent's CLI proposes (a recovery through an allowlisted script), the approver's CLI shows the
/// plan and takes the typed name at a terminal, then the agent's CLI applies it. The agent's key
/// cannot approve (403, exit 2); the approver's key opens nothing but the plan routes.
#[tokio::test]
async fn an_approver_approves_with_their_own_key_from_their_own_machine() {
    use crate::common;
    use std::os::unix::fs::PermissionsExt as _;

    let approver_key = common::secret("manifest-approver-alice");
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let script = dir.path().join("restart.sh");
    let body = format!("#!/bin/sh\necho restarted > '{}'\n", marker.display());
    std::fs::write(&script, &body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let extra = format!(
        "\n[[scripts]]\nid = 'web-restart'\npath = '{}'\nsha256 = '{}'\n\n\
         [environments.staging.policy]\nallowed_actions = ['restore']\nallowed_namespaces = ['shop']\nresource_patterns = ['web-*']\nscripts = ['web-restart']\n\n\
         [[approvers]]\nname = 'alice'\nkey_env = 'MANIFEST_APPROVER_ALICE'\n",
        script.display(),
        incident_mcp::domain::sha256_hex(body.as_bytes()),
    );
    let cfg = dir.path().join("incident.toml");
    std::fs::write(&cfg, format!("{}{extra}", incident_mcp::config::EXAMPLE_TOML)).unwrap();

    let mut server = Ctx::new(Some(cfg));
    server
        .env
        .push(("MANIFEST_APPROVER_ALICE".into(), approver_key.clone()));
    let base = server.start_server().await;
    let agent = Ctx::new(None);
    let mut alice = Ctx::new(None);
    alice.env.push(("ALICE_KEY".into(), approver_key.clone()));
    let ok = |c: &Ctx, script: &str| {
        let o = c.bash(script);
        assert_eq!(o.code, 0, "`{script}`: {}", o.stderr);
        o
    };
    ok(
        &agent,
        &format!("incident-mcp auth --key $OPENCLAW_API_KEY --server {base}"),
    );
    ok(&alice, &format!("incident-mcp auth --key $ALICE_KEY --server {base}"));

    ok(&agent, "incident-mcp detect --env staging");
    let o = ok(
        &agent,
        "incident-mcp recover --id 1 --method restore --resource script/web-restart --format json",
    );
    let plan = o.json["plan_id"].as_str().unwrap().to_owned();
    assert_eq!(o.json["status"], "pending", "{}", o.stdout);

    // The agent's key never approves.
    let mut approve = agent.command(common::bin());
    approve.args(["approve", &plan]);
    let (code, _, err) = common::at_terminal(approve, o.json["target"].as_str().unwrap());
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("approver"), "{err}");
    // The approver's key opens the API as that human (human:alice).
    let o = alice.bash("incident-mcp list");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let o = ok(&alice, &format!("incident-mcp plan {plan} --format json"));
    let target = o.json["plan"]["target"].as_str().unwrap().to_owned();
    let mut approve = alice.command(common::bin());
    approve.args(["approve", &plan]);
    let (code, out, err) = common::at_terminal(approve, &target);
    assert_eq!(code, 0, "{err}");
    let approval: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(approval["approver"], "human:alice");
    assert!(!marker.exists(), "approving applies nothing");

    let o = ok(&agent, &format!("incident-mcp apply {plan} --format json"));
    assert_eq!(o.json["status"], "applied", "{}", o.stdout);
    assert_eq!(std::fs::read_to_string(&marker).unwrap().trim(), "restarted");
    for c in [&agent, &alice] {
        assert!(!c.db.exists(), "remote mode never opened a local store");
    }
}
