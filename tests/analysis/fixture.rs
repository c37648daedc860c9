//! The correlated-signals fixture (environment `corr`):
//!
//! - An IP attacking several users over SSH (log rule `failed-logins`, one incident for
//!   `ip/203.0.113.9`), one of whom (alice) then logs in from elsewhere (`login-accepted`,
//!   session 4711), and that session touches a database host (`session-activity`). A second
//!   session touches the same database host (one hop too far for depth 3), and bob logs in
//!   from another address two days later (outside the time window).
//! - A crash-looping pod in Deployment `web` after its rollout (Alertmanager alerts): the
//!   rollout, the crash loop on node-2, memory pressure on node-2, and crash loops of two pods
//!   of Deployment `cart` (one on node-2, one on node-3).

use std::{collections::BTreeSet, path::Path, sync::Arc};

use incident_mcp::{
    IncidentService,
    config::Config,
    domain::{Env, IncidentId},
    service::{AlertmanagerPayload, Analysis, AnalyzeRequest, Caller, DetectRequest},
    store::SqlStore,
};
use serde_json::{Value, json};

/// The auth log: JSON lines as the `jsonl` source reads them.
const AUTH_LOG: &[(&str, &str, &str)] = &[
    (
        "2026-11-01T10:00:00Z",
        "Failed password for alice from 203.0.113.9 port 41800 ssh2",
        "bastion-1",
    ),
    (
        "2026-11-01T10:00:05Z",
        "Failed password for bob from 203.0.113.9 port 41801 ssh2",
        "bastion-1",
    ),
    (
        "2026-11-01T10:00:10Z",
        "Failed password for invalid user carol from 203.0.113.9 port 41802 ssh2",
        "bastion-1",
    ),
    (
        "2026-11-01T10:00:15Z",
        "Failed password for alice from 203.0.113.9 port 41803 ssh2",
        "bastion-1",
    ),
    (
        "2026-11-01T10:05:00Z",
        "Accepted password for alice from 198.51.100.7 port 5022 ssh2 session=4711",
        "bastion-1",
    ),
    (
        "2026-11-01T10:07:00Z",
        "session 4711: connected to db-1 port 5432",
        "db-1",
    ),
    (
        "2026-11-01T10:09:00Z",
        "session 5000: connected to db-1 port 5432",
        "db-1",
    ),
    (
        "2026-11-03T10:00:00Z",
        "Accepted password for bob from 192.0.2.50 port 6000 ssh2 session=9000",
        "bastion-1",
    ),
];

pub fn config(log: &Path, extra: &str) -> Config {
    let toml = format!(
        r#"
default_env = "corr"

[analysis]
margin_secs = 600

[environments.corr]

[[environments.corr.sources]]
name = "auth"
kind = "jsonl"
path = "{}"

[[environments.corr.rules]]
name = "failed-logins"
title = "SSH brute force"
type = "auth"
severity = "high"
log_match = 'Failed password for (?:invalid user )?\S+ from (?P<src_ip>[0-9a-fA-F.:]+)'
window_secs = 600
min_count = 1
entity = "ip/{{src_ip}}"

[[environments.corr.rules]]
name = "login-accepted"
title = "Login"
type = "auth"
severity = "low"
log_match = 'Accepted password for (?P<user>\S+) from'
window_secs = 600
min_count = 1
entity = "user/{{user}}"

[[environments.corr.rules]]
name = "session-activity"
title = "Session activity"
type = "auth"
severity = "low"
log_match = 'session (?P<session>\d+): connected to'
window_secs = 600
min_count = 1
entity = "session/{{session}}"
{extra}
"#,
        log.display()
    );
    Config::parse_str(&toml, "toml", "<analysis test>").expect("test config")
}

pub fn write_log(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("auth.jsonl");
    let lines: Vec<String> = AUTH_LOG
        .iter()
        .map(|(ts, log, host)| json!({"ts": ts, "log": log, "labels": {"host": host}}).to_string())
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").expect("write the log");
    path
}

/// 16 hex digits, as Alertmanager sends, derived from `text`.
fn fingerprint(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

pub fn alert(name: &str, starts: &str, labels: Value) -> Value {
    let mut labels = labels;
    labels["alertname"] = json!(name);
    json!({
        "status": "firing", "labels": labels,
        "annotations": {"summary": format!("{name} fired")},
        "startsAt": starts, "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
        "fingerprint": fingerprint(&format!("{name}|{starts}|{labels}"))
    })
}

pub fn payload(alerts: Vec<Value>) -> AlertmanagerPayload {
    AlertmanagerPayload::from_json(&json!({
        "version": "4", "groupKey": "g", "truncatedAlerts": 0, "status": "firing", "receiver": "r",
        "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "",
        "alerts": alerts
    }))
    .expect("payload")
}

/// The rollout and crash loops.
pub fn crash_alerts() -> Vec<Value> {
    let k = |pod: &str, deployment: &str, node: &str| {
        json!({"namespace": "shop", "pod": pod, "deployment": deployment, "node": node, "container": "app",
               "incident_type": "availability"})
    };
    vec![
        alert(
            "DeploymentRolledOut",
            "2026-11-01T12:00:00Z",
            json!({"namespace": "shop", "deployment": "web", "revision": "7", "incident_type": "other"}),
        ),
        alert(
            "KubePodCrashLooping",
            "2026-11-01T12:02:00Z",
            k("web-7d9f-abcde", "web", "node-2"),
        ),
        alert("NodeMemoryPressure", "2026-11-01T12:03:00Z", json!({"node": "node-2"})),
        alert(
            "KubePodCrashLooping",
            "2026-11-01T12:04:00Z",
            k("cart-5f6-xyz", "cart", "node-2"),
        ),
        alert(
            "KubePodCrashLooping",
            "2026-11-01T12:05:00Z",
            k("cart-5f6-qqq", "cart", "node-3"),
        ),
    ]
}

/// A service over `store` (SQLite or PostgreSQL) with the fixture loaded: the auth log
/// scanned, the alerts received. Returns the service and the incidents by entity.
pub async fn load(store: SqlStore, cfg: Config) -> (IncidentService, Vec<(String, IncidentId)>) {
    let svc = incident_mcp::app::assemble(Arc::new(store), cfg, incident_mcp::app::Environment::process())
        .expect("wire the service");
    let report = svc
        .detect(
            serde_json::from_value::<DetectRequest>(json!({"env": "corr"})).unwrap(),
            Caller::CLI,
        )
        .await
        .expect("detect");
    let mut ids: Vec<(String, IncidentId)> = report.incidents.iter().map(|i| (i.entity.clone(), i.id)).collect();
    let env = Env::parse("corr").unwrap();
    let alerts = svc.ingest_alerts(&env, payload(crash_alerts())).await.expect("alerts");
    ids.extend(alerts.incidents.iter().map(|i| (i.entity.clone(), i.id)));
    (svc, ids)
}

pub fn id_of(ids: &[(String, IncidentId)], entity: &str) -> IncidentId {
    ids.iter()
        .find(|(e, _)| e == entity)
        .unwrap_or_else(|| panic!("no incident for {entity} in {ids:?}"))
        .1
}

pub async fn analyze(svc: &IncidentService, id: IncidentId, depth: i64) -> Analysis {
    svc.analyze(AnalyzeRequest {
        id,
        depth: Some(incident_mcp::domain::Depth::new(depth).unwrap()),
    })
    .await
    .expect("analyze")
}

/// The entities of an analysis, one set per depth.
pub fn by_depth(a: &Analysis) -> Vec<BTreeSet<String>> {
    let c = a.correlation.as_ref().expect("correlation at every depth");
    let mut out = vec![BTreeSet::new(); usize::from(c.depth) + 1];
    for e in &c.entities {
        out[usize::from(e.depth)].insert(e.entity.clone());
    }
    out
}

pub fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}
