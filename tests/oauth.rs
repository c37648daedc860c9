//! Issue 15, acceptance 3 (the resource server): `/mcp` behind OAuth 2.1 with a real
//! authorization server, npm `oidc-provider` (`tests/oauth/provider.mjs`), issuing JWT access
//! tokens through the client credentials grant. The server runs in-process on a port bound
//! before the provider starts, so the tokens can name its resource URL as their audience.
//! Driven over real HTTP: rmcp's streamable HTTP client where the MCP conversation matters,
//! plain requests where the status and `WWW-Authenticate` are the point.

use std::{net::SocketAddr, path::Path, time::Duration};

use crate::common::{Harness, args, secret};
use crate::oidc_provider::{self, Provider, Setup, assert_not_logged, claims, header};
use crate::procs::eventually;

use base64::Engine;
use incident_mcp::{
    config::Config,
    mcp::ToolPolicy,
    store::ports::{AuditStore, PlanStore},
};
use reqwest::{StatusCode, header::HeaderMap};
use rmcp::{
    ServiceExt,
    model::CallToolRequestParams,
    transport::{StreamableHttpClientTransport, streamable_http_client::StreamableHttpClientTransportConfig},
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// Another resource the provider issues tokens for: a token for it is for someone else.
const OTHER_RESOURCE: &str = "https://billing.example.com/mcp";

const ALL: &str = "incidents:read incidents:respond incidents:notify";

const READ_ONLY_TOOLS: [&str; 5] = [
    "incident_analyze",
    "incident_containments",
    "incident_get",
    "incident_list",
    "incident_plan",
];

struct Rs {
    provider: Provider,
    harness: Harness,
    addr: SocketAddr,
    resource: String,
    ct: CancellationToken,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Rs {
    fn drop(&mut self) {
        self.ct.cancel();
    }
}

/// The `[oauth]` table for `issuer` and `resource`, plus `extra` lines.
fn oauth_toml(issuer: &str, resource: &str, extra: &str) -> String {
    format!("\n[oauth]\nissuer = '{issuer}'\nresource = '{resource}'\n{extra}")
}

/// The provider, then the server (the built-in config plus `[oauth]`, `key` as the static
/// key), listening on the port bound first.
async fn setup(key: Option<&str>, oauth_extra: &str) -> Rs {
    setup_in(tempfile::tempdir().unwrap(), 0, key, oauth_extra).await
}

/// [`setup`] in `dir`, the provider on `provider_port` (0: any).
async fn setup_in(dir: tempfile::TempDir, provider_port: u16, key: Option<&str>, oauth_extra: &str) -> Rs {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let resource = format!("http://{addr}/mcp");
    let provider = start_provider(dir.path(), &resource, provider_port).await;
    let text = format!(
        "{}{}",
        incident_mcp::config::DEFAULT_TOML,
        oauth_toml(&provider.issuer, &resource, oauth_extra)
    );
    let mut cfg = Config::parse_str(&text, "toml", "oauth test").expect("the test config");
    cfg.api_key = key.map(secrecy::SecretString::from);
    let mut harness = Harness::with_config(cfg).await;
    // The dev environment's sandbox cluster, so containment plans can be made.
    harness.svc = harness.svc.clone().with_backends(harness.config_backends());
    let ct = CancellationToken::new();
    let app = incident_mcp::http::app(harness.svc.clone(), ToolPolicy::default(), ct.child_token());
    let stop = ct.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
    });
    Rs {
        provider,
        harness,
        addr,
        resource,
        ct,
        http: reqwest::Client::new(),
        _dir: dir,
    }
}

async fn start_provider(dir: &Path, resource: &str, port: u16) -> Provider {
    start_provider_with_keys(dir, resource, port, &dir.join("keys.json")).await
}

async fn start_provider_with_keys(dir: &Path, resource: &str, port: u16, keys: &Path) -> Provider {
    let callback = resource.replace("/mcp", "/ui/oidc/callback");
    Provider::start(
        dir,
        "oidc-provider",
        &Setup {
            resources: &[resource, OTHER_RESOURCE],
            redirect_uris: &[&callback],
            accounts: json!({}),
            keys,
            port,
        },
    )
    .await
}

impl Rs {
    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    async fn token(&self, client: &str, scope: Option<&str>) -> String {
        self.provider.token(client, &self.resource, scope).await
    }

    /// One JSON-RPC message to `/mcp` with `token` (and `session`).
    async fn post(&self, token: Option<&str>, session: Option<&str>, body: Value) -> (StatusCode, HeaderMap, Value) {
        let mut rb = self
            .http
            .post(format!("{}/mcp", self.base()))
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        if let Some(s) = session {
            rb = rb
                .header("mcp-session-id", s)
                .header("mcp-protocol-version", "2025-11-25");
        }
        let resp = rb.send().await.unwrap();
        let (status, headers) = (resp.status(), resp.headers().clone());
        let body = resp.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    /// `initialize` + `notifications/initialized` with `token`: the session id.
    async fn session(&self, token: &str) -> String {
        let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "oauth-test", "version": "1"}}});
        let (status, headers, body) = self.post(Some(token), None, init).await;
        assert_eq!(status, 200, "initialize: {body}");
        let sid = headers["mcp-session-id"].to_str().unwrap().to_owned();
        let done = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let (status, _, _) = self.post(Some(token), Some(&sid), done).await;
        assert_eq!(status, 202);
        sid
    }

    async fn call(&self, token: &str, sid: &str, tool: &str, arguments: Value) -> (StatusCode, HeaderMap, Value) {
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": "tools/call",
                          "params": {"name": tool, "arguments": arguments}});
        self.post(Some(token), Some(sid), body).await
    }

    /// rmcp's streamable HTTP client with `token` as its bearer.
    async fn client(&self, token: &str) -> rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig> {
        let cfg = StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", self.base())).auth_header(token);
        crate::common::legacy_client()
            .serve(StreamableHttpClientTransport::from_config(cfg))
            .await
            .expect("the MCP client connects with the access token")
    }

    async fn incidents(&self) -> usize {
        use incident_mcp::store::ports::IncidentStore;
        let all = incident_mcp::store::IncidentFilter {
            limit: 1000,
            ..Default::default()
        };
        self.harness.store.list_incidents(&all).await.unwrap().len()
    }
}

/// The `WWW-Authenticate` header's parameters (`Bearer k="v", ...`).
fn challenge(headers: &HeaderMap) -> std::collections::BTreeMap<String, String> {
    let raw = headers
        .get("www-authenticate")
        .expect("a WWW-Authenticate header")
        .to_str()
        .unwrap();
    let rest = raw
        .strip_prefix("Bearer ")
        .unwrap_or_else(|| panic!("not a Bearer challenge: {raw}"));
    let re = regex::Regex::new(r#"([a-z_]+)="([^"]*)""#).unwrap();
    re.captures_iter(rest)
        .map(|c| (c[1].to_owned(), c[2].to_owned()))
        .collect()
}

async fn tool_names(
    client: &rmcp::service::RunningService<rmcp::RoleClient, rmcp::model::ClientConfig>,
) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn protected_resource_metadata_and_the_401_challenge_name_each_other() {
    let rs = setup(None, "").await;
    let (status, headers, body) = rs
        .post(None, None, json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(status, 401, "{body}");
    let c = challenge(&headers);
    let metadata_url = format!("{}/.well-known/oauth-protected-resource/mcp", rs.base());
    assert_eq!(c.get("resource_metadata"), Some(&metadata_url), "{c:?}");
    assert_eq!(c.get("scope").map(String::as_str), Some("incidents:read"), "{c:?}");
    assert!(
        !c.contains_key("error"),
        "no token, no error code (RFC 6750 §3.1): {c:?}"
    );

    for url in [
        metadata_url,
        format!("{}/.well-known/oauth-protected-resource", rs.base()),
    ] {
        let resp = rs.http.get(&url).send().await.unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        let doc: Value = resp.json().await.unwrap();
        assert_eq!(doc["resource"], rs.resource, "{doc}");
        assert_eq!(doc["authorization_servers"], json!([rs.provider.issuer]), "{doc}");
        assert_eq!(
            doc["scopes_supported"],
            json!(["incidents:read", "incidents:respond", "incidents:notify"])
        );
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
    }
    // The authorization server it names is the real one: its metadata answers.
    let meta: Value = rs
        .http
        .get(format!("{}/.well-known/openid-configuration", rs.provider.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(meta["issuer"], rs.provider.issuer);
}

#[tokio::test]
async fn a_valid_token_lists_and_calls_the_tools() {
    let rs = setup(None, "").await;
    let token = rs.token("mcp-agent", Some(ALL)).await;
    assert_eq!(header(&token)["alg"], "RS256");
    assert_eq!(claims(&token)["aud"], rs.resource.as_str());

    let client = rs.client(&token).await;
    let names = tool_names(&client).await;
    assert_eq!(names.len(), 17, "{names:?}");
    let detected = client
        .call_tool(CallToolRequestParams::new("incident_detect").with_arguments(args(json!({"env": "dev"}))))
        .await
        .unwrap();
    assert_eq!(
        detected.structured_content.as_ref().unwrap()["created"],
        2,
        "{detected:?}"
    );
    // A plan proposed over OAuth belongs to the token's subject.
    let contained = client
        .call_tool(CallToolRequestParams::new("incident_contain").with_arguments(args(
            json!({"id": "INC-000001", "action": "isolate", "resource": "web-7", "namespace": "shop"}),
        )))
        .await
        .unwrap();
    let plan = contained.structured_content.clone().unwrap_or_default();
    assert_eq!(plan["status"], "pending", "{plan}");
    let stored = rs
        .harness
        .store
        .get_plan(plan["plan_id"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    let principal = &stored.plan.principal;
    assert!(
        principal.starts_with("mcp:") && principal.ends_with("/oauth:mcp-agent"),
        "{principal}"
    );
    client.cancel().await.unwrap();

    // ES256 tokens verify too.
    let es = rs.token("mcp-agent-es", Some("incidents:read")).await;
    assert_eq!(header(&es)["alg"], "ES256");
    let client = rs.client(&es).await;
    assert_eq!(tool_names(&client).await, READ_ONLY_TOOLS);
    client.cancel().await.unwrap();

    assert_not_logged(&[&token, &es, token.rsplit('.').next().unwrap()]);
}

#[tokio::test]
async fn bad_tokens_are_refused_with_invalid_token_and_change_nothing() {
    let rs = setup(None, "").await;
    let good = rs.token("mcp-agent", Some(ALL)).await;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let [h, p, s]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().unwrap();

    // A signature with one byte changed.
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap();
    sig[10] ^= 0x55;
    let bad_signature = format!(
        "{h}.{p}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sig)
    );
    // The payload changed under the provider's signature (more scope, another subject).
    let mut more = claims(&good);
    more["sub"] = "someone-else".into();
    let tampered = format!("{h}.{}.{s}", b64(&more));
    // `alg: none`, unsigned.
    let none = format!("{}.{p}.", b64(&json!({"alg": "none", "typ": "at+jwt"})));
    // HS256 "signed" with the provider's public key (the classic key-confusion forgery).
    let jwks: Value = rs
        .http
        .get(format!("{}/jwks", rs.provider.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let rsa = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kty"] == "RSA")
        .unwrap()
        .clone();
    let hs_header = json!({"alg": "HS256", "typ": "at+jwt", "kid": rsa["kid"]});
    let hs_key = jsonwebtoken::EncodingKey::from_secret(rsa.to_string().as_bytes()).unwrap();
    let hs = jsonwebtoken::encode(
        &serde_json::from_value::<jsonwebtoken::Header>(hs_header).unwrap(),
        &claims(&good),
        &hs_key,
    )
    .unwrap();

    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong audience",
            rs.provider.token("mcp-agent", OTHER_RESOURCE, Some(ALL)).await,
            "another resource",
        ),
        ("expired", rs.token("mcp-agent-backdated", Some(ALL)).await, "expired"),
        (
            "not valid yet",
            rs.token("mcp-agent-early", Some(ALL)).await,
            "not valid yet",
        ),
        ("bad signature", bad_signature, "signature does not verify"),
        ("tampered payload", tampered, "signature does not verify"),
        ("alg none", none, "algorithm is not accepted"),
        ("HS256 with the public key", hs, "algorithm is not accepted"),
        ("not a JWT", "not-a-jwt-at-all".to_owned(), "not a signed JWT"),
    ];
    // What the provider issued really is what each case says.
    assert_eq!(claims(&cases[0].1)["aud"], OTHER_RESOURCE);
    let now = chrono::Utc::now().timestamp();
    assert!(claims(&cases[1].1)["exp"].as_i64().unwrap() < now - 3000);
    assert!(claims(&cases[2].1)["nbf"].as_i64().unwrap() > now + 3000);

    for (what, token, description) in &cases {
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                          "params": {"name": "incident_detect", "arguments": {"env": "dev"}}});
        let (status, headers, answer) = rs.post(Some(token), None, body).await;
        assert_eq!(status, 401, "{what}: {answer}");
        let c = challenge(&headers);
        assert_eq!(
            c.get("error").map(String::as_str),
            Some("invalid_token"),
            "{what}: {c:?}"
        );
        assert_eq!(
            c.get("resource_metadata"),
            Some(&format!("{}/.well-known/oauth-protected-resource/mcp", rs.base())),
            "{what}"
        );
        let said = c.get("error_description").cloned().unwrap_or_default();
        assert!(said.contains(description), "{what}: {said}");
        assert!(
            !answer.to_string().contains(token.as_str()),
            "{what}: the token is echoed"
        );
    }
    assert_eq!(rs.incidents().await, 0, "no refused request ran a tool");
    // The good token, for contrast, does.
    let sid = rs.session(&good).await;
    let (status, _, answer) = rs.call(&good, &sid, "incident_detect", json!({"env": "dev"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(rs.incidents().await, 2);
    let tokens: Vec<&str> = cases
        .iter()
        .map(|(_, t, _)| t.as_str())
        .filter(|t| t.len() > 100)
        .collect();
    assert_not_logged(&tokens);
}

#[tokio::test]
async fn scopes_narrow_the_tools_and_a_missing_scope_is_403_insufficient_scope() {
    let rs = setup(None, "").await;
    let read = rs.token("mcp-agent", Some("incidents:read")).await;
    let client = rs.client(&read).await;
    assert_eq!(tool_names(&client).await, READ_ONLY_TOOLS, "like --read-only");
    client.cancel().await.unwrap();

    let sid = rs.session(&read).await;
    let (status, _, answer) = rs.call(&read, &sid, "incident_list", json!({})).await;
    assert_eq!(status, 200, "{answer}");
    let contain = json!({"id": "INC-000001", "action": "isolate", "resource": "web-7", "namespace": "shop"});
    for (tool, arguments) in [
        ("incident_contain", contain),
        ("incident_detect", json!({"env": "dev"})),
    ] {
        let (status, headers, answer) = rs.call(&read, &sid, tool, arguments).await;
        assert_eq!(status, 403, "{tool}: {answer}");
        let c = challenge(&headers);
        assert_eq!(c.get("error").map(String::as_str), Some("insufficient_scope"), "{c:?}");
        assert_eq!(
            c.get("scope").map(String::as_str),
            Some("incidents:read incidents:respond"),
            "the scopes held plus the one missing: {c:?}"
        );
        assert!(c.contains_key("resource_metadata"), "{c:?}");
    }
    assert_eq!(rs.incidents().await, 0, "the refused detect did not run");
    let audit = rs.harness.store.audit_recent(50).await.unwrap();
    let refused: Vec<&Value> = audit
        .iter()
        .filter(|e| e.kind == "refusal" && e.payload["reason"] == "insufficient_scope")
        .map(|e| &e.payload)
        .collect();
    assert_eq!(refused.len(), 1, "the destructive call is audited: {refused:?}");
    assert_eq!(refused[0]["tool"], "incident_contain");

    // notify: reading plus the notification tools, nothing that responds.
    let notify = rs.token("mcp-agent", Some("incidents:notify")).await;
    let client = rs.client(&notify).await;
    let mut want: Vec<&str> = READ_ONLY_TOOLS.to_vec();
    want.extend(["incident_notify", "incident_outbox_retry"]);
    want.sort();
    assert_eq!(tool_names(&client).await, want);
    client.cancel().await.unwrap();

    // A token with none of the incident scopes opens nothing.
    let bare = rs.token("mcp-agent", None).await;
    assert!(claims(&bare).get("scope").is_none());
    let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
    let (status, headers, _) = rs.post(Some(&bare), None, init).await;
    assert_eq!(status, 403);
    let c = challenge(&headers);
    assert_eq!(c.get("error").map(String::as_str), Some("insufficient_scope"));
    assert_eq!(c.get("scope").map(String::as_str), Some("incidents:read"));
}

#[tokio::test]
async fn the_static_key_keeps_working_beside_oauth_and_tokens_do_not_open_the_rest_api() {
    let key = secret("oauth-static-key");
    let rs = setup(Some(&key), "").await;
    let client = rs.client(&key).await;
    assert_eq!(tool_names(&client).await.len(), 17, "the static key sees every tool");
    client.cancel().await.unwrap();

    let token = rs.token("mcp-agent", Some(ALL)).await;
    let incidents = format!("{}/api/incidents", rs.base());
    let with_key = rs.http.get(&incidents).bearer_auth(&key).send().await.unwrap();
    assert_eq!(with_key.status(), 200);
    let with_token = rs.http.get(&incidents).bearer_auth(&token).send().await.unwrap();
    assert_eq!(with_token.status(), 401, "access tokens are for /mcp only");

    // Without a static key, OAuth does not leave the REST API open.
    let open = setup(None, "").await;
    let anon = open
        .http
        .get(format!("{}/api/incidents", open.base()))
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), 401);
}

#[tokio::test]
async fn a_token_signed_by_a_new_key_refetches_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let keys_2 = dir.path().join("keys-2.json");
    // The provider's port is fixed across its restart, so the issuer stays the same.
    let port = oidc_provider::free_port();
    let mut rs = setup_in(dir, port, None, "jwks_min_refresh_secs = 1\n").await;
    let old = rs.token("mcp-agent", Some(ALL)).await;
    let client = rs.client(&old).await;
    assert_eq!(tool_names(&client).await.len(), 17);
    client.cancel().await.unwrap();

    // The provider restarts with new keys (a rotation).
    let old_kid = header(&old)["kid"].as_str().unwrap().to_owned();
    let issuer = rs.provider.issuer.clone();
    rs.provider.stop();
    let restarted = start_provider_with_keys(rs._dir.path(), &rs.resource, port, &keys_2).await;
    assert_eq!(restarted.issuer, issuer);
    let new = restarted.token("mcp-agent", &rs.resource, Some(ALL)).await;
    assert_ne!(header(&new)["kid"].as_str().unwrap(), old_kid);
    // Refetches are spaced by jwks_min_refresh_secs (1 here): poll until the new key is known.
    let rs = &rs;
    eventually(
        "the token signed by the new key to be accepted",
        Duration::from_secs(20),
        || {
            let new = new.clone();
            async move {
                let init = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "x", "version": "1"}}});
                let (status, _, _) = rs.post(Some(&new), None, init).await;
                (status == 200).then_some(())
            }
        },
    )
    .await;
    // The old key is gone from the issuer's set: its tokens no longer verify.
    let (status, headers, _) = rs
        .post(
            Some(&old),
            None,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        )
        .await;
    assert_eq!(status, 401);
    assert!(challenge(&headers)["error_description"].contains("not signed by a key of the issuer"));
}

#[tokio::test]
async fn a_session_opened_with_one_subjects_token_is_not_anothers() {
    let rs = setup(None, "").await;
    let mine = rs.token("mcp-agent", Some(ALL)).await;
    let theirs = rs.token("mcp-agent-es", Some(ALL)).await;
    assert_ne!(claims(&mine)["sub"], claims(&theirs)["sub"]);
    let sid = rs.session(&mine).await;
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let (status, _, answer) = rs.post(Some(&theirs), Some(&sid), list.clone()).await;
    assert_eq!(status, 404, "another subject's token cannot use the session: {answer}");
    let (status, _, answer) = rs.post(Some(&mine), Some(&sid), list).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["result"]["tools"].as_array().map(Vec::len), Some(17));
    // A fresh token of the same subject keeps the session (tokens are short-lived; sessions are not).
    let again = rs.token("mcp-agent", Some(ALL)).await;
    assert_ne!(again, mine);
    let (status, _, _) = rs
        .post(
            Some(&again),
            Some(&sid),
            json!({"jsonrpc": "2.0", "id": 3, "method": "ping"}),
        )
        .await;
    assert_eq!(status, 200);
}
