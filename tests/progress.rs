//! Progress of `incident_detect`: `notifications/progress` for MCP clients that pass a
//! progress token (sent before the result), and no progress bar from the CLI when stderr is
//! not a terminal.

use crate::common;

use std::time::Duration;

use common::*;
use incident_mcp::mcp::ToolPolicy;
use rmcp::{
    ClientHandler, RoleClient,
    model::{
        CallToolRequestParams, ClientConfig, NumberOrString, ProgressNotificationParam, ProgressToken,
        RequestParamsMeta,
    },
    service::NotificationContext,
};
use serde_json::json;
use tokio::sync::mpsc;

struct Recorder(mpsc::UnboundedSender<ProgressNotificationParam>);

impl ClientHandler for Recorder {
    fn get_info(&self) -> ClientConfig {
        legacy_client()
    }
    async fn on_progress(&self, p: ProgressNotificationParam, _c: NotificationContext<RoleClient>) {
        let _ = self.0.send(p);
    }
}

fn token(t: &str) -> ProgressToken {
    ProgressToken(NumberOrString::String(t.into()))
}

async fn detect_with_token(client: &rmcp::service::RunningService<RoleClient, Recorder>, t: &str) -> serde_json::Value {
    let mut params = CallToolRequestParams::new("incident_detect").with_arguments(args(json!({ "env": "dev" })));
    params.set_progress_token(token(t));
    ok(&client.call_tool(params).await.expect("call"))
}

async fn next(rx: &mut mpsc::UnboundedReceiver<ProgressNotificationParam>) -> ProgressNotificationParam {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("progress in time")
        .expect("open")
}

/// Collects one call's notifications up to the final `total of total` step.
async fn one_call(rx: &mut mpsc::UnboundedReceiver<ProgressNotificationParam>) -> Vec<ProgressNotificationParam> {
    let mut seen: Vec<ProgressNotificationParam> = Vec::new();
    loop {
        let p = next(rx).await;
        if let Some(first) = seen.first() {
            assert_eq!(p.progress_token, first.progress_token, "one token per call: {seen:?}");
        }
        let done = p.total.is_some_and(|t| p.progress >= t);
        seen.push(p);
        if done {
            return seen;
        }
    }
}

#[tokio::test]
async fn incident_detect_reports_increasing_progress_for_the_token() {
    let h = Harness::new().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = h
        .duplex_client(ToolPolicy::default(), Proto::Legacy, Recorder(tx))
        .await;
    // rmcp's client puts its own progress token in every request's _meta (replacing ours), so
    // the test matches notifications by the token they carry, not by our string.
    assert_eq!(detect_with_token(&client, "scan-1").await["created"], 2);
    let seen = one_call(&mut rx).await;
    assert_eq!(seen.len(), 3, "one source: fetched, scored, recorded: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[1].progress > w[0].progress),
        "strictly increasing: {seen:?}"
    );
    assert!(seen.iter().all(|p| p.total == Some(3.0)), "{seen:?}");
    let messages: Vec<&str> = seen.iter().filter_map(|p| p.message.as_deref()).collect();
    assert!(
        messages[0].starts_with("fetched sample")
            && messages[1].starts_with("scored")
            && messages[2].starts_with("recorded"),
        "{messages:?}"
    );

    // The next call's notifications carry its own token and start again from the beginning.
    assert_eq!(detect_with_token(&client, "scan-2").await["created"], 0);
    let again = one_call(&mut rx).await;
    assert_ne!(again[0].progress_token, seen[0].progress_token);
    assert_eq!(again[0].progress, 1.0);
    client.cancel().await.expect("shutdown");
}

#[test]
fn cli_shows_no_progress_bar_when_stderr_is_not_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(bin())
        .args(["detect", "--env", "dev", "--format", "json"])
        .env_remove("INCIDENT_MCP_CONFIG")
        .env_remove("RUST_LOG")
        .env("INCIDENT_MCP_DB", dir.path().join("i.db"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is only the JSON report");
    assert_eq!(report["created"], 2);
    assert!(
        out.stderr.is_empty(),
        "no bar, no escape codes on a piped stderr: {:?}",
        String::from_utf8_lossy(&out.stderr)
    );
}
