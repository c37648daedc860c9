//! Closed-loop MCP load client for `bench/mcp_load.sh` (the same client for every server).
//!
//! `load --url URL --tool NAME [--ids N] [--concurrency 1,8,32] [--seconds S] [--warmup S]`:
//! opens one 2025-11-25 session (initialize, notifications/initialized), then for each
//! concurrency C runs C workers that each send `tools/call` one after another over their own
//! keep-alive connection for S seconds; prints one JSON line per C (calls/s, p50/p90/p99 ms,
//! errors). Workers share one thread and speak bare HTTP/1.1 (hyper's connection API) so the
//! client takes little of the machine it shares with the server. `incident_get` asks for random
//! ids `INC-000001..N`; `incident_list` for 20 items.
//! An answer counts when it is HTTP 200 and carries a `result` (JSON or SSE).
//!
//! `startup --url URL -- CMD ARGS...`: starts CMD and prints the milliseconds from spawn to
//! the first answered `initialize`, then stops CMD.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const ACCEPT: &str = "application/json, text/event-stream";

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn initialize_body() -> String {
    json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "mcp-load", "version": "1"}}})
    .to_string()
}

fn post(c: &reqwest::Client, url: &str, session: Option<&str>, body: String) -> reqwest::RequestBuilder {
    let mut r = c
        .post(url)
        .header("accept", ACCEPT)
        .header("content-type", "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .body(body);
    if let Some(s) = session {
        r = r.header("mcp-session-id", s);
    }
    r
}

async fn open_session(c: &reqwest::Client, url: &str) -> Result<String, String> {
    let r = post(c, url, None, initialize_body())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let sid = r
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or("no mcp-session-id")?;
    let text = r.text().await.map_err(|e| e.to_string())?;
    if !text.contains("\"result\"") {
        return Err(format!("initialize failed: {text}"));
    }
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"}).to_string();
    post(c, url, Some(&sid), note).send().await.map_err(|e| e.to_string())?;
    Ok(sid)
}

fn call_body(tool: &str, n: u64, ids: u64) -> String {
    let arguments = if tool == "incident_get" {
        format!(r#"{{"id":"INC-{:06}"}}"#, 1 + n.wrapping_mul(2_654_435_761) % ids)
    } else {
        r#"{"limit":20}"#.to_owned()
    };
    format!(
        r#"{{"jsonrpc":"2.0","id":{n},"method":"tools/call","params":{{"name":"{tool}","arguments":{arguments}}}}}"#
    )
}

type Sender = http1::SendRequest<Full<Bytes>>;

/// One bare HTTP/1.1 keep-alive connection (no pool, no redirects, no per-request URL parsing):
/// the client's CPU per call is a small part of what this 2-core machine spends per call.
async fn connect(authority: &str) -> Option<Sender> {
    let stream = tokio::net::TcpStream::connect(authority).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (sender, conn) = http1::handshake(TokioIo::new(stream)).await.ok()?;
    tokio::spawn(conn);
    Some(sender)
}

async fn call(sender: &mut Sender, path: &str, authority: &str, sid: &str, body: String) -> bool {
    if sender.ready().await.is_err() {
        return false;
    }
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, authority)
        .header(hyper::header::ACCEPT, ACCEPT)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .header("mcp-protocol-version", "2025-11-25")
        .header("mcp-session-id", sid)
        .body(Full::new(Bytes::from(body)));
    let Ok(request) = request else { return false };
    match sender.send_request(request).await {
        Ok(r) if r.status().is_success() => r
            .into_body()
            .collect()
            .await
            .is_ok_and(|b| memchr::memmem::find(&b.to_bytes(), b"\"result\"").is_some()),
        _ => false,
    }
}

async fn worker(url: String, sid: String, tool: String, ids: u64, until: Instant, seed: u64) -> (Vec<f64>, u64) {
    let uri: hyper::Uri = url.parse().expect("--url");
    let authority = uri.authority().expect("--url needs host:port").to_string();
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_owned();
    let (mut lat, mut errors, mut n) = (Vec::new(), 0u64, seed.wrapping_mul(1_000_003));
    let mut sender = None;
    while Instant::now() < until {
        n += 1;
        let t = Instant::now();
        if sender.as_ref().is_none_or(Sender::is_closed) {
            sender = connect(&authority).await;
        }
        let ok = match sender.as_mut() {
            Some(s) => call(s, &path, &authority, &sid, call_body(&tool, n, ids)).await,
            None => false,
        };
        if ok {
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        } else {
            errors += 1;
        }
    }
    (lat, errors)
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn load(args: &[String]) {
    let url = arg(args, "--url").expect("--url");
    let tool = arg(args, "--tool").unwrap_or_else(|| "incident_get".into());
    let ids: u64 = arg(args, "--ids").map_or(10_000, |v| v.parse().expect("--ids"));
    let secs: f64 = arg(args, "--seconds").map_or(5.0, |v| v.parse().expect("--seconds"));
    let warmup: f64 = arg(args, "--warmup").map_or(1.0, |v| v.parse().expect("--warmup"));
    let levels: Vec<usize> = arg(args, "--concurrency")
        .unwrap_or_else(|| "1,8,32".into())
        .split(',')
        .map(|v| v.parse().expect("--concurrency"))
        .collect();
    let c = reqwest::Client::new();
    let sid = open_session(&c, &url).await.expect("session");
    for conc in levels {
        let run = |secs: f64| {
            let until = Instant::now() + Duration::from_secs_f64(secs);
            let tasks: Vec<_> = (0..conc)
                .map(|i| tokio::spawn(worker(url.clone(), sid.clone(), tool.clone(), ids, until, i as u64 + 1)))
                .collect();
            async move {
                let (mut lat, mut errors) = (Vec::new(), 0);
                for t in tasks {
                    let (l, e) = t.await.expect("worker");
                    lat.extend(l);
                    errors += e;
                }
                (lat, errors)
            }
        };
        run(warmup).await;
        let started = Instant::now();
        let (mut lat, errors) = run(secs).await;
        let elapsed = started.elapsed().as_secs_f64();
        lat.sort_by(f64::total_cmp);
        let line = json!({"tool": tool, "concurrency": conc, "calls": lat.len(), "errors": errors,
            "calls_per_s": lat.len() as f64 / elapsed, "p50_ms": pct(&lat, 0.5), "p90_ms": pct(&lat, 0.9),
            "p99_ms": pct(&lat, 0.99)});
        println!("{line}");
    }
}

async fn startup(args: &[String]) {
    let url = arg(args, "--url").expect("--url");
    let cmd_at = args.iter().position(|a| a == "--").expect("-- CMD");
    let cmd = &args[cmd_at + 1..];
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    let t = Instant::now();
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn server");
    let ms = loop {
        if let Ok(r) = post(&c, &url, None, initialize_body()).send().await
            && r.text().await.is_ok_and(|t| t.contains("\"result\""))
        {
            break t.elapsed().as_secs_f64() * 1000.0;
        }
        assert!(t.elapsed() < Duration::from_secs(60), "no answer within 60 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    };
    println!("{}", json!({ "first_answer_ms": ms }));
    let _ = child.kill().await;
}

// One thread: the client should take as little of the machine as it can from the server.
#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    match args.first().map(String::as_str) {
        Some("load") => load(&args).await,
        Some("startup") => startup(&args).await,
        _ => {
            let v: Value = json!({"usage": "mcp_load load --url URL --tool NAME | startup --url URL -- CMD..."});
            eprintln!("{v}");
            std::process::exit(2);
        }
    }
}
