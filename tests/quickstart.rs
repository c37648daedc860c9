//! The README's quick start (issue 10, acceptance 6): the commands between the
//! `<!-- quickstart` markers of README.md are read from the file and run, one by one, against the
//! real binary and a fresh SQLite file, so README and test cannot drift. `approve` runs on a
//! pseudo-terminal where the human types the target's name; every other command's stdout is a
//! pipe, so it prints JSON, which is checked step by step.

use serde_json::Value;

use crate::common::{at_terminal, bin};

/// The quick start's command lines (comments stripped), as written in README.md.
fn quickstart() -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme
        .find("<!-- quickstart")
        .expect("README.md has a <!-- quickstart --> block");
    let end = readme[start..].find("<!-- /quickstart -->").expect("closed") + start;
    let block = &readme[start..end];
    let code = block
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(code, _)| code)
        .expect("a sh code block inside the markers");
    code.lines()
        .map(|l| l.split_once(" #").map_or(l, |(cmd, _)| cmd).trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

struct Tour {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    /// The id the last `contain` or `recover` printed, and its target.
    plan: Option<(String, String)>,
}

impl Tour {
    fn command(&self, args: &[String]) -> std::process::Command {
        let mut cmd = std::process::Command::new(bin());
        cmd.args(args)
            .env("INCIDENT_MCP_DB", &self.db)
            .env("USER", "alice")
            .env_remove("INCIDENT_MCP_CONFIG")
            .env_remove("OPENCLAW_API_KEY");
        cmd
    }

    /// Runs one README line; returns the command name and its stdout.
    fn run(&mut self, line: &str) -> (String, String) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let args: Vec<String> = match words.as_slice() {
            ["incident-mcp", rest @ ..] => rest
                .iter()
                .map(|w| match *w {
                    "<plan-id>" => self.plan.clone().expect("a plan was printed before").0,
                    w => w.to_owned(),
                })
                .collect(),
            _ => panic!("a quick start line is not an incident-mcp command: {line}"),
        };
        let name = args[0].clone();
        let (code, out, err) = if name == "approve" {
            let target = self.plan.clone().expect("a plan to approve").1;
            at_terminal(self.command(&args), &target)
        } else {
            let o = self.command(&args).output().expect("run the binary");
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            (o.status.code().unwrap_or(-1), s(&o.stdout), s(&o.stderr))
        };
        assert_eq!(code, 0, "`{line}` failed: {err}");
        (name, out)
    }
}

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[test]
fn the_readme_quick_start_runs_the_whole_loop_on_the_sandbox() {
    let lines = quickstart();
    let (first, commands) = lines.split_first().expect("commands");
    assert!(
        first.starts_with("export INCIDENT_MCP_DB="),
        "the tour starts on a fresh database: {first}"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut tour = Tour {
        db: dir.path().join("incidents.db"),
        _dir: dir,
        plan: None,
    };
    let mut seen = Vec::new();
    let mut containments = 0;
    for line in commands {
        let (name, out) = tour.run(line);
        match name.as_str() {
            "detect" => {
                let v = json(&out);
                let incidents = v["incidents"].as_array().unwrap();
                assert!(
                    incidents
                        .iter()
                        .any(|i| i["id"] == "INC-000001" && i["entity"] == "pod/shop/web-7"),
                    "{v}"
                );
            }
            "contain" | "recover" => {
                let v = json(&out);
                assert_eq!(
                    (&v["status"], &v["simulated"]),
                    (&"pending".into(), &true.into()),
                    "{v}"
                );
                assert!(v["summary"].as_str().unwrap().contains("simulated"), "{v}");
                let target = v["target"].as_str().unwrap().to_owned();
                assert_eq!(target, "web-7");
                tour.plan = Some((v["plan_id"].as_str().unwrap().to_owned(), target));
            }
            "approve" => {
                let plan = &tour.plan.as_ref().unwrap().0;
                let v = json(&out);
                assert_eq!(
                    (&v["plan_id"], &v["approver"]),
                    (&plan.as_str().into(), &"human:alice".into()),
                    "{v}"
                );
            }
            "apply" => {
                let v = json(&out);
                assert_eq!(v["status"], "applied", "{v}");
                let outcome = v["outcome"].as_array().unwrap();
                assert!(
                    !outcome.is_empty() && outcome.iter().all(|o| o["simulated"] == true),
                    "{v}"
                );
            }
            "sandbox" => {
                let v = json(&out);
                let pod = v["objects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|o| o["kind"] == "Pod" && o["name"] == "web-7")
                    .unwrap();
                assert_eq!(
                    pod["object"]["metadata"]["labels"]["incident-mcp/quarantine"],
                    "INC-000001"
                );
                assert!(pod["state"].as_str().unwrap().contains("QUARANTINED"));
            }
            "containments" => {
                let v = json(&out);
                containments += 1;
                if containments == 1 {
                    assert_eq!(v["count"], 1, "one active containment after the apply: {v}");
                    let c = &v["containments"][0];
                    assert_eq!(
                        (
                            &c["action"],
                            &c["target"],
                            &c["namespace"],
                            &c["approved_by"],
                            &c["proposed_by"]
                        ),
                        (
                            &"isolate".into(),
                            &"web-7".into(),
                            &"shop".into(),
                            &"human:alice".into(),
                            &"cli".into()
                        ),
                        "{v}"
                    );
                } else {
                    assert_eq!(v["count"], 0, "none left after the revert: {v}");
                }
            }
            other => panic!("the quick start runs `{other}`, which this test does not check"),
        }
        seen.push(name);
    }
    assert_eq!(
        seen,
        [
            "detect",
            "contain",
            "approve",
            "apply",
            "sandbox",
            "containments",
            "recover",
            "approve",
            "apply",
            "containments"
        ]
    );
    // The trail of the tour is intact.
    let out = tour.command(&["audit".into(), "verify".into()]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
