//! The service and the domain speak no adapter's vocabulary: no MCP tool name appears in
//! `src/service` or `src/domain` as behaviour or as text (comments and unit tests aside), and
//! each adapter phrases the service's next steps for its own callers (the CLI names CLI
//! commands; REST routes: see `plans_rest`; MCP tools).

use crate::common;

use std::path::{Path, PathBuf};

use assert_cmd::Command as Cmd;

/// The MCP tool names, as the `tools/list` snapshot records them.
fn tool_names() -> Vec<String> {
    let snap = std::fs::read_to_string(root().join("tests/snapshots/suite__contract__tools_list.snap")).unwrap();
    let re = regex::Regex::new(r#""name": "(incident_[a-z_]+)""#).unwrap();
    let mut names: Vec<String> = re.captures_iter(&snap).map(|c| c[1].to_owned()).collect();
    names.sort();
    names.dedup();
    names
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `(line number, line)` of every code line of `text` naming one of `tools`: comment lines and
/// everything from `#[cfg(test)]` on are skipped.
fn offending_lines(text: &str, tools: &[String]) -> Vec<(usize, String)> {
    let words: Vec<regex::Regex> = tools
        .iter()
        .map(|t| regex::Regex::new(&format!(r"\b{t}\b")).unwrap())
        .collect();
    text.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| words.iter().any(|w| w.is_match(l)))
        .map(|(i, l)| (i + 1, l.trim().to_owned()))
        .collect()
}

#[test]
fn no_mcp_tool_name_is_used_in_the_service_or_the_domain() {
    let tools = tool_names();
    assert!(
        tools.len() >= 12 && tools.iter().any(|t| t == "incident_contain"),
        "{tools:?}"
    );
    // The check finds what it looks for.
    let sample =
        "fn f(p: &Plan) -> bool {\n    // incident_contain in a comment is fine\n    p.tool == \"incident_contain\"\n}";
    assert_eq!(
        offending_lines(sample, &tools),
        [(3, "p.tool == \"incident_contain\"".to_owned())]
    );
    assert!(offending_lines("let incident_id = 1;", &tools).is_empty());

    let mut files = Vec::new();
    rust_files(&root().join("src/service"), &mut files);
    rust_files(&root().join("src/domain"), &mut files);
    assert!(files.len() > 30, "{files:?}");
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            offending_lines(&text, &tools)
                .into_iter()
                .map(move |(n, l)| format!("{}:{n}: {l}", f.display()))
        })
        .collect();
    assert!(
        found.is_empty(),
        "MCP tool names in service/domain:\n{}",
        found.join("\n")
    );
}

/// Runs `incident-mcp ARGS` against a fresh database; returns (exit code, stderr).
fn cli(args: &[&str]) -> (i32, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = Cmd::new(common::bin())
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", dir.path().join("incidents.db"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn cli_errors_name_cli_commands() {
    let (code, err) = cli(&["analyze", "--id", "INC-000042"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error: no incident INC-000042 in database ")
            && err.ends_with("incidents.db; `incident-mcp list` shows the incidents\n"),
        "{err}"
    );
    let (code, err) = cli(&["apply", "plan-0123456789abcdef"]);
    assert_eq!(code, 1);
    assert!(
        err.starts_with("Error: no plan plan-0123456789abcdef in database ")
            && err.ends_with(
                "incidents.db; a plan id is what `incident-mcp contain` or `incident-mcp recover` printed \
                 (`incident-mcp plans` lists them)\n"
            ),
        "{err}"
    );
}
