//! `incident-mcp notify` and `outbox list`: queue and deliver now, exit codes, dead letters.

use crate::common;

use std::{path::Path, process::Command};

use common::{bin, secret};
use incident_mcp::config::EXAMPLE_TOML;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header_exists, method, path},
};

fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let db = dir.join("incidents.db").display().to_string();
    let cfg = dir.join("notify.toml").display().to_string();
    let out = Command::new(bin())
        .args(["--db", &db, "--config", &cfg])
        .args(args)
        .env("OPS_SECRET", secret("cli-hook-secret"))
        .env("INCIDENT_MCP_HOOK_OPS", secret("cli-hook-secret"))
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notify_delivers_now_and_failures_are_listed_as_dead_letters() {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/ok"))
        .and(header_exists("x-incident-mcp-signature"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&rx)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&rx)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let notify = format!(
        "[notify]\nallow_insecure_loopback = true\n\
         [[notify.webhooks]]\nname = \"ops\"\nurl = \"{0}/ok\"\nsecret_env = \"OPS_SECRET\"\n\
         [[notify.webhooks]]\nname = \"old\"\nurl = \"{0}/gone\"\nsecret_env = \"OPS_SECRET\"\n",
        rx.uri()
    );
    std::fs::write(dir.path().join("notify.toml"), format!("{EXAMPLE_TOML}\n{notify}")).unwrap();
    assert_eq!(run(dir.path(), &["detect", "--env", "dev"]).0, 0);

    let (code, out, err) = run(
        dir.path(),
        &["notify", "--id", "INC-000001", "--service", "ops", "--message", "hi"],
    );
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["row"]["status"], "sent");
    assert_eq!(v["row"]["last_status"], 202);

    let (code, _, err) = run(dir.path(), &["notify", "--id", "INC-000001", "--service", "old"]);
    assert_eq!(code, 2);
    assert!(err.contains("not delivered (dead): webhook old answered 410"), "{err}");
    let (code, _, err) = run(
        dir.path(),
        &["notify", "--id", "INC-000001", "--service", "https://x.example"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("configured targets: ops, old"), "{err}");
    let (code, _, err) = run(dir.path(), &["notify", "--id", "INC-999999", "--service", "ops"]);
    assert_eq!(code, 1, "{err}");

    let (code, out, _) = run(dir.path(), &["outbox", "list", "--dead"]);
    assert_eq!(code, 0);
    let dead: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(dead["count"], 1);
    assert_eq!(dead["rows"][0]["target"], "old");
    let (_, out, _) = run(dir.path(), &["notify", "--drain"]);
    let drained: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(drained["delivery"]["attempted"], 0, "nothing left to deliver");
    assert_eq!(rx.received_requests().await.unwrap().len(), 2, "no retry of the 410");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hooks_registered_from_the_cli_receive_lifecycle_events() {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/late"))
        .and(header_exists("x-incident-mcp-signature"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&rx)
        .await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("notify.toml"),
        format!("{EXAMPLE_TOML}\n[notify]\nallow_insecure_loopback = true\n"),
    )
    .unwrap();
    assert_eq!(run(dir.path(), &["detect", "--env", "dev"]).0, 0);
    let url = format!("{}/late", rx.uri());
    let add = [
        "hook",
        "add",
        "--name",
        "late",
        "--secret-env",
        "INCIDENT_MCP_HOOK_OPS",
        "--event",
        "resolve",
        "--url",
    ];
    let (code, out, err) = run(dir.path(), &[&add[..], &[url.as_str()]].concat());
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["events"][0], "resolve");
    let pass = secret("cli-hook-url-password");
    let with_pass = format!("https://u:{pass}@h.example/x");
    for (bad, why) in [
        ("http://10.1.2.3/x", "must be https"),
        (with_pass.as_str(), "credentials"),
    ] {
        let (code, _, err) = run(dir.path(), &[&add[..], &[bad]].concat());
        assert_eq!(code, 1, "{bad}");
        assert!(
            err.contains(why) && !err.contains("10.1.2.3") && !err.contains(&pass),
            "{err}"
        );
    }
    let (code, _, err) = run(
        dir.path(),
        &[
            "hook",
            "add",
            "--name",
            "x",
            "--url",
            &url,
            "--secret-env",
            "INCIDENT_MCP_HOOK_S",
            "--event",
            "deploy",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("unknown event `deploy`"), "{err}");

    assert_eq!(
        run(dir.path(), &["resolve", "--id", "INC-000001", "--note", "fixed"]).0,
        0
    );
    let (code, out, _) = run(dir.path(), &["notify", "--drain"]);
    assert_eq!(code, 0);
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap()["delivery"]["sent"], 1);
    let got = rx.received_requests().await.unwrap();
    let body: Value = got[0].body_json().unwrap();
    assert_eq!(
        (body["event"].as_str(), body["incident"]["id"].as_str()),
        (Some("resolve"), Some("INC-000001"))
    );

    let (_, out, _) = run(dir.path(), &["hook", "list"]);
    // As GET /api/hooks shows them: by URL origin only.
    let list = serde_json::from_str::<Value>(&out).unwrap();
    assert_eq!((&list["hooks"][0]["name"], &list["count"]), (&json!("late"), &json!(1)));
    assert_eq!(list["hooks"][0]["origin"], rx.uri());
    assert_eq!(run(dir.path(), &["hook", "remove", "--name", "late"]).0, 0);
    assert_eq!(run(dir.path(), &["hook", "remove", "--name", "late"]).0, 1);
    let (code, _, err) = run(dir.path(), &["notify", "--id", "INC-000001", "--service", "late"]);
    assert_eq!(code, 1, "a removed hook is no target: {err}");
}
