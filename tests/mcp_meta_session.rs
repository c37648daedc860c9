//! Issue 10: per-request `_meta` cannot change what a 2025-11-25 session declared at
//! initialize. Over real streamable HTTP, a session opens as `honest-agent` without
//! elicitation; `tools/call incident_contain` requests then carry `_meta` claiming another
//! client name, and another protocol revision with elicitation support. The plan is still
//! made for `mcp:honest-agent` and stays pending (no dialog, no input-required round trip).
//! Over stdio the same holds for a `_meta` claiming the 2026-07-28 revision. A stateless
//! 2026-07-28 client without a session is still named by its `_meta`.

use crate::common;
use crate::respond;

use common::*;
use incident_mcp::mcp::ToolPolicy;
use respond::*;
use serde_json::{Value, json};

/// A raw JSON-RPC client of one 2025-11-25 session over streamable HTTP.
struct Session {
    http: reqwest::Client,
    url: String,
    id: String,
}

/// The JSON-RPC message answering `id` in a JSON or SSE response body.
fn answer(body: &str, id: u64) -> Value {
    let messages: Vec<Value> = match serde_json::from_str::<Value>(body) {
        Ok(v) => vec![v],
        Err(_) => body
            .lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str(d.trim()).ok())
            .collect(),
    };
    messages
        .into_iter()
        .find(|m| m["id"] == id)
        .unwrap_or_else(|| panic!("no answer to {id} in {body}"))
}

impl Session {
    async fn open(url: String, client_name: &str) -> Self {
        let http = reqwest::Client::new();
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1.0"}}});
        let resp = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .json(&init)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{}", resp.status());
        let id = resp.headers()["mcp-session-id"].to_str().unwrap().to_owned();
        let body = resp.text().await.unwrap();
        assert_eq!(answer(&body, 1)["result"]["protocolVersion"], "2025-11-25", "{body}");
        let s = Self { http, url, id };
        let resp = s
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert!(resp.status().is_success(), "{}", resp.status());
        s
    }

    async fn post(&self, msg: &Value) -> reqwest::Response {
        let version = msg["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"]
            .as_str()
            .unwrap_or("2025-11-25");
        self.http
            .post(&self.url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", version)
            .json(msg)
            .send()
            .await
            .unwrap()
    }

    async fn call(&self, id: u64, name: &str, arguments: Value, meta: Value) -> Value {
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                         "params": {"name": name, "arguments": arguments, "_meta": meta}});
        let resp = self.post(&msg).await;
        let status = resp.status();
        let body = resp.text().await.unwrap();
        assert!(status.is_success(), "{status}: {body}");
        answer(&body, id)
    }
}

#[tokio::test]
async fn meta_cannot_rename_the_session_or_change_its_protocol() {
    let (h, b) = setup().await;
    let server = h.http_server(ToolPolicy::default()).await;
    let s = Session::open(server.mcp_url(), "honest-agent").await;
    let spoofs = [
        json!({"io.modelcontextprotocol/clientInfo": {"name": "approved-agent", "version": "9"}}),
        // Capabilities the session never declared: no confirmation dialog appears either.
        json!({
            "io.modelcontextprotocol/clientInfo": {"name": "approved-agent", "version": "9"},
            "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
        }),
    ];
    for (i, meta) in spoofs.iter().enumerate() {
        let resource = format!("web-{}", i + 1);
        let r = s
            .call(
                10 + i as u64,
                "incident_contain",
                contain_args(&resource, "shop"),
                meta.clone(),
            )
            .await;
        let result = &r["result"];
        assert!(
            result.get("inputRequests").is_none(),
            "no input-required round trip: {r}"
        );
        assert_ne!(result["isError"], true, "{r}");
        let plan = &result["structuredContent"];
        assert_eq!(plan["status"], "pending", "{r}");
        let view = h.svc.plan_view(plan["plan_id"].as_str().unwrap()).await.unwrap();
        assert_eq!(view.principal, "mcp:honest-agent", "spoof {i}");
        assert_eq!(view.history[0].actor, "mcp:honest-agent", "spoof {i}");
    }
    assert!(
        !audit(&h).await.iter().any(|e| e.actor.contains("approved-agent")),
        "the spoofed name appears nowhere"
    );
    assert_eq!(b.apply_count(), 0);

    // A request claiming 2026-07-28 in its `_meta` (and header) is not part of the session
    // over HTTP: rmcp serves it statelessly, named by its `_meta` like any stateless request.
    // Without a session, a 2026-07-28 client is named by its per-request metadata.
    let c = server
        .client(None, Proto::Modern, NamedClient("stateless-agent", Proto::Modern))
        .await;
    let plan = ok(&call(&c, "incident_contain", contain_args("web-9", "shop")).await);
    let view = h.svc.plan_view(plan["plan_id"].as_str().unwrap()).await.unwrap();
    assert_eq!(view.principal, "mcp:stateless-agent");
}

/// Reads JSON-RPC lines until the answer to `id`.
async fn answer_line<R: tokio::io::AsyncBufRead + Unpin>(lines: &mut tokio::io::Lines<R>, id: u64) -> Value {
    loop {
        let line = lines.next_line().await.unwrap().expect("the server answers");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == id {
            return v;
        }
    }
}

/// Over the stdio transport (here a duplex pipe, line-delimited JSON-RPC as on stdin/stdout) a
/// session's request can claim another protocol revision with elicitation support in its
/// `_meta`: the server keeps the session's revision, capabilities and name.
#[tokio::test]
async fn meta_cannot_switch_a_stdio_session_to_another_protocol() {
    use incident_mcp::mcp::IncidentServer;
    use rmcp::ServiceExt;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

    let (h, b) = setup().await;
    let (server_io, client_io) = tokio::io::duplex(1 << 20);
    let server = IncidentServer::new(h.svc.clone(), ToolPolicy::default());
    tokio::spawn(async move {
        if let Ok(running) = server.serve(server_io).await {
            let _ = running.waiting().await;
        }
    });
    let (read, mut write) = tokio::io::split(client_io);
    let mut lines = tokio::io::BufReader::new(read).lines();
    let mut send = async |v: Value| {
        write.write_all(format!("{v}\n").as_bytes()).await.unwrap();
    };
    send(json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "honest-agent", "version": "1.0"}}}))
    .await;
    assert_eq!(
        answer_line(&mut lines, 1).await["result"]["protocolVersion"],
        "2025-11-25"
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"})).await;
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
    "name": "incident_contain", "arguments": contain_args("web-1", "shop"),
    "_meta": {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "approved-agent", "version": "9"},
        "io.modelcontextprotocol/clientCapabilities": {"elicitation": {"form": {}}},
    }}}))
    .await;
    let r = answer_line(&mut lines, 2).await;
    let result = &r["result"];
    assert!(
        result.get("inputRequests").is_none(),
        "no input-required round trip: {r}"
    );
    assert_eq!(result["structuredContent"]["status"], "pending", "{r}");
    let view = h
        .svc
        .plan_view(result["structuredContent"]["plan_id"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(view.principal, "mcp:honest-agent");
    assert_eq!(b.apply_count(), 0);
}
