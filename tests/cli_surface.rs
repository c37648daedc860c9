//! What the command line says to a person (issue 13): which database it uses, its error
//! messages, help texts, output formats, completions and man page. The real binary throughout.

use crate::common;

use std::path::Path;

use assert_cmd::Command as Cmd;
use clap::CommandFactory;

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
            .env_remove("INCIDENT_MCP_LOG_FILE")
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env("INCIDENT_MCP_DB", self.db());
        c.args(args);
        c
    }
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }
    fn write(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    }
}

/// Exit `code`, nothing on stdout, and exactly the one stderr line `Error: {message}`.
fn assert_error(cli: &Cli, args: &[&str], code: i32, message: &str) {
    let (got, out, err) = cli.run(args);
    assert_eq!(got, code, "{args:?}: {err}");
    assert!(out.is_empty(), "{args:?}: stdout {out}");
    assert_eq!(err, format!("Error: {message}\n"), "{args:?}");
}

#[test]
fn a_db_in_a_missing_directory_is_refused_naming_it_and_nothing_is_created() {
    let cli = Cli::new();
    let missing = cli.dir.path().join("nope/deeper");
    let db = missing.join("x.db").display().to_string();
    assert_error(
        &cli,
        &["--db", &db, "list"],
        1,
        &format!(
            "--db {db}: the directory {} does not exist; create it first (only the default database's directory is \
             created)",
            missing.display()
        ),
    );
    assert!(!cli.dir.path().join("nope").exists(), "no directory was created");
    // The same through INCIDENT_MCP_DB (clap reads it as --db).
    let (code, _, err) = cli
        .cmd(&["list"])
        .env("INCIDENT_MCP_DB", &db)
        .output()
        .map(|o| {
            (
                o.status.code().unwrap(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    // [storage] db in a configuration file is named as such.
    let cfg = cli.write(
        "storage.toml",
        &format!("[storage]\ndb = \"{db}\"\n\n[environments.dev]\n"),
    );
    let (code, _, err) = cli
        .cmd(&["--config", &cfg, "list"])
        .env_remove("INCIDENT_MCP_DB")
        .output()
        .map(|o| {
            (
                o.status.code().unwrap(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(&format!("Error: [storage] db {db}: the directory")),
        "{err}"
    );
    assert!(!cli.dir.path().join("nope").exists());
}

#[test]
fn not_found_errors_name_the_database_and_a_cli_command() {
    let cli = Cli::new();
    let db = cli.db();
    assert_error(
        &cli,
        &["analyze", "--id", "INC-000042"],
        1,
        &format!("no incident INC-000042 in database {db}; `incident-mcp list` shows the incidents"),
    );
    let (code, _, err) = cli.run(&["plan", "plan-0123456789abcdef"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(&format!("Error: no plan plan-0123456789abcdef in database {db};")),
        "{err}"
    );
    assert!(
        !err.contains("incident_"),
        "CLI errors name CLI commands, not MCP tools: {err}"
    );
}

#[test]
fn flag_errors_are_one_line_with_suggestions_and_the_command_help() {
    let cli = Cli::new();
    assert_error(
        &cli,
        &["detect", "--threshold", "abc"],
        1,
        "invalid value 'abc' for '--threshold <THRESHOLD>': invalid float literal (see incident-mcp detect --help)",
    );
    assert_error(
        &cli,
        &["detect", "--treshold", "0.5"],
        1,
        "unexpected argument '--treshold' found; did you mean '--threshold'? (see incident-mcp detect --help)",
    );
    assert_error(
        &cli,
        &["lst"],
        1,
        "unrecognized subcommand 'lst'; did you mean 'list'? (see incident-mcp --help)",
    );
}

#[test]
fn list_refuses_an_unknown_environment_like_detect() {
    let cli = Cli::new();
    let message = "unknown environment `prod2`; configured environments: dev, prod, staging";
    assert_error(&cli, &["detect", "--env", "prod2"], 1, message);
    assert_error(&cli, &["list", "--env", "prod2"], 1, message);
}

#[test]
fn config_errors_name_the_line_and_table() {
    let cli = Cli::new();
    let bad = cli.write(
        "bad.toml",
        "[environments.x]\ndescription = \"x\"\n\n[[environments.x.rules]]\nname = \"r\"\ntype = \"network\"\n\
         severity = \"high\"\nmetric = \"m\"\nabove = 1.0\nentity = \"e\"\nthreshhold = 2\n",
    );
    let (code, out, err) = cli.run(&["--config", &bad, "config", "check"]);
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty());
    assert!(
        err.starts_with(&format!(
            "Error: invalid config {bad}: line 11, [environments.x.rules]: unknown field `threshhold`, expected one of"
        )),
        "{err}"
    );
}

#[test]
fn config_check_fails_on_a_missing_kubeconfig_and_an_unset_approver_key() {
    let cli = Cli::new();
    let kube = cli.write(
        "kube.toml",
        "[environments.edge]\n[environments.edge.cluster]\nkubeconfig = \"missing-kubeconfig.yaml\"\n",
    );
    assert_error(
        &cli,
        &["--config", &kube, "config", "check"],
        1,
        "invalid config: environments.edge.cluster.kubeconfig: no such file `missing-kubeconfig.yaml`",
    );
    let approvers = cli.write(
        "approvers.toml",
        &format!(
            "{}\n[[approvers]]\nname = \"alice\"\nkey_env = \"CLI_SURFACE_ALICE_KEY\"\n",
            incident_mcp::config::DEFAULT_TOML
        ),
    );
    let args = ["--config", approvers.as_str(), "config", "check", "--format", "json"];
    let out = cli.cmd(&args).env_remove("CLI_SURFACE_ALICE_KEY").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("approvers.alice.key_env: the environment variable CLI_SURFACE_ALICE_KEY is not set"),
        "{err}"
    );
    // Set: the check passes, as JSON, and never shows the value.
    let key = crate::canary_value::secret("cli-surface-alice");
    let out = cli.cmd(&args).env("CLI_SURFACE_ALICE_KEY", &key).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["environments"], serde_json::json!(["dev", "prod", "staging"]));
    assert!(!stdout.contains(&key) && !String::from_utf8_lossy(&out.stderr).contains(&key));
}

/// Every command and subcommand, as the words that name it (`["audit", "verify"]`).
fn command_paths() -> Vec<Vec<String>> {
    fn walk(cmd: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&incident_mcp::cli::Cli::command(), &[], &mut out);
    out
}

#[test]
fn every_command_and_argument_has_a_help_text() {
    let mut root = incident_mcp::cli::Cli::command();
    root.build();
    let mut missing = Vec::new();
    fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for a in cmd.get_arguments() {
            if a.is_hide_set() || ["help", "version"].contains(&a.get_id().as_str()) {
                continue;
            }
            if a.get_help().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(format!("{path} {}", a.get_id()));
            }
        }
        for s in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let sub_path = format!("{path} {}", s.get_name());
            if s.get_about().is_none_or(|h| h.to_string().trim().is_empty()) {
                missing.push(sub_path.clone());
            }
            check(s, &sub_path, missing);
        }
    }
    check(&root, "incident-mcp", &mut missing);
    assert!(missing.is_empty(), "without a help text: {missing:#?}");
    assert!(command_paths().len() > 30);
}

#[test]
fn global_flags_have_their_own_heading_and_hook_events_include_approval() {
    let cli = Cli::new();
    let (code, help, _) = cli.run(&["list", "--help"]);
    assert_eq!(code, 0);
    let global = help.split("Global options:").nth(1).expect("a Global options heading");
    for flag in ["--db", "--config", "--verbose", "--log-file"] {
        assert!(global.contains(flag), "{flag} under Global options:\n{help}");
    }
    let own = help.split("Global options:").next().unwrap();
    assert!(
        !own.contains("--db"),
        "global flags are not among the command's own:\n{help}"
    );
    for args in [&["hook", "add", "--help"][..], &["hook", "--help"]] {
        let (_, help, _) = cli.run(args);
        let event = help
            .lines()
            .skip_while(|l| !l.trim_start().starts_with("--event"))
            .take(3)
            .collect::<String>();
        assert!(event.contains("approval"), "{args:?}: {help}");
    }
    let skill = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("SKILL.md")).unwrap();
    let resources = skill.split("## Resources and prompts").nth(1).unwrap();
    assert!(
        resources.contains("`incident://audit`"),
        "SKILL.md lists the audit resource"
    );
}

#[test]
fn help_of_every_command_is_snapshotted() {
    let cli = Cli::new();
    for path in std::iter::once(Vec::new()).chain(command_paths()) {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        // No environment values in the text: it is the same on every machine.
        let out = cli.cmd(&args).env_remove("INCIDENT_MCP_DB").output().unwrap();
        let (code, err) = (out.status.code(), String::from_utf8_lossy(&out.stderr));
        assert_eq!(code, Some(0), "{args:?}: {err}");
        let out = String::from_utf8_lossy(&out.stdout).into_owned();
        let name = match path.is_empty() {
            true => "help".to_owned(),
            false => format!("help_{}", path.join("_")),
        };
        insta::assert_snapshot!(name, out);
    }
}

#[test]
fn tables_use_one_utc_timestamp_style_and_headers() {
    let cli = Cli::new();
    let (code, _, err) = cli.run(&["detect", "--env", "dev", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let (_, table, _) = cli.run(&["list", "--format", "table"]);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().contains("LAST SEEN (UTC)"), "{table}");
    let row = lines.next().unwrap();
    let stamp = row
        .split_whitespace()
        .find(|w| w.len() == 20 && w.ends_with('Z') && w.as_bytes()[10] == b'T')
        .unwrap_or_else(|| panic!("an ISO-8601 UTC timestamp to the second in {row}"));
    assert!(chrono::DateTime::parse_from_rfc3339(stamp).is_ok(), "{stamp}");
    let (_, audit, _) = cli.run(&["audit", "list", "--format", "table"]);
    assert!(audit.lines().next().unwrap().contains("AT (UTC)"), "{audit}");
}

#[test]
fn pending_plans_outbox_and_hooks_have_table_headers() {
    let cli = Cli::new();
    let (code, _, err) = cli.run(&["detect", "--env", "dev", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = cli.run(&["contain", "--id", "INC-000001", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let (_, plans, _) = cli.run(&["plans", "--pending", "--format", "table"]);
    let mut lines = plans.lines();
    let header: Vec<&str> = lines
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        header,
        ["PLAN", "STATUS", "PROPOSED BY", "APPROVAL", "SUMMARY"],
        "{plans}"
    );
    assert!(lines.next().unwrap().starts_with("plan-"), "{plans}");
    let (code, outbox, err) = cli.run(&["outbox", "list", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        outbox.starts_with("ID  STATUS  TARGET  EVENT  INCIDENT  ATTEMPTS  NEXT ATTEMPT (UTC)"),
        "{outbox}"
    );
    let (code, hooks, err) = cli.run(&["hook", "list", "--format", "table"]);
    assert_eq!(code, 0, "{err}");
    assert!(hooks.starts_with("NAME  ORIGIN  EVENTS  SECRET ENV"), "{hooks}");
    // JSON stays the default for a pipe.
    let (_, json, _) = cli.run(&["outbox", "list"]);
    assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "{json}");
}

#[test]
fn serve_http_prints_nothing_on_stdout() {
    let cli = Cli::new();
    let mut cmd = std::process::Command::new(common::bin());
    cmd.args(["serve", "--http", "127.0.0.1:0"])
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", cli.db())
        .stdout(std::process::Stdio::piped());
    let mut child = cmd
        .env_remove("OPENCLAW_API_KEY")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "server exited"
        );
        if line.contains("listening on http://") {
            break;
        }
    }
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.stdout.is_empty(),
        "stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn serve_on_a_terminal_says_it_waits_for_an_mcp_client() {
    let cli = Cli::new();
    let mut cmd = std::process::Command::new(common::bin());
    cmd.arg("serve")
        .env_remove("INCIDENT_MCP_CONFIG")
        .env_remove("OPENCLAW_API_KEY")
        .env("INCIDENT_MCP_DB", cli.db());
    // Ctrl-D at the terminal ends stdin, and with it the server.
    // (The server then ends as it always does when stdin closes before an MCP client spoke.)
    let (_, out, err) = common::at_terminal(cmd, "\u{4}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("waiting for an MCP client on stdin"), "{err}");
}

#[test]
fn completions_and_man_page_are_generated_and_valid() {
    let cli = Cli::new();
    let (code, bash, err) = cli.run(&["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(bash.contains("incident-mcp") && bash.contains("--threshold"));
    let script = cli.write("incident-mcp.bash", &bash);
    let check = std::process::Command::new("bash")
        .args(["-n", &script])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    for shell in ["zsh", "fish"] {
        let (code, text, err) = cli.run(&["completions", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(text.contains("incident-mcp") && text.contains("threshold"), "{shell}");
    }
    assert_error(
        &cli,
        &["completions", "tcsh"],
        1,
        "invalid value 'tcsh' for '<SHELL>'; [possible values: bash, zsh, fish]; did you mean 'zsh'? (see incident-mcp \
         completions --help)",
    );
    let (code, man, err) = cli.run(&["man"]);
    assert_eq!(code, 0, "{err}");
    for section in [".SH NAME", ".SH SYNOPSIS", ".SH OPTIONS", ".SH SUBCOMMANDS"] {
        assert!(man.contains(section), "{section} in\n{man}");
    }
    assert!(
        man.starts_with(".ie") || man.starts_with(".TH"),
        "roff: {}",
        &man[..80.min(man.len())]
    );
}
