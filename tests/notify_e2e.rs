//! The real binary: lifecycle hooks over MCP reach a signed webhook receiver through the
//! outbox; a killed server delivers its undelivered rows after restart; canary secrets
//! planted through the config never appear in stderr, tool results, the CLI or the database.

use crate::common;

use std::{
    path::Path,
    process::{Child, Command},
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use common::*;
use incident_mcp::{
    config::EXAMPLE_TOML,
    notify::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, verify},
    store::{OutboxStatus, OutboxStore, SqliteStore},
};
use rmcp::{ServiceExt, model::ReadResourceRequestParams, transport::StreamableHttpClientTransport};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate, matchers::method};

/// The canary secrets, derived from the suite-wide canary.
static HOOK_SECRET: LazyLock<String> = LazyLock::new(|| secret("e2e-hook-secret"));
static PD_KEY: LazyLock<String> = LazyLock::new(|| secret("e2e-pd-routing-key"));

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }
}

/// Starts `serve --http 127.0.0.1:0` with the canaries in its environment; stderr is collected in `log`.
fn start(dir: &Path, log: &Arc<Mutex<String>>) -> Server {
    let mut cmd = Command::new(bin());
    cmd.args([
        "--db",
        &db(dir),
        "--config",
        &cfg(dir),
        "serve",
        "--http",
        "127.0.0.1:0",
    ])
    .env("HOOK_SECRET", &*HOOK_SECRET)
    .env("PAGERSERVICE_KEY", &*PD_KEY)
    .env("RUST_LOG", "debug");
    let log = log.clone();
    let (child, url) = spawn_http_server(cmd, move |l| log.lock().unwrap().push_str(l));
    Server { child, url }
}

fn db(dir: &Path) -> String {
    dir.join("incidents.db").display().to_string()
}
fn cfg(dir: &Path) -> String {
    dir.join("notify.toml").display().to_string()
}

fn write_config(dir: &Path, hook: &str, pd: &str) {
    let notify = format!(
        "[notify]\nallow_insecure_loopback = true\ntimeout_secs = 1\nretry_base_secs = 1\nretry_max_secs = 1\nlease_secs = 2\n\
         [notify.pagerduty]\nevents_url = \"{pd}/v2/enqueue\"\n\
         [[notify.webhooks]]\nname = \"ops\"\nurl = \"{hook}/hook\"\nsecret_env = \"HOOK_SECRET\"\n\
         events = [\"detect\", \"acknowledge\", \"contain\", \"recover\", \"resolve\"]\n"
    );
    std::fs::write(dir.join("notify.toml"), format!("{EXAMPLE_TOML}\n{notify}")).unwrap();
}

/// Answers 200 to correctly signed, fresh requests and 401 otherwise.
struct Verifier;

impl Respond for Verifier {
    fn respond(&self, r: &Request) -> ResponseTemplate {
        let h = |n: &str| {
            r.headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let now = chrono::Utc::now().timestamp();
        match verify(
            HOOK_SECRET.as_bytes(),
            &h(TIMESTAMP_HEADER),
            &r.body,
            &h(SIGNATURE_HEADER),
            now,
            300,
        ) {
            true => ResponseTemplate::new(200),
            false => ResponseTemplate::new(401),
        }
    }
}

/// Polls `check` every 50 ms until it holds (an observed outcome, not a timed guess).
async fn eventually<F: AsyncFnMut() -> bool>(what: &str, mut check: F) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Everything the database files hold, as lossy text.
fn db_bytes(dir: &Path) -> String {
    let mut out = String::new();
    for ext in ["", "-wal"] {
        if let Ok(b) = std::fs::read(format!("{}{ext}", db(dir))) {
            out.push_str(&String::from_utf8_lossy(&b));
        }
    }
    out
}

fn assert_no_canary(what: &str, text: &str) {
    for c in [HOOK_SECRET.as_str(), PD_KEY.as_str()] {
        assert!(!text.contains(c), "canary {c} leaked into {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_server_delivers_undelivered_rows_after_restart() {
    let rx = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(503))
        .mount(&rx)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &rx.uri(), "http://127.0.0.1:9");
    // Detection from the CLI writes the incidents and their detect hooks; nothing is sent yet.
    let out = Command::new(bin())
        .args([
            "--db",
            &db(dir.path()),
            "--config",
            &cfg(dir.path()),
            "detect",
            "--env",
            "dev",
        ])
        .env("HOOK_SECRET", &*HOOK_SECRET)
        .output()
        .unwrap();
    assert!(out.status.success());
    let log = Arc::new(Mutex::new(String::new()));
    let server = start(dir.path(), &log);
    eventually("a first (failing) attempt", async || {
        !rx.received_requests().await.unwrap().is_empty()
    })
    .await;
    drop(server); // kill -9
    let store = SqliteStore::open(Path::new(&db(dir.path()))).await.unwrap();
    let rows = store.outbox_rows(None, 100).await.unwrap();
    assert!(
        rows.len() >= 2 && rows.iter().all(|r| r.status != OutboxStatus::Sent),
        "{rows:?}"
    );

    rx.reset().await;
    Mock::given(method("POST")).respond_with(Verifier).mount(&rx).await;
    let server = start(dir.path(), &log);
    eventually("every row delivered after restart", async || {
        let rows = store.outbox_rows(None, 100).await.unwrap();
        rows.iter().all(|r| r.status == OutboxStatus::Sent)
    })
    .await;
    drop(server);
    let got = rx.received_requests().await.unwrap();
    for r in &rows {
        let n = got
            .iter()
            .filter(|q| q.headers["idempotency-key"] == r.id.to_string().as_str())
            .count();
        assert!(n >= 1, "row {} reached the receiver", r.id);
    }
    assert_no_canary("server stderr", &log.lock().unwrap());
    assert_no_canary("the database", &db_bytes(dir.path()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lifecycle_hooks_over_mcp_are_signed_and_secrets_never_leak() {
    let rx = MockServer::start().await;
    Mock::given(method("POST")).respond_with(Verifier).mount(&rx).await;
    let pd = MockServer::start().await;
    // A receiver that echoes the secret back in its error: it must be redacted everywhere.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(400).set_body_json(json!({"status": "invalid event",
            "message": format!("routing_key {} is unknown", *PD_KEY)})),
        )
        .mount(&pd)
        .await;
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), &rx.uri(), &pd.uri());
    let log = Arc::new(Mutex::new(String::new()));
    let server = start(dir.path(), &log);
    let client = ().serve(StreamableHttpClientTransport::from_uri(server.url.clone())).await.unwrap();
    let mut results = String::new();
    let mut tool = async |name: &str, a: Value| {
        let r = client
            .call_tool(rmcp::model::CallToolRequestParams::new(name.to_owned()).with_arguments(args(a)))
            .await
            .unwrap();
        results.push_str(&serde_json::to_string(&r).unwrap());
        r
    };
    let detected = ok(&tool("incident_detect", json!({"env": "dev"})).await);
    let id = detected["incidents"][0]["id"].as_str().unwrap().to_owned();
    ok(&tool("incident_ack", json!({"id": id})).await);
    let queued = ok(&tool(
        "incident_notify",
        json!({"id": id, "service": "pagerduty", "message": "page"}),
    )
    .await);
    ok(&tool("incident_resolve", json!({"id": id, "note": "rolled back"})).await);
    let refused = tool(
        "incident_notify",
        json!({"id": id, "service": "http://169.254.169.254/"}),
    )
    .await;
    assert!(err_text(&refused).contains("configured targets: pagerduty, ops"));

    let events_for = async |id: &str| -> Vec<String> {
        rx.received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| r.body_json::<Value>().unwrap())
            .filter(|b| b["incident"]["id"] == id)
            .map(|b| b["event"].as_str().unwrap().to_owned())
            .collect()
    };
    eventually("detect, acknowledge and resolve hooks", async || {
        events_for(&id).await.len() >= 3
    })
    .await;
    assert_eq!(events_for(&id).await, ["detect", "acknowledge", "resolve"]);
    let dead_uri = "incident://outbox/dead";
    let mut dead = Value::Null;
    eventually("the pagerduty 400 in the dead letters", async || {
        let r = client
            .read_resource(ReadResourceRequestParams::new(dead_uri))
            .await
            .unwrap();
        results.push_str(&serde_json::to_string(&r).unwrap());
        let text = match &r.contents[0] {
            rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
            other => panic!("{other:?}"),
        };
        dead = serde_json::from_str(&text).unwrap();
        dead["count"].as_u64() == Some(1)
    })
    .await;
    let row = &dead["rows"][0];
    assert_eq!(row["id"], queued["outbox_id"]);
    assert_eq!(
        (row["attempts"].as_i64(), row["last_status"].as_i64()),
        (Some(1), Some(400))
    );
    assert!(
        row["last_error"]
            .as_str()
            .unwrap()
            .contains("routing_key [redacted] is unknown")
    );
    assert_eq!(pd.received_requests().await.unwrap().len(), 1, "a 400 is never retried");
    let sent = pd.received_requests().await.unwrap()[0].body_json::<Value>().unwrap();
    assert_eq!(sent["routing_key"], PD_KEY.as_str(), "the key is used where it belongs");

    // Every delivery was signed; tampering with the body or the timestamp breaks the signature.
    let got = rx.received_requests().await.unwrap();
    let r = &got[0];
    let (ts, sig) = (
        r.headers[TIMESTAMP_HEADER].to_str().unwrap(),
        r.headers[SIGNATURE_HEADER].to_str().unwrap(),
    );
    let now = chrono::Utc::now().timestamp();
    assert!(verify(HOOK_SECRET.as_bytes(), ts, &r.body, sig, now, 300));
    let mut tampered = r.body.clone();
    tampered[10] ^= 1;
    assert!(!verify(HOOK_SECRET.as_bytes(), ts, &tampered, sig, now, 300));
    let other_ts = (ts.parse::<i64>().unwrap() - 1).to_string();
    assert!(!verify(HOOK_SECRET.as_bytes(), &other_ts, &r.body, sig, now, 300));

    let _ = client.cancel().await;
    drop(server);
    let cli = Command::new(bin())
        .args([
            "--db",
            &db(dir.path()),
            "--config",
            &cfg(dir.path()),
            "outbox",
            "list",
            "--dead",
        ])
        .output()
        .unwrap();
    let cli_out = String::from_utf8_lossy(&cli.stdout).into_owned() + &String::from_utf8_lossy(&cli.stderr);
    assert!(cli_out.contains("[redacted]"), "{cli_out}");
    assert_no_canary("the CLI", &cli_out);
    assert_no_canary("tool results", &results);
    assert_no_canary("server stderr", &log.lock().unwrap());
    assert_no_canary("the database (outbox, audit, timeline)", &db_bytes(dir.path()));
}
