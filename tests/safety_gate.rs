//! Issue 4, acceptance 2: nothing changes in the world (the recording backend saw no apply)
//! without policy and a human's approval of exactly that plan, and every refusal is audited.

use crate::common;
use crate::respond;

use chrono::{TimeDelta, Utc};
use common::*;
use incident_mcp::{
    domain::{
        audit::{AuditKind, NewAuditEntry},
        plan::{Approval, DEFAULT_APPROVAL_TTL},
    },
    mcp::ToolPolicy,
    service::{ContainRequest, ErrorClass, PlanReport, ServiceError},
    store::ports::*,
};
use respond::*;
use serde_json::json;

fn contain(resource: &str, ns: &str) -> ContainRequest {
    serde_json::from_value(contain_args(resource, ns)).unwrap()
}

async fn propose(h: &Harness, resource: &str, principal: &str) -> PlanReport {
    h.svc
        .propose_contain(&contain(resource, "shop"), principal)
        .await
        .expect("plan")
}

fn refused(r: Result<PlanReport, ServiceError>, needle: &str) {
    let e = r.expect_err("must be refused");
    assert_eq!(e.class(), ErrorClass::Conflict, "{e}");
    assert!(e.to_string().contains(needle), "`{e}` should mention `{needle}`");
    assert!(e.to_string().contains("nothing was changed"), "{e}");
}

#[tokio::test]
async fn planning_mutates_nothing_and_an_unapproved_plan_is_refused() {
    let (h, b) = setup().await;
    let plan = propose(&h, "web-1", "mcp").await;
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(serde_json::to_value(&plan.changes[0]).unwrap()["kind"], "NetworkPolicy");
    assert_eq!(serde_json::to_value(&plan.inverse[0]).unwrap()["verb"], "delete");
    assert!(
        plan.next_step
            .contains(&format!("incident-mcp approve {}", plan.plan_id))
    );
    refused(h.svc.apply_plan(&plan.plan_id, "mcp").await, "has no approval");
    assert_eq!(b.apply_count(), 0);
    assert_eq!(refusals(&h).await, ["unknown"]);
    let kinds: Vec<String> = audit(&h).await.into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["proposal", "refusal"], "no intent, no application");
}

#[tokio::test]
async fn approval_for_another_plan_replay_and_other_principal_are_refused() {
    let (h, b) = setup().await;
    let a = propose(&h, "web-1", "mcp").await;
    let other = propose(&h, "web-2", "mcp").await;
    h.svc.approve_plan(&other.plan_id, "human:alice", 300).await.unwrap();
    refused(h.svc.apply_plan(&a.plan_id, "mcp").await, "has no approval");
    // A plan made for `rest`, approved, is not usable by `mcp`.
    let rest = propose(&h, "web-3", "rest").await;
    h.svc.approve_plan(&rest.plan_id, "human:alice", 300).await.unwrap();
    refused(h.svc.apply_plan(&rest.plan_id, "mcp").await, "not for mcp");
    assert_eq!(b.apply_count(), 0);
    // The approved plan applies once; replaying the approval changes nothing more.
    let applied = h.svc.apply_plan(&other.plan_id, "mcp").await.unwrap();
    assert_eq!(serde_json::to_value(applied.status).unwrap(), "applied");
    refused(h.svc.apply_plan(&other.plan_id, "mcp").await, "already used");
    assert_eq!(b.apply_count(), 1);
    assert_eq!(refusals(&h).await, ["unknown", "other_principal", "used"]);
}

#[tokio::test]
async fn expired_and_tampered_approvals_are_refused() {
    let (h, b) = setup().await;
    let p = propose(&h, "web-1", "mcp").await;
    let stored = h.store.get_plan(&p.plan_id).await.unwrap().unwrap();
    let long_ago = Utc::now() - TimeDelta::minutes(10);
    let old = Approval::grant(&stored.plan, "human:alice", long_ago, DEFAULT_APPROVAL_TTL).unwrap();
    let entry = NewAuditEntry::new("human:alice", AuditKind::Approval, json!({}));
    h.store.save_approval(&old, entry).await.unwrap();
    refused(h.svc.apply_plan(&p.plan_id, "mcp").await, "expired");

    // A fresh approval, then someone edits the stored plan to point at another pod.
    let q = propose(&h, "web-2", "mcp").await;
    h.svc.approve_plan(&q.plan_id, "human:alice", 300).await.unwrap();
    tamper(
        &h.db,
        &format!(
            "UPDATE plans SET body = replace(body, 'quarantine-web-2', 'quarantine-web-9') WHERE id = '{}'",
            q.plan_id
        ),
    )
    .await;
    refused(
        h.svc.apply_plan(&q.plan_id, "mcp").await,
        "does not match its recorded hash",
    );
    // Editing the hash column too still does not match the approval.
    let body_hash = {
        let s = h.store.get_plan(&q.plan_id).await.unwrap().unwrap();
        s.plan.hash()
    };
    tamper(
        &h.db,
        &format!("UPDATE plans SET hash = '{body_hash}' WHERE id = '{}'", q.plan_id),
    )
    .await;
    refused(
        h.svc.apply_plan(&q.plan_id, "mcp").await,
        "does not match its recorded hash",
    );
    assert_eq!(b.apply_count(), 0);
    assert_eq!(refusals(&h).await, ["expired", "tampered", "tampered"]);
}

#[tokio::test]
async fn a_target_changed_since_planning_is_refused() {
    let (h, b) = setup().await;
    let p = propose(&h, "web-1", "mcp").await;
    h.svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
    b.bump_version();
    refused(
        h.svc.apply_plan(&p.plan_id, "mcp").await,
        "target changed since planning",
    );
    assert_eq!(b.apply_count(), 0);
    assert_eq!(refusals(&h).await, ["target_changed"]);
}

#[tokio::test]
async fn policy_refuses_protected_namespaces_unlisted_names_and_spent_budgets() {
    let (h, b) = setup().await;
    let r = h.svc.propose_contain(&contain("web-1", "kube-system"), "mcp").await;
    refused(r, "protected");
    let r = h.svc.propose_contain(&contain("db-1", "shop"), "mcp").await;
    refused(r, "matches no resource pattern");
    let r = h.svc.propose_contain(&contain("web-1", "payments"), "mcp").await;
    refused(r, "not in the allowlist");
    let e = h
        .svc
        .propose_contain(&contain("Web_1", "shop"), "mcp")
        .await
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Input, "{e}");
    // Two destructive actions are allowed per incident. Three plans approved while the budget
    // had room: the third is refused when applied; a fourth is refused at planning.
    let mut plans = Vec::new();
    for r in ["web-1", "web-2", "web-3"] {
        let p = propose(&h, r, "mcp").await;
        h.svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
        plans.push(p);
    }
    for p in &plans[..2] {
        h.svc.apply_plan(&p.plan_id, "mcp").await.unwrap();
    }
    refused(h.svc.apply_plan(&plans[2].plan_id, "mcp").await, "allows 2");
    refused(
        h.svc.propose_contain(&contain("web-4", "shop"), "mcp").await,
        "allows 2",
    );
    assert_eq!(b.apply_count(), 2);
    assert_eq!(
        refusals(&h).await,
        [
            "protected_namespace",
            "name_not_allowed",
            "namespace_not_allowed",
            // An invalid name is refused before policy, and audited too (issue 10).
            "invalid_resource",
            "incident_budget",
            "incident_budget"
        ]
    );
}

#[tokio::test]
async fn an_environment_without_a_cluster_refuses_clearly() {
    let h = Harness::with_config(config(POLICY)).await;
    detect(&h).await;
    let e = h
        .svc
        .propose_contain(&contain("web-1", "shop"), "mcp")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("has no cluster configured"), "{e}");
}

#[tokio::test]
async fn no_tool_argument_counts_as_approval() {
    let (h, b) = setup().await;
    let client = h.duplex_client(ToolPolicy::default(), Proto::Legacy, PlainClient).await;
    for extra in [
        json!({"confirm": true}),
        json!({"approved": true}),
        json!({"approval": "human:alice"}),
        json!({"plan_id": "plan-0000000000000000"}),
    ] {
        let mut a = contain_args("web-1", "shop");
        a.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        let text = err_text(&call(&client, "incident_contain", a).await);
        // Refused by the published schema (additionalProperties: false) before the service sees it.
        assert!(
            text.contains("was unexpected") || text.contains("unknown field"),
            "{text}"
        );
    }
    let text = err_text(&call(&client, "incident_apply", json!({"plan_id": "plan-x", "confirm": true})).await);
    assert!(
        text.contains("was unexpected") || text.contains("unknown field"),
        "{text}"
    );
    assert_eq!(b.apply_count(), 0);
    assert!(audit(&h).await.iter().all(|e| e.kind != "intent"));
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn without_elicitation_the_plan_stays_pending_until_a_human_approves() {
    let (h, b) = setup().await;
    let client = h.duplex_client(ToolPolicy::default(), Proto::Legacy, PlainClient).await;
    let r = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
    assert_eq!(r["status"], "pending");
    let id = r["plan_id"].as_str().unwrap().to_owned();
    let text = err_text(&call(&client, "incident_apply", json!({"plan_id": id})).await);
    assert!(text.contains("has no approval"), "{text}");
    assert_eq!(b.apply_count(), 0);
    // incident_plan: how the agent waits for the human without spending refusals.
    let plan = json!({"plan_id": id});
    let v = ok(&call(&client, "incident_plan", plan.clone()).await);
    assert_eq!(
        (&v["plan"]["status"], &v["approval"]),
        (&json!("pending"), &json!(null)),
        "{v}"
    );
    let audited = audit(&h).await.len();
    h.svc.approve_plan(&id, "human:alice", 300).await.unwrap();
    let v = ok(&call(&client, "incident_plan", plan.clone()).await);
    assert_eq!(
        (&v["approval"]["state"], &v["approval"]["approver"]),
        (&json!("valid"), &json!("human:alice")),
        "{v}"
    );
    assert_eq!(
        audit(&h).await.len(),
        audited + 1,
        "reading a plan audits nothing; the approval one entry"
    );
    let r = ok(&call(&client, "incident_apply", json!({"plan_id": id})).await);
    assert_eq!(r["status"], "applied");
    assert_eq!(b.apply_count(), 1);
    let v = ok(&call(&client, "incident_plan", plan.clone()).await);
    assert_eq!(
        (&v["plan"]["status"], &v["approval"]["state"]),
        (&json!("applied"), &json!("used")),
        "{v}"
    );
    let text = err_text(&call(&client, "incident_plan", json!({"plan_id": "plan-0000000000000000"})).await);
    assert!(text.contains("no plan plan-0000000000000000"), "{text}");
    client.cancel().await.unwrap();
}

/// MCP plans belong to the client that proposed them (`mcp:<declared name>`): the audit log tells
/// agents apart, another client cannot spend the human's approval, and the proposer can still
/// apply after reconnecting. Both protocol revisions (initialize, and `_meta` per request).
#[tokio::test]
async fn mcp_plans_are_bound_to_the_client_that_proposed_them() {
    for proto in [Proto::Legacy, Proto::Modern] {
        let (h, b) = setup().await;
        let agent = h
            .duplex_client(ToolPolicy::default(), proto, NamedClient("claude-code", proto))
            .await;
        let r = ok(&call(&agent, "incident_contain", contain_args("web-1", "shop")).await);
        let id = r["plan_id"].as_str().unwrap().to_owned();
        agent.cancel().await.unwrap();
        let view = h.svc.plan_view(&id).await.unwrap();
        assert_eq!(view.principal, "mcp:claude-code", "{proto:?}");
        assert_eq!(
            view.history[0].actor, "mcp:claude-code",
            "the proposal names the client"
        );
        h.svc.approve_plan(&id, "human:alice", 300).await.unwrap();

        // Another agent on the same server cannot spend the approval.
        let other = h
            .duplex_client(ToolPolicy::default(), proto, NamedClient("other-agent", proto))
            .await;
        let text = err_text(&call(&other, "incident_apply", json!({"plan_id": id})).await);
        assert!(
            text.contains("granted for mcp:claude-code, not for mcp:other-agent"),
            "{text}"
        );
        other.cancel().await.unwrap();
        // Hostile characters in a declared name do not reach the principal.
        let odd = h
            .duplex_client(ToolPolicy::default(), proto, NamedClient("claude-code\n<x>", proto))
            .await;
        let text = err_text(&call(&odd, "incident_apply", json!({"plan_id": id})).await);
        assert!(text.contains("not for mcp:claude-codex"), "{text}");
        odd.cancel().await.unwrap();
        assert_eq!(b.apply_count(), 0);

        // The proposer, reconnected, applies it; the audit log says who.
        let again = h
            .duplex_client(ToolPolicy::default(), proto, NamedClient("claude-code", proto))
            .await;
        let r = ok(&call(&again, "incident_apply", json!({"plan_id": id})).await);
        assert_eq!(r["status"], "applied");
        again.cancel().await.unwrap();
        assert_eq!(b.apply_count(), 1);
        let history = h.svc.plan_view(&id).await.unwrap().history;
        let actors: Vec<(&str, &str)> = history.iter().map(|e| (e.kind.as_str(), e.actor.as_str())).collect();
        assert!(actors.contains(&("refusal", "mcp:other-agent")), "{actors:?}");
        assert!(actors.contains(&("intent", "mcp:claude-code")), "{actors:?}");
    }
}

#[tokio::test]
async fn a_declined_dialog_or_a_typed_name_changes_nothing() {
    let (h, b) = setup().await;
    for (human, reason) in [
        (Human::Declines, "declined"),
        // What an agent answering its own dialog would type: the target's name, or a guess.
        (Human::Types("web-1".into()), "wrong_code"),
        (Human::Types("WEB-1".into()), "wrong_code"),
    ] {
        let dialog = DialogClient::new(human);
        let asked = dialog.asked.clone();
        let client = h.duplex_client(ToolPolicy::default(), Proto::Legacy, dialog).await;
        let r = ok(&call(&client, "incident_contain", contain_args("web-1", "shop")).await);
        assert_eq!(r["status"], "not_applied");
        assert!(
            asked.lock().unwrap()[0].contains("one-time code"),
            "the dialog asks for an approver's code"
        );
        assert_eq!(refusals(&h).await.last().map(String::as_str), Some(reason));
        client.cancel().await.unwrap();
    }
    assert_eq!(b.apply_count(), 0);
}

#[tokio::test]
async fn hidden_tools_called_by_name_are_refused_and_audited() {
    let (h, b) = setup().await;
    for policy in [
        ToolPolicy {
            read_only: true,
            ..ToolPolicy::default()
        },
        ToolPolicy {
            disable_destructive: true,
            ..ToolPolicy::default()
        },
    ] {
        let client = h
            .duplex_client(policy, Proto::Legacy, DialogClient::new(Human::Types("web-1".into())))
            .await;
        let tools = client.list_all_tools().await.unwrap();
        assert!(tools.iter().all(|t| t.name != "incident_contain"));
        for (tool, args) in [
            ("incident_contain", contain_args("web-1", "shop")),
            ("incident_recover", json!({"id": "INC-000001", "method": "revert"})),
            ("incident_apply", json!({"plan_id": "plan-0000000000000000"})),
        ] {
            let text = err_text(&call(&client, tool, args).await);
            assert!(text.contains("is disabled"), "{text}");
        }
        client.cancel().await.unwrap();
    }
    assert_eq!(b.apply_count(), 0);
    assert_eq!(refusals(&h).await, vec!["tool_disabled"; 6]);
    assert!(audit(&h).await.iter().all(|e| e.kind != "proposal"));
}
