//! The OpenClaw skill manifest this server implements (`shared/seeds/003_dc33233907be8960.txt`),
//! to the letter. Every example it shows is one row of [`ROWS`], copied verbatim, and runs as a
//! user who copies it would run it, with `incident-mcp` for `openclaw incident` and
//! `incident-mcp auth` for `openclaw auth`: CLI examples and snippets through bash (so `$(...)`,
//! `$?` and pipes mean what they mean there), REST calls against a real `incident-mcp serve
//! --http` process on the same database. Everything runs against a fresh store and the BUILT-IN
//! configuration. Rows run in order; each checks the exit code or HTTP status and the fields the
//! manifest names.
//!
//! The manifest's ids (123, 456, 789) exist because a row may move the incidents table's
//! AUTOINCREMENT counter before it runs (`seed`): the detection it runs then opens the incident
//! the later examples name with their literal ids.
//!
//! With the built-in configuration no environment has a cluster or a containment policy, so
//! every containment and recovery is refused by policy (exit 1 / 409, audited). Those rows check
//! that the example was understood: the refusal's audit entry names the action and the target the
//! defaults resolved (resource from the incident's affected resources, `--scope`, `--backup`).
//! `manifest_with_a_cluster.rs` runs the same examples where they can succeed.

use crate::common;
use crate::procs::Proc;

use std::{os::unix::fs::PermissionsExt, path::PathBuf, process::Command};

use serde_json::{Value, json};

/// What one example runs.
#[derive(Clone, Copy)]
pub enum Run {
    /// The manifest's text itself, translated, through bash.
    Shell,
    /// A bash script standing for the example where the manifest's text is not a command
    /// (a Jenkins stage, a file's content); translated like the text.
    Script(&'static str),
    /// A REST call: method, path, JSON body.
    Rest(&'static str, &'static str, Option<&'static str>),
    /// A REST call without the `Authorization` header.
    RestNoKey(&'static str, &'static str, Option<&'static str>),
}

/// One example of the manifest and what it must do.
pub struct Row {
    /// The example as the manifest writes it.
    pub manifest: &'static str,
    pub run: Run,
    /// Before running: the incidents table's AUTOINCREMENT counter is set to this, so the next
    /// incident opened gets the id after it.
    pub seed: Option<i64>,
    /// Exit code (shell) or HTTP status (REST).
    pub expect: i32,
    pub check: fn(&Ctx, &Outcome),
}

/// What a row produced.
#[derive(Debug)]
pub struct Outcome {
    /// Exit code or HTTP status.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// stdout (shell) or the response body (REST) as JSON; `Null` when it is not JSON.
    pub json: Value,
}

/// `openclaw incident` → `incident-mcp`, `openclaw auth` → `incident-mcp auth`.
pub fn translate(text: &str) -> String {
    text.replace("openclaw incident", "incident-mcp")
        .replace("openclaw auth", "incident-mcp auth")
}

/// The bearer key of the server, derived from the suite-wide canary.
pub fn api_key() -> String {
    common::secret("manifest-api-key")
}

/// A fresh store and home directory; the CLI and the server of one test share them.
pub struct Ctx {
    pub dir: tempfile::TempDir,
    pub db: PathBuf,
    /// `--config` for every command (`None`: the built-in configuration).
    pub config: Option<PathBuf>,
    pub server: Option<(Proc, String)>,
    pub http: reqwest::Client,
    /// More environment variables for every command.
    pub env: Vec<(String, String)>,
}

impl Ctx {
    pub fn new(config: Option<PathBuf>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("incidents.db");
        std::fs::create_dir_all(dir.path().join("home/.config")).unwrap();
        Self {
            dir,
            db,
            config,
            server: None,
            http: reqwest::Client::new(),
            env: Vec::new(),
        }
    }

    pub fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// A command with the test's environment: the binary on PATH, the temp database, HOME and
    /// XDG_CONFIG_HOME in the temp dir, nothing inherited that would change the outcome.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        let bin_dir = common::bin().parent().unwrap().to_path_buf();
        let path = std::env::var_os("PATH").unwrap_or_default();
        let mut dirs = vec![bin_dir];
        dirs.extend(std::env::split_paths(&path));
        c.env("PATH", std::env::join_paths(dirs).unwrap())
            .env("INCIDENT_MCP_DB", &self.db)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("OPENCLAW_API_KEY", api_key())
            .env_remove("INCIDENT_MCP_CONFIG")
            .env_remove("INCIDENT_MCP_SERVER")
            .env_remove("PAGERSERVICE_KEY")
            .current_dir(self.dir.path());
        if let Some(cfg) = &self.config {
            c.env("INCIDENT_MCP_CONFIG", cfg);
        }
        c.envs(self.env.iter().map(|(k, v)| (k, v)));
        c
    }

    /// Runs a bash script.
    pub fn bash(&self, script: &str) -> Outcome {
        let out = self.command("bash").arg("-c").arg(script).output().unwrap();
        outcome(out)
    }

    /// Runs the CLI with `args`; it must exit 0 and print JSON.
    pub fn cli(&self, args: &[&str]) -> Value {
        let out = outcome(self.command(common::bin()).args(args).output().unwrap());
        assert_eq!(out.code, 0, "{args:?}: {}", out.stderr);
        out.json
    }

    /// The newest audit entries, newest first.
    pub fn audit(&self) -> Vec<Value> {
        let v = self.cli(&["audit", "list", "--limit", "20", "--format", "json"]);
        v["entries"].as_array().cloned().unwrap_or_default()
    }

    /// The newest refusal in the audit log.
    pub fn refusal(&self) -> Value {
        self.audit()
            .into_iter()
            .find(|e| e["kind"] == "refusal")
            .expect("a refusal was audited")
    }

    /// An incident as `get` shows it.
    pub fn incident(&self, id: &str) -> Value {
        self.cli(&["get", "--id", id])["incident"].clone()
    }

    /// Moves the incidents table's AUTOINCREMENT counter: the next incident gets `last + 1`.
    pub async fn seed(&self, last: i64) {
        use sqlx::Connection;
        // Creates the database with its schema if no command did yet.
        drop(incident_mcp::store::SqliteStore::open(&self.db).await.unwrap());
        let url = format!("sqlite://{}", self.db.display());
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("DELETE FROM sqlite_sequence WHERE name = 'incidents'")
            .execute(&mut conn)
            .await
            .unwrap();
        sqlx::query("INSERT INTO sqlite_sequence (name, seq) VALUES ('incidents', ?)")
            .bind(last)
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// Starts `incident-mcp serve --http 127.0.0.1:0` on the test's database and configuration,
    /// with the bearer key in `OPENCLAW_API_KEY`.
    pub async fn start_server(&mut self) -> String {
        let mut cmd = self.command(common::bin());
        cmd.args(["serve", "--http", "127.0.0.1:0"]);
        let proc = Proc::spawn("incident-mcp-serve", cmd, self.dir.path());
        let addr = proc.bound_addr("listening on http://").await;
        let base = format!("http://{addr}");
        self.server = Some((proc, base.clone()));
        base
    }

    pub fn base(&self) -> &str {
        &self.server.as_ref().expect("the server runs").1
    }

    pub async fn rest(&self, method: &str, path: &str, body: Option<&str>, key: bool) -> Outcome {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = self.http.request(method, format!("{}{path}", self.base()));
        if key {
            rb = rb.bearer_auth(api_key());
        }
        if let Some(b) = body {
            rb = rb.header("content-type", "application/json").body(b.to_owned());
        }
        let resp = rb.send().await.expect("the server answers");
        let code = i32::from(resp.status().as_u16());
        let text = resp.text().await.unwrap_or_default();
        Outcome {
            code,
            json: serde_json::from_str(&text).unwrap_or(Value::Null),
            stdout: text,
            stderr: String::new(),
        }
    }

    /// Runs one row: seeds, runs, checks the code, then the row's own checks.
    pub async fn run_row(&self, row: &Row) {
        if let Some(last) = row.seed {
            self.seed(last).await;
        }
        let out = match row.run {
            Run::Shell => self.bash(&translate(row.manifest)),
            Run::Script(s) => self.bash(&translate(s)),
            Run::Rest(m, p, b) => self.rest(m, p, b, true).await,
            Run::RestNoKey(m, p, b) => self.rest(m, p, b, false).await,
        };
        assert_eq!(
            out.code, row.expect,
            "manifest example `{}`:\nstdout: {}\nstderr: {}",
            row.manifest, out.stdout, out.stderr
        );
        (row.check)(self, &out);
    }
}

fn outcome(out: std::process::Output) -> Outcome {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    Outcome {
        code: out.status.code().unwrap_or(-1),
        json: serde_json::from_str(&stdout).unwrap_or(Value::Null),
        stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The refusal of a containment/recovery: audited with the resolved action and target.
pub fn assert_refused(c: &Ctx, o: &Outcome, incident: &str, action: &str, name: &str, namespace: Option<&str>) {
    let text = format!("{}{}", o.stderr, o.stdout);
    assert!(text.contains("refused by policy"), "{text}");
    let r = c.refusal();
    assert_eq!(r["incident_id"], incident, "{r}");
    assert_eq!(r["payload"]["action"], action, "{r}");
    assert_eq!(r["payload"]["name"], name, "{r}");
    assert_eq!(r["payload"]["namespace"], json!(namespace), "{r}");
}

/// The ids a detect result reports, and its `alert` lines.
fn ids(o: &Outcome) -> Vec<&str> {
    o.json["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no ids: {}", o.stdout))
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect()
}

fn alerts(o: &Outcome) -> Vec<String> {
    o.json["alerts"]
        .as_array()
        .map(|a| a.iter().map(|v| v.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

const JENKINS_STAGE: &str = "stage('Incident Check') {
    sh 'openclaw incident detect --env prod > incident.log'
    if (readFile('incident.log').contains('alert')) { error 'Incident detected' }
}";

/// The Jenkins stage as the shell script it amounts to: `sh` fails the build on a non-zero
/// exit; `readFile(..).contains('alert')` is a substring test; `error` fails the build.
pub const JENKINS_AS_BASH: &str = "set -e
openclaw incident detect --env prod > incident.log
if grep -qF alert incident.log; then echo 'Incident detected' >&2; exit 1; fi";

pub const BASH_PATTERN: &str = "export OPENCLAW_API_KEY=your_key
openclaw incident detect --env staging
if [ $? -ne 0 ]; then openclaw incident contain --id $(echo $output | jq .id); fi";

const ERROR_PATTERN: &str = "response=$(openclaw incident detect --env invalid)
if [ $? -eq 1 ]; then echo \"Error: Invalid environment\"; exit 1; fi";

/// Every example of the manifest, in an order that builds the state later ones need.
pub const ROWS: &[Row] = &[
    Row {
        manifest: "openclaw incident detect --env staging --type network",
        run: Run::Shell,
        seed: Some(122),
        expect: 0,
        check: |_, o| {
            assert_eq!(o.json["env"], "staging", "{}", o.stdout);
            assert_eq!(o.json["id"], "INC-000123", "{}", o.stdout);
            assert_eq!(ids(o), ["INC-000123"]);
            assert_eq!(o.json["incidents"][0]["type"], "network");
            assert_eq!(o.json["incidents"][0]["entity"], "pod/shop/api-3");
            let a = alerts(o);
            assert!(a.len() == 1 && a[0].starts_with("alert: INC-000123 created"), "{a:?}");
        },
    },
    Row {
        manifest: "openclaw incident analyze --id 123 --format json",
        run: Run::Shell,
        seed: None,
        expect: 0,
        check: |_, o| {
            assert_eq!(o.json["incident"]["id"], "INC-000123", "{}", o.stdout);
            assert_eq!(o.json["affected_resources"][0]["entity"], "pod/shop/api-3");
        },
    },
    Row {
        manifest: "openclaw incident contain --id 123 --action isolate",
        run: Run::Shell,
        seed: None,
        expect: 1,
        check: |c, o| assert_refused(c, o, "INC-000123", "isolate", "api-3", Some("shop")),
    },
    Row {
        manifest: "openclaw incident contain --id 123 --scope cluster",
        run: Run::Shell,
        seed: None,
        expect: 1,
        // Cluster scope: the node the affected pod runs on.
        check: |c, o| assert_refused(c, o, "INC-000123", "cordon", "node-a", None),
    },
    Row {
        manifest: "openclaw incident recover --id 123 --backup latest",
        run: Run::Shell,
        seed: None,
        expect: 1,
        // A backup without a method restores; the workload is the incident's Deployment.
        check: |c, o| assert_refused(c, o, "INC-000123", "restore", "api", Some("shop")),
    },
    Row {
        manifest: r#"{"env": "staging", "types": ["app-vuln", "network"]} in a file passed via --config path/to/config.json"#,
        run: Run::Script(
            r#"mkdir -p path/to && echo '{"env": "staging", "types": ["app-vuln", "network"]}' > path/to/config.json
openclaw incident detect --config path/to/config.json"#,
        ),
        seed: Some(455),
        expect: 0,
        check: |_, o| {
            assert_eq!(o.json["env"], "staging", "{}", o.stdout);
            assert_eq!(o.json["types"], json!(["app-vuln", "network"]));
            // The new critical incident is the most severe; the network one is unchanged.
            assert_eq!(o.json["id"], "INC-000456", "{}", o.stdout);
            assert_eq!(ids(o).len(), 2, "{}", o.stdout);
            let a = alerts(o);
            assert!(a.len() == 1 && a[0].starts_with("alert: INC-000456 created"), "{a:?}");
        },
    },
    Row {
        manifest: "openclaw incident analyze --id 456 --depth 1",
        run: Run::Shell,
        seed: None,
        expect: 0,
        check: |_, o| {
            assert_eq!(o.json["incident"]["type"], "app-vuln", "{}", o.stdout);
            assert_eq!(o.json["affected_resources"][0]["entity"], "deployment/shop/api");
            assert!(o.json["signal_groups"].as_array().is_some_and(|g| !g.is_empty()));
        },
    },
    Row {
        manifest: "openclaw incident recover --id 456 --method rollback --backup latest",
        run: Run::Shell,
        seed: None,
        expect: 1,
        check: |c, o| assert_refused(c, o, "INC-000456", "rollback", "api", Some("shop")),
    },
    Row {
        manifest: BASH_PATTERN,
        run: Run::Shell,
        seed: Some(788),
        expect: 0,
        // detect succeeded, so the snippet's `if` (detect failed) does not contain anything.
        check: |c, o| {
            assert!(o.stdout.contains("alert: INC-000789 created"), "{}", o.stdout);
            assert_eq!(c.incident("INC-000789")["type"], "resource");
            assert!(c.audit().iter().all(|e| e["incident_id"] != "INC-000789"));
        },
    },
    Row {
        manifest: "openclaw incident contain --id 789 --action isolate --resource k8s-pod",
        run: Run::Shell,
        seed: None,
        expect: 1,
        check: |c, o| assert_refused(c, o, "INC-000789", "isolate", "k8s-pod", Some("shop")),
    },
    Row {
        manifest: "openclaw incident recover --id 789 --method rollback",
        run: Run::Shell,
        seed: None,
        expect: 1,
        check: |c, o| assert_refused(c, o, "INC-000789", "rollback", "api", Some("shop")),
    },
    Row {
        manifest: "POST /api/incident/recover with payload {\"backup_id\": \"snapshot-456\"}",
        run: Run::Rest(
            "POST",
            "/api/incident/recover",
            Some(r#"{"backup_id": "snapshot-456"}"#),
        ),
        seed: None,
        expect: 409,
        // No id: the most recently changed unresolved incident (789); a backup means restore.
        check: |c, o| {
            assert_eq!(o.json["error_code"], "conflict", "{}", o.stdout);
            let r = c.refusal();
            assert_eq!(
                (&r["incident_id"], &r["payload"]["action"]),
                (&json!("INC-000789"), &json!("restore"))
            );
        },
    },
    Row {
        manifest: "POST /api/incident/recover/{id}: Body { \"method\": \"rollback\", \"backup_id\": \"snapshot-abc\" }",
        run: Run::Rest(
            "POST",
            "/api/incident/recover/456",
            Some(r#"{ "method": "rollback", "backup_id": "snapshot-abc" }"#),
        ),
        seed: None,
        expect: 409,
        check: |c, o| {
            assert_eq!(o.json["error_code"], "conflict", "{}", o.stdout);
            assert_eq!(c.refusal()["payload"]["action"], "rollback");
        },
    },
    Row {
        manifest: "PUT /api/incident/contain/{id}: Body { \"action\": \"isolate\", \"resource\": \"pod-123\" }",
        run: Run::Rest(
            "PUT",
            "/api/incident/contain/123",
            Some(r#"{ "action": "isolate", "resource": "pod-123" }"#),
        ),
        seed: None,
        expect: 409,
        check: |c, o| {
            assert_eq!(o.json["error_code"], "conflict", "{}", o.stdout);
            assert!(o.json["error"].as_str().unwrap().contains("refused by policy"));
            let r = c.refusal();
            assert_eq!(
                (&r["payload"]["name"], &r["payload"]["namespace"]),
                (&json!("pod-123"), &json!("shop"))
            );
        },
    },
    Row {
        manifest: "GET /api/incident/analyze/{id}: Query param depth=2",
        run: Run::Rest("GET", "/api/incident/analyze/123?depth=2", None),
        seed: None,
        expect: 200,
        check: |_, o| {
            assert_eq!(o.json["depth"], 2, "{}", o.stdout);
            assert!(o.json["timeline"].as_array().is_some_and(|t| !t.is_empty()));
        },
    },
    Row {
        manifest: "POST /api/incident/detect: Body { \"env\": \"prod\", \"type\": \"network\" }",
        run: Run::Rest(
            "POST",
            "/api/incident/detect",
            Some(r#"{ "env": "prod", "type": "network" }"#),
        ),
        seed: None,
        expect: 200,
        check: |_, o| {
            assert_eq!(
                (&o.json["env"], &o.json["type"]),
                (&json!("prod"), &json!("network")),
                "{}",
                o.stdout
            );
            assert_eq!((ids(o).len(), &o.json["id"]), (0, &Value::Null));
        },
    },
    Row {
        manifest: "/api/incident/detect with JSON payload like {\"source\": \"k8s-logs\", \"threshold\": 0.8}",
        run: Run::Rest(
            "POST",
            "/api/incident/detect",
            Some(r#"{"source": "k8s-logs", "threshold": 0.8}"#),
        ),
        seed: None,
        // No env: the default one (dev), which has no Kubernetes log source in the built-in
        // configuration; manifest_with_a_cluster.rs has one.
        expect: 400,
        check: |_, o| {
            assert_eq!(o.json["error_code"], "unknown_source", "{}", o.stdout);
            assert_eq!(o.json["field"], "source");
            assert!(
                o.json["error"].as_str().unwrap().contains("environment dev"),
                "{}",
                o.stdout
            );
        },
    },
    Row {
        manifest: "401 for auth issues (verify $OPENCLAW_API_KEY)",
        run: Run::RestNoKey("POST", "/api/incident/detect", Some(r#"{ "env": "prod" }"#)),
        seed: None,
        expect: 401,
        check: |_, o| assert_eq!(o.json["error_code"], "unauthorized", "{}", o.stdout),
    },
    Row {
        manifest: "400 for bad requests (e.g., missing fields in JSON)",
        run: Run::Rest("POST", "/api/incident/resolve/123", Some("{}")),
        seed: None,
        expect: 400,
        check: |_, o| {
            assert_eq!(o.json["error_code"], "invalid_argument", "{}", o.stdout);
            assert_eq!(o.json["field"], "note");
        },
    },
    Row {
        manifest: "openclaw incident detect --env prod --type network",
        run: Run::Shell,
        seed: None,
        expect: 0,
        check: |_, o| {
            assert_eq!(o.json["env"], "prod", "{}", o.stdout);
            assert!(ids(o).is_empty() && !o.stdout.contains("alert"), "{}", o.stdout);
        },
    },
    Row {
        manifest: JENKINS_STAGE,
        run: Run::Script(JENKINS_AS_BASH),
        seed: None,
        // prod's sample data holds no incident: the stage passes (the failing case is
        // `jenkins_stage_fails_exactly_when_something_was_found`).
        expect: 0,
        check: |c, _| {
            let log = std::fs::read_to_string(c.dir.path().join("incident.log")).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&log).unwrap()["env"], "prod");
        },
    },
    Row {
        manifest: "openclaw incident detect --env dev --type app-vuln --threshold 0.7",
        run: Run::Shell,
        seed: None,
        expect: 0,
        check: |_, o| {
            assert_eq!(
                (&o.json["type"], &o.json["threshold"]),
                (&json!("app-vuln"), &json!(0.7))
            );
            // dev's sample rules have no app-vuln rule.
            assert_eq!(o.json["rules_evaluated"], 0, "{}", o.stdout);
            assert!(ids(o).is_empty() && o.json["id"].is_null() && !o.stdout.contains("alert"));
        },
    },
    Row {
        manifest: "Parses incident data using CLI flag --analyze-depth 2",
        run: Run::Script("openclaw incident detect --env dev --analyze-depth 2"),
        seed: None,
        expect: 0,
        check: |_, o| {
            let found = ids(o);
            assert_eq!(found.len(), 2, "{}", o.stdout);
            let analyses = o.json["analyses"].as_array().expect("analyses");
            assert_eq!(analyses.len(), 2);
            for a in analyses {
                assert_eq!(a["depth"], 2);
                assert!(found.contains(&a["incident"]["id"].as_str().unwrap()));
                assert!(a["timeline"].as_array().is_some_and(|t| !t.is_empty()));
            }
            assert_eq!(alerts(o).len(), 2);
        },
    },
    Row {
        manifest: "openclaw incident contain --resource pod-123 --action pause",
        run: Run::Shell,
        seed: None,
        // The default environment (dev) allows no action in the built-in configuration.
        expect: 1,
        check: |c, o| {
            // A declared incident was opened for it, in the default environment, and audited.
            let list = c.cli(&["list", "--env", "dev", "--limit", "1"]);
            let declared = &list["incidents"][0];
            assert!(declared["title"].as_str().unwrap().contains("pod-123"), "{declared}");
            let id = declared["id"].as_str().unwrap();
            let audit = c.audit();
            assert!(
                audit
                    .iter()
                    .any(|e| e["kind"] == "declaration" && e["incident_id"] == id)
            );
            assert_refused(c, o, id, "pause", "pod-123", None);
        },
    },
    Row {
        manifest: "openclaw incident hook --url https://your-k8s-webhook.com --event detect",
        run: Run::Shell,
        seed: None,
        expect: 0,
        check: |c, o| {
            assert_eq!(o.json["name"], "your-k8s-webhook-com", "{}", o.stdout);
            assert_eq!(o.json["events"], json!(["detect"]));
            assert_eq!(o.json["secret_env"], "INCIDENT_MCP_HOOK_SECRET");
            let hooks = c.cli(&["hook", "list"]);
            let names: Vec<&Value> = hooks["hooks"].as_array().unwrap().iter().map(|h| &h["name"]).collect();
            assert_eq!(names, [&json!("your-k8s-webhook-com")], "{hooks}");
            assert_eq!(hooks["hooks"][0]["origin"], "https://your-k8s-webhook.com");
        },
    },
    Row {
        manifest: "YAML for hooks: hooks: - url: https://pagerduty.com events: [detect, analyze]",
        run: Run::Script(
            "printf 'hooks:\\n  - url: https://pagerduty.com\\n    events: [detect, analyze]\\n' > hooks.yaml
openclaw incident hook --config hooks.yaml",
        ),
        seed: None,
        expect: 0,
        check: |_, o| {
            let h = &o.json["hooks"][0];
            assert_eq!(
                (&h["name"], &h["events"]),
                (&json!("pagerduty-com"), &json!(["detect", "analyze"])),
                "{}",
                o.stdout
            );
        },
    },
    Row {
        manifest: "export PAGERSERVICE_KEY=your_key and use openclaw incident notify --service pagerduty",
        run: Run::Script("openclaw incident notify --service pagerduty"),
        seed: None,
        // The built-in configuration names no notification target (manifest_with_a_cluster.rs
        // configures PagerDuty); the key is deliberately not exported here, so nothing could
        // reach the real PagerDuty.
        expect: 1,
        check: |_, o| assert!(o.stderr.contains("pagerduty"), "{}", o.stderr),
    },
    Row {
        manifest: ERROR_PATTERN,
        run: Run::Shell,
        seed: None,
        expect: 1,
        check: |_, o| {
            assert_eq!(o.stdout, "Error: Invalid environment\n");
            assert!(o.stderr.contains("unknown environment `invalid`"), "{}", o.stderr);
        },
    },
    Row {
        manifest: "Always validate JSON responses for fields like \"error_code\"",
        run: Run::Script("openclaw incident detect --env invalid --format json"),
        seed: None,
        expect: 1,
        check: |_, o| {
            assert_eq!(o.json["error_code"], "unknown_env", "{}", o.stdout);
            assert_eq!(o.json["field"], "env");
        },
    },
    Row {
        manifest: "Log errors with --verbose flag for debugging",
        run: Run::Script("openclaw incident detect --env invalid --verbose"),
        seed: None,
        expect: 1,
        check: |_, o| {
            assert!(o.stderr.contains("DEBUG"), "{}", o.stderr);
            assert!(
                o.stderr
                    .lines()
                    .last()
                    .unwrap()
                    .starts_with("Error: unknown environment")
            );
        },
    },
    Row {
        manifest: "export OPENCLAW_API_KEY=your_api_key ... Run openclaw auth --key $OPENCLAW_API_KEY to set up sessions",
        run: Run::Script("openclaw auth --key $OPENCLAW_API_KEY"),
        seed: None,
        expect: 0,
        check: |c, o| {
            let key = api_key();
            assert!(
                !o.stdout.contains(&key) && !o.stderr.contains(&key),
                "the key was echoed"
            );
            let file = c.home().join(".config/incident-mcp/credentials.json");
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
            assert!(
                std::fs::read_to_string(&file).unwrap().contains(&key),
                "the key is stored"
            );
        },
    },
];

#[tokio::test]
async fn every_example_of_the_manifest_works_as_written() {
    let mut c = Ctx::new(None);
    c.seed(0).await;
    c.start_server().await;
    for row in ROWS {
        c.run_row(row).await;
    }
}

/// The Jenkins stage, run as the shell script it is, fails the build exactly when detect found
/// something new: it passes on prod's clean sample data, fails when prod's data holds an
/// incident, and passes again on a re-run over the same data (nothing new was found).
#[test]
fn jenkins_stage_fails_exactly_when_something_was_found() {
    let clean = Ctx::new(None);
    let run = |c: &Ctx| c.bash(&translate(JENKINS_AS_BASH));
    let o = run(&clean);
    assert_eq!(o.code, 0, "{}", o.stderr);

    // prod's source pointed at data that holds incidents (staging's sample).
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("incident.toml");
    let toml = incident_mcp::config::EXAMPLE_TOML.replace("builtin:prod-events.jsonl", "builtin:staging-events.jsonl");
    std::fs::write(&cfg, toml).unwrap();
    let dirty = Ctx::new(Some(cfg));
    let o = run(&dirty);
    assert_eq!(o.code, 1, "the build fails: {}", o.stderr);
    assert!(o.stderr.contains("Incident detected"), "{}", o.stderr);
    let log = std::fs::read_to_string(dirty.dir.path().join("incident.log")).unwrap();
    let report: Value = serde_json::from_str(&log).unwrap();
    assert_eq!(report["alerts"].as_array().map(Vec::len), Some(3), "{log}");
    // Same data again: nothing new, the build passes.
    let o = run(&dirty);
    assert_eq!(o.code, 0, "{}", o.stderr);
}

/// The Bash pattern with the capture it leaves out (`output=$(...)`) and the test that makes
/// sense with our exit codes: `jq .id` prints the id quoted, as JSON, and `contain` takes it.
#[test]
fn bash_pattern_contains_the_id_jq_prints() {
    let c = Ctx::new(None);
    let o = c.bash(
        "output=$(incident-mcp detect --env staging)
if [ $? -eq 0 ]; then incident-mcp contain --id $(echo $output | jq .id); fi",
    );
    // staging allows no action in the built-in configuration: the containment is refused,
    // for the incident jq printed.
    assert_eq!(o.code, 1, "{}", o.stderr);
    let list = c.cli(&["list", "--env", "staging"]);
    let found = list["incidents"].as_array().unwrap();
    assert_eq!(found.len(), 3);
    // The most severe found: the critical injection attempts against Deployment api; isolate
    // takes the pod its evidence names.
    let critical = found.iter().find(|i| i["severity"] == "critical").unwrap();
    let r = c.refusal();
    assert_eq!(r["incident_id"], critical["id"], "{r}");
    assert_eq!(
        (&r["payload"]["action"], &r["payload"]["name"]),
        (&json!("isolate"), &json!("api-2")),
        "{r}"
    );
}

/// Bare ids over MCP too, and `error_code` in the `_meta` of an `isError` result.
#[tokio::test]
async fn mcp_takes_bare_ids_and_reports_error_codes() {
    use common::{Harness, Proto};
    use rmcp::model::CallToolRequestParams;
    let h = Harness::new().await;
    let client = h.duplex_client(Default::default(), Proto::Legacy, ()).await;
    let call = |name: &'static str, args: Value| {
        let args = args.as_object().cloned();
        let client = &client;
        async move {
            let mut p = CallToolRequestParams::new(name);
            p.arguments = args;
            client.call_tool(p).await.unwrap()
        }
    };
    let r = call("incident_detect", json!({})).await;
    assert_ne!(r.is_error, Some(true), "{r:?}");
    assert_eq!(r.structured_content.as_ref().unwrap()["env"], "dev");
    for id in [json!("1"), json!(1), json!("INC-1")] {
        let r = call("incident_get", json!({ "id": id })).await;
        assert_ne!(r.is_error, Some(true), "{id}: {r:?}");
        assert_eq!(r.structured_content.as_ref().unwrap()["incident"]["id"], "INC-000001");
    }
    let r = call("incident_get", json!({ "id": 999 })).await;
    assert_eq!(r.is_error, Some(true));
    let meta = serde_json::to_value(&r.meta).unwrap();
    assert_eq!(meta["error_code"], "not_found", "{r:?}");
    assert!(
        r.structured_content.is_none(),
        "TypeScript clients validate it against the output schema"
    );
}
