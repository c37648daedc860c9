//! Issue 5 over REST: `POST /api/incident/notify/{id}` queues through the outbox (202), and
//! `POST|GET /api/hooks`, `DELETE /api/hooks/{name}` manage run-time webhooks. Exact statuses,
//! the field at fault, and that bad input stores nothing; URLs are shown by origin only.

use crate::common;
use crate::notify_common;

use common::{Harness, HttpServer, secret};
use incident_mcp::{
    mcp::ToolPolicy,
    store::{OutboxStatus, OutboxStore},
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// The bearer key, derived from the suite-wide canary.
fn key() -> String {
    secret("notify-rest-key")
}

struct Api {
    h: Harness,
    server: HttpServer,
    http: reqwest::Client,
}

impl Api {
    async fn start() -> Self {
        let mut cfg = notify_common::config(
            "[notify]\n[[notify.webhooks]]\nname = \"ops\"\nurl = \"https://hooks.example.com/ops\"\n\
             secret_env = \"OPS_SECRET\"\n",
        );
        cfg.api_key = Some(secrecy::SecretString::from(key()));
        let h = Harness::with_config(cfg).await;
        notify_common::first_incident(&h).await;
        let server = h.http_server(ToolPolicy::default()).await;
        Self {
            h,
            server,
            http: reqwest::Client::new(),
        }
    }

    async fn send(&self, method: Method, path: &str, body: Option<Value>, key: Option<&str>) -> (StatusCode, Value) {
        let mut rb = self.http.request(method, format!("{}{path}", self.server.base()));
        if let Some(k) = key {
            rb = rb.bearer_auth(k);
        }
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let resp = rb.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(body), Some(&key())).await
    }

    async fn outbox_len(&self) -> usize {
        self.h.store.outbox_rows(None, 1000).await.unwrap().len()
    }

    async fn hook_names(&self) -> Vec<String> {
        self.h
            .store
            .webhooks()
            .await
            .unwrap()
            .into_iter()
            .map(|w| w.name)
            .collect()
    }
}

fn assert_field(r: &(StatusCode, Value), status: StatusCode, field: &str, what: &str) {
    assert_eq!(r.0, status, "{what}: {}", r.1);
    assert_eq!(r.1["field"], field, "{what}: {}", r.1);
    assert!(r.1["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {}", r.1);
}

#[tokio::test]
async fn notify_queues_one_outbox_row_and_bad_input_queues_nothing() {
    let api = Api::start().await;
    assert_eq!(api.outbox_len().await, 0);

    let (status, body) = api
        .post(
            "/api/incident/notify/INC-000001",
            json!({ "service": "ops", "message": "paging ops" }),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(body["incident"], "INC-000001");
    assert_eq!(body["service"], "ops");
    assert_eq!(body["status"], "pending");
    let id = body["outbox_id"].as_i64().unwrap();
    let rows = api.h.store.outbox_rows(None, 10).await.unwrap();
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!((row.id, row.target.as_str(), row.event.as_str()), (id, "ops", "notify"));
    assert_eq!(row.status, OutboxStatus::Pending);
    assert_eq!(row.payload["message"], "paging ops");
    assert_eq!(row.payload["actor"], "rest");

    let too_long = "m".repeat(2001);
    let bad: [(&str, Value, StatusCode, &str); 8] = [
        (
            "INC-000001",
            json!({ "service": "nope" }),
            StatusCode::BAD_REQUEST,
            "service",
        ),
        (
            "INC-000001",
            json!({ "service": "https://evil.example/x" }),
            StatusCode::BAD_REQUEST,
            "service",
        ),
        (
            "INC-000001",
            json!({ "message": "hi" }),
            StatusCode::BAD_REQUEST,
            "service",
        ),
        (
            "INC-000001",
            json!({ "service": 5 }),
            StatusCode::BAD_REQUEST,
            "service",
        ),
        (
            "INC-000001",
            json!({ "service": "ops", "url": "https://evil.example" }),
            StatusCode::BAD_REQUEST,
            "url",
        ),
        (
            "INC-000001",
            json!({ "service": "ops", "message": too_long }),
            StatusCode::BAD_REQUEST,
            "message",
        ),
        ("INC-0", json!({ "service": "ops" }), StatusCode::BAD_REQUEST, "id"),
        ("INC-000999", json!({ "service": "ops" }), StatusCode::NOT_FOUND, "id"),
    ];
    for (id, body, status, field) in bad {
        let r = api.post(&format!("/api/incident/notify/{id}"), body.clone()).await;
        assert_field(&r, status, field, &format!("{id} {body}"));
    }
    let unknown = api
        .post("/api/incident/notify/INC-000001", json!({ "service": "nope" }))
        .await;
    assert!(
        unknown.1["error"].as_str().unwrap().contains("configured targets: ops"),
        "{}",
        unknown.1
    );
    // Without the bearer key: 401, nothing queued.
    let r = api
        .send(
            Method::POST,
            "/api/incident/notify/INC-000001",
            Some(json!({ "service": "ops" })),
            None,
        )
        .await;
    assert_eq!(r.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.outbox_len().await, 1, "bad requests queued nothing");

    // The served document admits exactly the configured targets, and keeps their names taken.
    let (_, doc) = api.send(Method::GET, "/api/openapi.json", None, None).await;
    let schemas = &doc["components"]["schemas"];
    assert_eq!(schemas["NotifyBody"]["properties"]["service"]["enum"], json!(["ops"]));
    assert_eq!(
        schemas["HookBody"]["properties"]["name"]["not"]["enum"],
        json!(["jira", "pagerduty", "slack", "ops"])
    );
}

#[tokio::test]
async fn hooks_are_registered_listed_notified_and_removed_without_echoing_their_urls() {
    let api = Api::start().await;
    // The URL's path is a secret (like a Slack incoming-webhook URL's).
    let token = secret("hook-url-token");
    let url = format!("https://hooks.example.com:8443/{token}/in");
    let (status, body) = api
        .post(
            "/api/hooks",
            json!({ "name": "pager-bridge", "url": url, "events": ["resolve", "contain"] }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body,
        json!({ "name": "pager-bridge", "origin": "https://hooks.example.com:8443",
                "secret_env": "INCIDENT_MCP_HOOK_SECRET", "events": ["resolve", "contain"], "added_by": "rest" })
    );
    let stored = api.h.store.webhooks().await.unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!((stored[0].url.as_str(), stored[0].events.len()), (url.as_str(), 2));

    let (status, list) = api.send(Method::GET, "/api/hooks", None, Some(&key())).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["count"], 1);
    assert_eq!(list["hooks"][0]["name"], "pager-bridge");
    assert!(!list.to_string().contains(&token), "{list}");

    // A registered hook is a notification target.
    let (status, body) = api
        .post("/api/incident/notify/INC-000001", json!({ "service": "pager-bridge" }))
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");

    let hook = |name: &str, url: &str, events: Value| json!({ "name": name, "url": url, "events": events });
    let ok_url = "https://hooks.example.com/x";
    // Secrets inside rejected requests: a password in the URL, a token in its query, an inline secret.
    let (pass, query_token, inline) = (
        secret("hook-url-password"),
        secret("hook-query-token"),
        secret("inline-hook-secret"),
    );
    let with_pass = format!("https://u:{pass}@hooks.example.com/x");
    let with_query = format!("https://hooks.example.com/x?token={query_token}");
    let bad: Vec<(Value, &str)> = vec![
        (hook("h1", "http://10.0.0.1/x", json!(["detect"])), "url"),
        (hook("h1", "http://127.0.0.1:9/x", json!(["detect"])), "url"),
        (hook("h1", &with_pass, json!(["detect"])), "url"),
        (hook("h1", "file:///etc/passwd", json!(["detect"])), "url"),
        (json!({ "name": "h1", "events": ["detect"] }), "url"),
        (hook("jira", ok_url, json!(["detect"])), "name"),
        (hook("ops", ok_url, json!(["detect"])), "name"),
        (hook("a b", ok_url, json!(["detect"])), "name"),
        (hook(&"n".repeat(65), ok_url, json!(["detect"])), "name"),
        (hook("h1", ok_url, json!([])), "events"),
        (hook("h1", ok_url, json!(["notify"])), "events"),
        (hook("h1", ok_url, json!(["deploy"])), "events"),
        (hook("h1", ok_url, json!(["detect", "detect"])), "events"),
        (
            json!({ "name": "h1", "url": ok_url, "events": ["detect"], "secret_env": "A-B" }),
            "secret_env",
        ),
        (
            json!({ "name": "h1", "url": ok_url, "events": ["detect"], "secret": inline }),
            "secret",
        ),
    ];
    // A query is accepted, as by the CLI's `hook add`; shown by origin only, the token never echoed.
    let r = api
        .post("/api/hooks", hook("with-query", &with_query, json!(["detect"])))
        .await;
    assert_eq!(r.0, StatusCode::CREATED, "{}", r.1);
    assert!(!r.1.to_string().contains(&query_token), "{}", r.1);
    assert!(
        api.h
            .svc
            .remove_hook("with-query", incident_mcp::Caller::CLI)
            .await
            .unwrap()
    );
    for (body, field) in bad {
        let r = api.post("/api/hooks", body.clone()).await;
        assert_field(&r, StatusCode::BAD_REQUEST, field, &body.to_string());
        let text = r.1.to_string();
        assert!(
            !text.contains(&pass) && !text.contains("10.0.0.1") && !text.contains(&inline),
            "{text}"
        );
    }
    let r = api
        .send(
            Method::POST,
            "/api/hooks",
            Some(hook("h1", ok_url, json!(["detect"]))),
            Some("wrong-key"),
        )
        .await;
    assert_eq!(r.0, StatusCode::UNAUTHORIZED);
    assert_eq!(api.hook_names().await, ["pager-bridge"], "bad requests stored nothing");

    let del = |name: &str| {
        let path = format!("/api/hooks/{name}");
        let api = &api;
        async move { api.send(Method::DELETE, &path, None, Some(&key())).await }
    };
    assert_eq!(
        api.send(Method::DELETE, "/api/hooks/pager-bridge", None, None).await.0,
        StatusCode::UNAUTHORIZED
    );
    let r = del("pager-bridge").await;
    assert_eq!(r.0, StatusCode::NO_CONTENT, "{}", r.1);
    assert_eq!(r.1, Value::String(String::new()));
    assert_field(
        &del("pager-bridge").await,
        StatusCode::NOT_FOUND,
        "name",
        "second delete",
    );
    assert_field(
        &del("ops").await,
        StatusCode::NOT_FOUND,
        "name",
        "config hooks are not registered",
    );
    assert_field(&del("a%20b").await, StatusCode::BAD_REQUEST, "name", "bad name");
    assert!(api.hook_names().await.is_empty());
    let (_, list) = api.send(Method::GET, "/api/hooks", None, Some(&key())).await;
    assert_eq!(list, json!({ "hooks": [], "count": 0 }));
}

/// Issue 13 item 6: `POST /api/hooks` and the CLI's `hook add` share the service's URL check:
/// hyphens in labels, ports up to 65535, upper case and more than five labels are accepted by
/// both, the OpenAPI pattern describes each of them, and both refuse the same URLs with the
/// same message.
#[tokio::test]
async fn rest_and_cli_accept_and_refuse_the_same_hook_urls() {
    struct Matcher(jsonschema::Validator);
    impl Matcher {
        fn is_match(&self, s: &str) -> bool {
            self.0.is_valid(&json!(s))
        }
    }
    let api = Api::start().await;
    let (_, doc) = api.send(Method::GET, "/api/openapi.json", None, Some(&key())).await;
    let body = &doc["paths"]["/api/hooks"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    let body = match body["$ref"].as_str() {
        Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
        None => body,
    };
    // Through a JSON Schema validator, as clients read it (ECMA-262 regex: the pattern has a
    // lookahead, which the `regex` crate does not take).
    let url_schema =
        json!({"type": "string", "pattern": body["properties"]["url"]["pattern"].as_str().expect("a url pattern")});
    let url_schema = incident_mcp::mcp::schema::validator(&url_schema).expect("the url pattern compiles");
    let pattern = Matcher(url_schema);
    let accepted = [
        "https://my-hooks.example-corp.com/in",
        "https://hooks.example.com:65535/in",
        "https://hooks.example.com:10000",
        "https://Hooks.EXAMPLE.com/In",
        "https://a.b.c.d.e.f.example.com/x/y",
        "https://hooks.example.com/x?team=ops",
    ];
    for (i, url) in accepted.iter().enumerate() {
        assert!(pattern.is_match(url), "the OpenAPI pattern must describe {url}");
        let r = api
            .post(
                "/api/hooks",
                json!({ "name": format!("rest-{i}"), "url": url, "events": ["detect"] }),
            )
            .await;
        assert_eq!(r.0, StatusCode::CREATED, "REST {url}: {}", r.1);
        let cli = incident_mcp::store::RegisteredHook {
            name: format!("cli-{i}"),
            url: (*url).to_owned(),
            secret_env: "INCIDENT_MCP_HOOK_SECRET".into(),
            events: vec!["detect".into()],
            added_by: None,
        };
        // What `hook add` calls (src/cli/notify.rs `hook_command`).
        api.h
            .svc
            .register_hook(cli, incident_mcp::Caller::CLI)
            .await
            .unwrap_or_else(|e| panic!("CLI {url}: {e}"));
    }
    // A host over DNS's 253 characters (four 63-character labels and a 27-character one).
    let long_host = format!("https://{}.{}/in", vec!["a".repeat(63); 4].join("."), "b".repeat(27));
    for (url, why) in [
        ("https://hooks.example.com:65536/in", "invalid url: not a valid URL"),
        ("http://hooks.example.com/in", "invalid url: must be https"),
        ("ftp://hooks.example.com/in", "invalid url: must be an https URL"),
        (long_host.as_str(), "invalid url: the URL's host is not a DNS name"),
    ] {
        assert!(!pattern.is_match(url), "{url}");
        let r = api
            .post("/api/hooks", json!({ "name": "bad", "url": url, "events": ["detect"] }))
            .await;
        assert_field(&r, StatusCode::BAD_REQUEST, "url", url);
        let cli = incident_mcp::store::RegisteredHook {
            name: "bad".into(),
            url: url.to_owned(),
            secret_env: "INCIDENT_MCP_HOOK_SECRET".into(),
            events: vec!["detect".into()],
            added_by: None,
        };
        let e = api
            .h
            .svc
            .register_hook(cli, incident_mcp::Caller::CLI)
            .await
            .unwrap_err()
            .to_string();
        assert_eq!(r.1["error"].as_str(), Some(e.as_str()), "{url}: one message on both");
        assert!(e.starts_with(why), "{url}: {e}");
    }
    assert_eq!(api.hook_names().await.len(), 2 * accepted.len());
}
