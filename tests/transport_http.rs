//! Issue 12 (bounds, keep-alive, TCP_NODELAY) and issue 13 item 7 (the JSON-RPC contract)
//! over streamable HTTP, against the whole HTTP app served in-process on a free port; raw
//! requests (reqwest, or a bare TCP stream where the connection itself is the subject).

use crate::common;

use std::time::Duration;

use common::*;
use incident_mcp::{config::Config, mcp::ToolPolicy};
use reqwest::{Client, StatusCode, header};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ACCEPT: &str = "application/json, text/event-stream";

async fn server(tweak: impl FnOnce(&mut Config)) -> (Harness, HttpServer) {
    let mut cfg = Config::builtin();
    tweak(&mut cfg);
    let h = Harness::with_config(cfg).await;
    let s = h.http_server(ToolPolicy::default()).await;
    (h, s)
}

async fn post(c: &Client, url: &str, session: Option<&str>, body: &str) -> reqwest::Response {
    let mut req = c
        .post(url)
        .header(header::ACCEPT, ACCEPT)
        .header(header::CONTENT_TYPE, "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body.to_owned());
    if let Some(s) = session {
        req = req.header("mcp-session-id", s);
    }
    req.send().await.expect("request")
}

fn initialize(id: u32) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "transport-test", "version": "1"}}})
    .to_string()
}

/// A 2025-11-25 session: initialize (answered as one JSON body), then `notifications/initialized`.
async fn open_session(c: &Client, url: &str) -> String {
    let r = post(c, url, None, &initialize(1)).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()[header::CONTENT_TYPE],
        "application/json",
        "a lone answer is JSON, not SSE"
    );
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["result"]["protocolVersion"], "2025-11-25", "{body}");
    let r = post(
        c,
        url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    assert!(r.status().is_success(), "{}", r.status());
    sid
}

async fn rpc(c: &Client, url: &str, session: Option<&str>, body: &str) -> (StatusCode, Value) {
    let r = post(c, url, session, body).await;
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text}")),
    )
}

#[tokio::test]
async fn session_cap_evicts_the_oldest_idle_session_then_refuses_with_503() {
    let (_h, s) = server(|c| c.server.max_sessions = 2).await;
    let (c, url) = (Client::new(), s.mcp_url());
    let a = open_session(&c, &url).await;
    // A keeps its standalone SSE stream open: busy, never evicted.
    let a_stream = c
        .get(&url)
        .header(header::ACCEPT, "text/event-stream")
        .header("mcp-session-id", &a)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(a_stream.status(), StatusCode::OK);
    let b = open_session(&c, &url).await;
    // At the cap: C is admitted by closing B, the oldest idle session.
    let cc = open_session(&c, &url).await;
    let ping = r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#;
    assert_eq!(
        post(&c, &url, Some(&b), ping).await.status(),
        StatusCode::NOT_FOUND,
        "B was evicted"
    );
    assert_eq!(rpc(&c, &url, Some(&a), ping).await.0, StatusCode::OK, "A is untouched");
    assert_eq!(rpc(&c, &url, Some(&cc), ping).await.0, StatusCode::OK);
    // C opens a stream too: now every session is busy, and D is refused.
    let c_stream = c
        .get(&url)
        .header(header::ACCEPT, "text/event-stream")
        .header("mcp-session-id", &cc)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(c_stream.status(), StatusCode::OK);
    let r = post(&c, &url, None, &initialize(4)).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.headers()[header::RETRY_AFTER], "1");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], -32000, "{body}");
    assert_eq!(body["id"], 4);
    assert!(
        body["error"]["message"].as_str().unwrap().contains("max_sessions"),
        "{body}"
    );
    // Ending one session (DELETE: 204, the spec's answer) makes room again.
    let del = c
        .delete(&url)
        .header("mcp-session-id", &cc)
        .header("mcp-protocol-version", "2025-11-25")
        .send()
        .await
        .unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    drop(c_stream);
    open_session(&c, &url).await;
    drop(a_stream);
}

#[tokio::test]
async fn subscriptions_are_capped_per_session_and_only_our_uris_are_accepted() {
    let (_h, s) = server(|c| c.server.max_subscriptions = 2).await;
    let (c, url) = (Client::new(), s.mcp_url());
    let sid = open_session(&c, &url).await;
    let sub = |id: u32, uri: &str| {
        json!({"jsonrpc": "2.0", "id": id, "method": "resources/subscribe", "params": {"uri": uri}}).to_string()
    };
    for (i, uri) in ["incident://incidents", "incident://incidents/INC-000001"]
        .into_iter()
        .enumerate()
    {
        let (st, body) = rpc(&c, &url, Some(&sid), &sub(i as u32 + 10, uri)).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.get("result").is_some(), "{uri}: {body}");
    }
    // The same URI again is not a new subscription.
    let (_, body) = rpc(&c, &url, Some(&sid), &sub(12, "incident://incidents")).await;
    assert!(body.get("result").is_some(), "{body}");
    let (_, body) = rpc(&c, &url, Some(&sid), &sub(13, "incident://audit")).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("max_subscriptions"),
        "{body}"
    );
    let (_, body) = rpc(&c, &url, Some(&sid), &sub(14, "file:///etc/passwd")).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not a resource of this server"),
        "{body}"
    );
    let long = format!("incident://incidents/{}", "9".repeat(900));
    let (_, body) = rpc(&c, &url, Some(&sid), &sub(15, &long)).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("over the limit of 256"),
        "{body}"
    );
    assert!(body.to_string().len() < 2_000, "the error does not echo the long URI");
    let (_, body) = rpc(&c, &url, Some(&sid), &sub(16, "incident://incidents/not-an-id")).await;
    assert_eq!(body["error"]["code"], -32602, "{body}");
}

#[tokio::test]
async fn json_rpc_contract_over_http() {
    let (_h, s) = server(|_| {}).await;
    let (c, url) = (Client::new(), s.mcp_url());
    // Malformed JSON: 400 with -32700 and "id": null (not 415).
    let (st, body) = rpc(&c, &url, None, "{").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], -32700, "{body}");
    assert!(
        body.as_object().unwrap().contains_key("id") && body["id"].is_null(),
        "{body}"
    );
    // A batch: refused with -32600 (batches left JSON-RPC over MCP in 2025-06-18).
    let (st, body) = rpc(&c, &url, None, r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#).await;
    assert_eq!(
        (st, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32600)),
        "{body}"
    );
    // Too deep.
    let deep = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{}1{}}}",
        "[".repeat(200),
        "]".repeat(200)
    );
    let (st, body) = rpc(&c, &url, None, &deep).await;
    assert_eq!(
        (st, body["error"]["code"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32600)),
        "{body}"
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("max_json_depth"),
        "{body}"
    );
    // A request before notifications/initialized is refused; after it, served.
    let r = post(&c, &url, None, &initialize(1)).await;
    let sid = r.headers()["mcp-session-id"].to_str().unwrap().to_owned();
    let list = r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#;
    let (st, body) = rpc(&c, &url, Some(&sid), list).await;
    assert_eq!(
        (st, body["error"]["code"].clone(), body["id"].clone()),
        (StatusCode::BAD_REQUEST, json!(-32600), json!(2)),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("notifications/initialized"),
        "{body}"
    );
    let (st, _) = rpc(&c, &url, Some(&sid), r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).await;
    assert_eq!(st, StatusCode::OK, "ping is allowed before initialized");
    post(
        &c,
        &url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    )
    .await;
    let (st, body) = rpc(&c, &url, Some(&sid), list).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        body["result"]["tools"].as_array().is_some_and(|t| !t.is_empty()),
        "{body}"
    );
    // tools/call with a non-string name: -32602 (invalid params), not -32601.
    let (_, body) = rpc(
        &c,
        &url,
        Some(&sid),
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":5}}"#,
    )
    .await;
    assert_eq!(
        (body["error"]["code"].clone(), body["id"].clone()),
        (json!(-32602), json!(4)),
        "{body}"
    );
    // A tool call is answered as one JSON body.
    let call = r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"incident_list","arguments":{}}}"#;
    let r = post(&c, &url, Some(&sid), call).await;
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["id"], 5, "{body}");
    // Only /mcp itself is the endpoint (raw requests: an HTTP client would resolve the dots).
    for path in ["/mcp/x", "/api/../mcp", "/api/%2e%2e/mcp", "/./mcp"] {
        let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
        let body = initialize(1);
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: {ACCEPT}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        tcp.write_all(req.as_bytes()).await.unwrap();
        let (status, head) = read_response(&mut tcp).await;
        assert_eq!(status, 404, "{path}: {head}");
    }
    // DELETE ends the session with 204.
    let st = c
        .delete(&url)
        .header("mcp-session-id", &sid)
        .send()
        .await
        .unwrap()
        .status();
    assert!(matches!(st, StatusCode::OK | StatusCode::NO_CONTENT), "{st}");
}

/// Reads one HTTP/1.1 response (headers and a Content-Length body) from `stream`.
async fn read_response(stream: &mut tokio::net::TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
                return (status, head);
            }
        }
        let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("an answer within 10 s")
            .expect("read");
        assert!(
            n > 0,
            "connection closed before a full response: {}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[tokio::test]
async fn a_refused_large_body_leaves_the_connection_usable() {
    let key = crate::canary_value::secret("transport-keepalive");
    let (_h, s) = keyed_app(&key, |_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let body = vec![b'x'; 300 * 1024];
    let head = format!(
        "POST /api/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    tcp.write_all(&body).await.unwrap();
    let (status, head) = read_response(&mut tcp).await;
    assert_eq!(status, 401, "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("connection: close"),
        "drained, so kept alive: {head}"
    );
    tcp.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let (status, head) = read_response(&mut tcp).await;
    assert_eq!(
        status, 200,
        "the second request on the same connection is answered: {head}"
    );
}

#[tokio::test]
async fn a_body_too_large_to_drain_is_answered_with_connection_close() {
    let key = crate::canary_value::secret("transport-close");
    let (_h, s) = keyed_app(&key, |_| {}).await;
    let mut tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    // Announces 64 MiB and sends none of it: the 401 must tell the client to close.
    let head = "POST /api/alerts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 67108864\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.unwrap();
    let (status, head) = read_response(&mut tcp).await;
    assert!(status == 401 || status == 413, "{head}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");
}

#[tokio::test]
async fn accepted_connections_have_tcp_nodelay() {
    use axum::serve::Listener;
    let (mut listener, addr) = incident_mcp::http::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let client = tokio::net::TcpStream::connect(addr).await.unwrap();
    assert!(!client.nodelay().unwrap(), "a plain socket starts without it");
    let (accepted, _) = listener.accept().await;
    assert!(
        accepted.nodelay().unwrap(),
        "the server's side of the connection has TCP_NODELAY"
    );
}

#[tokio::test]
async fn a_call_that_streams_progress_stays_sse_and_loses_nothing() {
    let (_h, s) = server(|_| {}).await;
    let (c, url) = (Client::new(), s.mcp_url());
    let sid = open_session(&c, &url).await;
    let call = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {
        "name": "incident_detect", "arguments": {"env": "dev"}, "_meta": {"progressToken": "scan-1"}}});
    let r = post(&c, &url, Some(&sid), &call.to_string()).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"),
        "progress comes first, so the answer stays a stream"
    );
    let text = r.text().await.unwrap();
    let messages: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let progress = messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .count();
    assert_eq!(progress, 3, "fetched, scored, recorded: {text}");
    let last = messages.last().unwrap();
    assert_eq!(last["id"], 7, "the answer ends the stream: {text}");
    assert_eq!(last["result"]["structuredContent"]["created"], 2, "{text}");
}
