//! The service-level policy gate: per-environment policy from config, budgets counted from
//! the audit log, and every refusal audited.

use crate::common;

use std::collections::BTreeMap;

use common::*;
use incident_mcp::{
    config::Config,
    domain::{
        Env, IncidentId,
        audit::{AuditKind, NewAuditEntry},
        policy::{Action, ActionRequest, PolicyDecision, RefusalKind},
    },
    store::{SqliteStore, ports::*},
};
use serde_json::json;

const CONFIG: &str = r#"
[environments.prod.policy]
allowed_actions = ["isolate", "revert"]
allowed_namespaces = ["shop"]
resource_patterns = ["web-*"]
max_destructive_per_incident = 2
max_destructive_per_hour = 3

[environments.staging]
"#;

fn isolate(ns: &str) -> ActionRequest {
    ActionRequest {
        action: Action::Isolate,
        namespace: Some(ns.into()),
        name: "web-1".into(),
        labels: BTreeMap::new(),
        script: None,
        pods: 1,
        nodes: 0,
        healthy_replicas_after: Some(2),
    }
}

fn applied(env: &str, incident: i64, destructive: bool) -> NewAuditEntry {
    NewAuditEntry::new(
        "mcp",
        AuditKind::Application,
        json!({"env": env, "destructive": destructive}),
    )
    .incident(IncidentId::from_row(incident))
}

fn refusal_kind(d: PolicyDecision) -> Option<RefusalKind> {
    match d {
        PolicyDecision::Allow => None,
        PolicyDecision::Refuse { kind, .. } => Some(kind),
    }
}

#[tokio::test]
async fn refusals_are_audited_and_budgets_count_applied_actions() {
    let h = Harness::with_config(Config::parse_str(CONFIG, "toml", "t").unwrap()).await;
    let store = SqliteStore::open(&h.db).await.unwrap();
    let prod = Env::parse("prod").unwrap();
    let inc = |n| Some(IncidentId::from_row(n));

    let d = h
        .svc
        .check_policy(&prod, &isolate("payments"), inc(1), "mcp")
        .await
        .unwrap();
    let PolicyDecision::Refuse { kind, reason } = d else {
        panic!("payments must be refused")
    };
    assert_eq!(kind, RefusalKind::NamespaceNotAllowed);
    assert_eq!(reason, "namespace payments is not in the allowlist for env prod");
    let log = store.audit_recent(10).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!((log[0].kind.as_str(), log[0].incident_id), ("refusal", inc(1)));
    assert_eq!(log[0].payload["reason"], "namespace_not_allowed");
    assert_eq!(log[0].payload["namespace"], "payments");

    // Allowed: nothing is written.
    assert_eq!(kind_of(&h, &prod, inc(1)).await, None);
    assert_eq!(store.audit_recent(10).await.unwrap().len(), 1);

    // Two destructive applications for INC-1 spend its budget; other envs and
    // non-destructive entries do not count.
    for e in [
        applied("prod", 1, true),
        applied("prod", 1, true),
        applied("staging", 2, true),
        applied("prod", 2, false),
    ] {
        store.append_audit(e).await.unwrap();
    }
    assert_eq!(kind_of(&h, &prod, inc(1)).await, Some(RefusalKind::IncidentBudget));
    assert_eq!(kind_of(&h, &prod, inc(2)).await, None);
    store.append_audit(applied("prod", 2, true)).await.unwrap();
    assert_eq!(kind_of(&h, &prod, inc(3)).await, Some(RefusalKind::HourlyBudget));
    // Reverting is never blocked by budgets.
    let mut revert = isolate("shop");
    revert.action = Action::Revert;
    assert!(
        h.svc
            .check_policy(&prod, &revert, inc(1), "mcp")
            .await
            .unwrap()
            .is_allowed()
    );

    // An environment without a policy refuses everything; an unknown one is an input error.
    let staging = Env::parse("staging").unwrap();
    let d = h
        .svc
        .check_policy(&staging, &isolate("shop"), None, "mcp")
        .await
        .unwrap();
    assert_eq!(refusal_kind(d), Some(RefusalKind::ActionNotAllowed));
    let e = h
        .svc
        .check_policy(&Env::parse("nope").unwrap(), &isolate("shop"), None, "mcp")
        .await;
    assert!(e.unwrap_err().to_string().contains("unknown environment"));
    let refusals = store
        .audit_recent(100)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.kind == "refusal")
        .count();
    assert_eq!(refusals, 4);
}

async fn kind_of(h: &Harness, env: &Env, incident: Option<IncidentId>) -> Option<RefusalKind> {
    refusal_kind(
        h.svc
            .check_policy(env, &isolate("shop"), incident, "mcp")
            .await
            .unwrap(),
    )
}
