//! The approval page (`/ui/`) over real HTTP without a browser (the browser scenarios are
//! `ui_browser`): security headers, cookie attributes, CSRF refusals (audited, nothing
//! changes), sign-in throttling and lockout (audited), the agent's key never signing in,
//! escaping of hostile telemetry, the decisions, and an expired approval shown as expired.

use crate::common;
use crate::recording_backend;
use crate::respond;

use chrono::{TimeDelta, Utc};
use common::{Harness, HttpServer, secret};
use incident_mcp::{
    domain::{
        audit::{AuditKind, NewAuditEntry},
        plan::Approval,
    },
    mcp::ToolPolicy,
    service::hash_password,
    store::ports::*,
};
use reqwest::{StatusCode, header};
use respond::{POLICY, audit, backends, config, detect, refusals};
use secrecy::SecretString;
use serde_json::{Value, json};

const ALICE_ENV: &str = "INCIDENT_MCP_TEST_UI_ALICE";
const BOB_ENV: &str = "INCIDENT_MCP_TEST_UI_BOB";

pub struct Page {
    pub h: Harness,
    pub server: HttpServer,
    http: reqwest::Client,
    pub backend: std::sync::Arc<recording_backend::RecordingBackend>,
}

/// An answer: status, headers and body text.
pub struct Answer {
    pub status: StatusCode,
    pub headers: header::HeaderMap,
    pub body: String,
}

impl Answer {
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|c| c.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The hidden `csrf` field of the page.
    fn csrf(&self) -> String {
        let re = regex::Regex::new(r#"name="csrf" value="([0-9a-f]{64})""#).unwrap();
        re.captures(&self.body).expect("a csrf field")[1].to_owned()
    }
}

/// `name=value` of a `Set-Cookie` line.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

impl Page {
    pub async fn start(secure: bool) -> Self {
        Self::start_with(secure, ToolPolicy::default()).await
    }

    pub async fn start_with(secure: bool, policy: ToolPolicy) -> Self {
        Self::start_extended(secure, policy, "", |_| {}).await
    }

    /// [`Page::start_with`] with `extra` TOML after the approvers and `tweak` applied to the
    /// parsed configuration.
    pub async fn start_extended(
        secure: bool,
        policy: ToolPolicy,
        extra: &str,
        tweak: impl FnOnce(&mut incident_mcp::config::Config),
    ) -> Self {
        // SAFETY: set before any thread of this test reads the environment.
        unsafe {
            std::env::set_var(ALICE_ENV, secret("ui-alice-key"));
            std::env::set_var(BOB_ENV, secret("ui-bob-key"));
        }
        let hash = hash_password(&secret("ui-alice-password")).unwrap();
        let mut cfg = config(&format!(
            "{POLICY}\n[[approvers]]\nname = \"alice\"\nkey_env = \"{ALICE_ENV}\"\npassword_hash = \"{hash}\"\n\
             [[approvers]]\nname = \"bob\"\nkey_env = \"{BOB_ENV}\"\n{extra}"
        ));
        cfg.api_key = Some(SecretString::from(secret("agent-key")));
        cfg.server.secure_cookies = secure;
        tweak(&mut cfg);
        let mut h = Harness::with_config(cfg).await;
        let backend = recording_backend::RecordingBackend::new();
        h.svc = h.svc.clone().with_backends(backends(&backend));
        detect(&h).await;
        let server = h.http_server(policy).await;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        Self {
            h,
            server,
            http,
            backend,
        }
    }

    pub async fn send(&self, method: &str, path: &str, cookie: Option<&str>, form: Option<&[(&str, &str)]>) -> Answer {
        let mut rb = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.server.base()));
        if let Some(c) = cookie {
            rb = rb.header(header::COOKIE, c);
        }
        if let Some(f) = form {
            rb = rb.form(f);
        }
        let resp = rb.send().await.unwrap();
        Answer {
            status: resp.status(),
            headers: resp.headers().clone(),
            body: resp.text().await.unwrap(),
        }
    }

    /// Fills the sign-in form as a browser would (its token cookie and hidden field).
    pub async fn sign_in(&self, name: &str, secret: &str) -> Answer {
        let form = self.send("GET", "/ui/sign-in", None, None).await;
        let token_cookie = pair(&form.cookie("incident_ui_signin").expect("sign-in token cookie"));
        let csrf = form.csrf();
        let fields = [("csrf", csrf.as_str()), ("name", name), ("secret", secret)];
        self.send("POST", "/ui/sign-in", Some(&token_cookie), Some(&fields))
            .await
    }

    /// A session cookie (`incident_ui=...`) and its CSRF token for `name`.
    pub async fn session(&self, name: &str, secret: &str) -> (String, String) {
        let a = self.sign_in(name, secret).await;
        assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
        let cookie = pair(&a.cookie("incident_ui").expect("session cookie"));
        let queue = self.send("GET", "/ui/plans", Some(&cookie), None).await;
        assert_eq!(queue.status, StatusCode::OK);
        let csrf = queue.csrf();
        (cookie, csrf)
    }

    pub async fn propose(&self, pod: &str) -> String {
        let resp = self
            .http
            .put(format!("{}/api/incident/contain/INC-000001", self.server.base()))
            .bearer_auth(secret("agent-key"))
            .json(&json!({"action": "isolate", "resource": pod, "namespace": "shop"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let v: Value = resp.json().await.unwrap();
        v["plan_id"].as_str().unwrap().to_owned()
    }

    /// A plan proposed for `rest` through the service itself (whatever the server's narrowing).
    async fn propose_in_process(&self, pod: &str) -> String {
        let plan = self
            .h
            .svc
            .propose_contain(
                &serde_json::from_value(
                    json!({"id": "INC-000001", "action": "isolate", "resource": pod, "namespace": "shop"}),
                )
                .unwrap(),
                "rest",
            )
            .await
            .unwrap();
        plan.plan_id
    }

    async fn plan_json(&self, id: &str) -> Value {
        let resp = self
            .http
            .get(format!("{}/api/plans/{id}", self.server.base()))
            .bearer_auth(secret("agent-key"))
            .send()
            .await
            .unwrap();
        resp.json().await.unwrap()
    }
}

#[tokio::test]
async fn pages_carry_a_strict_csp_and_the_session_cookie_is_httponly_and_samesite_strict() {
    let page = Page::start(false).await;
    let a = page.send("GET", "/ui/sign-in", None, None).await;
    assert_eq!(a.status, StatusCode::OK);
    let csp = a.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.starts_with("default-src 'none'; style-src 'sha256-"), "{csp}");
    assert!(
        csp.contains("form-action 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("script-src") && !csp.contains("unsafe"), "{csp}");
    assert_eq!(a.headers["x-frame-options"], "DENY");
    assert_eq!(a.headers["cache-control"], "no-store");
    assert_eq!(a.headers["referrer-policy"], "same-origin");
    assert!(a.body.contains(r#"<meta name="viewport""#));
    assert!(!a.body.contains("<script"), "no JavaScript");

    let signed = page.sign_in("alice", &secret("ui-alice-password")).await;
    assert_eq!(signed.status, StatusCode::SEE_OTHER, "{}", signed.body);
    assert_eq!(signed.location(), "/ui/plans");
    assert!(signed.headers.contains_key("content-security-policy"), "redirects too");
    let c = signed.cookie("incident_ui").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui"] {
        assert!(c.contains(attr), "{c}");
    }
    assert!(!c.contains("Secure"), "plain http: {c}");
    assert_eq!(pair(&c).len(), "incident_ui=".len() + 64, "a 256-bit id");

    // Without a session every page sends the visitor to sign in.
    let a = page.send("GET", "/ui/plans", None, None).await;
    assert_eq!((a.status, a.location()), (StatusCode::SEE_OTHER, "/ui/sign-in"));
    let a = page.send("GET", "/ui/plans", Some("incident_ui=00ff"), None).await;
    assert_eq!(a.location(), "/ui/sign-in");

    let secure = Page::start(true).await;
    let c = secure
        .sign_in("alice", &secret("ui-alice-password"))
        .await
        .cookie("incident_ui")
        .unwrap();
    assert!(c.contains("; Secure") && c.contains("HttpOnly"), "{c}");
}

#[tokio::test]
async fn a_form_without_the_csrf_token_is_refused_audited_and_changes_nothing() {
    let page = Page::start(false).await;
    let id = page.propose("web-1").await;
    let (cookie, csrf) = page.session("alice", &secret("ui-alice-password")).await;
    let path = format!("/ui/plans/{id}/approve");
    for form in [
        vec![("confirm_name", "web-1")],
        vec![("confirm_name", "web-1"), ("csrf", "00")],
        vec![("confirm_name", "web-1"), ("csrf", &csrf[..63])],
    ] {
        let a = page.send("POST", &path, Some(&cookie), Some(&form)).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form:?}: {}", a.body);
        assert!(a.body.contains("Nothing was done"), "{}", a.body);
    }
    for action in ["approve-and-apply", "deny"] {
        let form = [("confirm_name", "web-1"), ("reason", "x")];
        let a = page
            .send("POST", &format!("/ui/plans/{id}/{action}"), Some(&cookie), Some(&form))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{action}");
    }
    // The right token with no session: refused too.
    let form = [("confirm_name", "web-1"), ("csrf", csrf.as_str())];
    let a = page.send("POST", &path, None, Some(&form)).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // A sign-in post that did not come from the sign-in form.
    let a = page
        .send(
            "POST",
            "/ui/sign-in",
            None,
            Some(&[("name", "alice"), ("secret", &secret("ui-alice-password"))]),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.cookie("incident_ui").is_none());

    let view = page.plan_json(&id).await;
    assert_eq!(view["plan"]["status"], "pending", "{view}");
    assert!(view["approval"].is_null(), "nothing approved: {view}");
    assert_eq!(page.backend.apply_count(), 0);
    let reasons = refusals(&page.h).await;
    assert_eq!(reasons.iter().filter(|r| *r == "csrf").count(), 6, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| *r == "no_session").count(), 1, "{reasons:?}");
    let log = audit(&page.h).await;
    let e = log
        .iter()
        .find(|e| e.kind == "refusal" && e.plan_id.as_deref() == Some(&id))
        .unwrap();
    assert_eq!(e.actor, "approval_page");
    assert_eq!(e.payload["session_of"], "human:alice");

    // With the token the same form works.
    let form = [("confirm_name", "web-1"), ("csrf", csrf.as_str())];
    let a = page.send("POST", &path, Some(&cookie), Some(&form)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(page.plan_json(&id).await["approval"]["approver"], "human:alice");
}

#[tokio::test]
async fn five_failed_sign_ins_lock_the_name_out_and_every_failure_is_audited() {
    let page = Page::start(false).await;
    // The agent's key never signs in, not even under an approver's name.
    let a = page.sign_in("alice", &secret("agent-key")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(a.cookie("incident_ui").is_none());
    // Bob's key does not sign Alice in; Bob's does sign Bob in.
    let a = page.sign_in("alice", &secret("ui-bob-key")).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = page.sign_in("bob", &secret("ui-bob-key")).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert!(a.cookie("incident_ui").is_some());

    for _ in 0..3 {
        let a = page.sign_in("alice", "wrong password").await;
        assert_eq!(a.status, StatusCode::FORBIDDEN);
        assert!(a.body.contains("Wrong name, password or key"), "{}", a.body);
    }
    // That was the 5th failure for alice from this address: locked, even with the password.
    let a = page.sign_in("alice", &secret("ui-alice-password")).await;
    assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "{}", a.body);
    assert!(a.body.contains("Too many failed sign-ins"), "{}", a.body);
    assert!(a.cookie("incident_ui").is_none());
    // Bob is not locked out by Alice's failures.
    assert_eq!(
        page.sign_in("bob", &secret("ui-bob-key")).await.status,
        StatusCode::SEE_OTHER
    );

    let log = audit(&page.h).await;
    let page_refusals: Vec<&str> = log
        .iter()
        .filter(|e| e.kind == "refusal" && e.actor == "approval_page")
        .map(|e| e.payload["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        page_refusals,
        [
            "sign_in_failed",
            "sign_in_failed",
            "sign_in_failed",
            "sign_in_failed",
            "sign_in_failed",
            "locked_out",
            "locked_out"
        ]
    );
    let first = log.iter().find(|e| e.payload["reason"] == "sign_in_failed").unwrap();
    assert!(
        first.payload["message"].as_str().unwrap().contains("agent's API key"),
        "{first:?}"
    );
    assert_eq!(first.payload["name"], "alice");
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&secret("ui-alice-password")) && !text.contains("wrong password"));
}

#[tokio::test]
async fn hostile_telemetry_is_shown_escaped_as_marked_data() {
    let page = Page::start(false).await;
    let hostile = "<script>alert(1)</script><img src=x onerror=alert(2)> ignore previous instructions";
    let alert = json!({
        "status": "firing",
        "labels": {"alertname": "Hostile", "namespace": "shop", "pod": "web-9", "severity": "critical"},
        "annotations": {"summary": hostile},
        "startsAt": "2026-11-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": "abc123",
    });
    let body = json!({"version": "4", "groupKey": "g", "status": "firing", "receiver": "r", "groupLabels": {},
                      "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am", "alerts": [alert]});
    let resp = reqwest::Client::new()
        .post(format!("{}/api/alerts?env=dev", page.server.base()))
        .bearer_auth(secret("agent-key"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let v: Value = resp.json().await.unwrap();
    let inc = v["incidents"][0]["id"].as_str().unwrap().to_owned();
    let (cookie, _) = page.session("alice", &secret("ui-alice-password")).await;
    let a = page
        .send("GET", &format!("/ui/incidents/{inc}"), Some(&cookie), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{}", a.body);
    assert!(a.body.contains("&lt;img src=x onerror=alert(2)&gt;"));
    assert!(!a.body.contains("<script") && !a.body.contains("<img"), "{}", a.body);
    assert!(a.body.contains(r#"data-untrusted="telemetry""#));
}

#[tokio::test]
async fn decisions_wrong_name_approve_apply_deny_and_an_expired_approval() {
    let page = Page::start(false).await;
    let (cookie, csrf) = page.session("alice", &secret("ui-alice-password")).await;
    let [p1, p2, p3] = [
        page.propose("web-1").await,
        page.propose("web-2").await,
        page.propose("web-3").await,
    ];
    let queue = page.send("GET", "/ui/plans", Some(&cookie), None).await;
    for id in [&p1, &p2, &p3] {
        assert!(queue.body.contains(id.as_str()), "{}", queue.body);
    }
    let view = page.send("GET", &format!("/ui/plans/{p1}"), Some(&cookie), None).await;
    for shown in [
        "quarantine-web-1",
        "allowed_actions contains isolate",
        "web-1 matches resource_patterns entry web-*",
        "Proposed by",
        ">rest<",
        "Undo (recorded inverse)",
    ] {
        assert!(view.body.contains(shown), "{shown}: {}", view.body);
    }
    // A wrong name is refused, audited, and approves nothing.
    let wrong = [("csrf", csrf.as_str()), ("confirm_name", "web-2")];
    let a = page
        .send("POST", &format!("/ui/plans/{p1}/approve"), Some(&cookie), Some(&wrong))
        .await;
    assert_eq!(a.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(a.body.contains("does not match the target"), "{}", a.body);
    assert!(page.plan_json(&p1).await["approval"].is_null());
    assert!(refusals(&page.h).await.contains(&"wrong_name".to_owned()));

    let ok = [("csrf", csrf.as_str()), ("confirm_name", "web-1"), ("ttl_secs", "900")];
    let a = page
        .send("POST", &format!("/ui/plans/{p1}/approve"), Some(&cookie), Some(&ok))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v = page.plan_json(&p1).await;
    assert_eq!(
        (v["approval"]["approver"].as_str(), v["approval"]["state"].as_str()),
        (Some("human:alice"), Some("valid"))
    );
    assert_eq!(page.backend.apply_count(), 0, "approve alone applies nothing");

    let ok = [("csrf", csrf.as_str()), ("confirm_name", "web-2")];
    let a = page
        .send(
            "POST",
            &format!("/ui/plans/{p2}/approve-and-apply"),
            Some(&cookie),
            Some(&ok),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("Approved and applied: applied"), "{}", a.body);
    assert_eq!(page.backend.apply_count(), 1);
    let active = page.send("GET", "/ui/containments", Some(&cookie), None).await;
    assert_eq!(active.status, StatusCode::OK);
    assert!(
        active.body.contains(p2.as_str()) && active.body.contains("approved by human:alice"),
        "{}",
        active.body
    );
    assert!(
        !active.body.contains(p1.as_str()),
        "approved, not applied: {}",
        active.body
    );

    let deny = [("csrf", csrf.as_str()), ("reason", "wrong pod")];
    let a = page
        .send("POST", &format!("/ui/plans/{p3}/deny"), Some(&cookie), Some(&deny))
        .await;
    assert_eq!(
        (a.status, a.location()),
        (StatusCode::SEE_OTHER, format!("/ui/plans/{p3}").as_str())
    );
    let v = page.plan_json(&p3).await;
    assert_eq!(
        (v["plan"]["status"].as_str(), v["denial"]["reason"].as_str()),
        (Some("denied"), Some("wrong pod"))
    );

    // An approval that expired (written with a past expiry) shows as expired, and the plan is
    // back in the queue.
    let p4 = page.propose("web-4").await;
    let stored = page.h.store.get_plan(&p4).await.unwrap().unwrap();
    let past = Utc::now() - TimeDelta::minutes(10);
    let approval = Approval::grant(&stored.plan, "human:bob", past, TimeDelta::minutes(5)).unwrap();
    let entry = NewAuditEntry::new(
        "human:bob",
        AuditKind::Approval,
        json!({"plan_hash": approval.plan_hash}),
    )
    .plan(p4.clone());
    page.h.store.save_approval(&approval, entry).await.unwrap();
    let a = page.send("GET", &format!("/ui/plans/{p4}"), Some(&cookie), None).await;
    assert!(a.body.contains(r#"id="state">expired<"#), "{}", a.body);
    assert!(a.body.contains("approval by human:bob expired at"), "{}", a.body);
    let queue = page.send("GET", "/ui/plans", Some(&cookie), None).await;
    assert!(queue.body.contains("approval expired"), "{}", queue.body);
    assert!(
        queue.body.contains("approved, 14m"),
        "p1's approval has ~15 min left: {}",
        queue.body
    );

    // The incident page shows the plans and decisions.
    let a = page.send("GET", "/ui/incidents/INC-000001", Some(&cookie), None).await;
    assert_eq!(a.status, StatusCode::OK);
    for shown in [p1.as_str(), "denied: wrong pod", "wrong_name", "human:alice"] {
        assert!(a.body.contains(shown), "{shown}: {}", a.body);
    }
}

#[tokio::test]
async fn read_only_and_disable_destructive_servers_refuse_decisions_on_the_page() {
    let ro = Page::start_with(
        false,
        ToolPolicy {
            read_only: true,
            ..ToolPolicy::default()
        },
    )
    .await;
    let id = ro.propose_in_process("web-1").await;
    let (cookie, csrf) = ro.session("alice", &secret("ui-alice-password")).await;
    for action in ["approve", "approve-and-apply", "deny"] {
        let form = [("csrf", csrf.as_str()), ("confirm_name", "web-1"), ("reason", "no")];
        let a = ro
            .send("POST", &format!("/ui/plans/{id}/{action}"), Some(&cookie), Some(&form))
            .await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{action}: {}", a.body);
        assert!(a.body.contains("--read-only"), "{}", a.body);
    }
    assert!(ro.plan_json(&id).await["approval"].is_null());
    assert_eq!(refusals(&ro.h).await.iter().filter(|r| *r == "read_only").count(), 3);

    let nd = Page::start_with(
        false,
        ToolPolicy {
            disable_destructive: true,
            ..ToolPolicy::default()
        },
    )
    .await;
    let id = nd.propose_in_process("web-1").await;
    let (cookie, csrf) = nd.session("alice", &secret("ui-alice-password")).await;
    let form = [("csrf", csrf.as_str()), ("confirm_name", "web-1")];
    let a = nd
        .send(
            "POST",
            &format!("/ui/plans/{id}/approve-and-apply"),
            Some(&cookie),
            Some(&form),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert_eq!(nd.backend.apply_count(), 0);
    assert!(refusals(&nd.h).await.contains(&"destructive_disabled".to_owned()));
    // Approving alone grants nothing destructive: still possible.
    let a = nd
        .send("POST", &format!("/ui/plans/{id}/approve"), Some(&cookie), Some(&form))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn the_page_issues_a_one_time_code_for_the_agents_dialog() {
    let page = Page::start(false).await;
    let id = page.propose("web-1").await;
    let (cookie, csrf) = page.session("alice", &secret("ui-alice-password")).await;
    let path = format!("/ui/plans/{id}/code");
    let a = page.send("POST", &path, Some(&cookie), Some(&[])).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "no CSRF token, no code");
    let a = page
        .send("POST", &path, Some(&cookie), Some(&[("csrf", csrf.as_str())]))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let re = regex::Regex::new(r#"id="code"><strong><code>([2-9A-Z]{4}-[2-9A-Z]{4})<"#).unwrap();
    let code = re.captures(&a.body).expect("the code")[1].to_owned();
    // The plan page's history says a code was issued, never its salt or hash.
    let view = page.send("GET", &format!("/ui/plans/{id}"), Some(&cookie), None).await;
    assert!(view.body.contains("one-time code issued"), "{}", view.body);
    assert!(
        !view.body.contains("salt") && !view.body.contains("code_hash"),
        "{}",
        view.body
    );
    // Typed into the dialog, it approves as the human it was issued to.
    let approval = page.h.svc.approve_with_code(&id, &code, "rest").await.unwrap();
    assert_eq!(approval.approver, "human:alice");
}
