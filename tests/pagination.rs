//! Issue 12 item 5: every incident can be enumerated, a page at a time, on every adapter: the
//! service, REST (`next_cursor` / `?cursor=`), the CLI (`--cursor`), the MCP tool
//! (`incident_list`'s `cursor`) and MCP `resources/list` (`nextCursor`, as the spec pages lists).
//! Real parts: a real SQLite file holding 1,000 incidents, the real HTTP app, the real binary,
//! an rmcp client over duplex.

use std::collections::{BTreeMap, BTreeSet};

use chrono::Utc;
use incident_mcp::{
    domain::{IncidentType, Severity, Signal, SignalKind},
    mcp::ToolPolicy,
    service::ListRequest,
    store::{DetectHooks, DetectionBatch, NewFinding, OutboxStore, ports::*},
};
use serde_json::{Value, json};

use crate::common::{Harness, Proto, bin, call, modern_client, ok};

const N: usize = 1000;

/// A harness whose store holds `N` incidents of env dev, opened in one detection (so many share
/// one `updated_at`: the cursor must break ties).
async fn thousand() -> Harness {
    let h = Harness::new().await;
    let now = Utc::now();
    let findings = (0..N)
        .map(|i| NewFinding {
            fingerprint: format!("host-{i:04}"),
            title: format!("cpu hot on host-{i:04}"),
            kind: IncidentType::Resource,
            severity: Severity::Medium,
            labels: BTreeMap::from([("host".into(), format!("host-{i:04}"))]),
            signals: vec![Signal {
                kind: SignalKind::Metric,
                source: "node-metrics".into(),
                rule: "cpu-hot".into(),
                series: "cpu".into(),
                entity: format!("node/host-{i:04}"),
                value: 0.97,
                score: 0.9,
                observed_at: now,
                message: None,
            }],
            entities: Vec::new(),
        })
        .collect();
    h.store
        .record_detection(DetectionBatch {
            env: "dev".into(),
            actor: "cli".into(),
            findings,
            metrics: vec![],
            cursors: vec![],
            detector_states: vec![],
            dedup_window_secs: 3600,
            hooks: DetectHooks::default(),
        })
        .await
        .unwrap();
    h
}

/// Follows `page(cursor)` (ids, next cursor) to the end; checks every id comes once.
async fn walk<F, Fut>(what: &str, mut page: F) -> usize
where
    F: FnMut(Option<String>) -> Fut,
    Fut: std::future::Future<Output = (Vec<String>, Option<String>)>,
{
    let (mut seen, mut cursor, mut pages) = (BTreeSet::new(), None, 0);
    loop {
        let (ids, next) = page(cursor.take()).await;
        pages += 1;
        for id in ids {
            assert!(seen.insert(id.clone()), "{what}: {id} listed twice");
        }
        match next {
            Some(c) => cursor = Some(c),
            None => break,
        }
        assert!(pages <= N, "{what}: the cursor never ends");
    }
    assert_eq!(seen.len(), N, "{what}: every incident, once");
    pages
}

fn ids(v: &Value) -> Vec<String> {
    v["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

fn next(v: &Value) -> Option<String> {
    v["next_cursor"].as_str().map(str::to_owned)
}

#[tokio::test]
async fn a_thousand_incidents_page_through_the_service_rest_cli_and_mcp() {
    let h = thousand().await;

    let pages = walk("service", |cursor| {
        let svc = h.svc.clone();
        async move {
            let l = svc
                .list(ListRequest {
                    limit: Some(200),
                    cursor,
                    ..Default::default()
                })
                .await
                .unwrap();
            (l.incidents.iter().map(|i| i.id.to_string()).collect(), l.next_cursor)
        }
    })
    .await;
    assert_eq!(pages, 5, "200 a page, and the last page says it is the last");

    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    let pages = walk("REST", |cursor| {
        let url = match cursor {
            Some(c) => format!("{}/api/incidents?limit=150&cursor={c}", server.base()),
            None => format!("{}/api/incidents?limit=150", server.base()),
        };
        let http = http.clone();
        async move {
            let r = http.get(url).send().await.unwrap();
            assert_eq!(r.status(), 200);
            let v: Value = r.json().await.unwrap();
            (ids(&v), next(&v))
        }
    })
    .await;
    assert_eq!(pages, 7);
    let r = http
        .get(format!("{}/api/incidents?cursor=bm90LWEtY3Vyc29y", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a cursor this server never issued");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["field"], "cursor", "{e}");

    let db = h.db.clone();
    let pages = walk("CLI", |cursor| {
        let mut cmd = std::process::Command::new(bin());
        cmd.arg("--db")
            .arg(&db)
            .args(["list", "--limit", "200", "--format", "json"]);
        if let Some(c) = &cursor {
            cmd.args(["--cursor", c]);
        }
        async move {
            let out = cmd.output().unwrap();
            assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            (ids(&v), next(&v))
        }
    })
    .await;
    assert_eq!(pages, 5);
    // The table says how to go on.
    let out = std::process::Command::new(bin())
        .arg("--db")
        .arg(&h.db)
        .args(["list", "--limit", "3", "--format", "table"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains("more: rerun with --cursor "), "{table}");

    let client = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await;
    let pages = walk("MCP tool", |cursor| {
        let mut args = json!({"limit": 200});
        if let Some(c) = cursor {
            args["cursor"] = json!(c);
        }
        let call = call(&client, "incident_list", args);
        async move {
            let v = ok(&call.await);
            (ids(&v), next(&v))
        }
    })
    .await;
    assert_eq!(pages, 5);

    // resources/list: the fixed resources, then every incident, 50 a page, by nextCursor.
    let mut incidents = BTreeSet::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = client
            .list_resources(Some(
                rmcp::model::PaginatedRequestParams::default().with_cursor(cursor.take()),
            ))
            .await
            .unwrap();
        pages += 1;
        for r in &page.resources {
            if r.uri.starts_with("incident://incidents/INC-") {
                assert!(incidents.insert(r.uri.clone()), "{} twice", r.uri);
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!((incidents.len(), pages), (N, N / 50));
    let e = client
        .list_resources(Some(
            rmcp::model::PaginatedRequestParams::default().with_cursor(Some("bm90LWEtY3Vyc29y".into())),
        ))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cursor"), "{e}");
    client.cancel().await.unwrap();
}

/// The audit log and the outbox page by `before` (the previous page's `next_before`) on REST and
/// the CLI: every entry once, newest first, and the last page says it is the last.
#[tokio::test]
async fn the_audit_log_and_the_outbox_page_by_before_on_rest_and_the_cli() {
    let h = Harness::new().await;
    for i in 0..120 {
        h.store
            .append_audit(incident_mcp::domain::audit::NewAuditEntry::new(
                "cli",
                incident_mcp::domain::audit::AuditKind::Hook,
                json!({"op": "add", "n": i}),
            ))
            .await
            .unwrap();
    }
    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    let rest = |path: &'static str, key: &'static str| {
        let (http, base) = (http.clone(), server.base().to_owned());
        move |before: Option<i64>| {
            let url = match before {
                Some(b) => format!("{base}{path}?limit=50&before={b}"),
                None => format!("{base}{path}?limit=50"),
            };
            let http = http.clone();
            async move {
                let r = http.get(url).send().await.unwrap();
                assert_eq!(r.status(), 200);
                let v: Value = r.json().await.unwrap();
                let keys: Vec<i64> = v[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e["seq"].as_i64().or(e["id"].as_i64()).unwrap())
                    .collect();
                (keys, v["next_before"].as_i64())
            }
        }
    };
    let mut seqs = Vec::new();
    let page = rest("/api/audit", "entries");
    let mut before = None;
    let mut pages = 0;
    loop {
        let (keys, next) = page(before).await;
        pages += 1;
        seqs.extend(keys);
        match next {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(
        seqs,
        (1..=120).rev().collect::<Vec<i64>>(),
        "every entry once, newest first"
    );
    let r = http
        .get(format!("{}/api/audit?before=0", server.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // The CLI, on the same file: `--before` continues, the table says how.
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .arg("--db")
            .arg(&h.db)
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let first: Value = serde_json::from_str(&run(&["audit", "list", "--limit", "100", "--format", "json"])).unwrap();
    assert_eq!(first["next_before"], 21);
    let rest_of: Value = serde_json::from_str(&run(&[
        "audit", "list", "--limit", "100", "--before", "21", "--format", "json",
    ]))
    .unwrap();
    assert_eq!(rest_of["count"], 20);
    assert!(rest_of.get("next_before").is_none(), "{rest_of}");
    let table = run(&["audit", "list", "--limit", "5", "--format", "table"]);
    assert!(table.contains("more: rerun with --before 116"), "{table}");

    // The outbox: an empty one is one empty page; 70 queued rows are two pages.
    let outbox = rest("/api/outbox", "rows");
    let (keys, next) = outbox(None).await;
    assert!(keys.is_empty() && next.is_none(), "an empty outbox is one empty page");
    let rows = (0..70)
        .map(|i| incident_mcp::store::NewOutboxRow {
            target: "ops".into(),
            event: "notify".into(),
            incident: None,
            payload: json!({"n": i}),
        })
        .collect();
    h.store.enqueue_outbox(rows, Utc::now()).await.unwrap();
    let (first, next) = outbox(None).await;
    assert_eq!((first.len(), next), (50, Some(21)));
    let (last, next) = outbox(Some(21)).await;
    assert_eq!((last, next), ((1..=20).rev().collect::<Vec<i64>>(), None));
    let dead: Value = serde_json::from_str(&run(&["outbox", "list", "--dead", "--format", "json"])).unwrap();
    assert_eq!(dead["count"], 0, "--dead lists only dead letters");
}
