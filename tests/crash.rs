//! `kill -9` of the HTTP server during a stream of `incident_detect` calls loses no
//! incident that a call reported as created: every reported id is on disk after restart.

use crate::common;

use std::{
    io::Write,
    process::{Child, Command},
};

use common::*;
use rmcp::{ServiceExt, model::CallToolRequestParams, transport::StreamableHttpClientTransport};
use serde_json::json;

struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve --http 127.0.0.1:0` and waits for the line announcing the bound address.
fn start(db: &str, config: &str) -> Server {
    let mut cmd = Command::new(bin());
    cmd.args(["--db", db, "--config", config, "serve", "--http", "127.0.0.1:0"]);
    let (child, url) = spawn_http_server(cmd, |_| {});
    Server { child, url }
}

fn spike(pod: usize) -> String {
    format!(
        "{{\"ts\":\"2026-11-01T10:{:02}:{:02}Z\",\"metric\":\"net_tx_bytes_per_second\",\"value\":9.0e8,\"labels\":{{\"namespace\":\"crash\",\"pod\":\"p-{pod}\"}}}}\n",
        (pod / 60) % 60,
        pod % 60
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_during_detect_stream_loses_no_reported_incident() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db").display().to_string();
    let events = dir.path().join("events.jsonl");
    std::fs::write(&events, "").unwrap();
    let config = dir.path().join("crash.toml");
    std::fs::write(
        &config,
        format!(
            "[[environments.crash.sources]]\nname = \"stream\"\nkind = \"jsonl\"\npath = \"{}\"\n\n\
             [[environments.crash.rules]]\nname = \"egress-spike\"\ntype = \"network\"\nseverity = \"high\"\n\
             metric = \"net_tx_bytes_per_second\"\nabove = 5.0e7\nentity = \"pod/{{namespace}}/{{pod}}\"\n",
            events.display()
        ),
    )
    .unwrap();
    let config = config.display().to_string();

    let server = start(&db, &config);
    let client = ().serve(StreamableHttpClientTransport::from_uri(server.url.clone())).await.expect("connect");
    let mut reported: Vec<(String, String)> = Vec::new();
    let mut server = Some(server);
    let mut killed_mid_call = false;
    for pod in 0..60 {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&events)
            .unwrap()
            .write_all(spike(pod).as_bytes())
            .unwrap();
        let params = CallToolRequestParams::new("incident_detect").with_arguments(args(json!({ "env": "crash" })));
        if pod == 40 {
            // Fire the call, then kill -9 while it is in flight: its outcome is unknown to the
            // client, so it may or may not have been committed, but nothing reported may be lost.
            let peer = client.peer().clone();
            let pending = tokio::spawn(async move { peer.call_tool(params).await });
            tokio::task::yield_now().await;
            drop(server.take());
            killed_mid_call = true;
            let _ = pending.await;
            break;
        }
        let result = client.call_tool(params).await.expect("call before the crash");
        let v = ok(&result);
        for i in v["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["change"] == "created")
        {
            reported.push((
                i["id"].as_str().unwrap().to_owned(),
                i["entity"].as_str().unwrap().to_owned(),
            ));
        }
    }
    assert!(killed_mid_call);
    assert_eq!(reported.len(), 40, "each call before the crash created one incident");

    // Restart on the same database: every incident a call reported as created is there.
    let server = start(&db, &config);
    let client = ().serve(StreamableHttpClientTransport::from_uri(server.url.clone())).await.expect("reconnect");
    for (id, entity) in &reported {
        let got = client
            .call_tool(CallToolRequestParams::new("incident_get").with_arguments(args(json!({ "id": id }))))
            .await
            .expect("get after restart");
        let v = ok(&got);
        assert_eq!(v["incident"]["title"], format!("egress-spike on {entity}"));
    }
    let list = ok(&client
        .call_tool(CallToolRequestParams::new("incident_list").with_arguments(args(json!({ "limit": 200 }))))
        .await
        .unwrap());
    let count = list["count"].as_u64().unwrap();
    assert!(
        count == 40 || count == 41,
        "40 reported plus at most the in-flight one, got {count}"
    );
}
