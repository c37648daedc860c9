//! Plans over REST, end to end: the agent proposes a containment (202), cannot apply it before a
//! human approves, cannot approve it with its own key (403, audited), a human approves with their
//! own approver key (`[[approvers]]`), and the agent applies it exactly once.

use crate::common;
use crate::recording_backend;
use crate::respond;

use common::{Harness, HttpServer, secret};
use incident_mcp::mcp::ToolPolicy;
use reqwest::StatusCode;
use respond::{POLICY, audit, backends, config, detect, refusals};
use secrecy::SecretString;
use serde_json::{Value, json};

const ALICE_ENV: &str = "INCIDENT_MCP_TEST_APPROVER_ALICE";

struct Api {
    h: Harness,
    server: HttpServer,
    http: reqwest::Client,
    backend: std::sync::Arc<recording_backend::RecordingBackend>,
}

impl Api {
    async fn start() -> Self {
        // SAFETY: set before any thread of this test reads the environment.
        unsafe { std::env::set_var(ALICE_ENV, secret("approver-alice")) };
        let mut cfg = config(&format!(
            "{POLICY}\n[[approvers]]\nname = \"alice\"\nkey_env = \"{ALICE_ENV}\"\n"
        ));
        cfg.api_key = Some(SecretString::from(secret("agent-key")));
        let mut h = Harness::with_config(cfg).await;
        let backend = recording_backend::RecordingBackend::new();
        h.svc = h.svc.clone().with_backends(backends(&backend));
        detect(&h).await;
        let server = h.http_server(ToolPolicy::default()).await;
        Self {
            h,
            server,
            http: reqwest::Client::new(),
            backend,
        }
    }

    /// Sends with `key` as the bearer (none when `None`); returns status, body, WWW-Authenticate.
    async fn call(&self, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.server.base());
        let mut rb = self.http.request(method.parse().unwrap(), url);
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let challenge = resp.headers().get("www-authenticate").is_some();
        let text = resp.text().await.unwrap();
        let mut v: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if challenge {
            v["www_authenticate"] = json!(true);
        }
        (status, v)
    }
}

/// The plan ids of a plan list, in its order.
fn plan_ids(v: &Value) -> Vec<String> {
    v["plans"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["plan_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_agent_proposes_a_human_approves_with_their_own_key_and_the_agent_applies_once() {
    let api = Api::start().await;
    let (agent, alice) = (secret("agent-key"), secret("approver-alice"));
    let body = json!({"action": "isolate", "resource": "web-1", "namespace": "shop"});
    let (status, plan) = api
        .call("PUT", "/api/incident/contain/INC-000001", Some(&agent), Some(body))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{plan}");
    let id = plan["plan_id"].as_str().unwrap().to_owned();
    let next = plan["next_step"].as_str().unwrap();
    assert!(
        next.contains(&format!("POST /api/plans/{id}/approve"))
            && next.contains(&format!("POST /api/plans/{id}/apply")),
        "{next}"
    );
    let apply = format!("/api/plans/{id}/apply");
    let approve = format!("/api/plans/{id}/approve");

    // Not approved yet: applying changes nothing.
    let (status, e) = api.call("POST", &apply, Some(&agent), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e["error"].as_str().unwrap().contains("no approval"), "{e}");

    // The agent's key never approves; the attempt is audited.
    let (status, e) = api.call("POST", &approve, Some(&agent), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert!(e["error"].as_str().unwrap().contains("cannot approve"), "{e}");
    assert!(refusals(&api.h).await.contains(&"agent_cannot_approve".to_owned()));
    // No key, or an unknown one: 401 with the challenge.
    for key in [None, Some("not-a-key")] {
        let (status, e) = api.call("POST", &approve, key, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
        assert_eq!(e["www_authenticate"], true, "{e}");
    }
    // An approver's key acts as that human (human:alice), who cannot apply the agent's plan.
    let (status, e) = api.call("POST", &apply, Some(&alice), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(api.backend.apply_count(), 0, "nothing applied so far");

    // The approver's queue: the plan waits for a human.
    let (status, queue) = api.call("GET", "/api/plans?pending=true", Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{queue}");
    assert_eq!(plan_ids(&queue), std::slice::from_ref(&id));
    assert_eq!(queue["plans"][0]["approval"], Value::Null);
    for bad in [
        "limit=0",
        "limit=201",
        "limit=x",
        "pending=maybe",
        "other=1",
        "before=plan-XYZ",
    ] {
        let (status, e) = api.call("GET", &format!("/api/plans?{bad}"), Some(&alice), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {e}");
    }
    // A well-formed cursor of no plan is not found, as GET /api/plans/{that id} is.
    for path in [
        "/api/plans?before=plan-0000000000000000",
        "/api/plans/plan-0000000000000000",
    ] {
        let (status, e) = api.call("GET", path, Some(&alice), None).await;
        assert_eq!(
            (status, &e["error_code"]),
            (StatusCode::NOT_FOUND, &json!("not_found")),
            "{path}: {e}"
        );
    }
    let (_, e) = api
        .call("GET", "/api/plans?before=plan-0000000000000000", Some(&alice), None)
        .await;
    assert_eq!(e["field"], "before", "{e}");
    assert_eq!(
        e["error"], "before: no plan plan-0000000000000000; pass the next_before of an earlier page",
        "{e}"
    );

    // Alice approves, within the allowed validity.
    let (status, e) = api
        .call("POST", &approve, Some(&alice), Some(json!({"ttl_secs": 99999})))
        .await;
    assert_eq!(
        (status, &e["field"]),
        (StatusCode::BAD_REQUEST, &json!("ttl_secs")),
        "{e}"
    );
    let (status, granted) = api
        .call("POST", &approve, Some(&alice), Some(json!({"ttl_secs": 120})))
        .await;
    assert_eq!(status, StatusCode::OK, "{granted}");
    assert_eq!(
        (&granted["approver"], &granted["principal"], &granted["plan_id"]),
        (&json!("human:alice"), &json!("rest"), &json!(id))
    );

    // Approved: no longer waiting for a human, still listed among all plans.
    let (_, queue) = api.call("GET", "/api/plans?pending=true", Some(&alice), None).await;
    assert!(plan_ids(&queue).is_empty(), "{queue}");
    let (_, all) = api.call("GET", "/api/plans", Some(&agent), None).await;
    assert_eq!(
        (&all["plans"][0]["plan_id"], &all["plans"][0]["approval"]),
        (&json!(id), &json!("valid"))
    );

    // What the approver sees: the plan, who may apply it, the approval, the history.
    let view_path = format!("/api/plans/{id}");
    let (status, view) = api.call("GET", &view_path, Some(&alice), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        (&view["plan"]["status"], &view["principal"], &view["approval"]["state"]),
        (&json!("pending"), &json!("rest"), &json!("valid"))
    );
    assert_eq!(view["plan"]["changes"], plan["changes"], "exactly what was proposed");
    let kinds = |v: &Value| -> Vec<String> {
        v["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kinds(&view).first().map(String::as_str), Some("proposal"));
    assert_eq!(kinds(&view).last().map(String::as_str), Some("approval"));
    let (status, _) = api.call("GET", &view_path, Some("not-a-key"), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The agent applies it, once.
    let (status, done) = api.call("POST", &apply, Some(&agent), None).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "applied", "{done}");
    assert_eq!(api.backend.apply_count(), 1);
    let (status, e) = api.call("POST", &apply, Some(&agent), None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e["error"].as_str().unwrap().contains("already used"), "{e}");
    assert_eq!(api.backend.apply_count(), 1, "applying twice changes the world once");
    let (status, view) = api.call("GET", &view_path, Some(&agent), None).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(
        (&view["plan"]["status"], &view["approval"]["state"]),
        (&json!("applied"), &json!("used"))
    );
    assert!(view["plan"]["outcome"].is_array(), "{view}");
    let k = kinds(&view);
    assert!(
        k.ends_with(&[
            "intent".into(),
            "application".into(),
            "outcome".into(),
            "refusal".into()
        ]),
        "{k:?}"
    );

    let log = audit(&api.h).await;
    let approval = log
        .iter()
        .find(|e| e.kind == "approval")
        .expect("the approval is audited");
    assert_eq!(approval.actor, "human:alice");
    assert!(api.h.svc.audit_verify(&[]).await.unwrap().intact);
}

#[tokio::test]
async fn bad_plan_ids_are_400_naming_the_field_and_change_nothing() {
    let api = Api::start().await;
    let (agent, alice) = (secret("agent-key"), secret("approver-alice"));
    for bad in ["nope", "plan-XYZ", "plan-0123456789ABCDEF", "plan-0123456789abcdef0"] {
        for (path, key) in [
            (format!("/api/plans/{bad}/apply"), &agent),
            (format!("/api/plans/{bad}/approve"), &alice),
        ] {
            let (status, e) = api.call("POST", &path, Some(key), None).await;
            assert_eq!(
                (status, &e["field"]),
                (StatusCode::BAD_REQUEST, &json!("plan_id")),
                "{path}: {e}"
            );
        }
    }
    // Well-formed but unknown: 404 naming the field.
    for (method, path, key) in [
        ("POST", "/approve", &alice),
        ("POST", "/apply", &agent),
        ("GET", "", &alice),
    ] {
        let path = format!("/api/plans/plan-0123456789abcdef{path}");
        let (status, e) = api.call(method, &path, Some(key), None).await;
        assert_eq!((status, &e["field"]), (StatusCode::NOT_FOUND, &json!("plan_id")), "{e}");
        assert!(e["error"].as_str().unwrap().contains("no plan"), "{e}");
    }
    // REST callers are told routes, not MCP tools or CLI commands.
    let (_, e) = api
        .call("POST", "/api/plans/plan-0123456789abcdef/apply", Some(&agent), None)
        .await;
    assert_eq!(
        e["error"],
        "no plan plan-0123456789abcdef; a plan id is what PUT /api/incident/contain/{id} or \
         POST /api/incident/recover/{id} answered"
    );
    let body = json!({"action": "isolate", "resource": "web-1", "namespace": "shop"});
    let (status, e) = api
        .call("PUT", "/api/incident/contain/INC-000999", Some(&agent), Some(body))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{e}");
    assert_eq!(
        e["error"],
        "no incident INC-000999; GET /api/incidents lists existing incidents"
    );
    assert_eq!(api.backend.apply_count(), 0);
}

/// The list pages newest first with `before` = the previous page's `next_before`, and the pending
/// queue looks past approved plans: an old plan still waiting for a human is never left out.
#[tokio::test]
async fn plans_page_by_cursor_and_the_queue_finds_an_old_pending_plan() {
    let api = Api::start().await;
    let agent = secret("agent-key");
    let mut ids = Vec::new();
    for n in 1..=6 {
        let req = serde_json::from_value(respond::contain_args(&format!("web-{n}"), "shop")).unwrap();
        let plan = api.h.svc.propose_contain(&req, "rest").await.unwrap();
        if n > 1 {
            api.h.svc.approve_plan(&plan.plan_id, "human:alice", 300).await.unwrap();
        }
        ids.push(plan.plan_id);
    }

    // Five newer plans are approved; the queue still finds the first one.
    let (status, q) = api
        .call("GET", "/api/plans?pending=true&limit=1", Some(&agent), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{q}");
    assert_eq!(plan_ids(&q), [ids[0].clone()]);
    let next = q["next_before"].as_str().expect("a full page says where to continue");
    let (_, q) = api
        .call(
            "GET",
            &format!("/api/plans?pending=true&before={next}"),
            Some(&agent),
            None,
        )
        .await;
    assert!(plan_ids(&q).is_empty() && q.get("next_before").is_none(), "{q}");

    // All plans, two at a time: each once, newest first, then the end.
    let mut seen = Vec::new();
    let mut path = "/api/plans?limit=2".to_owned();
    loop {
        let (status, page) = api.call("GET", &path, Some(&agent), None).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(plan_ids(&page));
        match page["next_before"].as_str() {
            Some(b) => path = format!("/api/plans?limit=2&before={b}"),
            None => break,
        }
        assert!(seen.len() <= 6, "paging must end: {seen:?}");
    }
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);
}
