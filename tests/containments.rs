//! Active containments (issue 10, item 7): what is isolated, blocked, paused or cordoned now,
//! through the service, the MCP tool and resource, REST and the real binary; resolving an
//! incident with containments in place is refused naming them, unless the caller keeps them.
//! Real parts: a real SQLite file, the sandbox backend of the built-in config, MCP over duplex,
//! the real HTTP app, the real binary.

use chrono::{TimeDelta, Utc};
use incident_mcp::{
    mcp::ToolPolicy,
    service::{Caller, ContainmentsRequest, RecoverRequest, ResolveRequest, ServiceError},
    store::ports::*,
};
use serde_json::{Value, json};

use crate::{
    common::{Harness, Proto, bin, call, err_text, ok},
    respond::{PlainClient, audit, refusals},
    sandbox::{approve_and_apply, contain, sandbox_harness},
};

/// INC-000001's web-7 isolated for an hour (proposed by `mcp:agent`, approved by alice), then
/// INC-000002's attacker blocked for the bastion (proposed over REST, approved by bob).
async fn two_containments() -> Harness {
    let h = sandbox_harness().await;
    let mut isolate = contain("INC-000001", "isolate", "web-7", Some("shop"));
    isolate.ttl_secs = Some(3600);
    let p = h.svc.propose_contain(&isolate, "mcp:agent").await.unwrap();
    approve_and_apply(&h, &p, "mcp:agent").await;
    let block = contain("INC-000002", "block", "203.0.113.9", Some("bastion"));
    let p = h.svc.propose_contain(&block, "rest").await.unwrap();
    h.svc.approve_plan(&p.plan_id, "human:bob", 300).await.unwrap();
    h.svc.apply_plan(&p.plan_id, "rest").await.unwrap();
    h
}

fn resolve(id: &str, keep: bool) -> ResolveRequest {
    serde_json::from_value(json!({"id": id, "note": "attacker blocked, pod rebuilt", "keep_containments": keep}))
        .unwrap()
}

async fn revert(h: &Harness, id: &str) {
    let r: RecoverRequest = serde_json::from_value(json!({"id": id, "method": "revert"})).unwrap();
    let p = h.svc.propose_recover(&r, "mcp:agent").await.unwrap();
    approve_and_apply(h, &p, "mcp:agent").await;
}

#[tokio::test]
async fn the_list_says_what_is_in_place_since_when_until_when_and_who_approved_it() {
    let h = two_containments().await;
    let all = h.svc.containments(&ContainmentsRequest::default()).await.unwrap();
    assert_eq!(all.count, 2);
    let (block, isolate) = (&all.containments[0], &all.containments[1]);
    assert_eq!(
        (block.action.as_str(), block.target.as_str(), block.namespace.as_deref()),
        ("block", "203.0.113.9", Some("bastion")),
        "newest first"
    );
    assert_eq!(
        (block.proposed_by.as_str(), block.approved_by.as_deref()),
        ("rest", Some("human:bob"))
    );
    assert_eq!((block.ttl_secs, block.expires_at), (None, None));
    assert_eq!(
        (isolate.action.as_str(), isolate.target.as_str(), isolate.env.as_str()),
        ("isolate", "web-7", "dev")
    );
    assert_eq!(isolate.incident_id.unwrap().to_string(), "INC-000001");
    assert_eq!(
        (isolate.proposed_by.as_str(), isolate.approved_by.as_deref()),
        ("mcp:agent", Some("human:alice"))
    );
    assert!(isolate.simulated && block.simulated);
    assert!((Utc::now() - isolate.since) < TimeDelta::minutes(1));
    assert_eq!(isolate.ttl_secs, Some(3600));
    assert_eq!(isolate.expires_at, Some(isolate.since + TimeDelta::seconds(3600)));
    assert!(isolate.undo.contains("--method revert"), "{}", isolate.undo);
    assert!(all.summary.contains("isolate web-7 in shop"), "{}", all.summary);

    let one: ContainmentsRequest = serde_json::from_value(json!({"id": "INC-000002"})).unwrap();
    assert_eq!(
        h.svc.containments(&one).await.unwrap().containments[0].plan_id,
        block.plan_id
    );
    let dev: ContainmentsRequest = serde_json::from_value(json!({"env": "dev"})).unwrap();
    assert_eq!(h.svc.containments(&dev).await.unwrap().count, 2);
    let prod: ContainmentsRequest = serde_json::from_value(json!({"env": "nosuch"})).unwrap();
    assert!(matches!(
        h.svc.containments(&prod).await,
        Err(ServiceError::UnknownEnv { .. })
    ));

    // A deleted pod leaves nothing to undo: not a containment in place.
    let del = contain("INC-000001", "delete-pod", "web-1", Some("shop"));
    let p = h.svc.propose_contain(&del, "mcp:agent").await.unwrap();
    approve_and_apply(&h, &p, "mcp:agent").await;
    assert_eq!(
        h.svc.containments(&ContainmentsRequest::default()).await.unwrap().count,
        2
    );

    // Reverting takes it off the list; the revert reaches past the deleted pod to the isolation.
    revert(&h, "INC-000001").await;
    let left = h.svc.containments(&ContainmentsRequest::default()).await.unwrap();
    assert_eq!(
        left.containments.iter().map(|c| c.action.as_str()).collect::<Vec<_>>(),
        ["block"]
    );
    revert(&h, "INC-000002").await;
    let none = h.svc.containments(&ContainmentsRequest::default()).await.unwrap();
    assert_eq!((none.count, none.summary.as_str()), (0, "no containment is in place"));
}

#[tokio::test]
async fn resolving_with_containments_in_place_is_refused_naming_them_unless_kept() {
    let h = two_containments().await;
    let e = h
        .svc
        .resolve(resolve("INC-000001", false), Caller::CLI)
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, ServiceError::Conflict(_)), "{e}");
    assert!(
        text.contains("isolate web-7 in shop (plan-") && text.contains("keep_containments"),
        "{text}"
    );
    assert!(
        !text.contains("203.0.113.9"),
        "only this incident's containments: {text}"
    );
    assert_eq!(refusals(&h).await, ["active_containments"]);
    let get = |id: &str| h.svc.get(serde_json::from_value(json!({"id": id})).unwrap());
    assert_eq!(
        get("INC-000001").await.unwrap().incident.status.to_string(),
        "contained"
    );

    // Kept on purpose: resolved, and the timeline says what stays in place.
    let r = h.svc.resolve(resolve("INC-000002", true), Caller::CLI).await.unwrap();
    assert_eq!(r.incident.status.to_string(), "resolved");
    let timeline = h.store.timeline("INC-000002".parse().unwrap()).await.unwrap();
    let last = timeline.last().unwrap();
    assert!(
        last.message
            .contains("resolved keeping 1 containment(s) in place: block 203.0.113.9 in bastion"),
        "{}",
        last.message
    );
    // Resolving again changes nothing and is not refused.
    let again = h.svc.resolve(resolve("INC-000002", false), Caller::CLI).await.unwrap();
    assert!(!again.changed);
    assert_eq!(
        h.svc.containments(&ContainmentsRequest::default()).await.unwrap().count,
        2
    );

    // After the revert nothing stands in the way.
    revert(&h, "INC-000001").await;
    let done = h.svc.resolve(resolve("INC-000001", false), Caller::CLI).await.unwrap();
    assert_eq!(done.incident.status.to_string(), "resolved");
    assert_eq!(refusals(&h).await.len(), 1);
    assert!(
        audit(&h)
            .await
            .iter()
            .any(|e| e.kind == "refusal" && e.payload["containments"].is_array())
    );
}

#[tokio::test]
async fn mcp_has_a_read_only_tool_and_a_resource_and_resolve_takes_keep_containments() {
    let h = two_containments().await;
    let client = h.duplex_client(ToolPolicy::default(), Proto::Legacy, PlainClient).await;
    let tools = client.list_all_tools().await.unwrap();
    let t = tools
        .iter()
        .find(|t| t.name == "incident_containments")
        .expect("listed");
    let a = t.annotations.as_ref().unwrap();
    assert_eq!(
        (
            a.read_only_hint,
            a.destructive_hint,
            a.idempotent_hint,
            a.open_world_hint
        ),
        (Some(true), Some(false), Some(true), Some(false))
    );
    let listed = ok(&call(&client, "incident_containments", json!({"env": "dev"})).await);
    assert_eq!(listed["count"], 2);
    assert_eq!(listed["containments"][1]["approved_by"], "human:alice");
    assert_eq!(listed["containments"][1]["simulated"], true);
    let bad = err_text(&call(&client, "incident_containments", json!({"env": "Prod!"})).await);
    assert!(bad.contains("env"), "{bad}");

    let read = client
        .read_resource(rmcp::model::ReadResourceRequestParams::new("incident://containments"))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["count"], 2);

    let refused = err_text(&call(&client, "incident_resolve", json!({"id": "INC-000001", "note": "done"})).await);
    assert!(refused.contains("isolate web-7 in shop"), "{refused}");
    let kept = ok(&call(
        &client,
        "incident_resolve",
        json!({"id": "INC-000001", "note": "done", "keep_containments": true}),
    )
    .await);
    assert_eq!(kept["incident"]["status"], "resolved");

    // A read-only server still lists what is contained.
    let ro = h
        .duplex_client(
            ToolPolicy {
                read_only: true,
                disable_destructive: false,
            },
            Proto::Legacy,
            PlainClient,
        )
        .await;
    assert_eq!(ok(&call(&ro, "incident_containments", json!({})).await)["count"], 2);
}

#[tokio::test]
async fn rest_lists_containments_and_refuses_resolve_with_409_unless_kept() {
    let h = two_containments().await;
    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    let get = |q: &str| http.get(format!("{}/api/containments{q}", server.base())).send();
    let r = get("?env=dev").await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["count"], 2);
    assert_eq!(
        get("?id=INC-000002").await.unwrap().json::<Value>().await.unwrap()["count"],
        1
    );
    assert_eq!(get("?env=Bad!").await.unwrap().status(), 400);
    assert_eq!(get("?bogus=1").await.unwrap().status(), 400);

    let resolve = |body: Value| {
        http.post(format!("{}/api/incident/resolve/INC-000002", server.base()))
            .json(&body)
            .send()
    };
    let r = resolve(json!({"note": "blocked"})).await.unwrap();
    assert_eq!(r.status(), 409);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"].as_str().unwrap().contains("block 203.0.113.9 in bastion"),
        "{e}"
    );
    let r = resolve(json!({"note": "blocked", "keep_containments": true}))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn the_cli_lists_containments_and_resolves_only_with_keep_containments() {
    let h = two_containments().await;
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin())
            .arg("--db")
            .arg(&h.db)
            .args(args)
            .output()
            .unwrap();
        let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
    };
    let (code, out, err) = run(&["containments", "--format", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["count"], 2);
    let (_, table, _) = run(&["containments", "--env", "dev", "--format", "table"]);
    assert!(
        table.contains("APPROVED BY") && table.contains("human:alice") && table.contains("web-7"),
        "{table}"
    );
    let (code, _, err) = run(&["containments", "--id", "bogus"]);
    assert_eq!(code, 1, "{err}");

    let (code, _, err) = run(&["resolve", "--id", "INC-000001", "--note", "done"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("isolate web-7 in shop") && err.contains("--keep-containments"),
        "{err}"
    );
    let (code, out, err) = run(&[
        "resolve",
        "--id",
        "INC-000001",
        "--note",
        "done",
        "--keep-containments",
        "--format",
        "json",
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"resolved\""), "{out}");
}

/// What `resource`'s schema admits, the service plans or refuses as a conflict naming why: a
/// target that does not fit the action is refused (audited, nothing planned), a bare IPv6
/// address and a CIDR written with host bits plan a block of the network the approver reads.
#[tokio::test]
async fn a_target_that_does_not_fit_the_action_is_refused_naming_the_action_that_fits() {
    let h = sandbox_harness().await;
    for (action, resource, why) in [
        (
            "isolate",
            "deployment/web",
            "isolate does not act on a deployment: pause it",
        ),
        ("cordon", "10.0.0.0/8", "cordon does not act on an address: block it"),
        ("block", "web-7", "block acts on an IP address or CIDR, not on a name"),
    ] {
        let req = contain("INC-000001", action, resource, Some("shop"));
        match h.svc.propose_contain(&req, "mcp:agent").await {
            Err(ServiceError::Conflict(m)) => {
                assert!(m.contains(why) && m.ends_with("nothing was changed"), "{m}")
            }
            other => panic!("{action} {resource}: {other:?}"),
        }
    }
    assert_eq!(refusals(&h).await, ["target_mismatch"; 3], "every refusal is audited");
    let req = contain("INC-000001", "block", "2001:db8::7", Some("bastion"));
    match h.svc.propose_contain(&req, "mcp:agent").await {
        Err(ServiceError::Conflict(m)) => assert!(
            m.contains("2001:db8::7 matches no resource pattern allowed in env dev"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // The policy judges a network by its canonical form: the sandbox allows `203.0.113.*`.
    let req = contain("INC-000001", "block", "203.0.113.77/28", Some("bastion"));
    let p = h.svc.propose_contain(&req, "mcp:agent").await.unwrap();
    let plan = serde_json::to_string(&p.changes).unwrap();
    assert!(plan.contains("203.0.113.64/28"), "{plan}");
    approve_and_apply(&h, &p, "mcp:agent").await;
    // Undoing it is judged by the same name: the revert plans.
    let r: RecoverRequest = serde_json::from_value(json!({"id": "INC-000001", "method": "revert"})).unwrap();
    let undo = h.svc.propose_recover(&r, "mcp:agent").await.unwrap();
    assert!(
        serde_json::to_string(&undo.changes).unwrap().contains("delete"),
        "{undo:?}"
    );
    assert_eq!(undo.target, "203.0.113.64/28");
    // A second block where the first one's policy would widen it is a conflict with the
    // cluster's state (409), not a malformed request.
    let again = contain("INC-000001", "block", "203.0.113.9", Some("bastion"));
    match h.svc.propose_contain(&again, "mcp:agent").await {
        Err(ServiceError::Conflict(m)) => assert!(m.contains("would widen what it allows"), "{m}"),
        other => panic!("{other:?}"),
    }
}

/// Over REST, what the body's schema admits is never a 400: a scope that contradicts the
/// action, and a target the action does not act on, are 409 refusals naming both; a field the
/// schema refuses is still a 400 naming it.
#[tokio::test]
async fn rest_answers_contradicting_but_well_formed_bodies_with_409() {
    let h = sandbox_harness().await;
    let server = h.http_server(ToolPolicy::default()).await;
    let http = reqwest::Client::new();
    let contain = |body: Value| {
        http.put(format!("{}/api/incident/contain/INC-000001", server.base()))
            .json(&body)
            .send()
    };
    for (body, says) in [
        (
            json!({"action": "block", "scope": "cluster"}),
            "scope cluster does not fit action block",
        ),
        (
            json!({"action": "isolate", "resource": "deploy/web", "namespace": "shop"}),
            "isolate does not act on a deployment",
        ),
    ] {
        let r = contain(body.clone()).await.unwrap();
        assert_eq!(r.status(), 409, "{body}");
        let e: Value = r.json().await.unwrap();
        assert!(e["error"].as_str().unwrap().contains(says), "{e}");
    }
    let r = contain(json!({"action": "isolate", "resource": "54/msy93.0.o-jp"}))
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["field"], "resource", "{e}");
}
