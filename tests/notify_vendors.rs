//! Jira, PagerDuty and Slack adapters against wiremock: exact paths, headers and JSON bodies
//! as the vendors document them, and dedup (a second notification updates, never duplicates).

use crate::common;
use crate::notify_common;

use common::{Harness, secret};
use incident_mcp::{
    Caller,
    domain::audit::{AuditKind, NewAuditEntry},
    service::{NotifyRequest, ResolveRequest},
    store::{OutboxStatus, OutboxStore, ports::*},
};
use notify_common::*;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{body_json, body_partial_json, header, method, path, query_param},
};

/// `Basic` credentials for `user:password` (RFC 7617), encoded here rather than by the HTTP
/// client under test.
fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A PagerDuty Events v2 mock and a harness sending `event` hooks to it.
async fn pagerduty(event: &str) -> (MockServer, Harness) {
    let pd = MockServer::start().await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.pagerduty]\nevents_url = \"{}/v2/enqueue\"\n\
         events = [\"{event}\"]\n",
        pd.uri()
    )))
    .await;
    (pd, h)
}

/// A Slack Web API mock and a harness whose bot posts to `channel` through it.
async fn slack_bot(channel: &str) -> (MockServer, Harness) {
    let slack = MockServer::start().await;
    let h = Harness::with_config(config(&format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.slack]\nbot_token_env = \"SLACK_TOKEN\"\n\
         channel = \"{channel}\"\napi_url = \"{}/api\"\n",
        slack.uri()
    )))
    .await;
    (slack, h)
}

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
    let token = secret("jira-token");
    let jira_auth = basic_auth("ops@example.com", &token);
    let label = format!("incident-{id}");
    // Jira Cloud's enhanced JQL search (the legacy `/search` answers 410 Gone there).
    Mock::given(method("GET"))
        .and(path("/rest/api/2/search/jql"))
        .and(query_param("jql", format!("labels=\"{label}\"")))
        .and(query_param("maxResults", "1"))
        .and(header("authorization", jira_auth.as_str()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"issues": [], "isLast": true})))
        .expect(1)
        .mount(&jira)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/api/2/issue"))
        .and(header("authorization", jira_auth.as_str()))
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
        .and(header("authorization", jira_auth.as_str()))
        .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id":"1"})))
        .expect(2)
        .mount(&jira)
        .await;

    let clock = ManualClock::new();
    let d = dispatcher(
        &h,
        &[("JIRA_EMAIL", "ops@example.com"), ("JIRA_TOKEN", token.as_str())],
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
                keep_containments: false,
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

/// A ticket that exists but was never recorded (an earlier attempt died) is found by label and
/// commented on, never recreated: on Jira Cloud through `/search/jql` (whose answer may carry
/// only issue ids), on Data Center through the legacy `/search` (its documented answer shape).
#[tokio::test]
async fn jira_finds_an_unrecorded_ticket_on_cloud_and_on_data_center() {
    for (deployment, search_path, answer, issue) in [
        (
            "cloud",
            "/rest/api/2/search/jql",
            json!({"issues": [{"id": "10002"}], "isLast": true}),
            "10002",
        ),
        (
            "data-center",
            "/rest/api/2/search",
            json!({"startAt": 0, "maxResults": 1, "total": 1, "issues": [{"id": "10003", "key": "OPS-9"}]}),
            "OPS-9",
        ),
    ] {
        let jira = MockServer::start().await;
        let h = Harness::with_config(config(&format!(
            "[notify]\nallow_insecure_loopback = true\n[notify.jira]\nbase_url = \"{}\"\nproject_key = \"OPS\"\n\
             email_env = \"JIRA_EMAIL\"\ntoken_env = \"JIRA_TOKEN\"\ndeployment = \"{deployment}\"\n\
             events = [\"resolve\"]\n",
            jira.uri()
        )))
        .await;
        let id = first_incident(&h).await;
        Mock::given(method("GET"))
            .and(path(search_path))
            .and(query_param("jql", format!("labels=\"incident-{id}\"")))
            .respond_with(ResponseTemplate::new(200).set_body_json(answer))
            .expect(1)
            .mount(&jira)
            .await;
        Mock::given(method("POST"))
            .and(path(format!("/rest/api/2/issue/{issue}/comment")))
            .respond_with(ResponseTemplate::new(201).set_body_json(json!({"id": "1"})))
            .expect(1)
            .mount(&jira)
            .await;
        let token = secret("jira-token");
        let d = dispatcher(
            &h,
            &[("JIRA_EMAIL", "ops@example.com"), ("JIRA_TOKEN", token.as_str())],
            ManualClock::new(),
        );
        let resolve = ResolveRequest {
            id,
            note: "fixed".into(),
            keep_containments: false,
        };
        h.svc.resolve(resolve, Caller::CLI).await.unwrap();
        assert_eq!(d.drain().await.unwrap().sent, 1, "{deployment}");
        // One search and one comment; a create would have met no mock (404, a dead letter).
        jira.verify().await;
    }
}

/// A plan awaiting approval pages through Events v2 with the plan and how to approve it.
#[tokio::test]
async fn pagerduty_pages_for_a_plan_awaiting_approval() {
    let (pd, h) = pagerduty("approval").await;
    let id = first_incident(&h).await;
    let routing_key = secret("pd-routing-key");
    let note = "isolate web-1. Awaiting a human's approval: `incident-mcp approve plan-0123456789abcdef`";
    // The plan's proposal is audited first; the page carries the chain's head as an anchor.
    let proposal = NewAuditEntry::new("rest", AuditKind::Proposal, json!({"plan": "plan-0123456789abcdef"}));
    let head = h.store.append_audit(proposal).await.unwrap();
    let anchor = format!("{}:{}", head.seq, head.hash);
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(body_partial_json(json!({
            "routing_key": routing_key,
            "event_action": "trigger",
            "dedup_key": format!("incident-mcp-{id}"),
            "payload": {
                "summary": format!("[high] approval needed: plan-0123456789abcdef for Egress traffic spike on pod/shop/web-7 ({id})"),
                "custom_details": {"event": "approval", "plan_id": "plan-0123456789abcdef", "note": note,
                                   "audit_anchor": anchor},
            }
        })))
        .respond_with(ResponseTemplate::new(202).set_body_json(json!({"status": "success"})))
        .expect(1)
        .mount(&pd)
        .await;
    let row = incident_mcp::store::NewOutboxRow {
        target: "pagerduty".into(),
        event: "approval".into(),
        incident: Some(id),
        payload: json!({"event": "approval", "incident": id, "actor": "rest",
                        "plan_id": "plan-0123456789abcdef", "note": note}),
    };
    h.store.enqueue_outbox(vec![row], chrono::Utc::now()).await.unwrap();
    let d = dispatcher(&h, &[("PAGERSERVICE_KEY", routing_key.as_str())], ManualClock::new());
    assert_eq!(d.drain().await.unwrap().sent, 1);
    pd.verify().await;
}

#[tokio::test]
async fn pagerduty_triggers_and_resolves_one_alert_by_dedup_key() {
    let (pd, h) = pagerduty("resolve").await;
    let id = first_incident(&h).await;
    let dedup = format!("incident-mcp-{id}");
    let routing_key = secret("pd-routing-key");
    let accepted = ResponseTemplate::new(202)
        .set_body_json(json!({"status":"success","message":"Event processed","dedup_key": dedup}));
    Mock::given(method("POST"))
        .and(path("/v2/enqueue"))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({
            "routing_key": routing_key,
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
            json!({"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup}),
        ))
        .respond_with(accepted)
        .expect(1)
        .mount(&pd)
        .await;

    let d = dispatcher(&h, &[("PAGERSERVICE_KEY", routing_key.as_str())], ManualClock::new());
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
                keep_containments: false,
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
    let (slack, h) = slack_bot("#incidents").await;
    let id = first_incident(&h).await;
    let token = secret("slack-bot-token");
    Mock::given(method("POST"))
        .and(path("/api/chat.postMessage"))
        .and(header("authorization", format!("Bearer {token}")))
        .and(header("content-type", "application/json"))
        .and(body_partial_json(json!({"channel": "#incidents"})))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C024BE91L", "ts": "1700000000.000100"})),
        )
        .expect(2)
        .mount(&slack)
        .await;

    let d = dispatcher(&h, &[("SLACK_TOKEN", token.as_str())], ManualClock::new());
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

/// Slack has no idempotency key: an incident's first message carries metadata naming the incident
/// and its outbox row, and before a first message the channel history is searched for it, so a
/// crash between posting and recording the `ts` never opens a second thread. (Faithful to the
/// Web API: `conversations.history` with `include_all_metadata`, answers `{ok, messages}`.)
#[tokio::test]
async fn slack_first_message_is_found_again_instead_of_posted_twice() {
    const ROOT_TS: &str = "1700000000.000200";
    // (case, what the history answers given the row id, expected first post)
    type History = fn(incident_mcp::domain::IncidentId, i64) -> Value;
    let cases: [(&str, History); 3] = [
        ("this row was posted by an attempt that died", |id, row| {
            json!({"ok": true, "has_more": false, "messages": [
                {"type": "message", "ts": "1700000000.000300", "text": "unrelated"},
                {"type": "message", "ts": ROOT_TS, "text": "detect",
                 "metadata": {"event_type": "incident_mcp_root",
                              "event_payload": {"incident": id.to_string(), "outbox_id": row}}},
            ]})
        }),
        ("another row opened the thread", |id, _| {
            json!({"ok": true, "messages": [{"type": "message", "ts": ROOT_TS,
                "metadata": {"event_type": "incident_mcp_root",
                             "event_payload": {"incident": id.to_string(), "outbox_id": 999_999}}}]})
        }),
        (
            "the token lacks channels:history",
            |_, _| json!({"ok": false, "error": "missing_scope"}),
        ),
    ];
    for (case, history) in cases {
        let (slack, h) = slack_bot("C024BE91L").await;
        let id = first_incident(&h).await;
        let token = secret("slack-bot-token");
        let row = h
            .svc
            .notify(req(id, "slack", Some("first")), Caller::MCP)
            .await
            .unwrap()
            .outbox_id;
        Mock::given(method("GET"))
            .and(path("/api/conversations.history"))
            .and(header("authorization", format!("Bearer {token}")))
            .and(query_param("channel", "C024BE91L"))
            .and(query_param("include_all_metadata", "true"))
            .respond_with(ResponseTemplate::new(200).set_body_json(history(id, row)))
            .expect(1)
            .mount(&slack)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/chat.postMessage"))
            .respond_with(
                ResponseTemplate::new(200).set_body_json(json!({"ok": true, "channel": "C024BE91L", "ts": ROOT_TS})),
            )
            .mount(&slack)
            .await;
        let d = dispatcher(&h, &[("SLACK_TOKEN", token.as_str())], ManualClock::new());
        assert_eq!(d.drain().await.unwrap().sent, 1, "{case}");
        // A later event replies in the thread without searching again (the mock expects one search).
        h.svc
            .notify(req(id, "slack", Some("update")), Caller::MCP)
            .await
            .unwrap();
        assert_eq!(d.drain().await.unwrap().sent, 1, "{case}");
        let posts: Vec<Value> = slack
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path() == "/api/chat.postMessage")
            .map(|r| r.body_json().unwrap())
            .collect();
        let roots: Vec<&Value> = posts.iter().filter(|p| p.get("thread_ts").is_none()).collect();
        let replies = posts.iter().filter(|p| p["thread_ts"] == ROOT_TS).count();
        match case {
            "this row was posted by an attempt that died" => assert_eq!((roots.len(), replies), (0, 1), "{case}"),
            "another row opened the thread" => assert_eq!((roots.len(), replies), (0, 2), "{case}"),
            _ => {
                assert_eq!((roots.len(), replies), (1, 1), "{case}");
                let meta = &roots[0]["metadata"];
                assert_eq!(meta["event_type"], "incident_mcp_root", "{case}");
                assert_eq!(
                    meta["event_payload"],
                    json!({"incident": id.to_string(), "outbox_id": row})
                );
            }
        }
        slack.verify().await;
    }
}

#[tokio::test]
async fn slack_ok_false_is_a_dead_letter_and_targets_are_names_not_urls() {
    let (slack, h) = slack_bot("#nope").await;
    let id = first_incident(&h).await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": false, "error": "channel_not_found"})))
        .expect(1)
        .mount(&slack)
        .await;
    let token = secret("slack-bot-token");
    let d = dispatcher(&h, &[("SLACK_TOKEN", token.as_str())], ManualClock::new());
    h.svc.notify(req(id, "slack", None), Caller::MCP).await.unwrap();
    assert_eq!(d.drain().await.unwrap().dead, 1);
    let dead = h.svc.outbox_list(true, 10, None).await.unwrap();
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
    // The last path segment is the secret part of an incoming-webhook URL.
    let hook_path = format!("/services/T000/B000/{}", secret("slack-hook"));
    Mock::given(method("POST"))
        .and(path(hook_path.as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&slack)
        .await;
    let url = format!("{}{hook_path}", slack.uri());
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
    let metadata = format!("http://169.254.169.254/latest/meta-data/{}", secret("slack-hook-ssrf"));
    let d = dispatcher(&h, &[("SLACK_HOOK", metadata.as_str())], ManualClock::new());
    h.svc.notify(req(id, "slack", None), Caller::MCP).await.unwrap();
    assert_eq!(d.drain().await.unwrap().dead, 1);
    let dead = h.svc.outbox_list(true, 1, None).await.unwrap();
    let error = dead.rows[0].last_error.clone().unwrap();
    assert!(
        error.contains("the URL in SLACK_HOOK: must be https") && !error.contains("169.254"),
        "{error}"
    );
}
