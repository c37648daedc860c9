//! Incidents: dedup by fingerprint, the grouping window for re-fires after resolve, links
//! between incidents of one fingerprint, and severity from score. Through the service, with a
//! real SQLite store and JSON-lines sources.

use crate::common;

use std::{io::Write, path::Path};

use common::Harness;
use incident_mcp::{
    Caller,
    config::Config,
    domain::{Env, Severity, Status, TimelineKind},
    service::{AnalyzeRequest, ChangeKindWire, DetectReport, DetectRequest, GetRequest, ResolveRequest},
};

fn config(dir: &Path) -> Config {
    let toml = format!(
        r#"
[environments.prod]
dedup_window_secs = 3600
sources = [{{ kind = "jsonl", name = "node-metrics", path = "{prod}" }}]
[[environments.prod.rules]]
name = "cpu-hot"
type = "resource"
severity = "medium"
metric = "cpu"
above = 100.0
entity = "host/{{host}}"
severity_by_score = {{ high = 0.95, critical = 1.0 }}

[environments.stage]
dedup_window_secs = 0
sources = [{{ kind = "jsonl", name = "node-metrics", path = "{stage}" }}]
[[environments.stage.rules]]
name = "cpu-hot"
type = "resource"
severity = "low"
metric = "cpu"
above = 100.0
entity = "host/{{host}}"
"#,
        prod = dir.join("prod.jsonl").display(),
        stage = dir.join("stage.jsonl").display(),
    );
    Config::parse_str(&toml, "toml", "test").expect("valid test config")
}

/// Appends one cpu sample for host `h` at minute `min` past 10:00.
fn append(dir: &Path, env: &str, h: &str, min: u32, cpu: f64) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{env}.jsonl")))
        .unwrap();
    writeln!(
        f,
        r#"{{"ts":"2026-11-01T10:{min:02}:00Z","metric":"cpu","value":{cpu},"labels":{{"host":"{h}"}}}}"#
    )
    .unwrap();
}

async fn detect(h: &Harness, env: &str) -> DetectReport {
    let req = DetectRequest {
        env: Some(Env::parse(env).unwrap()),
        ..Default::default()
    };
    h.svc.detect(req, Caller::CLI).await.expect("detect")
}

async fn resolve(h: &Harness, id: incident_mcp::domain::IncidentId) {
    let req = ResolveRequest {
        id,
        note: "fixed".into(),
        keep_containments: false,
    };
    let r = h.svc.resolve(req, Caller::CLI).await.unwrap();
    assert_eq!(r.incident.status, Status::Resolved);
}

#[tokio::test]
async fn same_fingerprint_updates_and_severity_follows_the_score() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::with_config(config(dir.path())).await;
    append(dir.path(), "prod", "a", 0, 85.0);
    let r = detect(&h, "prod").await;
    assert_eq!((r.created, r.updated), (1, 0));
    let first = &r.incidents[0];
    assert_eq!(
        (first.change, first.severity),
        (ChangeKindWire::Created, Severity::Medium)
    );

    // The same data again changes nothing.
    let r = detect(&h, "prod").await;
    assert_eq!(
        (r.created, r.updated, r.incidents[0].change),
        (0, 0, ChangeKindWire::Unchanged)
    );

    // A stronger sample of the same host updates the same incident and raises its severity.
    append(dir.path(), "prod", "a", 1, 97.0);
    let r = detect(&h, "prod").await;
    assert_eq!((r.created, r.updated), (0, 1));
    assert_eq!(r.incidents[0].id, first.id);
    assert_eq!(r.incidents[0].severity, Severity::High);
    let got = h.svc.get(GetRequest { id: first.id }).await.unwrap();
    assert_eq!((got.incident.severity, got.incident.signal_count), (Severity::High, 2));

    // Another host is another fingerprint: a second incident, critical at score 1.
    append(dir.path(), "prod", "b", 2, 150.0);
    let r = detect(&h, "prod").await;
    let b = r.incidents.iter().find(|i| i.entity == "host/b").unwrap();
    assert_eq!((b.change, b.severity), (ChangeKindWire::Created, Severity::Critical));
    assert_ne!(b.id, first.id);
}

#[tokio::test]
async fn refire_within_the_window_reopens_the_incident() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::with_config(config(dir.path())).await;
    append(dir.path(), "prod", "a", 0, 90.0);
    let id = detect(&h, "prod").await.incidents[0].id;
    resolve(&h, id).await;

    // Re-reading old data after resolve is not a re-fire.
    assert_eq!(detect(&h, "prod").await.incidents[0].change, ChangeKindWire::Unchanged);

    append(dir.path(), "prod", "a", 5, 90.0);
    let r = detect(&h, "prod").await;
    assert_eq!(
        (r.incidents[0].id, r.incidents[0].change),
        (id, ChangeKindWire::Reopened)
    );
    let a = h
        .svc
        .analyze(AnalyzeRequest {
            id,
            depth: Some(incident_mcp::domain::Depth::new(2).unwrap()),
        })
        .await
        .unwrap();
    assert_eq!(a.incident.status, Status::Open);
    assert_eq!(a.incident.previous_id, None);
    let last = a.timeline.unwrap().pop().unwrap();
    assert_eq!(last.kind, TimelineKind::Reopened, "{last:?}");
}

#[tokio::test]
async fn refire_after_the_window_opens_a_linked_incident() {
    let dir = tempfile::tempdir().unwrap();
    let h = Harness::with_config(config(dir.path())).await;
    append(dir.path(), "stage", "a", 0, 90.0);
    let old = detect(&h, "stage").await.incidents[0].id;
    resolve(&h, old).await;
    // Old data re-read after the window still adds nothing anywhere.
    assert_eq!(detect(&h, "stage").await.incidents[0].change, ChangeKindWire::Unchanged);

    append(dir.path(), "stage", "a", 7, 91.0);
    let r = detect(&h, "stage").await;
    let new = r.incidents[0].id;
    assert_eq!((r.created, r.incidents[0].change), (1, ChangeKindWire::Created));
    assert_ne!(new, old);

    let got = h.svc.get(GetRequest { id: new }).await.unwrap();
    assert_eq!(
        got.incident.previous_id,
        Some(old),
        "incident get names the incident it follows"
    );
    assert_eq!(
        got.incident.signal_count, 1,
        "only the new evidence moves to the new incident"
    );
    let json = serde_json::to_value(&got).unwrap();
    assert_eq!(json["incident"]["previous_id"], old.to_string());
    // `incident-mcp get` shows the link too.
    let out = std::process::Command::new(common::bin())
        .args(["get", "--id", &new.to_string(), "--format", "table"])
        .env_remove("INCIDENT_MCP_CONFIG")
        .env("INCIDENT_MCP_DB", &h.db)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.contains(&format!("follows {old}")), "{table}");
    assert_eq!(
        h.svc.get(GetRequest { id: old }).await.unwrap().incident.status,
        Status::Resolved,
        "the old incident stays resolved"
    );

    // Scanning again neither duplicates the new incident nor moves old signals into it.
    let r = detect(&h, "stage").await;
    assert_eq!((r.created, r.updated), (0, 0));
    assert_eq!(
        h.svc.get(GetRequest { id: new }).await.unwrap().incident.signal_count,
        1
    );
    // And more evidence goes to the new incident, not the old one.
    append(dir.path(), "stage", "a", 8, 92.0);
    let r = detect(&h, "stage").await;
    assert_eq!(
        (r.incidents[0].id, r.incidents[0].change),
        (new, ChangeKindWire::Updated)
    );
}

#[test]
fn severity_by_score_is_validated() {
    let bad = r#"
[[environments.x.rules]]
name = "r"
type = "resource"
severity = "low"
metric = "cpu"
above = 1.0
entity = "e"
severity_by_score = { high = 1.5 }
"#;
    let e = Config::parse_str(bad, "toml", "t").unwrap_err().to_string();
    assert!(e.contains("severity_by_score"), "{e}");
}
