//! Approvers are named humans: over REST each uses their own key and acts as `human:NAME`.
//! A human can deny a plan (final, the agent sees `denied` and why), approve and apply it in one
//! step (the audit names both identities), and never approve a plan they proposed themselves.
//! The agent's key does none of this (403, audited).

use crate::common;
use crate::recording_backend;
use crate::respond;

use common::{Harness, HttpServer, secret};
use incident_mcp::mcp::ToolPolicy;
use reqwest::StatusCode;
use respond::{POLICY, audit, backends, config, detect, refusals};
use secrecy::SecretString;
use serde_json::{Value, json};

const ALICE_ENV: &str = "INCIDENT_MCP_TEST_APPROVERS_ALICE";
const BOB_ENV: &str = "INCIDENT_MCP_TEST_APPROVERS_BOB";

struct Api {
    h: Harness,
    server: HttpServer,
    http: reqwest::Client,
    backend: std::sync::Arc<recording_backend::RecordingBackend>,
}

impl Api {
    async fn start() -> Self {
        // SAFETY: set before any thread of this test reads the environment.
        unsafe {
            std::env::set_var(ALICE_ENV, secret("approvers-alice"));
            std::env::set_var(BOB_ENV, secret("approvers-bob"));
        }
        let mut cfg = config(&format!(
            "{POLICY}\n[[approvers]]\nname = \"alice\"\nkey_env = \"{ALICE_ENV}\"\n\
             [[approvers]]\nname = \"bob\"\nkey_env = \"{BOB_ENV}\"\n"
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

    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (StatusCode, Value) {
        let url = format!("{}{path}", self.server.base());
        let mut rb = self.http.request(method.parse().unwrap(), url).bearer_auth(key);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn propose(&self, key: &str, pod: &str) -> String {
        let body = json!({"action": "isolate", "resource": pod, "namespace": "shop"});
        let (status, plan) = self
            .call("PUT", "/api/incident/contain/INC-000001", key, Some(body))
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{plan}");
        plan["plan_id"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn a_denied_plan_is_final_and_the_agent_sees_who_denied_it_and_why() {
    let api = Api::start().await;
    let (agent, alice) = (secret("agent-key"), secret("approvers-alice"));
    let id = api.propose(&agent, "web-1").await;

    // The agent cannot deny (nor approve) in a human's name.
    let (status, e) = api
        .call(
            "POST",
            &format!("/api/plans/{id}/deny"),
            &agent,
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    assert!(refusals(&api.h).await.contains(&"agent_cannot_approve".to_owned()));
    // A reason is required: spaces (as JSON Schema's `\s` counts them) and control characters
    // are none, exactly as the body's schema pattern says.
    for blank in ["  ", "\t", "\u{feff}\u{3000}", "\u{1}\u{85}"] {
        let (status, e) = api
            .call(
                "POST",
                &format!("/api/plans/{id}/deny"),
                &alice,
                Some(json!({ "reason": blank })),
            )
            .await;
        assert_eq!(
            (status, &e["field"]),
            (StatusCode::BAD_REQUEST, &json!("reason")),
            "{blank:?}: {e}"
        );
    }

    let (status, view) = api
        .call(
            "POST",
            &format!("/api/plans/{id}/deny"),
            &alice,
            Some(json!({"reason": "wrong pod: web-2 is the compromised one"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["plan"]["status"], "denied", "{view}");
    assert_eq!(view["denial"]["denied_by"], "human:alice");
    assert_eq!(view["denial"]["reason"], "wrong pod: web-2 is the compromised one");

    // What the agent reads.
    let (_, seen) = api.call("GET", &format!("/api/plans/{id}"), &agent, None).await;
    assert_eq!(seen["plan"]["status"], "denied", "{seen}");
    // Final: no approval, no apply, no second denial; not in the queue.
    let (status, e) = api
        .call("POST", &format!("/api/plans/{id}/approve"), &alice, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e["error"].as_str().unwrap().contains("denied"), "{e}");
    let (status, _) = api
        .call(
            "POST",
            &format!("/api/plans/{id}/deny"),
            &alice,
            Some(json!({"reason": "again"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, e) = api.call("POST", &format!("/api/plans/{id}/apply"), &agent, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    let (_, queue) = api.call("GET", "/api/plans?pending=true", &alice, None).await;
    assert_eq!(queue["plans"], json!([]), "{queue}");
    assert_eq!(api.backend.apply_count(), 0);
    let denial = audit(&api.h).await.into_iter().find(|e| e.kind == "denial").unwrap();
    assert_eq!(denial.actor, "human:alice");
}

#[tokio::test]
async fn a_denial_voids_an_earlier_approval() {
    let api = Api::start().await;
    let (agent, alice, bob) = (secret("agent-key"), secret("approvers-alice"), secret("approvers-bob"));
    let id = api.propose(&agent, "web-1").await;
    let (status, _) = api
        .call("POST", &format!("/api/plans/{id}/approve"), &alice, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call(
            "POST",
            &format!("/api/plans/{id}/deny"),
            &bob,
            Some(json!({"reason": "not now"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, e) = api.call("POST", &format!("/api/plans/{id}/apply"), &agent, None).await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert!(e["error"].as_str().unwrap().contains("human:bob denied"), "{e}");
    assert!(refusals(&api.h).await.contains(&"denied".to_owned()));
    assert_eq!(api.backend.apply_count(), 0);
}

#[tokio::test]
async fn a_human_approves_and_applies_in_one_step_recorded_with_both_identities() {
    let api = Api::start().await;
    let (agent, alice) = (secret("agent-key"), secret("approvers-alice"));
    let id = api.propose(&agent, "web-1").await;
    let path = format!("/api/plans/{id}/approve-and-apply");
    let (status, e) = api.call("POST", &path, &agent, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{e}");
    let (status, done) = api.call("POST", &path, &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["status"], "applied");
    assert_eq!(api.backend.apply_count(), 1);
    let log = audit(&api.h).await;
    let intent = log.iter().find(|e| e.kind == "intent").unwrap();
    assert_eq!(intent.actor, "human:alice");
    assert_eq!(intent.payload["principal"], "rest");
    let approval = log.iter().find(|e| e.kind == "approval").unwrap();
    assert_eq!(approval.actor, "human:alice");
    // The timeline names the human.
    let req = serde_json::from_value(json!({"id": "INC-000001", "depth": 2})).unwrap();
    let detail = api.h.svc.analyze(req).await.unwrap();
    let notes = serde_json::to_string(&detail).unwrap();
    assert!(notes.contains("applied by human:alice"), "{notes}");
    // So does the post-mortem prompt, which carries the timeline.
    let client = api
        .h
        .duplex_client(ToolPolicy::default(), common::Proto::Legacy, respond::PlainClient)
        .await;
    let pm = client
        .get_prompt(
            rmcp::model::GetPromptRequestParams::new("incident-postmortem")
                .with_arguments(common::args(json!({ "incident_id": "INC-000001" }))),
        )
        .await
        .expect("postmortem");
    let text = &pm.messages[0].content.as_text().expect("a text prompt").text;
    assert!(text.contains("human:alice"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn nobody_approves_a_plan_they_proposed_themselves() {
    let api = Api::start().await;
    let (alice, bob) = (secret("approvers-alice"), secret("approvers-bob"));
    // Alice proposes with her own key: the plan is hers.
    let id = api.propose(&alice, "web-1").await;
    let (_, view) = api.call("GET", &format!("/api/plans/{id}"), &alice, None).await;
    assert_eq!(view["principal"], "human:alice", "{view}");
    for path in ["approve", "approve-and-apply"] {
        let (status, e) = api.call("POST", &format!("/api/plans/{id}/{path}"), &alice, None).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {e}");
        assert!(
            e["error"].as_str().unwrap().contains("cannot approve its own plan"),
            "{e}"
        );
    }
    let (status, e) = api
        .call(
            "POST",
            &format!("/api/plans/{id}/deny"),
            &alice,
            Some(json!({"reason": "x"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{e}");
    assert_eq!(api.backend.apply_count(), 0);
    // Bob approves; Alice, the proposer, applies.
    let (status, _) = api.call("POST", &format!("/api/plans/{id}/approve"), &bob, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, done) = api.call("POST", &format!("/api/plans/{id}/apply"), &alice, None).await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(api.backend.apply_count(), 1);
}
