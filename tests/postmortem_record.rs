//! Issue 14 item 6: the post-mortem record outside the prompt. An incident taken through
//! contain → approve → apply → revert → resolve; then `GET /api/incident/postmortem/{id}`
//! (bearer key), the CLI's `postmortem` on the local store and over REST (remote mode), and the
//! `incident-postmortem` prompt all give the same record (`IncidentService::postmortem`).

use crate::common;
use crate::respond;

use common::*;
use incident_mcp::mcp::ToolPolicy;
use reqwest::StatusCode;
use respond::*;
use rmcp::model::GetPromptRequestParams;
use serde_json::{Value, json};

/// The real binary on `db`, with `home` as its home (no stored remote credentials unless
/// `auth` put some there).
fn cli(home: &std::path::Path, db: &std::path::Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(bin())
        .env_remove("INCIDENT_MCP_CONFIG")
        .env_remove("OPENCLAW_API_KEY")
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("INCIDENT_MCP_DB", db)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

// Multi-threaded: the in-process server answers while the test waits for the CLI process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_cli_and_prompt_give_the_same_postmortem_record() {
    let key = secret("postmortem-rest-key");
    let mut cfg = respond::config(POLICY);
    cfg.api_key = Some(secrecy::SecretString::from(key.clone()));
    let backend = crate::recording_backend::RecordingBackend::new();
    let mut h = Harness::with_config(cfg).await;
    h.svc = h.svc.clone().with_backends(respond::backends(&backend));
    respond::detect(&h).await;
    let client = h
        .duplex_client(
            ToolPolicy::default(),
            Proto::Legacy,
            DialogClient::new(Human::gets_code(&h)),
        )
        .await;
    let contained = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
    assert_eq!(contained["status"], "applied", "{contained}");
    ok(&call(
        &client,
        "incident_ack",
        json!({"id": "INC-000001", "note": "bob on it"}),
    )
    .await);
    let reverted = ok(&call(
        &client,
        "incident_recover",
        json!({"id": "INC-000001", "method": "revert"}),
    )
    .await);
    assert_eq!(reverted["status"], "applied", "{reverted}");
    ok(&call(
        &client,
        "incident_resolve",
        json!({"id": "INC-000001", "note": "cause: leaked token; fix: rotated it"}),
    )
    .await);
    assert_eq!(backend.apply_count(), 2);

    // REST, with the key.
    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    let get = |path: &str, key: Option<&str>| {
        let mut rb = http.get(format!("{}{path}", server.base()));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        async move {
            let r = rb.send().await.unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, record) = get("/api/incident/postmortem/INC-000001", Some(&key)).await;
    assert_eq!(s, StatusCode::OK, "{record}");
    let plans = record["plans"].as_array().unwrap();
    let decided: Vec<(&str, &str, bool, bool)> = plans
        .iter()
        .map(|p| {
            (
                p["action"].as_str().unwrap(),
                p["approved_by"].as_str().unwrap(),
                p["approved_at"].is_string(),
                p["applied_at"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        decided,
        [
            ("isolate", "human:alice", true, true),
            ("revert", "human:alice", true, true)
        ]
    );
    assert!(plans[0]["reverted_at"].is_string() && plans[0]["reverted_by"].is_string());
    let phases: Vec<(&str, bool)> = record["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap(), p["seconds"].is_i64()))
        .collect();
    assert_eq!(
        phases,
        [
            ("time_to_detect", true),
            ("time_to_acknowledge", true),
            ("time_to_contain", true),
            ("time_to_recover", true),
            ("time_to_resolve", true)
        ]
    );
    assert_eq!(
        (&record["resolved"], &record["resolution_note"]),
        (&json!(true), &json!("cause: leaked token; fix: rotated it"))
    );
    let kinds: Vec<&str> = record["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for k in [
        "created",
        "plan",
        "approval",
        "action",
        "acknowledged",
        "revert",
        "status_change",
    ] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }

    // One source of truth: the prompt carries this very record.
    let p = client
        .get_prompt(
            GetPromptRequestParams::new("incident-postmortem").with_arguments(args(json!({"incident_id": "1"}))),
        )
        .await
        .unwrap();
    let text = &p.messages[0].content.as_text().unwrap().text;
    let start = text.find("<incident-data>").unwrap() + "<incident-data>".len();
    let end = text.rfind("</incident-data>").unwrap();
    let docs: Vec<Value> = serde_json::Deserializer::from_str(&text[start..end])
        .into_iter::<Value>()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(docs[1], record, "the prompt's record is the endpoint's");
    client.cancel().await.unwrap();

    // Errors: unknown id 404, a malformed id 400, no key or a wrong key 401.
    let (s, b) = get("/api/incident/postmortem/INC-000404", Some(&key)).await;
    assert_eq!(
        (s, &b["error_code"]),
        (StatusCode::NOT_FOUND, &json!("not_found")),
        "{b}"
    );
    assert!(b["error"].as_str().unwrap().contains("INC-000404"), "{b}");
    let (s, b) = get("/api/incident/postmortem/abc", Some(&key)).await;
    assert_eq!((s, &b["field"]), (StatusCode::BAD_REQUEST, &json!("id")), "{b}");
    for wrong in [None, Some("not-the-key")] {
        let (s, b) = get("/api/incident/postmortem/INC-000001", wrong).await;
        assert_eq!(
            (s, &b["error_code"]),
            (StatusCode::UNAUTHORIZED, &json!("unauthorized")),
            "{b}"
        );
        assert!(b.get("plans").is_none());
    }

    // The CLI on the same database: the same record as JSON; a table for people.
    let home = tempfile::tempdir().unwrap();
    let (code, out, err) = cli(home.path(), &h.db, &["postmortem", "--id", "1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let local: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(local, record);
    let (code, table, err) = cli(
        home.path(),
        &h.db,
        &["postmortem", "--id", "INC-000001", "--format", "table"],
    );
    assert_eq!(code, 0, "{err}");
    for part in [
        "post-mortem record of INC-000001",
        "resolution note: cause: leaked token; fix: rotated it",
        "time_to_acknowledge",
        "approved by human:alice",
        "contain isolate",
        "recover revert",
        "timeline (UTC)",
    ] {
        assert!(table.contains(part), "{part}:\n{table}");
    }
    // Unknown or malformed ids: exit 1 with one error line.
    let (code, out, err) = cli(home.path(), &h.db, &["postmortem", "--id", "404"]);
    assert_eq!((code, out.as_str()), (1, ""), "{err}");
    assert!(err.starts_with("Error: ") && err.contains("INC-000404"), "{err}");
    let (code, _, err) = cli(home.path(), &h.db, &["postmortem", "--id", "nope"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nope"), "{err}");

    // Remote mode: the CLI asks the server's endpoint, and prints the same record.
    let (code, _, err) = cli(home.path(), &h.db, &["auth", "--key", &key, "--server", &server.base()]);
    assert_eq!(code, 0, "{err}");
    let never = home.path().join("never.db");
    let (code, out, err) = cli(home.path(), &never, &["postmortem", "--id", "1", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), record);
    assert!(!never.exists(), "remote mode never opens a local store");
    let (code, _, err) = cli(home.path(), &never, &["postmortem", "--id", "404"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("INC-000404"), "{err}");
    // A server that does not answer is a backend failure: exit 2.
    drop(server);
    let (code, out, err) = cli(home.path(), &never, &["postmortem", "--id", "1"]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.lines().last().unwrap_or_default().starts_with("Error: "), "{err}");
}
