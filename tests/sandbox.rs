//! The `sandbox` backend (issue 10, item 8): the built-in `dev` environment acts on a simulated
//! cluster kept in the store. Real parts only: a real SQLite file (and a real PostgreSQL server
//! for the store methods), the service wired as `serve` wires it (`Backends::from_config`), the
//! real binary for the CLI. Every plan, outcome and object must say it is simulated.

use std::sync::Arc;

use incident_mcp::{
    cluster::{Backend, BackendError, Change, DryRun, KubeVerb, sandbox::SandboxBackend},
    config::Config,
    domain::{Env, policy::Policy},
    service::{Backends, ContainRequest, PlanReport, PlanStatus, RecoverRequest},
    store::{SandboxStore, ports::*},
};
use serde_json::{Value, json};

use crate::{
    common::{Harness, bin},
    respond::{audit, detect},
};

/// The built-in config, its backends as `serve` builds them, the sample incidents detected.
pub async fn sandbox_harness() -> Harness {
    let cfg = Config::builtin();
    let mut h = Harness::with_config(cfg.clone()).await;
    let store: Arc<dyn Store> = h.store.clone();
    h.svc = h.svc.clone().with_backends(Backends::from_config(&cfg, &store));
    detect(&h).await;
    h
}

pub fn contain(id: &str, action: &str, resource: &str, ns: Option<&str>) -> ContainRequest {
    serde_json::from_value(json!({"id": id, "action": action, "resource": resource, "namespace": ns})).unwrap()
}

fn recover(id: &str, method: &str, resource: Option<&str>, ns: Option<&str>) -> RecoverRequest {
    serde_json::from_value(json!({"id": id, "method": method, "resource": resource, "namespace": ns})).unwrap()
}

/// A human approves the plan, then its proposer applies it.
pub async fn approve_and_apply(h: &Harness, plan: &PlanReport, principal: &str) -> PlanReport {
    h.svc
        .approve_plan(&plan.plan_id, "human:alice", 300)
        .await
        .expect("approve");
    h.svc.apply_plan(&plan.plan_id, principal).await.expect("apply")
}

/// A simulated object's JSON (with `resourceVersion`), if it exists.
pub async fn object(h: &Harness, kind: &str, ns: Option<&str>, name: &str) -> Option<Value> {
    let view = h.svc.sandbox_view(&Env::parse("dev").unwrap()).await.unwrap();
    assert!(view.simulated && view.objects.iter().all(|o| o.simulated));
    view.objects
        .into_iter()
        .find(|o| o.kind == kind && o.namespace.as_deref() == ns && o.name == name)
        .map(|o| o.object)
}

fn assert_simulated(r: &PlanReport) {
    assert!(r.simulated, "{r:?}");
    assert!(r.summary.contains("simulated: sandbox backend"), "{}", r.summary);
    for c in r.changes.iter().chain(&r.inverse) {
        let c = serde_json::to_value(c).unwrap();
        assert_eq!(
            (&c["backend"], &c["simulated"]),
            (&json!("sandbox"), &json!(true)),
            "{c}"
        );
    }
    for o in r.outcome.iter().flatten() {
        assert_eq!(
            (&o["backend"], &o["simulated"]),
            (&json!("sandbox"), &json!(true)),
            "{o}"
        );
    }
}

#[tokio::test]
async fn isolate_is_planned_applied_and_reverted_on_the_simulated_cluster() {
    let h = sandbox_harness().await;
    let before = object(&h, "Pod", Some("shop"), "web-7").await.unwrap();
    let plan = h
        .svc
        .propose_contain(&contain("INC-000001", "isolate", "web-7", Some("shop")), "mcp:agent")
        .await
        .expect("the built-in dev policy allows isolating a sample pod");
    assert_eq!(plan.status, PlanStatus::Pending);
    assert_simulated(&plan);
    assert_eq!(plan.dry_run, Some(DryRun::Passed));
    assert_eq!(
        (
            plan.blast_radius.pods,
            &plan.blast_radius.workloads,
            &plan.blast_radius.namespaces
        ),
        (1, &vec!["deployment/web".to_owned()], &vec!["shop".to_owned()])
    );
    // Planning changed nothing.
    assert_eq!(object(&h, "Pod", Some("shop"), "web-7").await.unwrap(), before);
    assert!(
        object(&h, "NetworkPolicy", Some("shop"), "incident-mcp-isolate-web-7")
            .await
            .is_none()
    );

    let applied = approve_and_apply(&h, &plan, "mcp:agent").await;
    assert_eq!(applied.status, PlanStatus::Applied);
    assert_simulated(&applied);
    let outcome = applied.outcome.clone().unwrap();
    assert!(outcome.iter().all(|o| o["result"] == "applied"), "{outcome:?}");
    let pod = object(&h, "Pod", Some("shop"), "web-7").await.unwrap();
    assert_eq!(pod["metadata"]["labels"]["incident-mcp/quarantine"], "INC-000001");
    assert_ne!(
        pod["metadata"]["resourceVersion"],
        before["metadata"]["resourceVersion"]
    );
    let np = object(&h, "NetworkPolicy", Some("shop"), "incident-mcp-isolate-web-7")
        .await
        .unwrap();
    assert_eq!(np["metadata"]["annotations"]["incident-mcp/simulated"], "true");
    assert_eq!(
        np["spec"]["podSelector"]["matchLabels"]["incident-mcp/quarantine"],
        "INC-000001"
    );
    let incident = h
        .svc
        .get(serde_json::from_value(json!({"id": "INC-000001"})).unwrap())
        .await
        .unwrap();
    assert_eq!(incident.incident.status.to_string(), "contained");

    let revert = h
        .svc
        .propose_recover(&recover("INC-000001", "revert", None, None), "mcp:agent")
        .await
        .unwrap();
    assert_simulated(&revert);
    approve_and_apply(&h, &revert, "mcp:agent").await;
    let pod = object(&h, "Pod", Some("shop"), "web-7").await.unwrap();
    assert!(
        pod["metadata"]["labels"].get("incident-mcp/quarantine").is_none(),
        "{pod}"
    );
    assert!(
        object(&h, "NetworkPolicy", Some("shop"), "incident-mcp-isolate-web-7")
            .await
            .is_none()
    );
    // The audit trail records the simulated changes like real ones.
    let kinds: Vec<String> = audit(&h).await.iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds.iter().filter(|k| *k == "application").count(), 2, "{kinds:?}");
}

#[tokio::test]
async fn every_sample_action_and_its_inverse_work_on_the_sandbox() {
    let h = sandbox_harness().await;
    let agent = "mcp:agent";
    let run = |req: ContainRequest| {
        let h = &h;
        async move {
            let plan = h.svc.propose_contain(&req, agent).await.expect("plan");
            assert_simulated(&plan);
            assert_eq!(plan.dry_run, Some(DryRun::Passed));
            approve_and_apply(h, &plan, agent).await
        }
    };
    let undo = |id: &'static str| {
        let h = &h;
        async move {
            let plan = h
                .svc
                .propose_recover(&recover(id, "revert", None, None), agent)
                .await
                .unwrap();
            approve_and_apply(h, &plan, agent).await
        }
    };
    let web = || object(&h, "Deployment", Some("shop"), "web");

    // pause / restore: replicas, recorded on the workload.
    run(contain("INC-000001", "pause", "deployment/web", Some("shop"))).await;
    let d = web().await.unwrap();
    assert_eq!(
        (&d["spec"]["replicas"], &d["status"]["readyReplicas"]),
        (&json!(0), &json!(0))
    );
    assert_eq!(d["metadata"]["annotations"]["incident-mcp/paused-replicas"], "3");
    let restore = h
        .svc
        .propose_recover(
            &recover("INC-000001", "restore", Some("deployment/web"), Some("shop")),
            agent,
        )
        .await
        .unwrap();
    assert_simulated(&restore);
    approve_and_apply(&h, &restore, agent).await;
    let d = web().await.unwrap();
    assert_eq!(
        (&d["spec"]["replicas"], &d["status"]["readyReplicas"]),
        (&json!(3), &json!(3))
    );
    assert!(
        d["metadata"]["annotations"]
            .get("incident-mcp/paused-replicas")
            .is_none()
    );

    // cordon and its revert.
    let c = run(contain("INC-000001", "cordon", "node-a", None)).await;
    assert_eq!((c.blast_radius.nodes, c.blast_radius.pods), (1, 3));
    assert_eq!(
        object(&h, "Node", None, "node-a").await.unwrap()["spec"]["unschedulable"],
        true
    );
    undo("INC-000001").await;
    assert_eq!(
        object(&h, "Node", None, "node-a").await.unwrap()["spec"]["unschedulable"],
        false
    );

    // block the brute-forcing address for the bastion's pods, and unblock it.
    let b = run(contain("INC-000002", "block", "203.0.113.9", Some("bastion"))).await;
    assert_eq!(b.blast_radius.pods, 2);
    let view = h.svc.sandbox_view(&Env::parse("dev").unwrap()).await.unwrap();
    let np = view
        .objects
        .into_iter()
        .find(|o| o.kind == "NetworkPolicy")
        .expect("the block's policy");
    assert_eq!(np.namespace.as_deref(), Some("bastion"));
    let np = np.object;
    assert_eq!(
        np["spec"]["ingress"][0]["from"][0]["ipBlock"]["except"],
        json!(["203.0.113.9/32"])
    );
    undo("INC-000002").await;
    let view = h.svc.sandbox_view(&Env::parse("dev").unwrap()).await.unwrap();
    assert!(!view.objects.iter().any(|o| o.kind == "NetworkPolicy"));

    // delete-pod: a StatefulSet's pod comes back under its name, a Deployment's under a new one.
    let old = object(&h, "Pod", Some("bastion"), "bastion-1").await.unwrap();
    let d = run(contain("INC-000002", "delete-pod", "bastion-1", Some("bastion"))).await;
    assert!(d.inverse.is_empty(), "deleting a pod has no inverse");
    let new = object(&h, "Pod", Some("bastion"), "bastion-1").await.unwrap();
    assert_ne!(new["metadata"]["uid"], old["metadata"]["uid"]);
    run(contain("INC-000001", "delete-pod", "web-2", Some("shop"))).await;
    assert!(object(&h, "Pod", Some("shop"), "web-2").await.is_none());
    let view = h.svc.sandbox_view(&Env::parse("dev").unwrap()).await.unwrap();
    assert!(
        view.objects
            .iter()
            .any(|o| o.kind == "Pod" && o.name.starts_with("web-7c9d6f5b8-")),
        "the ReplicaSet replaced web-2"
    );

    // rollback to the previous revision's template; the Deployment gets a new revision.
    let r = h
        .svc
        .propose_recover(
            &recover("INC-000001", "rollback", Some("deployment/web"), Some("shop")),
            agent,
        )
        .await
        .unwrap();
    assert_simulated(&r);
    assert_eq!(
        serde_json::to_value(&r.changes[0]).unwrap()["resource_version"],
        json!(web().await.unwrap()["metadata"]["resourceVersion"])
    );
    approve_and_apply(&h, &r, agent).await;
    let d = web().await.unwrap();
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "registry.example/shop/web:1.4.1"
    );
    assert_eq!(d["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "3");
    let rs = object(&h, "ReplicaSet", Some("shop"), "web-5d8c7b9f4").await.unwrap();
    assert_eq!(
        (
            &rs["spec"]["replicas"],
            &rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        ),
        (&json!(3), &json!("3"))
    );
    // The recovery was verified healthy (no rollback of it).
    assert!(!audit(&h).await.iter().any(|e| e.payload["status"] == "verify_failed"));
}

#[tokio::test]
async fn a_target_changed_since_planning_is_refused_and_its_approval_kept() {
    let h = sandbox_harness().await;
    let first = h
        .svc
        .propose_contain(&contain("INC-000001", "isolate", "web-1", Some("shop")), "mcp:one")
        .await
        .unwrap();
    let second = h
        .svc
        .propose_contain(&contain("INC-000001", "isolate", "web-1", Some("shop")), "mcp:two")
        .await
        .unwrap();
    assert_eq!(first.target, second.target);
    h.svc.approve_plan(&first.plan_id, "human:alice", 300).await.unwrap();
    approve_and_apply(&h, &second, "mcp:two").await;
    let e = h.svc.apply_plan(&first.plan_id, "mcp:one").await.unwrap_err();
    assert!(e.to_string().contains("target changed since planning"), "{e}");
    let approval = h.store.latest_approval(&first.plan_id).await.unwrap().unwrap();
    assert!(
        approval.used_at.is_none(),
        "a refusal before the approval is spent keeps it"
    );
}

#[tokio::test]
async fn unknown_targets_and_wrong_shapes_are_refused_clearly_and_change_nothing() {
    let h = sandbox_harness().await;
    for (req, want) in [
        (
            contain("INC-000001", "isolate", "web-9", Some("shop")),
            "Pod shop/web-9 (simulated) not found",
        ),
        (
            contain("INC-000001", "pause", "web", Some("shop")),
            "needs deployment/NAME",
        ),
        (
            contain("INC-000001", "cordon", "node-z", None),
            "Node node-z (simulated) not found",
        ),
        // node-b runs 4 pods; the dev policy allows 3 per action.
        (contain("INC-000001", "cordon", "node-b", None), "touches 4 pods"),
    ] {
        let e = h.svc.propose_contain(&req, "mcp:agent").await.unwrap_err();
        assert!(e.to_string().contains(want), "{want}: {e}");
    }
    assert!(h.store.recent_plans(None, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn the_sandbox_rechecks_policy_before_writing_anything() {
    let h = sandbox_harness().await;
    let store: Arc<dyn SandboxStore> = h.store.clone();
    let b = SandboxBackend::new("dev", store);
    let label = |ns: &str, pod: &str| Change::Sandbox {
        simulated: true,
        verb: KubeVerb::Patch,
        kind: "Pod".into(),
        namespace: Some(ns.into()),
        name: pod.into(),
        body: Some(json!({"metadata": {"labels": {"x": "y"}}})),
        resource_version: None,
    };
    let dev = Config::builtin().environments["dev"].policy.clone();
    let before = object(&h, "Pod", Some("shop"), "web-7").await.unwrap();
    for (policy, changes) in [
        (Policy::default(), vec![label("shop", "web-7")]),
        (
            dev.clone(),
            vec![label("shop", "web-7"), label("kube-system", "coredns")],
        ),
        (dev, vec![label("payments", "api-1")]),
    ] {
        let e = b.apply("dev", &policy, &changes).await.unwrap_err();
        assert!(matches!(e, BackendError::Refused(_)), "{e}");
    }
    assert_eq!(
        object(&h, "Pod", Some("shop"), "web-7").await.unwrap(),
        before,
        "nothing was written"
    );
    // A change of another backend is not the sandbox's.
    let script = Change::Script {
        script: "x".into(),
        sha256: "0".repeat(64),
        argv: vec![],
    };
    let e = b
        .apply("dev", &Config::builtin().environments["dev"].policy, &[script])
        .await
        .unwrap_err();
    assert!(matches!(e, BackendError::Invalid(_)), "{e}");
}

#[test]
fn the_cli_shows_the_simulated_cluster_labelled_simulated() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("incidents.db");
    let run = |args: &[&str]| {
        std::process::Command::new(bin())
            .arg("--db")
            .arg(&db)
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["sandbox", "--env", "dev", "--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["simulated"], true);
    let objects = v["objects"].as_array().unwrap();
    assert!(
        objects
            .iter()
            .all(|o| o["simulated"] == true
                && o["object"]["metadata"]["annotations"]["incident-mcp/simulated"] == "true")
    );
    for (kind, name) in [
        ("Pod", "web-7"),
        ("Pod", "bastion-1"),
        ("Deployment", "web"),
        ("Node", "node-a"),
    ] {
        assert!(
            objects.iter().any(|o| o["kind"] == kind && o["name"] == name),
            "{kind} {name}"
        );
    }
    let table = run(&["sandbox", "--format", "table"]);
    assert!(String::from_utf8_lossy(&table.stdout).contains("simulated cluster of env dev"));
    let bad = run(&["sandbox", "--env", "prod"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("prod"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
