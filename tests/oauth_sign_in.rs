//! Issue 15, item 3 (approver sign-in): the approval page's OpenID Connect sign-in against a
//! real provider (npm `oidc-provider`), served by the real binary. A cookie-keeping HTTP client
//! walks the provider's own login and consent forms the way a browser does (the headless
//! browser does it too, in `oauth_browser`); stopping at the redirect back to the page lets
//! these tests replay, tamper with and misdirect the callback.

use crate::oidc_provider::{Site, assert_not_logged, site, site_agent_key};

use incident_mcp::store::{SqliteStore, ports::AuditStore};
use reqwest::{StatusCode, redirect};
use serde_json::Value;

const APPROVERS: &str = "[[approvers]]\nname = 'alice'\noidc_subject = 'alice'\n\n\
                         [[approvers]]\nname = 'bob'\nemail = 'bob@example.test'\n";

/// A browser-like client: keeps cookies, follows redirects except the one back to the page's
/// callback, which it returns.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::custom(|attempt| {
            if attempt.url().path() == "/ui/oidc/callback" {
                attempt.stop()
            } else if attempt.previous().len() > 10 {
                attempt.error("too many redirects")
            } else {
                attempt.follow()
            }
        }))
        .build()
        .unwrap()
}

/// The `action` of the page's (only) form, made absolute against `base`.
fn form_action(html: &str, base: &str) -> String {
    let re = regex::Regex::new(r#"<form[^>]*action="([^"]+)""#).unwrap();
    let action = &re.captures(html).unwrap_or_else(|| panic!("no form in:\n{html}"))[1];
    if action.starts_with("http") {
        action.to_owned()
    } else {
        format!("{base}{action}")
    }
}

/// Starts a sign-in on the page and signs in at the provider's login form as `login` (and
/// consents): the URL of the provider's redirect back to the page.
async fn sign_in_at_provider(site: &Site, client: &reqwest::Client, login: &str) -> String {
    let page = client
        .get(format!("{}/ui/oidc/start", site.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the provider's login form");
    assert!(page.url().as_str().starts_with(&site.provider.issuer), "{}", page.url());
    let html = page.text().await.unwrap();
    assert!(html.contains("name=\"login\""), "{html}");
    let resp = client
        .post(form_action(&html, &site.provider.issuer))
        .form(&[("prompt", "login"), ("login", login), ("password", "any password")])
        .send()
        .await
        .unwrap();
    let resp = if resp.status() == 200 {
        // The consent form.
        let html = resp.text().await.unwrap();
        assert!(html.contains("value=\"consent\""), "{html}");
        client
            .post(form_action(&html, &site.provider.issuer))
            .form(&[("prompt", "consent")])
            .send()
            .await
            .unwrap()
    } else {
        resp
    };
    assert!(resp.status().is_redirection(), "{}", resp.status());
    let to = resp.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        to.starts_with(&format!("{}/ui/oidc/callback?", site.server.base)),
        "{to}"
    );
    to
}

/// The page's answer to `url` (no redirects followed): status, body, and whether it set the
/// session cookie.
async fn visit(client: &reqwest::Client, url: &str) -> (StatusCode, String, bool) {
    let resp = client.get(url).send().await.unwrap();
    let status = resp.status();
    let session = resp
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.starts_with("incident_ui=") && !c.contains("Max-Age=0"));
    (status, resp.text().await.unwrap(), session)
}

/// Who the queue page says is signed in, if anyone (it redirects to sign-in otherwise).
async fn signed_in_as(site: &Site, client: &reqwest::Client) -> Option<String> {
    let resp = client
        .get(format!("{}/ui/plans", site.server.base))
        .send()
        .await
        .unwrap();
    if resp.url().path() != "/ui/plans" {
        return None;
    }
    let html = resp.text().await.unwrap();
    let re = regex::Regex::new(r"Signed in as <strong>([^<]+)</strong>").unwrap();
    re.captures(&html).map(|c| c[1].to_owned())
}

async fn refusals(site: &Site) -> Vec<Value> {
    let store = SqliteStore::open(&site.db).await.unwrap();
    let mut log = store.audit_recent(200).await.unwrap();
    log.reverse();
    log.into_iter()
        .filter(|e| e.kind == "refusal")
        .map(|e| e.payload)
        .collect()
}

fn query_param(url: &str, name: &str) -> String {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

#[tokio::test]
async fn approvers_sign_in_by_subject_or_verified_email() {
    let site = site(APPROVERS).await;
    // The sign-in page offers single sign-on.
    let html = reqwest::get(format!("{}/ui/sign-in", site.server.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("href=\"/ui/oidc/start\"") && html.contains("Sign in with the test provider"));

    let mut codes = Vec::new();
    for (login, approver) in [("alice", "alice"), ("robert", "bob")] {
        let client = browser();
        let callback = sign_in_at_provider(&site, &client, login).await;
        codes.push(query_param(&callback, "code"));
        let (status, body, session) = visit(&client, &callback).await;
        assert_eq!(status, 200, "{login}: {body}");
        assert!(session, "{login}: the session cookie is set");
        assert!(
            body.contains(&format!("Signed in as <strong>{approver}</strong>")),
            "{body}"
        );
        assert!(body.contains("http-equiv=\"refresh\""), "moves on to the queue");
        assert_eq!(signed_in_as(&site, &client).await.as_deref(), Some(approver), "{login}");
    }
    assert!(refusals(&site).await.is_empty());
    let stderr = site.server.stderr.lock().unwrap().clone();
    assert!(stderr.contains("signed in with single sign-on"), "{stderr}");
    for c in &codes {
        assert!(
            c.len() >= 16 && !stderr.contains(c.as_str()),
            "an authorization code is in the log"
        );
    }
    let codes: Vec<&str> = codes.iter().map(String::as_str).collect();
    assert_not_logged(&codes);
}

#[tokio::test]
async fn unmapped_and_unverified_identities_are_refused_and_audited() {
    let site = site(APPROVERS).await;
    for (login, shown) in [("mallory", "mallory@example.test"), ("eve", "eve")] {
        let client = browser();
        let callback = sign_in_at_provider(&site, &client, login).await;
        let (status, body, session) = visit(&client, &callback).await;
        assert_eq!(status, 403, "{login}: {body}");
        assert!(!session, "{login}: no session");
        assert!(
            body.contains(&format!("as {shown}, who is not an approver here")),
            "{login}: {body}"
        );
        assert_eq!(signed_in_as(&site, &client).await, None, "{login}");
    }
    let refused = refusals(&site).await;
    let unmapped: Vec<(&str, bool)> = refused
        .iter()
        .filter(|p| p["reason"] == "oidc_unmapped")
        .map(|p| (p["subject"].as_str().unwrap(), p["email_verified"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        unmapped,
        [("mallory", true), ("eve", false)],
        "eve has bob's email, unverified: {refused:?}"
    );
}

#[tokio::test]
async fn a_callback_is_single_use_and_bound_to_the_browser_that_started_it() {
    let site = site(APPROVERS).await;

    // Another browser (no pending sign-in cookie) cannot use alice's callback...
    let alice = browser();
    let callback = sign_in_at_provider(&site, &alice, "alice").await;
    let (status, body, session) = visit(&browser(), &callback).await;
    assert_eq!((status, session), (StatusCode::FORBIDDEN, false), "{body}");
    // ...nor a state changed in the URL, which spends the pending sign-in...
    let state = query_param(&callback, "state");
    let tampered = callback.replace(&format!("state={state}"), "state=forged");
    assert_ne!(tampered, callback);
    let (status, _, session) = visit(&alice, &tampered).await;
    assert_eq!((status, session), (StatusCode::FORBIDDEN, false));
    let (status, _, session) = visit(&alice, &callback).await;
    assert_eq!(
        (status, session),
        (StatusCode::FORBIDDEN, false),
        "spent by the forged state"
    );

    // ...and a callback that worked once does not work twice.
    let client = browser();
    let callback = sign_in_at_provider(&site, &client, "alice").await;
    let (status, _, session) = visit(&client, &callback).await;
    assert_eq!((status, session), (StatusCode::OK, true));
    let (status, _, session) = visit(&client, &callback).await;
    assert_eq!((status, session), (StatusCode::FORBIDDEN, false), "replayed");

    // What the page asks the provider for, and a refusal coming back (the user cancelled).
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(redirect::Policy::none())
        .build()
        .unwrap();
    let start = client
        .get(format!("{}/ui/oidc/start", site.server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(start.status(), 303);
    let cookie = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    for attribute in ["incident_ui_oidc=", "Path=/ui/oidc", "HttpOnly", "SameSite=Lax"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let authorize = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        authorize.starts_with(&format!("{}/auth?", site.provider.issuer)),
        "{authorize}"
    );
    for (k, v) in [
        ("response_type", "code"),
        ("client_id", "approvals"),
        ("scope", "openid email"),
        ("code_challenge_method", "S256"),
    ] {
        assert_eq!(query_param(&authorize, k), v, "{authorize}");
    }
    for k in ["state", "nonce", "code_challenge"] {
        assert!(
            query_param(&authorize, k).len() >= 43,
            "{k} is 256 random bits: {authorize}"
        );
    }
    let cancelled = format!(
        "{}/ui/oidc/callback?error=access_denied&state={}&iss={}",
        site.server.base,
        query_param(&authorize, "state"),
        site.provider.issuer
    );
    let (status, body, _) = visit(&client, &cancelled).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("cancelled"), "{body}");

    let errors: Vec<String> = refusals(&site)
        .await
        .iter()
        .filter(|p| p["reason"] == "oidc_sign_in_failed")
        .map(|p| p["error"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        errors,
        [
            "no_pending_sign_in",
            "state_mismatch",
            "no_pending_sign_in",
            "no_pending_sign_in",
            "refused_by_issuer"
        ],
        "each refused callback is audited"
    );
    // The agent's key never signs anyone in, and the REST API still takes it.
    let resp = reqwest::Client::new()
        .get(format!("{}/api/incidents", site.server.base))
        .bearer_auth(site_agent_key())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}
