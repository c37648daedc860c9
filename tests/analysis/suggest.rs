//! Acceptance 3, second half: suggested actions carry the exact arguments the real tools take.
//! Each is passed as it is to `incident_contain` / `incident_recover` over MCP: it passes the
//! tools' schema validation, and the plan is made (pending a human) exactly when the suggestion
//! said policy allows it, or refused with the reason it gave.

use std::sync::Arc;

use incident_mcp::{
    domain::Env,
    mcp::ToolPolicy,
    service::{Backends, Operation, PolicyAnswer, SuggestedAction},
    store::{Store, ports::*},
};
use serde_json::{Value, json};

use super::fixture::{alert, analyze, payload};
use crate::common::{Harness, Proto, call, err_text, modern_client, ok};

fn keys(s: &[SuggestedAction]) -> Vec<(Operation, Value, PolicyAnswer)> {
    s.iter()
        .map(|a| {
            (
                a.operation,
                serde_json::to_value(&a.arguments).unwrap(),
                a.policy.decision,
            )
        })
        .collect()
}

#[tokio::test]
async fn suggested_actions_pass_the_real_tools_as_reported() {
    let mut h = Harness::new().await;
    let store: Arc<dyn Store> = h.store.clone();
    h.svc = h
        .svc
        .clone()
        .with_backends(Backends::from_config(h.svc.config(), &store));
    let env = Env::parse("dev").unwrap();
    let alerts = vec![
        // A crash loop in the sandbox's shop/web (availability).
        alert(
            "KubePodCrashLooping",
            "2026-11-01T12:02:00Z",
            json!({"namespace": "shop", "pod": "web-7", "deployment": "web", "node": "node-a",
                   "incident_type": "availability"}),
        ),
        // Brute force on the bastion from an address (auth).
        alert(
            "SSHBruteForce",
            "2026-11-01T12:03:00Z",
            json!({"instance": "bastion-1:22", "src_ip": "203.0.113.9", "namespace": "bastion",
                   "incident_type": "auth"}),
        ),
        // A compromised pod where policy allows nothing (auth), and one in a protected namespace.
        alert(
            "ShellInContainer",
            "2026-11-01T12:04:00Z",
            json!({"namespace": "payments", "pod": "api-1", "incident_type": "app-vuln"}),
        ),
        alert(
            "ShellInContainer",
            "2026-11-01T12:05:00Z",
            json!({"namespace": "kube-system", "pod": "coredns-1", "incident_type": "app-vuln"}),
        ),
    ];
    let report = h.svc.ingest_alerts(&env, payload(alerts)).await.unwrap();
    let ids: Vec<_> = report.incidents.iter().map(|i| i.id).collect();

    let crash = analyze(&h.svc, ids[0], 1).await.suggested_actions;
    assert_eq!(
        keys(&crash),
        [
            (
                Operation::Contain,
                json!({"id": ids[0], "action": "delete-pod", "resource": "web-7", "namespace": "shop"}),
                PolicyAnswer::AllowedPendingPlan
            ),
            (
                Operation::Recover,
                json!({"id": ids[0], "method": "rollback", "resource": "deployment/web", "namespace": "shop"}),
                PolicyAnswer::AllowedPendingPlan
            ),
        ],
        "{crash:#?}"
    );
    assert_eq!(crash[0].policy.deferred, ["min_healthy_replicas"]);
    assert_eq!(crash[1].policy.deferred, ["max_pods_per_action"]);
    let brute = analyze(&h.svc, ids[1], 0).await.suggested_actions;
    assert_eq!(
        keys(&brute),
        [(
            Operation::Contain,
            json!({"id": ids[1], "action": "block", "resource": "203.0.113.9", "namespace": "bastion"}),
            PolicyAnswer::AllowedPendingPlan
        )],
        "{brute:#?}"
    );
    let payments = analyze(&h.svc, ids[2], 0).await.suggested_actions;
    assert_eq!(payments.len(), 1, "{payments:#?}");
    assert_eq!(payments[0].policy.decision, PolicyAnswer::Refused);
    assert_eq!(
        payments[0].policy.reason.as_deref(),
        Some("namespace payments is not in the allowlist for env dev")
    );
    let protected = analyze(&h.svc, ids[3], 0).await.suggested_actions;
    assert_eq!(
        protected[0].policy.reason.as_deref(),
        Some("namespace kube-system is protected in env dev")
    );

    // Suggesting wrote nothing: no plan, no audit entry.
    assert!(h.store.recent_plans(None, 10).await.unwrap().is_empty());
    assert!(h.store.audit_recent(10).await.unwrap().is_empty());

    let client = h
        .duplex_client(ToolPolicy::default(), Proto::Modern, modern_client())
        .await;
    for s in crash.iter().chain(&brute).chain(&payments).chain(&protected) {
        let tool = match s.operation {
            Operation::Contain => "incident_contain",
            Operation::Recover => "incident_recover",
        };
        let arguments = serde_json::to_value(&s.arguments).unwrap();
        let result = call(&client, tool, arguments.clone()).await;
        match s.policy.decision {
            PolicyAnswer::Allowed | PolicyAnswer::AllowedPendingPlan => {
                let plan = ok(&result);
                assert_eq!(plan["status"], "pending", "{tool} {arguments}: {plan}");
            }
            PolicyAnswer::Refused => {
                let text = err_text(&result);
                let reason = s.policy.reason.as_deref().unwrap();
                assert!(
                    text.contains(&format!("refused by policy: {reason}")),
                    "{tool} {arguments}: {text}"
                );
                assert!(!text.contains("/arguments") && !text.contains("schema"), "{text}");
            }
        }
    }
    client.cancel().await.unwrap();
}

/// A containment in place is suggested for undoing, and an environment without a cluster says
/// so instead of pretending policy would allow it.
#[tokio::test]
async fn revert_is_suggested_while_contained_and_no_cluster_refuses() {
    let mut h = Harness::new().await;
    let store: Arc<dyn Store> = h.store.clone();
    h.svc = h
        .svc
        .clone()
        .with_backends(Backends::from_config(h.svc.config(), &store));
    let env = Env::parse("dev").unwrap();
    let a = alert(
        "EgressSpike",
        "2026-11-01T12:00:00Z",
        json!({"namespace": "shop", "pod": "web-1", "incident_type": "network"}),
    );
    let id = h.svc.ingest_alerts(&env, payload(vec![a])).await.unwrap().incidents[0].id;
    let first = analyze(&h.svc, id, 0).await.suggested_actions;
    let isolate = serde_json::from_value(serde_json::to_value(&first[0].arguments).unwrap()).unwrap();
    let plan = h.svc.propose_contain(&isolate, "mcp:agent").await.unwrap();
    h.svc.approve_plan(&plan.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&plan.plan_id, "mcp:agent").await.unwrap();
    let after = analyze(&h.svc, id, 0).await.suggested_actions;
    assert_eq!(after[0].operation, Operation::Recover);
    assert_eq!(
        serde_json::to_value(&after[0].arguments).unwrap(),
        json!({"id": id, "method": "revert"})
    );
    assert_eq!(after[0].policy.decision, PolicyAnswer::Allowed);
    assert!(after[0].reason.contains("isolate of web-1"), "{}", after[0].reason);

    // Staging has neither a cluster nor a policy.
    let staging = Env::parse("staging").unwrap();
    let a = alert(
        "EgressSpike",
        "2026-11-01T12:00:00Z",
        json!({"namespace": "shop", "pod": "web-1", "incident_type": "network"}),
    );
    let id = h.svc.ingest_alerts(&staging, payload(vec![a])).await.unwrap().incidents[0].id;
    let s = analyze(&h.svc, id, 0).await.suggested_actions;
    assert_eq!(s[0].policy.decision, PolicyAnswer::Refused);
    assert_eq!(
        s[0].policy.reason.as_deref(),
        Some("action isolate is not allowed in env staging")
    );
}
