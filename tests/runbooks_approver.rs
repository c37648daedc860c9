//! Issue 14 item 5, where the approving human decides: the approval page and the Slack approval
//! message show the incident's runbook, dashboard and alert-rule links and the alert's
//! description. Links are data: only checked http(s) URLs become plain links (`<url>` in
//! Slack; `<a href rel="noopener noreferrer">` on the page, whose text is the URL itself);
//! hostile annotations (`javascript:`, markup, mentions) are neutralised; the page's CSP is
//! unchanged.
//!
//! Slack's Web API is the wiremock fake of `slack_interactions` (exact method paths, the bot
//! token, `{"ok": true}` answers); the exact blocks it received are asserted.

use crate::common;
use crate::slack_interactions::{form, press_payload, slack_sign};
use crate::ui_page::Page;

use common::secret;
use incident_mcp::{
    domain::Env,
    mcp::ToolPolicy,
    service::{AlertmanagerPayload, ContainRequest},
};
use reqwest::StatusCode;
use serde_json::{Value, json};
use wiremock::{
    Mock, MockServer, ResponseTemplate,
    matchers::{header, method, path},
};

const BOT_ENV: &str = "INCIDENT_MCP_TEST_RUNBOOK_SLACK_BOT";
const SIGNING_ENV: &str = "INCIDENT_MCP_TEST_RUNBOOK_SLACK_SIGNING";
const PUBLIC_URL: &str = "https://incidents.example.com";

fn bot_token() -> String {
    format!("xoxb-{}", secret("runbook-slack-bot"))
}

/// Alertmanager's webhook body with hostile annotations: a `javascript:` runbook, markup and a
/// Slack mention in the description, credentials and an API key in the dashboard URL.
fn hostile_alerts() -> Value {
    let mut p = crate::manage::alertmanager_payload();
    p["alerts"][0]["annotations"]["description"] =
        json!("5xx at 12%. <script>alert(1)</script><a href=\"javascript:alert(2)\">fix</a> <!channel> & ```done```");
    p
}

async fn mock(api: &MockServer, slack_method: &str) {
    Mock::given(method("POST"))
        .and(path(format!("/api/{slack_method}")))
        .and(header("authorization", format!("Bearer {}", bot_token()).as_str()))
        .and(header("content-type", "application/json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C024BE91L", "ts": "1767225600.000100"})),
        )
        .expect(1)
        .mount(api)
        .await;
}

async fn received(api: &MockServer, slack_method: &str) -> Vec<Value> {
    let p = format!("/api/{slack_method}");
    api.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path() == p)
        .map(|r| r.body_json().unwrap())
        .collect()
}

/// The runbook blocks every message about the plan carries.
fn runbook_blocks() -> Vec<Value> {
    vec![
        json!({"type": "section", "text": {"type": "mrkdwn", "text":
            "*Runbooks and dashboards* (data from the alerts and the configuration: check where a link points before \
             opening it)\n\
             • runbook (config, HighErrorRate): <https://wiki.example.com/runbooks/5xx>\n\
             • dashboard (alert, HighErrorRate): <https://grafana.example.com/d/http?orgId=1&amp;api_key=REDACTED>\n\
             • generator (alert, HighErrorRate): \
             <http://prometheus:9090/graph?g0.expr=rate%28http_5xx%5B5m%5D%29&amp;g0.tab=1>\n\
             • runbook (alert, HighErrorRate): <https://runbooks.example.com/high-error-rate#mitigation>"}}),
        json!({"type": "section", "text": {"type": "mrkdwn", "text":
            "*Alert description* (untrusted telemetry, shown as text):\n```5xx at 12%. \
             &lt;script&gt;alert(1)&lt;/script&gt;&lt;a href=\"javascript:alert(2)\"&gt;fix&lt;/a&gt; \
             &lt;!channel&gt; &amp; '''done'''```"}}),
    ]
}

#[tokio::test]
async fn the_approver_sees_the_incidents_runbooks_on_the_page_and_in_slack() {
    // SAFETY: set before any thread of this test reads the environment.
    unsafe {
        std::env::set_var(BOT_ENV, bot_token());
        std::env::set_var(SIGNING_ENV, secret("runbook-slack-signing"));
    }
    let api = MockServer::start().await;
    let extra = format!(
        "[notify]\nallow_insecure_loopback = true\n[notify.slack]\nbot_token_env = \"{BOT_ENV}\"\n\
         channel = \"#incidents\"\napi_url = \"{}/api\"\nsigning_secret_env = \"{SIGNING_ENV}\"\n\
         events = [\"approval\"]\n",
        api.uri()
    );
    let page = Page::start_extended(false, ToolPolicy::default(), &extra, |cfg| {
        cfg.alerts
            .runbooks
            .insert("HighErrorRate".into(), "https://wiki.example.com/runbooks/5xx".into());
        cfg.approvers[0].slack_user_id = Some("U0ALICE".into());
        cfg.server.public_url = Some(PUBLIC_URL.into());
    })
    .await;
    let svc = &page.h.svc;
    let report = svc
        .ingest_alerts(
            &Env::parse("dev").unwrap(),
            AlertmanagerPayload::from_json(&hostile_alerts()).unwrap(),
        )
        .await
        .unwrap();
    let id = report.incidents[0].id;
    let req: ContainRequest = serde_json::from_value(
        json!({"id": id.to_string(), "action": "isolate", "resource": "web-7", "namespace": "shop"}),
    )
    .unwrap();
    let plan = svc.propose_contain(&req, "mcp:claude").await.expect("plan");
    svc.announce_pending(&plan, "mcp:claude").await;
    let plan_id = plan.plan_id.clone();

    // Slack: the approval message, exactly.
    mock(&api, "chat.postMessage").await;
    let sent = svc.dispatcher().unwrap().drain().await.unwrap();
    assert_eq!(sent.sent, 1, "{sent:?}");
    let posts = received(&api, "chat.postMessage").await;
    let blocks = posts[0]["blocks"].as_array().unwrap().clone();
    assert_eq!(
        blocks[0]["text"]["text"],
        format!(
            "*Approval needed*\n*Incident:* {id}: HighErrorRate on pod/shop/web-7\n*Action:* isolate\n\
             *Target:* Pod/web-7 in namespace shop\n*Env:* dev\n*Proposed by:* mcp:claude\n*Plan:* {plan_id}"
        )
    );
    assert_eq!(blocks[1..3], runbook_blocks()[..], "{:#}", Value::Array(blocks.clone()));
    assert_eq!(blocks[3]["type"], "context");
    let buttons: Vec<&str> = blocks[4]["elements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["action_id"].as_str().unwrap())
        .collect();
    assert_eq!(buttons, ["approve_plan", "deny_plan", "get_code", "open_plan_page"]);
    assert_eq!(blocks.len(), 5);
    // Nothing from telemetry forms a link, a mention or markup (`javascript:` survives only as
    // escaped text in the description's code block); secrets in URLs are gone.
    let all = posts[0].to_string();
    for never in [
        "<javascript",
        "<script",
        "<!channel>",
        "<a ",
        "hunter2",
        "s3cret",
        "abc123",
    ] {
        assert!(!all.contains(never), "{never} in {all}");
    }

    // The message after a decision in Slack keeps the runbooks.
    mock(&api, "chat.update").await;
    let body = form(&press_payload("U0ALICE", "approve_plan", &plan_id));
    let ts = chrono::Utc::now().timestamp().to_string();
    let sig = slack_sign(&secret("runbook-slack-signing"), &ts, &body);
    let answer = reqwest::Client::new()
        .post(format!("{}/api/slack/interactions", page.server.base()))
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-slack-request-timestamp", &ts)
        .header("x-slack-signature", &sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let updates = received(&api, "chat.update").await;
    let updated = updates[0]["blocks"].as_array().unwrap();
    assert_eq!(updated.len(), 4, "{updates:#?}");
    assert_eq!(updated[1..3], runbook_blocks()[..]);
    assert!(
        updated[3]["text"]["text"]
            .as_str()
            .unwrap()
            .starts_with("Approved by alice"),
        "{updated:#?}"
    );

    // The approval page: plain, checked links; everything escaped; the CSP as on every page.
    let (cookie, _) = page.session("alice", &secret("ui-alice-password")).await;
    let a = page
        .send("GET", &format!("/ui/plans/{plan_id}"), Some(&cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
    assert!(!csp.contains("script-src") && !csp.contains("unsafe"), "{csp}");
    let html = &a.body;
    for link in [
        "https://wiki.example.com/runbooks/5xx",
        "https://grafana.example.com/d/http?orgId=1&amp;api_key=REDACTED",
        "http://prometheus:9090/graph?g0.expr=rate%28http_5xx%5B5m%5D%29&amp;g0.tab=1",
        "https://runbooks.example.com/high-error-rate#mitigation",
    ] {
        let anchor = format!(r#"<a href="{link}" rel="noopener noreferrer">{link}</a>"#);
        assert!(html.contains(&anchor), "{anchor} missing:\n{html}");
    }
    assert!(
        html.contains(
            "<pre id=\"runbook-description\">5xx at 12%. &lt;script&gt;alert(1)&lt;/script&gt;&lt;a \
             href=&quot;javascript:alert(2)&quot;&gt;fix&lt;/a&gt; &lt;!channel&gt; &amp; ```done```</pre>"
        ),
        "{html}"
    );
    assert!(
        !html.contains("<script") && !html.contains("href=\"javascript"),
        "{html}"
    );
    let hrefs: Vec<&str> = html
        .split("href=\"")
        .skip(1)
        .map(|s| &s[..s.find('"').unwrap()])
        .filter(|h| !h.starts_with('/'))
        .collect();
    assert_eq!(hrefs.len(), 4, "only the four checked links leave the site: {hrefs:?}");
    // The incident page shows them too.
    let a = page
        .send("GET", &format!("/ui/incidents/{id}"), Some(&cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.body.contains("id=\"incident-runbooks\"")
            && a.body
                .contains(r#"<a href="https://wiki.example.com/runbooks/5xx" rel="noopener noreferrer">"#),
        "{}",
        a.body
    );
}
