//! Issue 15 item 1: `/metrics` for Prometheus. A real Prometheus (the Debian `prometheus`
//! package, or PROMETHEUS_BIN) scrapes the real `serve --http` binary with a scrape key, and a
//! tool call, a policy refusal and an outbox delivery to a local webhook receiver move their
//! series in Prometheus' own query API. Beside it: hostile tool names and paths add no series,
//! the `--metrics-addr` listener (HTTP, stdio and `watch` deployments) serves the same
//! exposition, and every metric the Grafana dashboard queries is exported (and every exported
//! one is on the dashboard).

use crate::common;
use crate::procs;

use std::{
    collections::BTreeSet,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::Duration,
};

use common::*;
use incident_mcp::{
    config::DEFAULT_TOML,
    http::METRICS_KEY_ENV,
    mcp::{IncidentServer, ToolPolicy},
};
use procs::{Proc, eventually, find_bin};
use rmcp::{
    ClientLifecycleMode,
    model::CallToolRequestParams,
    service::ClientServiceExt,
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::{Value, json};
use wiremock::{Mock, MockServer, ResponseTemplate, matchers::method};

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// The built-in configuration (env `dev`: the `sample` source, the sandbox and its policy) plus
/// a signed webhook target `ops` at `hook_url`, subscribed to `detect`.
fn config_with_hook(dir: &Path, hook_url: &str) -> PathBuf {
    let path = dir.join("incident-mcp.toml");
    write(
        &path,
        &format!(
            "{DEFAULT_TOML}\n[notify]\nallow_insecure_loopback = true\ntimeout_secs = 2\nretry_base_secs = 1\n\
             [[notify.webhooks]]\nname = \"ops\"\nurl = \"{hook_url}/hook\"\nsecret_env = \"METRICS_HOOK_SECRET\"\n\
             events = [\"detect\"]\n"
        ),
    );
    path
}

/// `incident-mcp` with a fresh database in `dir` and no inherited configuration or keys.
fn incident_mcp(dir: &Path) -> Command {
    let mut cmd = Command::new(bin());
    cmd.env_remove("OPENCLAW_API_KEY")
        .env_remove(METRICS_KEY_ENV)
        .env_remove("INCIDENT_MCP_CONFIG")
        .env_remove("INCIDENT_MCP_DB")
        .arg("--db")
        .arg(dir.join("incidents.db"));
    cmd
}

/// The exposition at `http://addr/metrics`, with `key` as bearer when given.
async fn scrape(http: &reqwest::Client, addr: SocketAddr, key: Option<&str>) -> (u16, String) {
    let mut req = http.get(format!("http://{addr}/metrics"));
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    let r = req.send().await.expect("GET /metrics");
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// The value of the sample line `series` (name and labels exactly as exposed), if present.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Metric families the exposition declares (`# TYPE name kind`).
fn families(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .map(str::to_owned)
        .collect()
}

/// The `name` label of every `incident_mcp_calls_total` sample of `interface`.
fn call_names(text: &str, interface: &str) -> BTreeSet<String> {
    let prefix = format!("incident_mcp_calls_total{{interface=\"{interface}\",name=\"");
    text.lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|l| l.split('"').next())
        .map(str::to_owned)
        .collect()
}

/// Sum of the instant vector `q` in Prometheus (`None`: no series, or Prometheus still
/// starting: it logs "Listening on" before its query API is ready and answers 503 until then).
async fn prom_value(http: &reqwest::Client, prom: SocketAddr, q: &str) -> Option<f64> {
    let answer = http
        .get(format!("http://{prom}/api/v1/query"))
        .query(&[("query", q)])
        .send()
        .await
        .expect("Prometheus query API");
    if answer.status() == reqwest::StatusCode::SERVICE_UNAVAILABLE {
        return None;
    }
    let r: Value = answer.json().await.expect("JSON answer");
    assert_eq!(r["status"], "success", "{q}: {r}");
    let result = r["data"]["result"].as_array().expect("vector result");
    if result.is_empty() {
        return None;
    }
    Some(
        result
            .iter()
            .map(|s| {
                s["value"][1]
                    .as_str()
                    .and_then(|v| v.parse::<f64>().ok())
                    .expect("sample value")
            })
            .sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_sees_a_tool_call_a_refusal_and_an_outbox_delivery() {
    let prometheus_bin = find_bin("PROMETHEUS_BIN", &["prometheus"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let api_key = secret("metrics-e2e-api-key");
    let scrape_key = secret("metrics-e2e-scrape-key");
    let hook_secret = secret("metrics-e2e-hook-secret");

    // The webhook receiver the `ops` target delivers to.
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let config = config_with_hook(d, &hook.uri());
    let mut cmd = incident_mcp(d);
    cmd.env("OPENCLAW_API_KEY", &api_key)
        .env(METRICS_KEY_ENV, &scrape_key)
        .env("METRICS_HOOK_SECRET", &hook_secret)
        .arg("--config")
        .arg(&config)
        .args(["serve", "--http", "127.0.0.1:0"]);
    let server = Proc::spawn("incident-mcp", cmd, d);
    let ours = server.bound_addr("listening on http://").await;

    // `/metrics` wants the scrape key, not the agent's: the agent's key would let a scraper
    // call every tool.
    let http = reqwest::Client::new();
    for key in [None, Some(api_key.as_str()), Some("wrong")] {
        let mut req = http.get(format!("http://{ours}/metrics"));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401, "key {key:?}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
    }
    let r = http
        .get(format!("http://{ours}/metrics"))
        .bearer_auth(&scrape_key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text; version=1.0.0"),
        "{:?}",
        r.headers()
    );
    let text = r.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");

    // Prometheus scrapes every second with the scrape key (`authorization`).
    write(
        &d.join("prometheus.yml"),
        &format!(
            r#"global:
  scrape_interval: 1s
scrape_configs:
  - job_name: incident-mcp
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ["{ours}"]
    authorization:
      credentials: "{scrape_key}"
"#
        ),
    );
    let mut cmd = Command::new(&prometheus_bin);
    cmd.arg(format!("--config.file={}", d.join("prometheus.yml").display()))
        .arg(format!("--storage.tsdb.path={}", d.join("tsdb").display()))
        .arg("--web.listen-address=127.0.0.1:0");
    let prometheus = Proc::spawn("prometheus", cmd, d);
    let prom = prometheus.bound_addr("msg=\"Listening on\" address=").await;
    let (h, procs) = (&http, [&prometheus, &server]);

    // A successful scrape of our build info: Prometheus reads our exposition.
    eventually(
        "Prometheus to scrape incident-mcp",
        Duration::from_secs(60),
        move || async move {
            procs.iter().for_each(|p| p.assert_alive());
            let up = prom_value(h, prom, "up{job=\"incident-mcp\"}").await;
            let built = prom_value(h, prom, "incident_mcp_build_info{job=\"incident-mcp\"}").await;
            (up == Some(1.0) && built == Some(1.0)).then_some(())
        },
    )
    .await;
    let detect_calls = "incident_mcp_calls_total{interface=\"mcp\",name=\"incident_detect\",outcome=\"ok\"}";
    let refused_calls = "incident_mcp_calls_total{interface=\"mcp\",name=\"incident_contain\",outcome!=\"ok\"}";
    let refusals = "incident_mcp_refusals_total{reason=\"protected_namespace\"}";
    let delivered = "incident_mcp_notifications_total{target=\"ops\",outcome=\"sent\"}";
    let detections = "incident_mcp_detections_total{source=\"sample\",change=\"created\"}";
    for q in [detect_calls, refused_calls, refusals, delivered, detections] {
        // Absent, or exported at 0 from the start (the configured target's counters).
        let before = prom_value(&http, prom, q).await;
        assert!(
            before.is_none_or(|v| v == 0.0),
            "{q} = {before:?} before anything happened"
        );
    }

    // One tool call that detects (and so queues the `detect` hook to `ops`), and one
    // containment in a protected namespace, which policy refuses.
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("http://{ours}/mcp")).auth_header(api_key.as_str()),
    );
    let client = legacy_client()
        .serve_with_lifecycle(transport, ClientLifecycleMode::Initialize)
        .await
        .expect("MCP client connects");
    let report = ok(&call(&client, "incident_detect", json!({ "env": "dev" })).await);
    assert!(report["created"].as_u64().unwrap() >= 1, "{report}");
    let first = report["incidents"][0]["id"]
        .as_str()
        .expect("an incident id")
        .to_owned();
    let refused = err_text(
        &call(
            &client,
            "incident_contain",
            json!({"id": first, "action": "isolate", "resource": "web-1", "namespace": "kube-system"}),
        )
        .await,
    );
    assert!(refused.contains("kube-system"), "{refused}");

    // Each series moves in Prometheus.
    for (what, q) in [
        ("the tool call", detect_calls),
        ("the refused call", refused_calls),
        ("the refusal", refusals),
        ("the outbox delivery", delivered),
        ("the detection", detections),
        (
            "the incidents gauge",
            "sum(incident_mcp_incidents{state=\"open\",job=\"incident-mcp\"})",
        ),
        (
            "the detection lag",
            "incident_mcp_detection_lag_seconds_count{source=\"sample\"}",
        ),
        ("the HTTP session", "incident_mcp_sessions_open{transport=\"http\"}"),
    ] {
        let v = eventually(what, Duration::from_secs(60), move || async move {
            procs.iter().for_each(|p| p.assert_alive());
            prom_value(h, prom, q).await.filter(|v| *v >= 1.0)
        })
        .await;
        assert!(v >= 1.0, "{what}: {q} = {v}");
    }
    assert!(
        !hook.received_requests().await.unwrap_or_default().is_empty(),
        "the receiver got the delivery"
    );
    // The outbox drained: nothing pending for `ops` once delivered.
    let pending = "incident_mcp_outbox_rows{target=\"ops\",state=\"pending\"}";
    assert_eq!(prom_value(&http, prom, pending).await.unwrap_or(0.0), 0.0);

    // No secret reached the exposition.
    let (_, text) = scrape(&http, ours, Some(&scrape_key)).await;
    for s in [&api_key, &scrape_key, &hook_secret] {
        assert!(!text.contains(s.as_str()), "a secret in /metrics");
    }
    assert!(!text.contains(&first), "an incident id in /metrics");
    client.cancel().await.ok();
    drop((prometheus, server));
}

#[tokio::test]
async fn hostile_tool_names_and_paths_add_no_series() {
    let key = secret("metrics-hostile-key");
    let (h, server) = keyed_app(&key, |_| {}).await;
    let ours = server.addr;
    let http = reqwest::Client::new();
    let client = server.client(Some(&key), Proto::Legacy, legacy_client()).await;
    let tools: BTreeSet<String> = IncidentServer::new(h.svc.clone(), ToolPolicy::default())
        .visible_tools()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();

    let (c, hc, k) = (&client, &http, key.as_str());
    let hostile = |round: usize| async move {
        let (client, http, key) = (c, hc, k);
        for i in 0..40 {
            let name = format!("evil_{round}_{i}\"}} 1\nincident_mcp_pwned 1 # {}", "x".repeat(i * 7));
            // An unknown tool: a JSON-RPC error or an error result, never a new series.
            let _ = client.call_tool(CallToolRequestParams::new(name)).await;
            for (m, path) in [
                (reqwest::Method::GET, format!("/api/evil{round}x{i}/%22%7D")),
                (reqwest::Method::GET, format!("/nothing-here-{round}-{i}")),
                (reqwest::Method::POST, format!("/api/incident/ack/INC-{round}{i:06}")),
                (
                    reqwest::Method::GET,
                    format!("/api/incident/INC-{round}{i:06}?x=evil{i}"),
                ),
            ] {
                let r = http
                    .request(m, format!("http://{ours}{path}"))
                    .bearer_auth(key)
                    .header("content-type", "application/json")
                    .body("{}")
                    .send()
                    .await
                    .expect("request");
                assert!(r.status().as_u16() >= 400, "{path}: {}", r.status());
            }
        }
    };
    hostile(1).await;
    let (status, first) = scrape(&http, ours, None).await;
    assert_eq!(status, 200, "no scrape key configured: /metrics is open");
    let series = |t: &str| t.lines().filter(|l| l.starts_with("incident_mcp_calls_total{")).count();
    hostile(2).await;
    let (_, second) = scrape(&http, ours, None).await;

    for text in [&first, &second] {
        assert!(!text.contains("evil") && !text.contains("pwned") && !text.contains("nothing-here"));
        let mcp = call_names(text, "mcp");
        assert_eq!(
            mcp,
            BTreeSet::from(["other".to_owned()]),
            "only `other` for unknown tools"
        );
        assert!(mcp.iter().all(|n| n == "other" || tools.contains(n)));
        let rest = call_names(text, "rest");
        assert!(rest.contains("other"), "unrouted paths are `other`: {rest:?}");
        assert!(
            rest.contains("POST /api/incident/ack/{id}"),
            "route templates: {rest:?}"
        );
        assert!(rest.contains("GET /api/incident/{id}"), "route templates: {rest:?}");
        for n in &rest {
            assert!(n == "other" || n.starts_with("GET /") || n.starts_with("POST /"), "{n}");
            assert!(!n.contains("INC-"), "a raw path as a label: {n}");
        }
    }
    // The second round of new hostile names and paths added no series; only `GET /metrics`
    // (the first scrape) may have appeared in between.
    let grew = series(&second) - series(&first);
    assert!(grew <= 1, "{grew} new series:\n{second}");
    let others: f64 = second
        .lines()
        .filter(|l| l.starts_with("incident_mcp_calls_total{interface=\"mcp\",name=\"other\","))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(others, 80.0, "every unknown tool call counted as `other`:\n{second}");
    client.cancel().await.ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_addr_serves_the_same_exposition_as_the_http_listener() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let mut cmd = incident_mcp(d);
    cmd.args(["serve", "--http", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"]);
    let server = Proc::spawn("incident-mcp", cmd, d);
    let main = server.bound_addr("listening on http://").await;
    let side = server.bound_addr("metrics on http://").await;
    assert_ne!(main, side);
    let http = reqwest::Client::new();
    let r = http.get(format!("http://{main}/api/incidents")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let (s1, on_main) = scrape(&http, main, None).await;
    let (s2, on_side) = scrape(&http, side, None).await;
    assert_eq!((s1, s2), (200, 200));
    assert_eq!(families(&on_main), families(&on_side));
    for f in [
        "incident_mcp_calls",
        "incident_mcp_build",
        "incident_mcp_store_errors",
        "incident_mcp_approvals",
    ] {
        assert!(families(&on_main).contains(f), "{f}:\n{on_main}");
    }
    let listed = "incident_mcp_calls_total{interface=\"rest\",name=\"GET /api/incidents\",outcome=\"ok\"}";
    assert_eq!(sample(&on_main, listed), Some(1.0), "{on_main}");
    assert_eq!(sample(&on_side, listed), Some(1.0), "{on_side}");

    // The metrics listener serves any Host (a scraper names the pod as it likes) and nothing
    // but `/metrics`; the main listener keeps its Host check.
    let foreign = |addr: SocketAddr, path: &str| {
        http.get(format!("http://{addr}{path}"))
            .header("host", "metrics.evil.example")
            .send()
    };
    assert_eq!(foreign(side, "/metrics").await.unwrap().status(), 200);
    assert_eq!(foreign(main, "/metrics").await.unwrap().status(), 403);
    for path in ["/api/incidents", "/mcp", "/healthz"] {
        let r = http.get(format!("http://{side}{path}")).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path} on the metrics listener");
    }
    server.assert_alive();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stdio_and_watch_export_on_metrics_addr() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let http = reqwest::Client::new();

    // `serve` on stdio: the protocol on stdout, the metrics on their own listener.
    let log = std::fs::File::create(d.join("stdio.log")).unwrap();
    let mut cmd = tokio::process::Command::from(incident_mcp(d));
    let mut child = cmd
        .args(["serve", "--metrics-addr", "127.0.0.1:0"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .expect("spawn serve on stdio");
    let mut stdin = child.stdin.take().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let log_path = d.join("stdio.log");
    let side = eventually("the metrics address on stderr", Duration::from_secs(30), || {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        async move {
            let rest = text.split("metrics on http://").nth(1)?;
            rest.split('/').next()?.parse::<SocketAddr>().ok()
        }
    })
    .await;
    let mut ask = async |line: Value| {
        stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
        if line.get("id").is_none() {
            return Value::Null;
        }
        let answer = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .expect("an answer")
            .unwrap()
            .expect("a line");
        serde_json::from_str(&answer).expect("JSON")
    };
    ask(json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "metrics", "version": "1"}}}))
    .await;
    ask(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    let listed = ask(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "incident_list", "arguments": {"env": "dev"}}}))
    .await;
    assert_ne!(listed["result"]["isError"], true, "{listed}");
    let (status, text) = scrape(&http, side, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(&text, "incident_mcp_sessions_open{transport=\"stdio\"}"),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            "incident_mcp_calls_total{interface=\"mcp\",name=\"incident_list\",outcome=\"ok\"}"
        ),
        Some(1.0),
        "{text}"
    );
    drop(stdin);
    drop(child);

    // `watch`: its scans are `cli` calls named `watch`, its detections count per source.
    let mut cmd = incident_mcp(d);
    cmd.args([
        "watch",
        "--env",
        "dev",
        "--interval",
        "1s",
        "--metrics-addr",
        "127.0.0.1:0",
    ]);
    let watch = Proc::spawn("watch", cmd, d);
    let side = watch.bound_addr("metrics on http://").await;
    let (h, w) = (&http, &watch);
    let text = eventually(
        "a watch scan in the metrics",
        Duration::from_secs(60),
        move || async move {
            w.assert_alive();
            let (_, text) = scrape(h, side, None).await;
            sample(
                &text,
                "incident_mcp_calls_total{interface=\"cli\",name=\"watch\",outcome=\"ok\"}",
            )
            .filter(|n| *n >= 1.0)
            .map(|_| text)
        },
    )
    .await;
    assert!(
        text.contains("incident_mcp_detections_total{source=\"sample\","),
        "{text}"
    );
}

/// Metric names in PromQL text: `incident_mcp_...` words.
fn metric_names(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\bincident_mcp_[a-z0-9_]+").unwrap();
    re.find_iter(expr).map(|m| m.as_str().to_owned()).collect()
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            if let Some(e) = m.get("expr").and_then(Value::as_str) {
                out.push(e.to_owned());
            }
            m.values().for_each(|x| exprs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| exprs(x, out)),
        _ => {}
    }
}

/// An in-process server over the built-in configuration with the `ops` webhook at `hook`, the
/// `dev` sandbox as its backend, and every kind of event recorded once: an MCP session and tool
/// call, a detection (queueing the `detect` hook), its delivery, a policy refusal, a human
/// approval and the applied containment.
async fn busy_server(hook: &MockServer) -> (Harness, common::HttpServer) {
    let dir = tempfile::tempdir().unwrap();
    let cfg = incident_mcp::config::Config::load_file(&config_with_hook(dir.path(), &hook.uri())).unwrap();
    let mut h = Harness::with_config(cfg).await;
    h.svc = h.svc.clone().with_backends(h.config_backends());
    let server = h.http_server(ToolPolicy::default()).await;
    let client = server.client(None, Proto::Legacy, legacy_client()).await;
    let report = ok(&call(&client, "incident_detect", json!({ "env": "dev" })).await);
    let id = report["incidents"][0]["id"].as_str().unwrap().to_owned();
    let clock = crate::notify_common::ManualClock::new();
    let delivered = crate::notify_common::dispatcher(&h, &[("METRICS_HOOK_SECRET", "s")], clock)
        .drain()
        .await
        .unwrap();
    assert!(delivered.sent >= 1, "{delivered:?}");
    let contain = |ns: &str| {
        serde_json::from_value::<incident_mcp::service::ContainRequest>(
            json!({"id": id, "action": "isolate", "resource": "web-1", "namespace": ns}),
        )
        .unwrap()
    };
    h.svc
        .propose_contain(&contain("kube-system"), "mcp:agent")
        .await
        .expect_err("a protected namespace");
    let plan = h.svc.propose_contain(&contain("shop"), "mcp:agent").await.unwrap();
    h.svc
        .via(incident_mcp::metrics::Channel::Terminal)
        .approve_plan(&plan.plan_id, "human:alice", 300)
        .await
        .unwrap();
    h.svc.apply_plan(&plan.plan_id, "mcp:agent").await.unwrap();
    client.cancel().await.ok();
    (h, server)
}

#[tokio::test]
async fn the_dashboard_queries_exported_metrics_and_shows_them_all() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/incident-mcp.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the dashboard")).expect("valid JSON");
    assert_eq!(dashboard["uid"], "incident-mcp");
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 15, "{all:?}");

    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let (_h, server) = busy_server(&hook).await;
    let (status, text) = scrape(&reqwest::Client::new(), server.addr, None).await;
    assert_eq!(status, 200);
    let exported = families(&text);
    for (what, series) in [
        (
            "an applied action",
            "incident_mcp_actions_total{action=\"isolate\",outcome=\"applied\"}",
        ),
        (
            "the approval",
            "incident_mcp_approvals_total{channel=\"terminal\",decision=\"approved\"}",
        ),
        (
            "the refusal",
            "incident_mcp_refusals_total{reason=\"protected_namespace\"}",
        ),
        (
            "the delivery",
            "incident_mcp_notifications_total{target=\"ops\",outcome=\"sent\"}",
        ),
    ] {
        assert!(sample(&text, series).is_some_and(|v| v >= 1.0), "{what}:\n{text}");
    }
    assert_eq!(
        sample(&text, "incident_mcp_outbox_rows{target=\"ops\",state=\"pending\"}"),
        Some(0.0),
        "a configured target shows 0 undelivered rows"
    );
    // A sample name is its family's name or the family's plus an OpenMetrics suffix.
    let suffixes = ["", "_total", "_bucket", "_sum", "_count", "_info"];
    let family_of = |name: &str| {
        suffixes
            .iter()
            .find_map(|s| name.strip_suffix(s).filter(|f| exported.contains(*f)))
            .map(str::to_owned)
    };
    let mut shown = BTreeSet::new();
    for expr in &all {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "a panel queries nothing of ours: {expr}");
        for n in names {
            let family = family_of(&n).unwrap_or_else(|| panic!("{n} (in `{expr}`) is not exported:\n{text}"));
            shown.insert(family);
        }
    }
    assert_eq!(shown, exported, "every exported metric has a panel");
}
