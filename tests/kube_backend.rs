//! The Kubernetes response backend (`cluster::kube::KubeBackend`, the real `kube` client) against
//! a FAKE in-process Kubernetes API server (`support/fake_kube_api.rs`): no kube-apiserver can be
//! installed here. The fake records every request; the tests assert exact verbs, paths, query
//! parameters, content types and bodies, that planning mutates nothing (only GETs and dry runs),
//! that applying twice changes the world once, that each inverse undoes its action, and that a
//! changed target or a refused namespace changes nothing.

use crate::fake;
use crate::fixtures;
mod workloads;

use fake::TOKEN;
use fixtures::*;
use incident_mcp::{
    cluster::{Backend, BackendError, Change, DryRun, KubeVerb, kube::object_label},
    domain::policy::{Action, Policy, PolicyConfig},
};
use serde_json::json;

#[tokio::test]
async fn isolate_plans_by_dry_run_applies_once_and_its_inverse_undoes_it() {
    let (f, b) = setup().await;
    let before = f.get(POD).unwrap();
    let p = plan_ok(&f, &b, &spec(Action::Isolate, Some("shop"), "web-bbb-1")).await;
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        [
            format!("GET {POD}?"),
            "GET /apis/apps/v1/namespaces/shop/replicasets/web-bbb?".into(),
            format!("GET {DEPLOY}?"),
            format!("POST {NETPOLS}?dryRun=All&fieldManager=incident-mcp"),
            format!("PATCH {POD}?dryRun=All&fieldManager=incident-mcp"),
        ]
    );
    assert_no_mutation(&reqs);
    let policy_body = json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": "incident-mcp-isolate-web-bbb-1", "namespace": "shop",
                      "labels": { "app.kubernetes.io/managed-by": "incident-mcp" },
                      "annotations": { "incident-mcp/incident": "inc-42", "incident-mcp/action": "isolate", "incident-mcp/pod": "web-bbb-1" } },
        "spec": { "podSelector": { "matchLabels": { "incident-mcp/quarantine": "inc-42" } }, "policyTypes": ["Ingress", "Egress"] } });
    assert_eq!(reqs[3].content_type.as_deref(), Some("application/json"));
    assert_eq!(reqs[3].body, policy_body);
    assert_eq!(
        reqs[4].content_type.as_deref(),
        Some("application/strategic-merge-patch+json")
    );
    assert_eq!(
        reqs[4].body,
        json!({ "metadata": { "labels": { "incident-mcp/quarantine": "inc-42" } } })
    );
    assert_eq!(body(&p.changes[0]), &policy_body);
    assert_eq!(p.inverse.len(), 2);
    assert!(
        matches!(&p.inverse[0], Change::Kube { verb: KubeVerb::Delete, name, .. } if name == "incident-mcp-isolate-web-bbb-1")
    );
    assert_eq!(
        body(&p.inverse[1]),
        &json!({ "metadata": { "labels": { "incident-mcp/quarantine": null } } })
    );
    assert_eq!(p.targets.len(), 1);
    assert_eq!(
        p.targets[0].resource_version,
        before["metadata"]["resourceVersion"].as_str().unwrap()
    );
    assert_eq!((p.blast_radius.pods, p.blast_radius.nodes), (1, 0));
    assert_eq!(p.blast_radius.workloads, ["deployment/web"]);
    assert_eq!(p.healthy_replicas_after, Some(2));
    assert_eq!(p.labels.get("app").map(String::as_str), Some("web"));
    assert_eq!(f.get(POD).unwrap(), before, "planning changed the pod");
    assert!(f.get(&format!("{NETPOLS}/incident-mcp-isolate-web-bbb-1")).is_none());

    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply");
    assert_eq!(outcomes(&out), ["applied", "applied"]);
    assert_eq!(
        calls(&f.take_requests()),
        [
            format!("POST {NETPOLS}?fieldManager=incident-mcp"),
            format!("PATCH {POD}?fieldManager=incident-mcp"),
        ]
    );
    let np = f
        .get(&format!("{NETPOLS}/incident-mcp-isolate-web-bbb-1"))
        .expect("policy created");
    assert_eq!(np["spec"], policy_body["spec"]);
    let labelled = f.get(POD).unwrap();
    assert_eq!(labelled["metadata"]["labels"]["incident-mcp/quarantine"], "inc-42");

    // Twice: the policy exists (ours), the label patch is a no-op; nothing changes.
    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply again");
    assert_eq!(outcomes(&out), ["already-applied", "applied"]);
    assert_eq!(f.get(POD).unwrap(), labelled);
    assert_eq!(f.get(&format!("{NETPOLS}/incident-mcp-isolate-web-bbb-1")).unwrap(), np);

    let out = b.apply("prod", &policy(), &p.inverse).await.expect("revert");
    assert_eq!(outcomes(&out), ["applied", "applied"]);
    assert!(f.get(&format!("{NETPOLS}/incident-mcp-isolate-web-bbb-1")).is_none());
    assert_eq!(f.get(POD).unwrap()["metadata"]["labels"], before["metadata"]["labels"]);
    f.take_requests();
    let out = b.apply("prod", &policy(), &p.inverse).await.expect("revert again");
    assert_eq!(outcomes(&out), ["already-absent", "applied"]);
    let reqs = f.take_requests();
    assert_eq!(reqs[0].method, "DELETE");
    assert_eq!(reqs[0].path, format!("{NETPOLS}/incident-mcp-isolate-web-bbb-1"));
}

#[tokio::test]
async fn a_foreign_object_with_our_name_is_not_taken_for_ours() {
    let (f, b) = setup().await;
    let p = plan_ok(&f, &b, &spec(Action::Isolate, Some("shop"), "web-bbb-1")).await;
    f.put(json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": "incident-mcp-isolate-web-bbb-1", "namespace": "shop" },
        "spec": { "podSelector": {} } }));
    let err = b.apply("prod", &policy(), &p.changes).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.contains("not created by incident-mcp")),
        "{err}"
    );
    assert!(
        f.get(POD).unwrap()["metadata"]["labels"]
            .get("incident-mcp/quarantine")
            .is_none()
    );
}

#[tokio::test]
async fn block_denies_one_cidr_with_an_allow_all_but_policy_and_validates_input() {
    let (f, b) = setup().await;
    let mut s = spec(Action::Block, Some("shop"), "203.0.113.0/24");
    s.params.insert("selector".into(), "app=web".into());
    let p = plan_ok(&f, &b, &s).await;
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        [
            "GET /api/v1/namespaces/shop/pods?labelSelector=app=web".to_string(),
            format!("GET {NETPOLS}?"),
            format!("POST {NETPOLS}?dryRun=All&fieldManager=incident-mcp"),
        ]
    );
    let peers = json!([{ "ipBlock": { "cidr": "0.0.0.0/0", "except": ["203.0.113.0/24"] } },
                       { "ipBlock": { "cidr": "::/0" } }, { "namespaceSelector": {} }]);
    let name = reqs[2].body["metadata"]["name"].as_str().unwrap().to_owned();
    assert_eq!(name, object_label("incident-mcp-block", "203.0.113.0/24"));
    assert!(
        name.starts_with("incident-mcp-block-203-0-113-0-24-") && name.len() == 42,
        "{name}"
    );
    assert_eq!(
        reqs[2].body["spec"],
        json!({ "podSelector": { "matchLabels": { "app": "web" },
            "matchExpressions": [{ "key": "incident-mcp/quarantine", "operator": "DoesNotExist" }] },
        "policyTypes": ["Ingress", "Egress"], "ingress": [{ "from": peers }], "egress": [{ "to": peers }] })
    );
    assert_eq!(
        reqs[2].body["metadata"]["annotations"]["incident-mcp/cidr"],
        "203.0.113.0/24"
    );
    assert_eq!(p.blast_radius.pods, 3);
    assert!(matches!(&p.inverse[..], [Change::Kube { verb: KubeVerb::Delete, name: n, .. }] if *n == name));
    b.apply("prod", &policy(), &p.changes).await.expect("apply");
    assert!(f.get(&format!("{NETPOLS}/{name}")).is_some());
    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply again");
    assert_eq!(outcomes(&out), ["already-applied"]);
    b.apply("prod", &policy(), &p.inverse).await.expect("inverse");
    assert!(f.get(&format!("{NETPOLS}/{name}")).is_none());

    let v6 = plan_ok(&f, &b, &spec(Action::Block, Some("shop"), "2001:db8::/32")).await;
    assert_eq!(
        body(&v6.changes[0])["spec"]["ingress"][0]["from"][1],
        json!({ "ipBlock": { "cidr": "::/0", "except": ["2001:db8::/32"] } })
    );
    f.take_requests();
    for bad in ["0.0.0.0/0", "::/0", "10.0.0.0/33", "example.com", "10.0.0.0/+8"] {
        let err = b.plan(&spec(Action::Block, Some("shop"), bad)).await.unwrap_err();
        assert!(matches!(err, BackendError::Invalid(_)), "{bad}: {err}");
    }
    assert!(f.take_requests().is_empty(), "an invalid CIDR reached the API");
    // Host bits are cleared: the plan (which the approver reads) names the network blocked.
    let typed = b.plan(&spec(Action::Block, Some("shop"), "10.0.0.1/24")).await.unwrap();
    assert_eq!(
        body(&typed.changes[0])["metadata"]["annotations"]["incident-mcp/cidr"],
        "10.0.0.0/24"
    );
}

#[tokio::test]
async fn block_is_refused_where_it_would_widen_another_policy_and_skips_quarantined_pods() {
    let (f, b) = setup().await;
    // A pod under our isolation is excluded, so the isolation policy does not conflict.
    let iso = plan_ok(&f, &b, &spec(Action::Isolate, Some("shop"), "web-bbb-1")).await;
    b.apply("prod", &policy(), &iso.changes).await.expect("isolate");
    let a = plan_ok(&f, &b, &spec(Action::Block, Some("shop"), "198.51.100.7")).await;
    assert_eq!(a.blast_radius.pods, 2);
    assert_eq!(
        body(&a.changes[0])["metadata"]["annotations"]["incident-mcp/cidr"],
        "198.51.100.7/32"
    );
    b.apply("prod", &policy(), &a.changes).await.expect("block");
    // Re-planning the same block is fine (it is this block's own policy) ...
    plan_ok(&f, &b, &spec(Action::Block, Some("shop"), "198.51.100.7/32")).await;
    // ... but a second range would cancel the first (allows are additive): refused.
    f.take_requests();
    let err = b
        .plan(&spec(Action::Block, Some("shop"), "192.0.2.0/24"))
        .await
        .unwrap_err();
    let first = object_label("incident-mcp-block", "198.51.100.7/32");
    assert!(matches!(&err, BackendError::Conflict(m) if m.contains(&first)), "{err}");
    assert_no_mutation(&f.take_requests());
    b.apply("prod", &policy(), &a.inverse).await.expect("unblock");
    // Any other policy selecting the same pods, even a default deny, would be widened.
    f.put(json!({ "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": { "name": "only-frontend", "namespace": "shop" },
        "spec": { "podSelector": { "matchExpressions": [{ "key": "app", "operator": "In", "values": ["web", "api"] }] },
                  "policyTypes": ["Ingress"], "ingress": [{ "from": [{ "podSelector": { "matchLabels": { "app": "frontend" } } }] }] } }));
    let err = b
        .plan(&spec(Action::Block, Some("shop"), "192.0.2.0/24"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::Conflict(m) if m.contains("only-frontend")),
        "{err}"
    );
    let mut db_only = spec(Action::Block, Some("shop"), "192.0.2.0/24");
    db_only.params.insert("selector".into(), "app=db".into());
    let p = b
        .plan(&db_only)
        .await
        .expect("no db pods are selected by only-frontend");
    assert_eq!(p.blast_radius.pods, 0);
}

#[tokio::test]
async fn apply_rechecks_policy_before_sending_anything() {
    let (f, b) = setup().await;
    let p = plan_ok(&f, &b, &spec(Action::Isolate, Some("shop"), "web-bbb-1")).await;
    f.take_requests();
    for ns in ["kube-system", "other", "Bad_NS"] {
        let mut changes = p.changes.clone();
        if let Change::Kube { namespace, .. } = &mut changes[1] {
            *namespace = Some(ns.into());
        }
        let err = b.apply("prod", &policy(), &changes).await.unwrap_err();
        assert!(matches!(&err, BackendError::Refused(_)), "{ns}: {err}");
    }
    let mut protected = PolicyConfig {
        allowed_actions: vec![Action::Isolate],
        allowed_namespaces: vec!["shop".into()],
        resource_patterns: vec!["*".into()],
        ..PolicyConfig::default()
    };
    protected.protected_namespaces.push("vault".into());
    let pol = Policy::try_from(protected).unwrap();
    let mut changes = p.changes.clone();
    if let Change::Kube { namespace, .. } = &mut changes[0] {
        *namespace = Some("vault".into());
    }
    let err = b.apply("prod", &pol, &changes).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Refused(m) if m.contains("protected")),
        "{err}"
    );
    // A body naming another namespace than the change (which the re-check saw) is refused.
    let mut smuggled = p.changes.clone();
    if let Change::Kube { body: Some(b), .. } = &mut smuggled[0] {
        b["metadata"]["namespace"] = json!("kube-system");
    }
    let err = b.apply("prod", &policy(), &smuggled).await.unwrap_err();
    assert!(
        matches!(&err, BackendError::Invalid(m) if m.contains("another object")),
        "{err}"
    );
    assert!(f.take_requests().is_empty(), "a smuggled body reached the API");
    let node = spec(Action::Cordon, None, "node-a");
    let c = plan_ok(&f, &b, &node).await;
    f.take_requests();
    let err = b.apply("prod", &pol, &c.changes).await.unwrap_err();
    assert!(matches!(&err, BackendError::Refused(_)), "cordon not allowed: {err}");
    assert!(f.requests().is_empty(), "a refused change reached the API");
}

#[tokio::test]
async fn api_errors_map_to_backend_errors_without_secrets() {
    let (mut f, b) = setup().await;
    let err = b
        .plan(&spec(Action::Isolate, Some("shop"), "web-zzz"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BackendError::NotFound { what } if what == "Pod shop/web-zzz"),
        "{err}"
    );
    f.forbid("PATCH", POD);
    let p = b
        .plan(&spec(Action::Isolate, Some("shop"), "web-bbb-1"))
        .await
        .expect("plan");
    assert!(
        matches!(&p.dry_run, DryRun::Failed { reason } if reason.contains("forbidden")),
        "{:?}",
        p.dry_run
    );
    let err = b.apply("prod", &policy(), &p.changes).await.unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(&err, BackendError::Failed(m) if m.starts_with("forbidden")
            && m.ends_with("(change 2 of 2 failed; the 1 before it were applied)")),
        "{text}"
    );
    assert!(
        f.get(&format!("{NETPOLS}/incident-mcp-isolate-web-bbb-1")).is_some(),
        "the first change was applied"
    );
    f.shutdown();
    let err = b
        .plan(&spec(Action::Pause, Some("shop"), "deployment/web"))
        .await
        .unwrap_err();
    assert!(matches!(&err, BackendError::Unavailable(_)), "{err}");
    for e in [text, err.to_string()] {
        assert!(
            !e.contains(TOKEN.as_str()) && !e.contains(&f.url) && !e.contains("127.0.0.1"),
            "{e}"
        );
    }
}

#[test]
fn object_names_are_deterministic_dns_labels() {
    assert_eq!(
        object_label("incident-mcp-isolate", "web-1"),
        "incident-mcp-isolate-web-1"
    );
    let long = "a".repeat(80);
    let n = object_label("incident-mcp-isolate", &long);
    assert!(
        n.len() <= 63 && incident_mcp::domain::k8s_names::is_dns1123_label(&n),
        "{n}"
    );
    assert_eq!(n, object_label("incident-mcp-isolate", &long));
    assert_ne!(n, object_label("incident-mcp-isolate", &"a".repeat(81)));
    let dotted = object_label("incident-mcp-isolate", "web.1");
    assert_ne!(dotted, object_label("incident-mcp-isolate", "web-1"));
    assert!(incident_mcp::domain::k8s_names::is_dns1123_label(&dotted), "{dotted}");
}
