//! `analyze` latency at depth 3 for an incident with 10,000 signals whose correlation graph has
//! 1,000 entities (issue 14, acceptance 4). Not a timed test: it prints figures.
//!
//! `cargo bench --bench analyze [-- --runs N] [--breakdown] [--db PATH | --pg postgres://...]`
//!
//! The graph is built through the real store (a temp SQLite file, or the PostgreSQL database
//! `--pg` names, which must be empty) with entities extracted by the configured rules, as
//! detection records them:
//! - the incident: 10,000 failed logins from `ip/203.0.113.9`, each naming one of 500 users
//!   and one of 100 target hosts;
//! - 150 logins of those users from 100 other addresses, each with a session (150 incidents);
//! - 149 of those sessions each touching a database host of its own (149 incidents).
//!
//! Depth 0 is the address, depth 1 the 500 users and 100 hosts, depth 2 the 150 sessions and
//! 100 addresses, depth 3 the 149 database hosts: 1,000 entities, 10,299 signals. Then `analyze`
//! (depth 3, every part: groups, timeline, raw signals, related and similar incidents,
//! correlation, suggestions) runs `--runs` times (default 200) after 10 warm-up runs, and the
//! p50 / p99 / max wall times are printed.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use chrono::{TimeDelta, TimeZone, Utc};
use incident_mcp::{
    config::Config,
    domain::{Depth, IncidentType, Severity, Signal, SignalKind, entity::extract},
    service::AnalyzeRequest,
    store::{
        DetectHooks, DetectionBatch, EntityStore, NewFinding, SqlStore,
        entities::{HopQuery, Window},
        ports::IncidentStore,
    },
};

const CONFIG: &str = r#"
default_env = "bench"
[analysis]
margin_secs = 3600
max_entities = 1000
[environments.bench]
"#;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

struct Line {
    rule: &'static str,
    subject: String,
    labels: Vec<(&'static str, String)>,
    message: String,
    minute: i64,
}

fn finding(cfg: &Config, fingerprint: String, lines: Vec<Line>) -> NewFinding {
    let patterns = cfg.analysis.compiled();
    let rules = cfg.analysis.rules(&patterns);
    let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 10, 0, 0).unwrap();
    let rule = lines[0].rule;
    let title = format!("{rule} on {}", lines[0].subject);
    let mut signals = Vec::with_capacity(lines.len());
    let mut entities = Vec::with_capacity(lines.len());
    for (i, l) in lines.into_iter().enumerate() {
        let labels: BTreeMap<String, String> = l.labels.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        let s = Signal {
            kind: SignalKind::Log,
            source: "auth".into(),
            rule: l.rule.into(),
            series: format!("log:{}", l.rule),
            entity: l.subject,
            value: (i + 1) as f64,
            score: 1.0,
            observed_at: t0 + TimeDelta::minutes(l.minute) + TimeDelta::milliseconds(i as i64),
            message: Some(l.message),
        };
        entities.push(extract(&rules, &s.entity, s.message.as_deref(), &labels));
        signals.push(s);
    }
    NewFinding {
        fingerprint,
        title,
        kind: IncidentType::Auth,
        severity: Severity::High,
        labels: BTreeMap::new(),
        signals,
        entities,
    }
}

fn batch(findings: Vec<NewFinding>) -> DetectionBatch {
    DetectionBatch {
        env: "bench".into(),
        actor: "bench".into(),
        findings,
        metrics: vec![],
        cursors: vec![],
        detector_states: vec![],
        dedup_window_secs: 3600,
        hooks: DetectHooks::default(),
    }
}

#[tokio::main]
async fn main() {
    let runs: usize = arg("--runs").and_then(|r| r.parse().ok()).unwrap_or(200);
    let cfg = Config::parse_str(CONFIG, "toml", "<bench>").expect("bench config");
    let dir = tempfile::tempdir().expect("tempdir");
    let (store, backend) = match arg("--pg") {
        Some(url) => (SqlStore::connect(&url).await.expect("connect"), "PostgreSQL"),
        None => {
            let path = arg("--db").map_or_else(|| dir.path().join("bench.db"), std::path::PathBuf::from);
            (SqlStore::open(&path).await.expect("open"), "SQLite")
        }
    };
    let started = Instant::now();
    let attack: Vec<Line> = (0..10_000)
        .map(|i| {
            let (user, host) = (format!("u{}", i % 500), format!("h{}", i % 100));
            Line {
                rule: "failed-logins",
                subject: "ip/203.0.113.9".into(),
                message: format!("Failed password for {user} from 203.0.113.9 port {} ssh2", 40_000 + i),
                labels: vec![("host", host)],
                minute: i64::from(i) / 200,
            }
        })
        .collect();
    let target = store
        .record_detection(batch(vec![finding(&cfg, "attack".into(), attack)]))
        .await
        .expect("record the attack")[0]
        .id;
    let logins: Vec<NewFinding> = (0..150)
        .map(|k| {
            let line = Line {
                rule: "login-accepted",
                subject: format!("user/u{k}"),
                message: format!(
                    "Accepted password for u{k} from 198.51.100.{} port 5022 ssh2 session=s{k}",
                    k % 100
                ),
                labels: vec![],
                minute: 55,
            };
            finding(&cfg, format!("login-{k}"), vec![line])
        })
        .collect();
    let sessions: Vec<NewFinding> = (0..149)
        .map(|k| {
            let line = Line {
                rule: "session-activity",
                subject: format!("session/s{k}"),
                message: format!("session s{k}: connected to d{k}"),
                labels: vec![("host", format!("d{k}"))],
                minute: 58,
            };
            finding(&cfg, format!("session-{k}"), vec![line])
        })
        .collect();
    store.record_detection(batch(logins)).await.expect("record the logins");
    store
        .record_detection(batch(sessions))
        .await
        .expect("record the sessions");
    if let Some(url) = arg("--pg") {
        // Planner statistics, as autovacuum would have gathered them by now.
        use sqlx::{Connection, Executor};
        let mut c = sqlx::PgConnection::connect(&url).await.expect("connect");
        c.execute("ANALYZE").await.expect("analyze");
    }
    let loaded = started.elapsed();

    let store = Arc::new(store);
    if std::env::args().any(|a| a == "--breakdown") {
        breakdown(&store, target).await;
    }
    let svc =
        incident_mcp::app::assemble(store, cfg, incident_mcp::app::Environment::process()).expect("wire the service");
    let req = || AnalyzeRequest {
        id: target,
        depth: Some(Depth::new(3).unwrap()),
    };
    let a = svc.analyze(req()).await.expect("analyze");
    let c = a.correlation.as_ref().expect("correlation");
    assert_eq!(c.added_per_depth, [1, 600, 250, 149], "the graph is as built");
    assert_eq!(c.entities.len(), 1000);
    assert_eq!(a.incident.signal_count, 10_000);
    for _ in 0..10 {
        svc.analyze(req()).await.expect("analyze");
    }
    let mut ms: Vec<f64> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let a = svc.analyze(req()).await.expect("analyze");
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(a);
    }
    ms.sort_by(f64::total_cmp);
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!(
        "analyze depth 3, {backend}: incident of {} signals, graph of {} entities ({:?} per depth), {} other incidents \
         touched; built in {:.1} s",
        a.incident.signal_count,
        c.entities.len(),
        c.added_per_depth,
        c.incidents.len(),
        loaded.as_secs_f64()
    );
    println!(
        "{runs} runs: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pct(0.50),
        pct(0.99),
        ms[ms.len() - 1]
    );
}

/// Median time of each store read `analyze` makes, in the order it makes them.
async fn breakdown(store: &SqlStore, id: incident_mcp::domain::IncidentId) {
    async fn median<F, Fut, T>(name: &str, mut f: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let mut ms = Vec::new();
        for _ in 0..30 {
            let t = Instant::now();
            std::hint::black_box(f().await);
            ms.push(t.elapsed().as_secs_f64() * 1000.0);
        }
        ms.sort_by(f64::total_cmp);
        println!("  {name}: {:.2} ms", ms[ms.len() / 2]);
    }
    let incident = store.get_incident(id).await.unwrap().unwrap();
    let window = Window {
        from: incident.first_seen - TimeDelta::hours(1),
        to: incident.last_seen + TimeDelta::hours(1),
    };
    println!("store reads (median of 30):");
    median("get_incident", || store.get_incident(id)).await;
    median("signal_groups", || store.signal_groups(id)).await;
    median("timeline", || store.timeline(id)).await;
    median("signals(50)", || store.signals(id, 50)).await;
    median("related(10)", || store.related(id, 10)).await;
    let seeds = store
        .find_entities("bench", &["ip/203.0.113.9".to_owned()])
        .await
        .unwrap();
    let mut reached: Vec<i64> = seeds.iter().map(|e| e.id).collect();
    let mut frontier = reached.clone();
    median("subject_links (hop 1, own signals)", || {
        store.subject_links(id, reached[0])
    })
    .await;
    for hop in 1..=3 {
        let (f, r) = (frontier.clone(), reached.clone());
        let skip = (hop == 1).then_some(id);
        let q = HopQuery {
            from: &f,
            reached: &r,
            window,
            limit: 50_000,
            skip,
        };
        median(&format!("entity_hop {hop} ({} from)", f.len()), || store.entity_hop(q)).await;
        let mut links = store.entity_hop(q).await.unwrap().links;
        if hop == 1 {
            links.extend(store.subject_links(id, f[0]).await.unwrap());
        }
        frontier = links
            .iter()
            .map(|l| l.to)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        reached.extend(&frontier);
    }
    median(
        &format!("entity_tallies of the last depth ({} entities)", frontier.len()),
        || store.entity_tallies(&frontier, window),
    )
    .await;
    median("similar_candidates", || store.similar_candidates(&incident, 200)).await;
    median("incident_entities", || store.incident_entities(id, &[])).await;
}
