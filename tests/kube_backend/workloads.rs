//! Workload, node and pod-deletion actions of tests/kube_backend.rs.

use incident_mcp::{
    cluster::{Backend, BackendError, Change, KubeVerb, PatchKind},
    domain::policy::Action,
};
use serde_json::json;

use super::fixtures::*;

#[tokio::test]
async fn pause_scales_to_zero_once_and_restore_brings_the_recorded_replicas_back() {
    let (f, b) = setup().await;
    let rv = f.get(DEPLOY).unwrap()["metadata"]["resourceVersion"].clone();
    let p = plan_ok(&f, &b, &spec(Action::Pause, Some("shop"), "deployment/web")).await;
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        [
            format!("GET {DEPLOY}?"),
            format!("PATCH {DEPLOY}?dryRun=All&fieldManager=incident-mcp")
        ]
    );
    assert_eq!(reqs[1].content_type.as_deref(), Some("application/merge-patch+json"));
    let change = json!({ "metadata": { "resourceVersion": rv,
        "annotations": { "incident-mcp/paused-replicas": "3", "incident-mcp/paused-by": "inc-42" } },
        "spec": { "replicas": 0 } });
    assert_eq!(reqs[1].body, change);
    assert_eq!(body(&p.changes[0]), &change);
    assert_eq!((p.blast_radius.pods, p.healthy_replicas_after), (3, Some(0)));
    assert_eq!(f.get(DEPLOY).unwrap()["spec"]["replicas"], 3);

    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply");
    assert_eq!(outcomes(&out), ["applied"]);
    let paused = f.get(DEPLOY).unwrap();
    assert_eq!(paused["spec"]["replicas"], 0);
    assert_eq!(paused["metadata"]["annotations"]["incident-mcp/paused-replicas"], "3");
    // Twice: the precondition now fails (409), the object already holds the patch: applied.
    f.take_requests();
    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply again");
    assert_eq!(outcomes(&out), ["already-applied"]);
    assert_eq!(
        calls(&f.take_requests()),
        [
            format!("PATCH {DEPLOY}?fieldManager=incident-mcp"),
            format!("GET {DEPLOY}?")
        ]
    );
    assert_eq!(f.get(DEPLOY).unwrap(), paused);

    let r = plan_ok(&f, &b, &spec(Action::Restore, Some("shop"), "deployment/web")).await;
    assert_no_mutation(&f.take_requests());
    assert_eq!(r.blast_radius.pods, 3);
    b.apply("prod", &policy(), &r.changes).await.expect("restore");
    let restored = f.get(DEPLOY).unwrap();
    assert_eq!(restored["spec"]["replicas"], 3);
    assert_eq!(
        restored["metadata"]["annotations"],
        json!({ "deployment.kubernetes.io/revision": "2" })
    );
    // Restore's inverse pauses again.
    b.apply("prod", &policy(), &r.inverse).await.expect("restore inverse");
    assert_eq!(f.get(DEPLOY).unwrap()["spec"]["replicas"], 0);
}

#[tokio::test]
async fn pause_of_a_statefulset_is_undone_by_its_inverse() {
    let (f, b) = setup().await;
    let sts = "/apis/apps/v1/namespaces/shop/statefulsets/db";
    let before = f.get(sts).unwrap();
    let p = plan_ok(&f, &b, &spec(Action::Pause, Some("shop"), "statefulset/db")).await;
    assert_no_mutation(&f.take_requests());
    assert_eq!(p.blast_radius.workloads, ["statefulset/db"]);
    b.apply("prod", &policy(), &p.changes).await.expect("apply");
    assert_eq!(f.get(sts).unwrap()["spec"]["replicas"], 0);
    b.apply("prod", &policy(), &p.inverse).await.expect("inverse");
    let after = f.get(sts).unwrap();
    assert_eq!(after["spec"], before["spec"]);
    assert_eq!(
        after["metadata"].get("annotations"),
        None,
        "empty annotations are dropped, as the API does"
    );
}

#[tokio::test]
async fn a_target_changed_since_planning_is_refused_as_changed() {
    let (f, b) = setup().await;
    let p = plan_ok(&f, &b, &spec(Action::Pause, Some("shop"), "deployment/web")).await;
    f.modify(DEPLOY, &json!({ "spec": { "replicas": 5 } }));
    let now = b.current_versions(&p.targets).await.expect("versions");
    assert_ne!(now, p.targets);
    assert_eq!(
        now[0].resource_version,
        f.get(DEPLOY).unwrap()["metadata"]["resourceVersion"].as_str().unwrap()
    );
    let err = b.apply("prod", &policy(), &p.changes).await.unwrap_err();
    assert!(matches!(err, BackendError::Changed { .. }), "{err}");
    assert_eq!(f.get(DEPLOY).unwrap()["spec"]["replicas"], 5);

    let d = plan_ok(&f, &b, &spec(Action::DeletePod, Some("shop"), "web-bbb-2")).await;
    let pod = "/api/v1/namespaces/shop/pods/web-bbb-2";
    f.modify(pod, &json!({ "metadata": { "labels": { "touched": "yes" } } }));
    let err = b.apply("prod", &policy(), &d.changes).await.unwrap_err();
    assert!(matches!(err, BackendError::Changed { .. }), "{err}");
    assert!(f.get(pod).is_some());
}

#[tokio::test]
async fn delete_pod_dry_runs_with_preconditions_and_deletes_once() {
    let (f, b) = setup().await;
    // A pod that is not ready takes no healthy replica away.
    let unready = "/api/v1/namespaces/shop/pods/web-bbb-2";
    f.modify(
        unready,
        &json!({ "status": { "conditions": [{ "type": "Ready", "status": "False" }] } }),
    );
    let p2 = plan_ok(&f, &b, &spec(Action::DeletePod, Some("shop"), "web-bbb-2")).await;
    assert_eq!(p2.healthy_replicas_after, Some(3));
    let rv = f.get(POD).unwrap()["metadata"]["resourceVersion"].clone();
    let p = plan_ok(&f, &b, &spec(Action::DeletePod, Some("shop"), "web-bbb-1")).await;
    let reqs = f.take_requests();
    assert_no_mutation(&reqs);
    let del = reqs.last().unwrap();
    assert_eq!((del.method.as_str(), del.path.as_str()), ("DELETE", POD));
    assert_eq!(
        del.body,
        json!({ "dryRun": ["All"], "preconditions": { "resourceVersion": rv } })
    );
    assert!(p.inverse.is_empty(), "deleting a pod is not reversible");
    assert_eq!(p.healthy_replicas_after, Some(2));
    assert!(f.get(POD).is_some());
    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply");
    assert_eq!(outcomes(&out), ["applied"]);
    assert_eq!(
        f.take_requests().last().unwrap().body,
        json!({ "preconditions": { "resourceVersion": rv } })
    );
    assert!(f.get(POD).is_none());
    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply again");
    assert_eq!(outcomes(&out), ["already-absent"]);
}

#[tokio::test]
async fn cordon_counts_the_nodes_pods_and_its_inverse_uncordons() {
    let (f, b) = setup().await;
    let p = plan_ok(&f, &b, &spec(Action::Cordon, None, "node-a")).await;
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        [
            format!("GET {NODE}?"),
            "GET /api/v1/pods?fieldSelector=spec.nodeName=node-a".into(),
            format!("PATCH {NODE}?dryRun=All&fieldManager=incident-mcp"),
        ]
    );
    assert_eq!(reqs[2].content_type.as_deref(), Some("application/merge-patch+json"));
    assert_eq!(reqs[2].body, json!({ "spec": { "unschedulable": true } }));
    assert_eq!((p.blast_radius.pods, p.blast_radius.nodes), (3, 1));
    assert_eq!(p.blast_radius.namespaces, ["shop"]);
    assert_eq!(f.get(NODE).unwrap()["spec"].get("unschedulable"), None);
    b.apply("prod", &policy(), &p.changes).await.expect("apply");
    let cordoned = f.get(NODE).unwrap();
    assert_eq!(cordoned["spec"]["unschedulable"], true);
    b.apply("prod", &policy(), &p.changes).await.expect("apply again");
    assert_eq!(f.get(NODE).unwrap(), cordoned, "a repeated cordon changed the node");
    b.apply("prod", &policy(), &p.inverse).await.expect("uncordon");
    assert_eq!(f.get(NODE).unwrap()["spec"]["unschedulable"], false);
}

#[tokio::test]
async fn server_side_apply_changes_are_sent_as_apply_patches() {
    let (f, b) = setup().await;
    let c = Change::Kube {
        verb: KubeVerb::Patch,
        api_version: "v1".into(),
        kind: "Pod".into(),
        namespace: Some("shop".into()),
        name: "web-bbb-3".into(),
        patch: Some(PatchKind::Apply),
        body: Some(json!({ "apiVersion": "v1", "kind": "Pod",
            "metadata": { "name": "web-bbb-3", "namespace": "shop", "annotations": { "incident-mcp/note": "x" } } })),
        resource_version: None,
    };
    f.take_requests();
    b.apply("prod", &policy(), std::slice::from_ref(&c))
        .await
        .expect("apply");
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        ["PATCH /api/v1/namespaces/shop/pods/web-bbb-3?fieldManager=incident-mcp"]
    );
    assert_eq!(reqs[0].content_type.as_deref(), Some("application/apply-patch+yaml"));
    assert_eq!(reqs[0].body, *body(&c));
    assert_eq!(
        f.get("/api/v1/namespaces/shop/pods/web-bbb-3").unwrap()["metadata"]["annotations"]["incident-mcp/note"],
        "x"
    );
}

#[tokio::test]
async fn rollback_patches_the_previous_revisions_template_and_its_inverse_restores_it() {
    let (f, b) = setup().await;
    let before = f.get(DEPLOY).unwrap();
    let p = plan_ok(&f, &b, &spec(Action::Rollback, Some("shop"), "deployment/web")).await;
    let reqs = f.take_requests();
    assert_eq!(
        calls(&reqs),
        [
            format!("GET {DEPLOY}?"),
            "GET /apis/apps/v1/namespaces/shop/replicasets?labelSelector=app=web".into(),
            format!("PATCH {DEPLOY}?dryRun=All&fieldManager=incident-mcp"),
        ]
    );
    assert_eq!(reqs[2].content_type.as_deref(), Some("application/merge-patch+json"));
    assert_eq!(
        reqs[2].body,
        json!({ "metadata": { "resourceVersion": before["metadata"]["resourceVersion"] },
        "spec": { "template": { "spec": { "containers": [{ "name": "app", "image": "web:1", "resources": {} }] } } } })
    );
    assert_eq!(f.get(DEPLOY).unwrap(), before);
    b.apply("prod", &policy(), &p.changes).await.expect("apply");
    assert_eq!(f.get(DEPLOY).unwrap()["spec"]["template"], template("web:1", None));
    let out = b.apply("prod", &policy(), &p.changes).await.expect("apply again");
    assert_eq!(outcomes(&out), ["already-applied"]);
    b.apply("prod", &policy(), &p.inverse).await.expect("inverse");
    assert_eq!(f.get(DEPLOY).unwrap()["spec"], before["spec"]);
}

/// "Pause a pod" / "roll back a pod" (the OpenClaw manifest's `contain --resource pod-123
/// --action pause`): a bare pod name stands for the workload that owns it, found through the
/// pod's and its ReplicaSet's controller references; the plan is the workload's.
#[tokio::test]
async fn a_pod_stands_for_the_workload_that_owns_it() {
    let (f, b) = setup().await;
    let by_pod = plan_ok(&f, &b, &spec(Action::Pause, Some("shop"), "web-bbb-2")).await;
    assert_eq!(
        calls(&f.take_requests())[..3],
        [
            "GET /api/v1/namespaces/shop/pods/web-bbb-2?".to_owned(),
            "GET /apis/apps/v1/namespaces/shop/replicasets/web-bbb?".to_owned(),
            format!("GET {DEPLOY}?"),
        ]
    );
    let by_name = plan_ok(&f, &b, &spec(Action::Pause, Some("shop"), "deployment/web")).await;
    assert_eq!((&by_pod.changes, &by_pod.targets), (&by_name.changes, &by_name.targets));
    assert_eq!(by_pod.blast_radius.workloads, ["deployment/web"]);
    let rollback = plan_ok(&f, &b, &spec(Action::Rollback, Some("shop"), "web-bbb-1")).await;
    assert_eq!(rollback.blast_radius.workloads, ["deployment/web"]);
    // A pod without a controller has no workload to act on.
    f.put(json!({ "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "lonely", "namespace": "shop", "labels": { "app": "x" } },
        "spec": { "nodeName": "node-a", "containers": [{ "name": "app", "image": "x:1" }] } }));
    let e = b.plan(&spec(Action::Pause, Some("shop"), "lonely")).await.unwrap_err();
    assert!(
        matches!(&e, BackendError::Invalid(m) if m.contains("belongs to no Deployment or StatefulSet")),
        "{e:?}"
    );
    assert_no_mutation(&f.take_requests());
}

/// `--backup latest` is resolved by the backend: restore's only backup is the replicas pause
/// recorded, rollback's are revisions. A named snapshot is refused, naming what is accepted.
#[tokio::test]
async fn backups_are_what_the_backend_knows() {
    let (f, b) = setup().await;
    let with = |action, backup: &str| {
        let mut s = spec(action, Some("shop"), "deployment/web");
        s.params.insert("backup_id".into(), backup.into());
        s
    };
    let latest = plan_ok(&f, &b, &with(Action::Rollback, "latest")).await;
    let previous = plan_ok(&f, &b, &spec(Action::Rollback, Some("shop"), "deployment/web")).await;
    assert_eq!(latest.changes, previous.changes);
    for (action, backup, needle) in [
        (Action::Rollback, "snapshot-abc", "rollback takes a revision number"),
        (Action::Restore, "snapshot-456", "there is no backup `snapshot-456`"),
    ] {
        let e = b.plan(&with(action, backup)).await.unwrap_err();
        assert!(matches!(&e, BackendError::Invalid(m) if m.contains(needle)), "{e:?}");
    }
    // Pause, then restore `latest`: the recorded replicas.
    let p = plan_ok(&f, &b, &spec(Action::Pause, Some("shop"), "deployment/web")).await;
    b.apply("prod", &policy(), &p.changes).await.expect("pause");
    let r = plan_ok(&f, &b, &with(Action::Restore, "latest")).await;
    assert_eq!(body(&r.changes[0])["spec"]["replicas"], 3);
}
