//! The deployment files in `deploy/`: the Kubernetes manifests validate against the Kubernetes
//! schemas (kubernetes-validate from PyPI), the two ClusterRoles grant exactly what the code
//! uses, the Deployment is hardened and its configuration and command start a server whose
//! `/healthz` answers, and both systemd units pass `systemd-analyze verify`.
//!
//! What "the code uses" means is measured, not listed: the respond role is compared with every
//! request the real `KubeBackend` (the `kube` client) sends while each action is planned,
//! applied, applied again and undone against the FAKE Kubernetes API server of
//! `support/fake_kube_api.rs` (no kube-apiserver can run here; it records method and path of
//! each request as the API would receive them). The read role is compared with the requests of
//! a `k8s-logs` scan against `support/fake_kube.rs`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use incident_mcp::{cluster::Backend, domain::policy::Action};
use serde_json::Value;

use crate::{common, fake_kube, fixtures};

/// (API group, resource or resource/subresource, verb).
type Permission = (String, String, String);

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn yaml_docs(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).expect("YAML document"))
        .collect::<Vec<Value>>()
}

fn manifest(file: &str, kind: &str, name: &str) -> Value {
    yaml_docs(&root().join("deploy/kubernetes").join(file))
        .into_iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name} in {file}"))
}

/// What a ClusterRole grants, refusing wildcards (least privilege names everything).
fn granted(role: &Value) -> BTreeSet<Permission> {
    let mut out = BTreeSet::new();
    for rule in role["rules"].as_array().expect("rules") {
        let list = |k: &str| -> Vec<String> {
            rule[k]
                .as_array()
                .unwrap_or(&Vec::new())
                .iter()
                .map(|v| v.as_str().unwrap().to_owned())
                .collect()
        };
        for g in list("apiGroups") {
            for r in list("resources") {
                for v in list("verbs") {
                    assert!(g != "*" && r != "*" && v != "*", "wildcard in {rule}");
                    out.insert((g.clone(), r.clone(), v));
                }
            }
        }
    }
    out
}

/// The RBAC permission a Kubernetes API request needs, from its method, path and query.
fn permission(method: &str, path: &str, watch: bool) -> Permission {
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let (group, rest) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => panic!("not a Kubernetes API path: {path}"),
    };
    let (plural, name, sub) = match rest {
        ["namespaces", _ns, plural, tail @ ..] => (*plural, tail.first(), tail.get(1)),
        [plural, tail @ ..] => (*plural, tail.first(), tail.get(1)),
        [] => panic!("no resource in {path}"),
    };
    let resource = match sub {
        Some(s) => format!("{plural}/{s}"),
        None => plural.to_owned(),
    };
    let verb = match (method, name.is_some()) {
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("GET", true) => "get",
        ("POST", _) => "create",
        ("PUT", true) => "update",
        ("PATCH", true) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        other => panic!("unexpected request {other:?} {path}"),
    };
    (group.to_owned(), resource, verb.to_owned())
}

/// Compares a role with what the code used; a role that grants less or more fails. The check
/// itself must be able to fail: dropping any one permission from the role is reported missing.
fn assert_exact(role_name: &str, role: &BTreeSet<Permission>, used: &BTreeSet<Permission>) {
    let missing: Vec<_> = used.difference(role).collect();
    let unused: Vec<_> = role.difference(used).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "ClusterRole {role_name}: missing {missing:?}, granted but unused {unused:?}"
    );
    for p in role {
        let mut less = role.clone();
        less.remove(p);
        assert!(used.difference(&less).any(|m| m == p), "dropping {p:?} went unnoticed");
    }
}

/// Every containment and recovery the Kubernetes backend knows, through each of its steps.
async fn backend_permissions() -> BTreeSet<Permission> {
    let (f, b) = fixtures::setup().await;
    let policy = fixtures::policy();
    let mut block = fixtures::spec(Action::Block, Some("shop"), "203.0.113.0/24");
    block.params.insert("selector".into(), "app=web".into());
    // (action, undo it afterwards): the paused deployment stays paused so restore has replicas.
    let steps = [
        (fixtures::spec(Action::Isolate, Some("shop"), "web-bbb-1"), true),
        (block, true),
        (fixtures::spec(Action::Pause, Some("shop"), "statefulset/db"), true),
        (fixtures::spec(Action::Pause, Some("shop"), "deployment/web"), false),
        (fixtures::spec(Action::Restore, Some("shop"), "deployment/web"), true),
        (fixtures::spec(Action::Rollback, Some("shop"), "web-bbb-1"), true),
        (fixtures::spec(Action::Cordon, None, "node-a"), true),
        (fixtures::spec(Action::DeletePod, Some("shop"), "web-bbb-2"), true),
    ];
    let mut actions = BTreeSet::new();
    for (s, undo) in &steps {
        let p = b.plan(s).await.unwrap_or_else(|e| panic!("plan {:?}: {e}", s.action));
        b.current_versions(&p.targets).await.expect("current versions");
        b.apply("prod", &policy, &p.changes).await.expect("apply");
        b.apply("prod", &policy, &p.changes).await.expect("apply again");
        if *undo && !p.inverse.is_empty() {
            b.apply("prod", &policy, &p.inverse).await.expect("undo");
        }
        actions.insert(s.action);
    }
    // Health after a recovery reads the workload until it is rolled out (marked so here).
    let r = b
        .plan(&fixtures::spec(Action::Rollback, Some("shop"), "deployment/web"))
        .await
        .expect("plan");
    let d = f.get(fixtures::DEPLOY).expect("deployment");
    let replicas = d["spec"]["replicas"].clone();
    f.modify(
        fixtures::DEPLOY,
        &serde_json::json!({ "status": { "observedGeneration": d["metadata"]["generation"],
            "updatedReplicas": replicas, "availableReplicas": replicas } }),
    );
    tokio::time::timeout(Duration::from_secs(30), b.verify(&r.changes))
        .await
        .expect("verify in time")
        .expect("verify");
    // Every action but revert (which applies a recorded inverse, driven above) was exercised.
    let all: BTreeSet<_> = Action::ALL.iter().copied().filter(|a| *a != Action::Revert).collect();
    assert_eq!(actions, all, "an action of the backend is not driven here");
    f.requests()
        .iter()
        .map(|r| permission(&r.method, &r.path, r.query.get("watch").is_some_and(|w| w == "true")))
        .collect()
}

#[tokio::test]
async fn the_respond_role_grants_exactly_what_the_kube_backend_uses() {
    let used = backend_permissions().await;
    let role = granted(&manifest("rbac.yaml", "ClusterRole", "incident-mcp-respond"));
    assert_exact("incident-mcp-respond", &role, &used);
}

#[test]
fn the_read_role_grants_exactly_what_a_pod_log_scan_uses() {
    let fake = fake_kube::FakeKube::start();
    fake.push(
        "web-1",
        "2026-11-01T10:00:00Z",
        "Failed password for root from 203.0.113.9 port 22",
    );
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            r#"[environments.k8s]
[[environments.k8s.sources]]
name = "pod-logs"
kind = "k8s-logs"
namespace = "shop"
label_selector = "app=web"
container = "app"
kubeconfig = "{}"
initial_lookback_secs = 315360000

[[environments.k8s.rules]]
name = "failed-logins"
type = "auth"
severity = "high"
log_match = 'Failed password for \S+ from (?P<ip>[0-9.]+)'
window_secs = 300
min_count = 1
entity = "ip/{{ip}}"
"#,
            fake.kubeconfig()
        ),
    )
    .unwrap();
    let out = Command::new(common::bin())
        .args(["detect", "--env", "k8s", "--format", "json", "--config"])
        .arg(&config)
        .arg("--db")
        .arg(dir.path().join("x.db"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let used: BTreeSet<Permission> = fake.take_calls().iter().map(|(m, p)| permission(m, p, false)).collect();
    let role = granted(&manifest("rbac.yaml", "ClusterRole", "incident-mcp-read"));
    assert_exact("incident-mcp-read", &role, &used);
}

#[test]
fn kubernetes_manifests_validate_against_the_kubernetes_schemas() {
    let status = Command::new("bash")
        .arg(root().join("deploy/kubernetes/validate.sh"))
        .current_dir(root())
        .status()
        .expect("run deploy/kubernetes/validate.sh");
    assert!(status.success(), "kubernetes-validate failed: {status}");
}

/// The ConfigMap's config.toml, checked by the binary itself.
fn configmap_config(dir: &Path) -> PathBuf {
    let cm = manifest("configmap.yaml", "ConfigMap", "incident-mcp-config");
    let path = dir.join("config.toml");
    std::fs::write(&path, cm["data"]["config.toml"].as_str().expect("config.toml")).unwrap();
    path
}

#[test]
fn the_deployment_is_hardened_and_its_command_serves_healthz() {
    let d = manifest("deployment.yaml", "Deployment", "incident-mcp");
    let pod = &d["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(pod["serviceAccountName"], "incident-mcp");
    let c = &pod["containers"][0];
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    for k in ["cpu", "memory"] {
        assert!(c["resources"]["limits"][k].is_string(), "no {k} limit");
    }
    let mut probe_host = None;
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(c[probe]["httpGet"]["path"], "/healthz", "{probe}");
        probe_host = c[probe]["httpGet"]["httpHeaders"][0]["value"]
            .as_str()
            .map(str::to_owned);
    }
    // Every secret the config names comes from the Secret, none is a literal.
    let env: BTreeMap<&str, &Value> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e))
        .collect();
    for var in [
        "INCIDENT_MCP_DB",
        "OPENCLAW_API_KEY",
        "INCIDENT_MCP_APPROVER_ONCALL_LEAD",
    ] {
        assert_eq!(env[var]["valueFrom"]["secretKeyRef"]["name"], "incident-mcp", "{var}");
    }

    // The container's arguments and config start a server: the probe's request answers 200.
    let dir = tempfile::tempdir().unwrap();
    let config = configmap_config(dir.path());
    let check = Command::new(common::bin())
        .args(["config", "check", "--config"])
        .arg(&config)
        .env(
            "INCIDENT_MCP_APPROVER_ONCALL_LEAD",
            crate::canary_value::secret("deploy-approver"),
        )
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let args: Vec<String> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            a.as_str()
                .unwrap()
                .replace("0.0.0.0:8080", "127.0.0.1:0")
                .replace("0.0.0.0:9464", "127.0.0.1:0")
                .replace("/etc/incident-mcp/config.toml", config.to_str().unwrap())
        })
        .collect();
    // /metrics has its own listener (Prometheus scrapes the pod IP, which the main listener's
    // Host check refuses), declared as a container port and let in by the NetworkPolicy.
    let raw: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = raw
        .iter()
        .position(|a| *a == "--metrics-addr")
        .expect("--metrics-addr in args");
    let metrics_port: u64 = raw[at + 1].rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["containerPort"] == metrics_port),
        "no container port {metrics_port}"
    );
    let np = manifest("networkpolicy.yaml", "NetworkPolicy", "incident-mcp");
    assert!(
        np["spec"]["ingress"]
            .as_array()
            .unwrap()
            .iter()
            .any(|rule| rule["ports"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["port"] == metrics_port)),
        "the NetworkPolicy does not let Prometheus reach port {metrics_port}"
    );
    let mut cmd = Command::new(common::bin());
    cmd.args(&args).arg("--db").arg(dir.path().join("x.db"));
    let (mut child, url) = common::spawn_http_server(cmd, |_| {});
    let healthz = url.replace("/mcp", "/healthz");
    let answer = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            reqwest::Client::new()
                .get(&healthz)
                .header("host", probe_host.expect("probe Host header"))
                .send()
                .await
                .map(|r| r.status().as_u16())
        })
    })
    .join()
    .unwrap();
    child.kill().ok();
    child.wait().ok();
    assert_eq!(answer.expect("healthz"), 200);
}

/// `systemd-analyze verify` (package `systemd`, which `.ci/run` installs) on a copy pointing at
/// the built binary (verify insists that ExecStart exists). Unknown keys are only warnings, so
/// stderr must be empty.
pub fn systemd_verify(unit: &str) {
    assert!(
        Command::new("systemd-analyze").arg("--version").output().is_ok(),
        "systemd-analyze is missing: install the Debian package systemd (.ci/run does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(root().join("deploy").join(unit))
        .unwrap()
        .replace("/usr/local/bin/incident-mcp", &common::bin().display().to_string());
    let copy = dir.path().join(unit);
    std::fs::write(&copy, text).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.trim().is_empty(), "{unit}: {err}");
}

#[test]
fn the_serve_unit_passes_systemd_analyze_verify() {
    systemd_verify("incident-mcp.service");
    let text = std::fs::read_to_string(root().join("deploy/incident-mcp.service")).unwrap();
    for hardening in [
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=",
    ] {
        assert!(text.lines().any(|l| l == hardening), "missing {hardening}");
    }
    assert!(text.contains("ExecStart=/usr/local/bin/incident-mcp serve --http"));
}
