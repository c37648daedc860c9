//! The undo must be possible before the action is (issue 10, item 6): a containment whose
//! inverse the policy would refuse (`revert` not allowed, an undo script not allowlisted) is
//! refused when planned, audited, and nothing is stored; policy is checked again, with the
//! budgets of now, before an approval is spent, and a refusal there leaves the approval valid.
//! Real parts: a real SQLite file shared by two services (the same database under an old and a
//! new config, as across a restart), the sandbox backend, real scripts run by the script backend.

use std::{os::unix::fs::PermissionsExt, path::Path, sync::Arc};

use incident_mcp::{
    IncidentService,
    config::Config,
    domain::sha256_hex,
    service::{Backends, ContainRequest, RecoverRequest},
    store::ports::*,
};
use serde_json::json;

use crate::{
    common::Harness,
    respond::{audit, config, detect, refusals},
    sandbox::{contain, object},
};

fn sandbox_policy(actions: &str, budget: u32) -> String {
    format!(
        "[environments.dev.cluster]\nkind = \"sandbox\"\n[environments.dev.policy]\nallowed_actions = [{actions}]\n\
         allowed_namespaces = [\"shop\"]\nresource_patterns = [\"web-*\", \"node-*\", \"block-ip\"]\n\
         max_pods_per_action = 3\nmax_destructive_per_incident = {budget}\n"
    )
}

/// A service over `store` acting through the backends `cfg` describes (as `serve` wires it).
fn service(store: &Arc<dyn Store>, cfg: &Config) -> IncidentService {
    IncidentService::new(store.clone(), Arc::new(cfg.clone())).with_backends(Backends::from_config(cfg, store))
}

async fn harness(cfg: &Config) -> (Harness, Arc<dyn Store>) {
    let mut h = Harness::with_config(cfg.clone()).await;
    let store: Arc<dyn Store> = h.store.clone();
    h.svc = service(&store, cfg);
    detect(&h).await;
    (h, store)
}

/// Intents in the audit log for `plan_id`: an approval is spent together with one.
async fn intents(h: &Harness, plan_id: &str) -> usize {
    audit(h)
        .await
        .iter()
        .filter(|e| e.kind == "intent" && e.plan_id.as_deref() == Some(plan_id))
        .count()
}

#[tokio::test]
async fn a_containment_whose_revert_policy_refuses_is_refused_when_planned_and_nothing_is_stored() {
    let (h, _) = harness(&config(&sandbox_policy("\"isolate\", \"cordon\", \"delete-pod\"", 3))).await;
    let before = object(&h, "Pod", Some("shop"), "web-7").await.unwrap();
    for req in [
        contain("INC-000001", "isolate", "web-7", Some("shop")),
        contain("INC-000001", "cordon", "node-a", None),
    ] {
        let e = h.svc.propose_contain(&req, "mcp:agent").await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("could not be undone") && text.contains("action revert is not allowed in env dev"),
            "{text}"
        );
        assert!(text.contains("nothing was changed"), "{text}");
    }
    assert_eq!(refusals(&h).await, ["undo_not_allowed", "undo_not_allowed"]);
    let entry = audit(&h).await.into_iter().find(|e| e.kind == "refusal").unwrap();
    assert_eq!(entry.payload["undo_refusal"], "action_not_allowed");
    assert_eq!(entry.payload["action"], "isolate");
    assert!(
        h.store.recent_plans(None, 10).await.unwrap().is_empty(),
        "nothing stored as pending"
    );
    assert!(!audit(&h).await.iter().any(|e| e.kind == "proposal"));
    assert_eq!(object(&h, "Pod", Some("shop"), "web-7").await.unwrap(), before);
    // Deleting a pod has nothing to undo (its controller replaces it): not held to this rule.
    let del = contain("INC-000001", "delete-pod", "web-7", Some("shop"));
    let plan = h.svc.propose_contain(&del, "mcp:agent").await.unwrap();
    assert!(plan.inverse.is_empty());
}

/// `block-ip` (argument `ip`) whose undo is `unblock-ip`; each appends a line to `out`.
fn scripts(dir: &Path) -> String {
    let out = dir.join("out");
    let mut toml = String::new();
    for (id, word, inverse) in [
        (
            "block-ip",
            "block",
            "inverse = { script = \"unblock-ip\", args = { ip = \"ip\" } }\n",
        ),
        ("unblock-ip", "unblock", ""),
    ] {
        let body = format!("#!/bin/sh\necho \"{word} $1\" >> '{}'\n", out.display());
        let path = dir.join(format!("{id}.sh"));
        std::fs::write(&path, &body).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        toml.push_str(&format!(
            "[[scripts]]\nid = \"{id}\"\npath = \"{}\"\nsha256 = \"{}\"\n\
             args = [{{ name = \"ip\", pattern = \"^[0-9.]+$\", required = true }}]\n{inverse}\n",
            path.display(),
            sha256_hex(body.as_bytes())
        ));
    }
    toml
}

fn script_config(dir: &Path, allowed: &str) -> Config {
    config(&format!(
        "{}\n{}scripts = [{allowed}]\n",
        scripts(dir),
        sandbox_policy("\"block\", \"revert\"", 3)
    ))
}

fn block_ip() -> ContainRequest {
    serde_json::from_value(
        json!({"id": "INC-000002", "action": "block", "resource": "script/block-ip",
                                  "namespace": "shop", "args": {"ip": "203.0.113.9"}}),
    )
    .unwrap()
}

fn revert(id: &str) -> RecoverRequest {
    serde_json::from_value(json!({"id": id, "method": "revert"})).unwrap()
}

#[tokio::test]
async fn a_containment_whose_undo_script_is_not_allowlisted_is_refused_when_planned() {
    let dir = tempfile::tempdir().unwrap();
    let (h, _) = harness(&script_config(dir.path(), "\"block-ip\"")).await;
    let e = h.svc.propose_contain(&block_ip(), "mcp:agent").await.unwrap_err();
    assert!(
        e.to_string().contains("could not be undone") && e.to_string().contains("script unblock-ip is not allowlisted"),
        "{e}"
    );
    assert_eq!(refusals(&h).await, ["undo_not_allowed"]);
    assert_eq!(audit(&h).await[0].payload["undo_script"], "unblock-ip");
    assert!(h.store.recent_plans(None, 10).await.unwrap().is_empty());

    // Allowlisting the undo script makes the same containment plannable.
    let dir2 = tempfile::tempdir().unwrap();
    let (h2, _) = harness(&script_config(dir2.path(), "\"block-ip\", \"unblock-ip\"")).await;
    let plan = h2.svc.propose_contain(&block_ip(), "mcp:agent").await.unwrap();
    assert_eq!(plan.inverse[0].script(), Some("unblock-ip"));
}

#[tokio::test]
async fn policy_is_checked_again_before_an_approval_is_spent_and_a_refusal_keeps_the_approval() {
    let lenient = config(&sandbox_policy("\"isolate\", \"revert\"", 3));
    let (h, store) = harness(&lenient).await;
    // The same database under a stricter config, as after a restart with a changed policy.
    let strict = service(&store, &config(&sandbox_policy("\"isolate\"", 3)));
    let plan = h
        .svc
        .propose_contain(&contain("INC-000001", "isolate", "web-7", Some("shop")), "mcp:agent")
        .await
        .unwrap();
    h.svc.approve_plan(&plan.plan_id, "human:alice", 300).await.unwrap();
    let e = strict.apply_plan(&plan.plan_id, "mcp:agent").await.unwrap_err();
    assert!(
        e.to_string().contains("could not be undone") && e.to_string().contains("the approval was not spent"),
        "{e}"
    );
    let approval = store.latest_approval(&plan.plan_id).await.unwrap().unwrap();
    assert!(approval.used_at.is_none(), "the refusal did not consume the approval");
    assert_eq!(intents(&h, &plan.plan_id).await, 0);
    assert_eq!(refusals(&h).await, ["undo_not_allowed"]);
    let pod = object(&h, "Pod", Some("shop"), "web-7").await.unwrap();
    assert!(pod["metadata"]["labels"].get("incident-mcp/quarantine").is_none());
    // Under the config it was approved for, the same approval still applies it, once.
    let applied = h.svc.apply_plan(&plan.plan_id, "mcp:agent").await.unwrap();
    assert_eq!(applied.outcome.unwrap().len(), 2);
    assert_eq!(intents(&h, &plan.plan_id).await, 1);
}

#[tokio::test]
async fn budgets_are_counted_again_at_apply_and_a_refusal_keeps_the_approval() {
    let (h, store) = harness(&config(&sandbox_policy("\"isolate\", \"revert\"", 1))).await;
    let a = h
        .svc
        .propose_contain(&contain("INC-000001", "isolate", "web-7", Some("shop")), "mcp:agent")
        .await
        .unwrap();
    let b = h
        .svc
        .propose_contain(&contain("INC-000001", "isolate", "web-1", Some("shop")), "mcp:agent")
        .await
        .unwrap();
    for p in [&a, &b] {
        h.svc.approve_plan(&p.plan_id, "human:alice", 300).await.unwrap();
    }
    h.svc.apply_plan(&a.plan_id, "mcp:agent").await.unwrap();
    let e = h.svc.apply_plan(&b.plan_id, "mcp:agent").await.unwrap_err();
    assert!(e.to_string().contains("already had 1 destructive actions"), "{e}");
    assert!(
        store
            .latest_approval(&b.plan_id)
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    assert_eq!(intents(&h, &b.plan_id).await, 0);
    assert_eq!(refusals(&h).await, ["incident_budget"]);
    // A spent budget never blocks the undo.
    let r = h.svc.propose_recover(&revert("INC-000001"), "mcp:agent").await.unwrap();
    h.svc.approve_plan(&r.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&r.plan_id, "mcp:agent").await.unwrap();
}

#[tokio::test]
async fn an_approved_revert_whose_undo_script_became_refused_fails_before_its_approval_is_spent() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let both = script_config(dir.path(), "\"block-ip\", \"unblock-ip\"");
    let (h, store) = harness(&both).await;
    let plan = h.svc.propose_contain(&block_ip(), "mcp:agent").await.unwrap();
    h.svc.approve_plan(&plan.plan_id, "human:alice", 300).await.unwrap();
    h.svc.apply_plan(&plan.plan_id, "mcp:agent").await.unwrap();
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "block 203.0.113.9\n");
    let r = h.svc.propose_recover(&revert("INC-000002"), "mcp:agent").await.unwrap();
    h.svc.approve_plan(&r.plan_id, "human:alice", 300).await.unwrap();

    // unblock-ip is no longer allowlisted (the config changed after the revert was approved).
    let only_block = service(&store, &script_config(dir.path(), "\"block-ip\""));
    let e = only_block.apply_plan(&r.plan_id, "mcp:agent").await.unwrap_err();
    assert!(e.to_string().contains("script unblock-ip is not allowlisted"), "{e}");
    assert!(
        store
            .latest_approval(&r.plan_id)
            .await
            .unwrap()
            .unwrap()
            .used_at
            .is_none()
    );
    assert_eq!(intents(&h, &r.plan_id).await, 0);
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "block 203.0.113.9\n",
        "unblock-ip did not run"
    );
    // Proposing the revert there is refused when planned, naming the undo script.
    let e = only_block
        .propose_recover(&revert("INC-000002"), "mcp:agent")
        .await
        .unwrap_err();
    assert!(e.to_string().contains("script unblock-ip is not allowlisted"), "{e}");
    // Where it is allowed, the approval (still valid) applies it.
    h.svc.apply_plan(&r.plan_id, "mcp:agent").await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "block 203.0.113.9\nunblock 203.0.113.9\n"
    );
}
