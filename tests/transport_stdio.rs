//! Issue 12 (limits on stdio) and issue 13 item 7 (the JSON-RPC contract) over the real
//! binary's stdio: raw lines in, raw lines out, so what a client sees is exactly what is
//! asserted. Every refused line gets a JSON-RPC error answer, never silence.

use crate::common;

use std::{process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines},
    process::{Child, ChildStdin, ChildStdout},
};

struct Stdio_ {
    _dir: tempfile::TempDir,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

async fn start() -> Stdio_ {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokio::process::Command::new(common::bin())
        .arg("--db")
        .arg(dir.path().join("incidents.db"))
        .arg("serve")
        .env_remove("OPENCLAW_API_KEY")
        .env_remove("INCIDENT_MCP_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn incident-mcp serve");
    let stdin = child.stdin.take().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    Stdio_ {
        _dir: dir,
        child,
        stdin,
        lines,
    }
}

impl Stdio_ {
    async fn send(&mut self, line: &str) {
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        self.stdin.write_all(b"\n").await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    async fn answer(&mut self) -> Value {
        let line = tokio::time::timeout(Duration::from_secs(20), self.lines.next_line())
            .await
            .expect("an answer within 20 s, not silence")
            .unwrap()
            .expect("a line before stdout closed");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    async fn ask(&mut self, line: &str) -> Value {
        self.send(line).await;
        self.answer().await
    }

    async fn handshake(&mut self) {
        let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "transport-stdio", "version": "1"}}});
        let r = self.ask(&init.to_string()).await;
        assert_eq!(r["result"]["protocolVersion"], "2025-11-25", "{r}");
        self.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
            .await;
    }
}

fn code(v: &Value) -> i64 {
    v["error"]["code"]
        .as_i64()
        .unwrap_or_else(|| panic!("not an error: {v}"))
}

#[tokio::test]
async fn malformed_batched_deep_and_oversized_lines_are_answered() {
    let mut s = start().await;
    // `{` → Parse error with "id": null.
    let r = s.ask("{").await;
    assert_eq!(code(&r), -32700, "{r}");
    assert!(r.as_object().unwrap().contains_key("id") && r["id"].is_null(), "{r}");
    // A batch gets an answer: an error (batches are not part of the revisions served).
    let r = s
        .ask(r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping"}]"#)
        .await;
    assert_eq!(code(&r), -32600, "{r}");
    assert!(r["error"]["message"].as_str().unwrap().contains("batches"), "{r}");
    // Too deep: answered, and the server goes on.
    let deep = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\",\"params\":{{\"x\":{}1{}}}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    let r = s.ask(&deep).await;
    assert_eq!(code(&r), -32600, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("max_json_depth"),
        "{r}"
    );
    // Over the size limit (1 MiB): answered, the rest of the line discarded.
    let big = format!(
        "{{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{{\"pad\":\"{}\"}}}}",
        "a".repeat(1_200_000)
    );
    let r = s.ask(&big).await;
    assert_eq!(code(&r), -32600, "{r}");
    assert!(
        r["error"]["message"].as_str().unwrap().contains("max_body_bytes"),
        "{r}"
    );
    // Still serving: the handshake and a call work after all of that.
    s.handshake().await;
    let r = s.ask(r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#).await;
    assert_eq!(r["id"], 5);
    assert!(r.get("result").is_some(), "{r}");
    drop(s.stdin);
    let status = tokio::time::timeout(Duration::from_secs(20), s.child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "exits cleanly when stdin closes: {status}");
}

#[tokio::test]
async fn tools_call_contract_and_the_initialize_handshake() {
    let mut s = start().await;
    let init = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "transport-stdio", "version": "1"}}});
    let r = s.ask(&init.to_string()).await;
    assert!(r.get("result").is_some(), "{r}");
    // Before notifications/initialized: refused (ping allowed).
    let r = s
        .ask(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"incident_list","arguments":{}}}"#)
        .await;
    assert_eq!((code(&r), r["id"].clone()), (-32600, json!(1)), "{r}");
    assert!(
        r["error"]["message"]
            .as_str()
            .unwrap()
            .contains("notifications/initialized"),
        "{r}"
    );
    let r = s.ask(r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#).await;
    assert!(r.get("result").is_some(), "{r}");
    s.send(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#)
        .await;
    // A non-string tool name: invalid params.
    let r = s
        .ask(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":5}}"#)
        .await;
    assert_eq!((code(&r), r["id"].clone()), (-32602, json!(3)), "{r}");
    let r = s
        .ask(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"incident_list","arguments":{}}}"#)
        .await;
    assert_eq!(r["id"], 4);
    assert!(r["result"]["content"].is_array(), "{r}");
}
