//! Slack buttons: the `approval` message carries Approve / Deny / Open page, and a press comes
//! back to `POST /api/slack/interactions`, signed by Slack.
//!
//! Slack's Web API is a wiremock fake, faithful to Slack's public API as documented: exact
//! method paths (`/api/chat.postMessage`, `/api/chat.update`, `/api/chat.postEphemeral`), the
//! bot token as `Authorization: Bearer xoxb-…`, JSON bodies, and `{"ok": true, ...}` answers.
//! Interaction requests are built and signed here exactly as Slack builds and signs them: a
//! form body (`application/x-www-form-urlencoded`) with a `payload` field holding the
//! `block_actions` JSON, `X-Slack-Request-Timestamp` (Unix seconds) and `X-Slack-Signature` =
//! `v0=` + hex HMAC-SHA256(signing secret, `v0:{timestamp}:{body}`), computed with the hmac
//! crate directly rather than with the code under test.

use crate::common;
use crate::recording_backend;
use crate::respond;

use common::{Harness, HttpServer, secret};
use hmac::{Hmac, Mac};
use incident_mcp::{mcp::ToolPolicy, service::ContainRequest};
use reqwest::StatusCode;
use respond::{POLICY, audit, backends, config, detect, refusals};
use secrecy::SecretString;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

const BOT_ENV: &str = "INCIDENT_MCP_TEST_SLACK_BOT_TOKEN";
const SIGNING_ENV: &str = "INCIDENT_MCP_TEST_SLACK_SIGNING_SECRET";
const CHANNEL: &str = "#incidents";
const MESSAGE_TS: &str = "1767225600.000100";
const PUBLIC_URL: &str = "https://incidents.example.com";

fn bot_token() -> String {
    format!("xoxb-{}", secret("slack-bot"))
}

fn signing_secret() -> String {
    secret("slack-signing")
}

/// The server (agent key set), the fake Slack Web API, and a plan awaiting approval.
struct Slack {
    h: Harness,
    server: HttpServer,
    api: MockServer,
    http: reqwest::Client,
    plan_id: String,
}

impl Slack {
    async fn start() -> Self {
        // SAFETY: set before any thread of this test reads the environment.
        unsafe {
            std::env::set_var(BOT_ENV, bot_token());
            std::env::set_var(SIGNING_ENV, signing_secret());
        }
        let api = MockServer::start().await;
        let mut cfg = config(&format!(
            "{POLICY}\n[[approvers]]\nname = \"alice\"\nslack_user_id = \"U0ALICE\"\n\
             [notify]\nallow_insecure_loopback = true\n[notify.slack]\nbot_token_env = \"{BOT_ENV}\"\n\
             channel = \"{CHANNEL}\"\napi_url = \"{}/api\"\nsigning_secret_env = \"{SIGNING_ENV}\"\n\
             events = [\"approval\"]\n",
            api.uri()
        ));
        cfg.server.public_url = Some(format!("{PUBLIC_URL}/"));
        cfg.api_key = Some(SecretString::from(secret("agent-key")));
        let mut h = Harness::with_config(cfg).await;
        let backend = recording_backend::RecordingBackend::new();
        h.svc = h.svc.clone().with_backends(backends(&backend));
        detect(&h).await;
        let req: ContainRequest = serde_json::from_value(
            json!({"id": "INC-000001", "action": "isolate", "resource": "web-1", "namespace": "shop"}),
        )
        .unwrap();
        let plan = h.svc.propose_contain(&req, "mcp:claude").await.expect("plan");
        h.svc.announce_pending(&plan, "mcp:claude").await;
        let server = h.http_server(ToolPolicy::default()).await;
        Self {
            h,
            server,
            api,
            http: reqwest::Client::new(),
            plan_id: plan.plan_id,
        }
    }

    /// A fake Slack Web API method: the exact path, the bot token, an `ok` answer.
    async fn mock(&self, slack_method: &str, answer: Value, times: u64) {
        let auth = format!("Bearer {}", bot_token());
        Mock::given(method("POST"))
            .and(path(format!("/api/{slack_method}")))
            .and(header("authorization", auth.as_str()))
            .and(header("content-type", "application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(times)
            .mount(&self.api)
            .await;
    }

    /// The JSON bodies Slack's fake received for `slack_method`.
    async fn received(&self, slack_method: &str) -> Vec<Value> {
        let p = format!("/api/{slack_method}");
        self.api
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == p)
            .map(|r| r.body_json().unwrap())
            .collect()
    }

    /// Posts `body` as Slack does, with `timestamp` and `signature` headers; status and JSON.
    async fn post(&self, body: &str, timestamp: &str, signature: &str) -> (StatusCode, Value) {
        let resp = self
            .http
            .post(format!("{}/api/slack/interactions", self.server.base()))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-slack-request-timestamp", timestamp)
            .header("x-slack-signature", signature)
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    /// A correctly signed press, sent `age_secs` after its timestamp.
    async fn press(&self, user: &str, action: &str, value: &str, age_secs: i64) -> (StatusCode, Value) {
        let body = form(&press_payload(user, action, value));
        let ts = (chrono::Utc::now().timestamp() - age_secs).to_string();
        self.post(&body, &ts, &slack_sign(&signing_secret(), &ts, &body)).await
    }

    async fn approvals(&self) -> Vec<incident_mcp::domain::audit::AuditEntry> {
        audit(&self.h)
            .await
            .into_iter()
            .filter(|e| e.kind == "approval")
            .collect()
    }
}

/// Slack's `block_actions` payload for a button press on the approval message.
pub(crate) fn press_payload(user: &str, action_id: &str, value: &str) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": "T0TEAM"},
        "api_app_id": "A0APP", "token": "legacy-verification-token-unused",
        "container": {"type": "message", "message_ts": MESSAGE_TS, "channel_id": "C024BE91L", "is_ephemeral": false},
        "trigger_id": "1.2.3", "team": {"id": "T0TEAM", "domain": "example"},
        "channel": {"id": "C024BE91L", "name": "incidents"},
        "message": {"type": "message", "ts": MESSAGE_TS, "text": "Approval needed"},
        "response_url": "https://hooks.slack.com/actions/T0TEAM/1/abc",
        "actions": [{"action_id": action_id, "block_id": "b1", "value": value, "type": "button",
                     "action_ts": "1767225601.000200", "text": {"type": "plain_text", "text": "Approve"}}],
    })
}

/// `payload=<JSON>`, form-encoded as Slack sends it.
pub(crate) fn form(payload: &Value) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}

/// Slack's v0 signature.
pub(crate) fn slack_sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn the_approval_message_carries_approve_deny_and_open_page_for_the_plan() {
    let s = Slack::start().await;
    s.mock(
        "chat.postMessage",
        json!({"ok": true, "channel": "C024BE91L", "ts": MESSAGE_TS}),
        1,
    )
    .await;
    let report = s.h.svc.dispatcher().unwrap().drain().await.unwrap();
    assert_eq!(report.sent, 1, "{report:?}");
    let posts = s.received("chat.postMessage").await;
    let body = &posts[0];
    assert_eq!(body["channel"], CHANNEL);
    let summary = body["blocks"][0]["text"]["text"].as_str().unwrap();
    for part in [
        "*Action:* isolate",
        "web-1",
        "namespace shop",
        "*Env:* dev",
        "*Proposed by:* mcp:claude",
        &s.plan_id,
    ] {
        assert!(summary.contains(part), "{part} missing from {summary}");
    }
    let actions = body["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["type"] == "actions")
        .expect("an actions block");
    let buttons = actions["elements"].as_array().unwrap();
    let ids: Vec<&str> = buttons.iter().map(|b| b["action_id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        ["approve_plan", "deny_plan", "get_code", "open_plan_page"],
        "{actions}"
    );
    let labels: Vec<&str> = buttons.iter().map(|b| b["text"]["text"].as_str().unwrap()).collect();
    assert_eq!(labels, ["Approve", "Deny", "Code for the agent's dialog", "Open page"]);
    for b in buttons {
        assert_eq!(b["type"], "button");
        assert_eq!(b["value"], s.plan_id.as_str());
    }
    assert_eq!(buttons[3]["url"], format!("{PUBLIC_URL}/ui/plans/{}", s.plan_id));
    assert!(
        body["text"].as_str().unwrap().contains(&s.plan_id),
        "fallback text: {body}"
    );
}

/// In an incident that already has a Slack thread, the request for approval is a reply that is
/// also broadcast to the channel, where the on-call human sees it.
#[tokio::test]
async fn an_approval_request_in_a_thread_is_also_shown_in_the_channel() {
    use incident_mcp::store::OutboxStore;
    let s = Slack::start().await;
    let id = "INC-000001".parse().unwrap();
    s.h.store
        .set_notify_ref("slack", id, "1767225500.000001")
        .await
        .unwrap();
    s.mock(
        "chat.postMessage",
        json!({"ok": true, "channel": "C024BE91L", "ts": MESSAGE_TS}),
        1,
    )
    .await;
    assert_eq!(s.h.svc.dispatcher().unwrap().drain().await.unwrap().sent, 1);
    let body = &s.received("chat.postMessage").await[0];
    assert_eq!(body["thread_ts"], "1767225500.000001", "{body}");
    assert_eq!(body["reply_broadcast"], true, "{body}");
    assert!(
        body["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["type"] == "actions"),
        "{body}"
    );
}

#[tokio::test]
async fn a_signed_approve_press_approves_as_the_mapped_human_and_updates_the_message() {
    let s = Slack::start().await;
    s.mock(
        "chat.update",
        json!({"ok": true, "channel": "C024BE91L", "ts": MESSAGE_TS, "text": "x"}),
        1,
    )
    .await;
    // No bearer key: Slack cannot send one; its signature stands in.
    let body = form(&press_payload("U0ALICE", "approve_plan", &s.plan_id));
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = slack_sign(&signing_secret(), &ts, &body);
    let (status, answer) = s.post(&body, &ts, &sig).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["outcome"], "approved", "{answer}");
    assert_eq!(answer["slack_told"], true, "{answer}");

    let view = s.h.svc.plan_view(&s.plan_id).await.unwrap();
    let approval = view.approval.expect("an approval");
    assert_eq!(
        (approval.approver.as_str(), approval.state.as_str()),
        ("human:alice", "valid")
    );
    let approvals = s.approvals().await;
    assert_eq!(approvals.len(), 1);
    assert_eq!(approvals[0].actor, "human:alice");
    assert_eq!(
        approvals[0].incident_id.map(|i| i.to_string()).as_deref(),
        Some("INC-000001")
    );

    let updates = s.received("chat.update").await;
    assert_eq!(updates.len(), 1);
    let u = &updates[0];
    assert_eq!(
        (u["channel"].as_str(), u["ts"].as_str()),
        (Some("C024BE91L"), Some(MESSAGE_TS)),
        "{u}"
    );
    assert!(
        u["text"]
            .as_str()
            .unwrap()
            .starts_with("Approved by alice, valid until "),
        "{u}"
    );
    let blocks = u["blocks"].as_array().unwrap();
    assert!(blocks.iter().all(|b| b["type"] != "actions"), "buttons left: {u}");
    assert!(
        blocks.iter().any(|b| b["text"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Approved by alice"))),
        "{u}"
    );

    // The identical request again: a replay, refused and audited; still one approval.
    let (status, e) = s.post(&body, &ts, &sig).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
    assert_eq!(refusals(&s.h).await, ["slack_replay"]);
    assert_eq!(s.approvals().await.len(), 1);
    s.api.verify().await;
}

#[tokio::test]
async fn a_signed_deny_press_denies_the_plan() {
    let s = Slack::start().await;
    s.mock(
        "chat.update",
        json!({"ok": true, "channel": "C024BE91L", "ts": MESSAGE_TS}),
        2,
    )
    .await;
    let (status, answer) = s.press("U0ALICE", "deny_plan", &s.plan_id, 0).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("denied")),
        "{answer}"
    );
    let view = s.h.svc.plan_view(&s.plan_id).await.unwrap();
    assert_eq!(
        serde_json::to_value(view.plan.status).unwrap(),
        "denied",
        "{:?}",
        view.plan.status
    );
    let denial = view.denial.expect("a denial");
    assert_eq!(denial.denied_by, "human:alice");
    assert_eq!(denial.reason, "denied in Slack by alice");
    let u = &s.received("chat.update").await[0];
    assert_eq!(u["text"].as_str().unwrap(), format!("Denied by alice ({})", s.plan_id));
    assert!(
        u["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"),
        "{u}"
    );
    assert!(s.approvals().await.is_empty());
    // A later Approve of the denied plan is refused, and the message keeps no buttons.
    let (status, answer) = s.press("U0ALICE", "approve_plan", &s.plan_id, 0).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("refused")),
        "{answer}"
    );
    assert!(answer["message"].as_str().unwrap().contains("denied"), "{answer}");
    assert_eq!(refusals(&s.h).await, ["slack_plan_refused"]);
    assert!(s.approvals().await.is_empty());
    let u = &s.received("chat.update").await[1];
    assert!(u["text"].as_str().unwrap().starts_with("could not approve: "), "{u}");
    assert!(
        u["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"),
        "{u}"
    );
}

#[tokio::test]
async fn forged_stale_unknown_and_malformed_presses_are_refused_and_audited() {
    let s = Slack::start().await;
    s.mock("chat.update", json!({"ok": true}), 0).await;
    s.mock(
        "chat.postEphemeral",
        json!({"ok": true, "message_ts": "1767225602.000300"}),
        2,
    )
    .await;
    let body = form(&press_payload("U0ALICE", "approve_plan", &s.plan_id));
    let now = chrono::Utc::now().timestamp().to_string();

    // Signed with another secret, or not at all.
    let forged = slack_sign("not-the-signing-secret", &now, &body);
    let (status, e) = s.post(&body, &now, &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
    let (status, _) = s.post(&body, &now, "").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A body changed after signing.
    let tampered = body.replace("U0ALICE", "U0ALICF");
    let (status, _) = s
        .post(&tampered, &now, &slack_sign(&signing_secret(), &now, &body))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Correctly signed six minutes ago.
    let (status, e) = s.press("U0ALICE", "approve_plan", &s.plan_id, 360).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{e}");
    assert!(e["error"].as_str().unwrap().contains("timestamp"), "{e}");
    // Six minutes ahead is as stale.
    let (status, _) = s.press("U0ALICE", "approve_plan", &s.plan_id, -360).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A Slack user who is no approver.
    let (status, answer) = s.press("U0MALLORY", "approve_plan", &s.plan_id, 0).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("refused")),
        "{answer}"
    );
    assert!(
        answer["message"].as_str().unwrap().contains("not an approver"),
        "{answer}"
    );
    // An approver pressing a button that names no plan of ours (what an agent posting its own
    // message with our buttons could get a human to press).
    let (status, answer) = s.press("U0ALICE", "approve_plan", "plan-ffffffffffffffff", 0).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("refused")),
        "{answer}"
    );
    // Signed, but not a payload.
    let junk = "payload=%7Bnot-json";
    let (status, e) = s.post(junk, &now, &slack_sign(&signing_secret(), &now, junk)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");

    assert_eq!(
        refusals(&s.h).await,
        [
            "slack_bad_signature",
            "slack_bad_signature",
            "slack_bad_signature",
            "slack_stale",
            "slack_stale",
            "slack_unknown_user",
            "slack_unknown_plan",
            "slack_malformed",
        ]
    );
    let log = audit(&s.h).await;
    let unknown_user = log
        .iter()
        .find(|e| e.payload["reason"] == "slack_unknown_user")
        .unwrap();
    assert_eq!(unknown_user.actor, "slack:U0MALLORY");
    assert_eq!(unknown_user.plan_id.as_deref(), Some(s.plan_id.as_str()));
    assert!(s.approvals().await.is_empty(), "nothing approved");
    assert_eq!(
        serde_json::to_value(s.h.svc.plan_view(&s.plan_id).await.unwrap().plan.status).unwrap(),
        "pending"
    );
    // The two users were told, only them, in the channel of the message.
    let told = s.received("chat.postEphemeral").await;
    let users: Vec<&str> = told.iter().map(|b| b["user"].as_str().unwrap()).collect();
    assert_eq!(users, ["U0MALLORY", "U0ALICE"]);
    assert!(told.iter().all(|b| b["channel"] == "C024BE91L"));
    s.api.verify().await;
}

/// The replay guard's store method on both adapters: a key is accepted once while it is kept,
/// expired keys are dropped, and of two PostgreSQL replicas inserting one key only one wins.
#[tokio::test]
async fn replay_keys_are_accepted_once_in_sqlite_and_postgresql() {
    use incident_mcp::store::OutboxStore;
    let t0 = chrono::Utc::now();
    let later = t0 + chrono::Duration::seconds(301);
    let h = Harness::new().await;
    let pg = crate::store_postgres::database().await;
    let (a, b) = (pg.store().await, pg.store().await);
    let stores: [&dyn OutboxStore; 2] = [h.store.as_ref(), &a];
    for store in stores {
        assert!(store.remember_request("k1", later, t0).await.unwrap());
        assert!(!store.remember_request("k1", later, t0).await.unwrap(), "replay");
        assert!(store.remember_request("k2", later, t0).await.unwrap());
        // Once expired, a key is gone (its request is refused as stale by then anyway).
        assert!(store.remember_request("k1", later, later).await.unwrap());
    }
    let (x, y) = tokio::join!(a.remember_request("k3", later, t0), b.remember_request("k3", later, t0));
    assert!(x.unwrap() ^ y.unwrap(), "exactly one replica accepts the key");
}

/// Without `signing_secret_env` the route exists but accepts nothing (404), whatever is sent.
#[tokio::test]
async fn without_a_signing_secret_the_route_accepts_nothing() {
    let (h, server) = common::keyed_app(&secret("agent-key"), |_| {}).await;
    let body = form(&press_payload("U0ALICE", "approve_plan", "plan-0123456789abcdef"));
    let ts = chrono::Utc::now().timestamp().to_string();
    let resp = reqwest::Client::new()
        .post(format!("{}/api/slack/interactions", server.base()))
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", slack_sign(&signing_secret(), &ts, &body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let e: Value = resp.json().await.unwrap();
    assert!(e["error"].as_str().unwrap().contains("signing_secret_env"), "{e}");
    assert!(audit(&h).await.is_empty());
}

/// The code button sends the approver who pressed it, and nobody else, a one-time code for the
/// agent's dialog; the code approves as that approver, and neither Slack's answer nor the audit
/// log carries it.
#[tokio::test]
async fn the_code_button_sends_the_approver_a_private_one_time_code() {
    let s = Slack::start().await;
    s.mock("chat.postEphemeral", json!({"ok": true, "message_ts": MESSAGE_TS}), 2)
        .await;
    let (status, answer) = s.press("U0ALICE", "get_code", &s.plan_id, 0).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (StatusCode::OK, Some("code_sent")),
        "{answer}"
    );
    let sent = &s.received("chat.postEphemeral").await[0];
    assert_eq!(
        (&sent["channel"], &sent["user"]),
        (&json!("C024BE91L"), &json!("U0ALICE"))
    );
    let text = sent["text"].as_str().unwrap();
    let code = regex::Regex::new(r"\*([2-9A-Z]{4}-[2-9A-Z]{4})\*")
        .unwrap()
        .captures(text)
        .expect("a code in the private note")[1]
        .to_owned();
    assert!(
        !answer.to_string().contains(&code),
        "the answer to Slack carries no code"
    );
    let log = serde_json::to_string(&audit(&s.h).await).unwrap();
    assert!(!log.contains(&code), "the audit log keeps only a salted hash");
    let granted =
        s.h.svc
            .approve_with_code(&s.plan_id, &code, "mcp:claude")
            .await
            .unwrap();
    assert_eq!(granted.approver, "human:alice");
    // Somebody who is not an approver gets no code.
    let (status, answer) = s.press("U0MALLORY", "get_code", &s.plan_id, 0).await;
    assert_eq!((status, answer["outcome"].as_str()), (StatusCode::OK, Some("refused")));
    assert_eq!(refusals(&s.h).await, ["slack_unknown_user"]);
}
