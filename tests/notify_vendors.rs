//! Jira, PagerDuty and Slack adapters against wiremock: exact paths, headers and JSON bodies
//! as the vendors document them, and dedup (a second notification updates, never duplicates).

mod common;
mod notify_common;

use common::Harness;
use incident_mcp::{
    Caller,
    service::{NotifyRequest, ResolveRequest},
    store::{OutboxStatus, OutboxStore},
};
use notify_common::*;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, body_partial_json, header, method, path, query_param},
};

const JIRA_AUTH: &str = "Basic b3BzQGV4YW1wbGUuY29tOmppcmEtdG9rZW4tMTIz";

fn req(id: incident_mcp::domain::IncidentId, service: &str, message: Option<&str>) -> NotifyRequest {
    NotifyRequest {
        id,
        service: service.into(),
        message: message.map(str::to_owned),
    }
}

#[tokio::test]
async fn jira_creates_one_ticket_per_incident_then_comments() {
    let jira = MockServer::start().await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.jira]\nbase_url = \"{}\"\nproject_key = \"OPS\"\n\
         issue_type = \"Bug\"\nemail_env = \"JIRA_EMAIL\"\ntoken_env = \"JIRA_TOKEN\"\nevents = [\"resolve\"]\n",
        jira.uri()
    )))
    .await;
    let id = first_incident(&h).await;
    let label = format!("incident-{id}");
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search"))
        .and(query_param("jql", format!("labels=\"{label}\"")))
        .and(header("authorization", JIRA_AUTH))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"startAt":0,"maxResults":1,"total":0,"issues":[]})),
        )
        .expect(1)
        .mount(&jira)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .and(header("authorization", JIRA_AUTH))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({"fields": {
            "project": {"key": "OPS"},
            "issuetype": {"name": "Bug"},
            "summary": format!("[high] Egress traffic spike on pod/shop/web-7 ({id})"),
            "labels": ["incident-mcp", label],
        }})))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id":"10001","key":"OPS-1","self":"x"})))
        .expect(1)
        .mount(&jira)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue/OPS-1/comment"))
        .and(header("authorization", JIRA_AUTH))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id":"1"})))
        .expect(2)
        .mount(&jira)
        .await;

    let clock = ManualClock::new();
    let d = dispatcher(
        &h,
        &[("JIRA_EMAIL", "ops@example.com"), ("JIRA_TOKEN", "jira-token-123")],
        clock,
    );
    h.svc
        .notify(req(id, "jira", Some("paging the owner")), Caller::MCP)
        .await
        .unwrap();
    assert_eq!(d.drain().await.unwrap().sent, 1);
    // Dedup: a second notify and a lifecycle hook comment on the same ticket.
    h.svc
        .notify(req(id, "jira", Some("second look")), Caller::MCP)
        .await
        .unwrap();
    h.svc
        .resolve(
            ResolveRequest {
                id,
                note: "rolled back the deploy".into(),
            },
            Caller::CLI,
        )
        .await
        .unwrap();
    assert_eq!(d.drain().await.unwrap().sent, 2);

    let got = jira.received_requests().await.unwrap();
    let create: Value = got
        .iter()
        .find(|r| r.url.path() == "/rest/api/2/issue")
        .unwrap()
        .body_json()
        .unwrap();
    let description = create["fields"]["description"].as_str().unwrap();
    for part in [
        "paging the owner",
        "Feature: ",
        "Importance: ",
        "Anomaly score: ",
        "Time: 2026-11-01T",
    ] {
        assert!(description.contains(part), "{part} missing from {description}");
    }
    let comments: Vec<Value> = got
        .iter()
        .filter(|r| r.url.path().ends_with("/comment"))
        .map(|r| r.body_json().unwrap())
        .collect();
    assert!(comments[0]["body"].as_str().unwrap().contains("second look"));
    assert!(comments[1]["body"].as_str().unwrap().contains("resolve"));
    assert!(comments[1]["body"].as_str().unwrap().contains("rolled back the deploy"));
    assert_eq!(h.store.notify_ref("jira", id).await.unwrap().as_deref(), Some("OPS-1"));
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_one_alert_by_dedup_key() {
    let pd = MockServer::start().await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.pagerduty]\nevents_url = \"{}/v2/enqueue\"\n\
         events = [\"resolve\"]\n",
        pd.uri()
    )))
    .await;
    let id = first_incident(&h).await;
    let dedup = format!("incident-mcp-{id}");
    let accepted = ResponseTemplate::new(202)
        .set_body_json(json!({"status":"success","message":"Event processed","dedup_key": dedup}));
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({
            "routing_key": "R0UT1NGKEY",
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": format!("[high] Egress traffic spike on pod/shop/web-7 ({id})"),
                "source": "incident-mcp",
                "severity": "error",
                "custom_details": {"incident": id.to_string(), "env": "dev", "message": "check egress"},
            }
        })))
        .respond_with(accepted.clone())
        .expect(2)
        .mount(&pd)
        .await;
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_json(
            json!({"routing_key": "R0UT1NGKEY", "event_action": "resolve", "dedup_key": dedup}),
        ))
        .respond_with(accepted)
        .expect(1)
        .mount(&pd)
        .await;

    let d = dispatcher(&h, &[("PAGERSERVICE_KEY", "R0UT1NGKEY")], ManualClock::new());
    for _ in 0..2 {
        h.svc
            .notify(req(id, "pagerduty", Some("check egress")), Caller::MCP)
            .await
            .unwrap();
    }
    h.svc
        .resolve(
            ResolveRequest {
                id,
                note: "fixed".into(),
            },
            Caller::CLI,
        )
        .await
        .unwrap();
    let r = d.drain().await.unwrap();
    assert_eq!((r.sent, r.dead), (3, 0), "{r:?}");
    let rows = h.store.outbox_rows(None, 10).await.unwrap();
    assert!(
        rows.iter()
            .all(|r| r.status == OutboxStatus::Sent && r.last_status == Some(202))
    );
}

#[tokio::test]
async fn slack_posts_once_then_replies_in_the_incident_thread() {
    let slack = MockServer::start().await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.slack]\nbot_token_env = \"SLACK_TOKEN\"\n\
         channel = \"#incidents\"\napi_url = \"{}/api\"\n",
        slack.uri()
    )))
    .await;
    let id = first_incident(&h).await;
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-test-token"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({"channel": "#incidents"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C024BE91L", "ts": "1700000000.000100"})),
        )
        .expect(2)
        .mount(&slack)
        .await;

    let d = dispatcher(&h, &[("SLACK_TOKEN", "xoxb-test-token")], ManualClock::new());
    h.svc
        .notify(req(id, "slack", Some("first")), Caller::MCP)
        .await
        .unwrap();
    d.drain().await.unwrap();
    h.svc
        .notify(req(id, "slack", Some("update")), Caller::MCP)
        .await
        .unwrap();
    d.drain().await.unwrap();

    let bodies: Vec<Value> = slack
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.body_json().unwrap())
        .collect();
    assert_eq!(bodies.len(), 2);
    assert!(
        bodies[0].get("thread_ts").is_none(),
        "the first message opens the thread"
    );
    assert!(bodies[0]["text"].as_str().unwrap().contains(&id.to_string()));
    assert_eq!(bodies[1]["thread_ts"], "1700000000.000100");
    assert!(bodies[1]["text"].as_str().unwrap().contains("update"));
}

#[tokio::test]
async fn slack_ok_false_is_a_dead_letter_and_targets_are_names_not_urls() {
    let slack = MockServer::start().await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.slack]\nbot_token_env = \"SLACK_TOKEN\"\n\
         channel = \"#nope\"\napi_url = \"{}/api\"\n",
        slack.uri()
    )))
    .await;
    let id = first_incident(&h).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "channel_not_found"})))
        .expect(1)
        .mount(&slack)
        .await;
    let d = dispatcher(&h, &[("SLACK_TOKEN", "xoxb-test-token")], ManualClock::new());
    h.svc.notify(req(id, "slack", None), Caller::MCP).await.unwrap();
    assert_eq!(d.drain().await.unwrap().dead, 1);
    let dead = h.svc.outbox_list(true, 10).await.unwrap();
    assert!(
        dead.rows[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("channel_not_found")
    );

    let e = h
        .svc
        .notify(req(id, "https://evil.example/hook", None), Caller::MCP)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("configured targets: slack"), "{e}");
}

#[tokio::test]
async fn slack_incoming_webhook_url_is_a_secret_checked_by_the_ssrf_guard() {
    let slack = MockServer::start().await;
    let h = Harness::with_config(config(
        "[notify]\nallow_insecure_loopback = true\n[notify.slack]\nwebhook_url_env = \"SLACK_HOOK\"\n",
    ))
    .await;
    let id = first_incident(&h).await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&slack)
        .await;
    let url = format!("{}/services/T000/B000/XXXX", slack.uri());
    let d = dispatcher(&h, &[("SLACK_HOOK", &url)], ManualClock::new());
    h.svc
        .notify(req(id, "slack", Some("hello")), Caller::MCP)
        .await
        .unwrap();
    assert_eq!(d.drain().await.unwrap().sent, 1);
    let body: Value = slack.received_requests().await.unwrap()[0].body_json().unwrap();
    assert_eq!(body.as_object().unwrap().len(), 1, "only `text`: {body}");
    assert!(body["text"].as_str().unwrap().ends_with("\nhello"));

    // A URL pointing elsewhere over plain http is refused, and the error does not show it.
    let d = dispatcher(
        &h,
        &[("SLACK_HOOK", "http://169.254.169.254/latest/meta-data")],
        ManualClock::new(),
    );
    h.svc.notify(req(id, "slack", None), Caller::MCP).await.unwrap();
    assert_eq!(d.drain().await.unwrap().dead, 1);
    let dead = h.svc.outbox_list(true, 1).await.unwrap();
    let error = dead.rows[0].last_error.clone().unwrap();
    assert!(
        error.contains("the URL in SLACK_HOOK: must be https") && !error.contains("169.254"),
        "{error}"
    );
}
