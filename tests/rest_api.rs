//! Black-box tests of the REST API: the whole HTTP app (`incident_mcp::http::app`) served on
//! 127.0.0.1:0 over a temp SQLite file, driven with reqwest. Covers auth (401), input
//! errors (400 naming the field, 415), unknown ids (404), illegal moves (409), the body
//! limit (413), Host/Origin (403), the happy path, and the served OpenAPI document.

use crate::common;

use std::collections::BTreeSet;

use common::{Harness, HttpServer, keyed_app, secret};
use incident_mcp::config::Config;
use reqwest::{
    Method, RequestBuilder, StatusCode,
    header::{self, HeaderMap},
};
use serde_json::{Value, json};

/// The bearer key, derived from the suite-wide canary.
fn key() -> String {
    secret("rest-api-key")
}

/// A running app with its own database; the server stops when this drops.
struct Api {
    base: String,
    http: reqwest::Client,
    _server: HttpServer,
    _harness: Harness,
}

/// A response: status, headers and the body as JSON (`Value::String` if it is not JSON).
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Api {
    /// The built-in config (env `dev` with the sample telemetry) and a bearer key.
    async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        let (harness, server) = keyed_app(&key(), tweak).await;
        Self {
            base: server.base(),
            http: reqwest::Client::new(),
            _server: server,
            _harness: harness,
        }
    }

    /// A request without credentials.
    fn anon(&self, method: Method, path: &str) -> RequestBuilder {
        self.http.request(method, format!("{}{path}", self.base))
    }

    /// A request with the right bearer key.
    fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.anon(method, path).bearer_auth(key())
    }

    async fn get(&self, path: &str) -> Reply {
        send(self.req(Method::GET, path)).await
    }

    async fn post(&self, path: &str, body: Value) -> Reply {
        send(self.req(Method::POST, path).json(&body)).await
    }

    /// POST with a raw body and content type.
    async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Reply {
        send(
            self.req(Method::POST, path)
                .header(header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    async fn count(&self) -> u64 {
        let r = self.get("/api/incidents?limit=200").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(
            r.body["incidents"].as_array().expect("incidents").len() as u64,
            r.body["count"]
        );
        r.body["count"].as_u64().expect("count")
    }

    /// Detects the sample incidents INC-000001 (egress spike) and INC-000002 (SSH brute force).
    async fn detect_sample(&self) -> Value {
        let r = self.post("/api/incident/detect", json!({ "env": "dev" })).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }
}

async fn send(rb: RequestBuilder) -> Reply {
    let resp = rb.send().await.expect("request reaches the server");
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.expect("response body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
    };
    Reply { status, headers, body }
}

/// Asserts a JSON error `{"error": "...", "field": field}` with this status; returns the message.
fn assert_error(r: &Reply, status: StatusCode, field: Option<&str>, what: &str) -> String {
    assert_eq!(r.status, status, "{what}: {}", r.body);
    let ct = r
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    assert!(
        ct.starts_with("application/json"),
        "{what}: error is not JSON ({ct}): {}",
        r.body
    );
    let obj = r
        .body
        .as_object()
        .unwrap_or_else(|| panic!("{what}: error body is not an object: {}", r.body));
    let msg = obj.get("error").and_then(Value::as_str).unwrap_or_default();
    assert!(!msg.is_empty(), "{what}: empty error message: {}", r.body);
    assert_eq!(
        obj.get("field").and_then(Value::as_str),
        field,
        "{what}: wrong `field`: {}",
        r.body
    );
    let code = obj.get("error_code").and_then(Value::as_str).unwrap_or_default();
    let documented = incident_mcp::service::ERROR_CODES.iter().any(|(c, _)| *c == code);
    assert!(
        documented,
        "{what}: `error_code` {code:?} is not a documented code: {}",
        r.body
    );
    assert!(
        obj.keys().all(|k| k == "error" || k == "error_code" || k == "field"),
        "{what}: extra members: {}",
        r.body
    );
    msg.to_owned()
}

#[tokio::test]
async fn missing_or_wrong_key_is_401_with_a_challenge_and_the_right_key_works() {
    let api = Api::start().await;
    let cases: [(&str, Option<&str>); 4] = [
        ("no header", None),
        ("wrong key", Some("Bearer nope")),
        ("other scheme", Some("Basic Zm9vOmJhcg==")),
        ("empty token", Some("Bearer ")),
    ];
    for (method, path) in [
        (Method::GET, "/api/incidents"),
        (Method::POST, "/api/incident/detect"),
        (Method::GET, "/api/incident/INC-000001"),
        (Method::POST, "/mcp"),
    ] {
        for (what, auth) in cases {
            let mut rb = api.anon(method.clone(), path).json(&json!({ "env": "dev" }));
            if let Some(a) = auth {
                rb = rb.header(header::AUTHORIZATION, a);
            }
            let r = send(rb).await;
            let what = format!("{method} {path} with {what}");
            assert_error(&r, StatusCode::UNAUTHORIZED, None, &what);
            let challenge = r
                .headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert!(
                challenge.starts_with("Bearer "),
                "{what}: WWW-Authenticate is `{challenge}`"
            );
            assert_eq!(
                challenge.contains("invalid_token"),
                what.ends_with("wrong key"),
                "{what}: `{challenge}`"
            );
        }
    }
    // Nothing ran: the unauthenticated detects recorded no incident.
    assert_eq!(api.count().await, 0);
    // The right key works, and the scheme is case-insensitive.
    let r = send(
        api.anon(Method::GET, "/api/incidents")
            .header(header::AUTHORIZATION, format!("bearer {}", key())),
    )
    .await;
    assert_eq!((r.status, &r.body["count"]), (StatusCode::OK, &json!(0)));
    assert_eq!(api.detect_sample().await["created"], 2);
}

#[tokio::test]
async fn health_and_openapi_need_no_key() {
    let api = Api::start().await;
    let r = send(api.anon(Method::GET, "/healthz")).await;
    assert_eq!((r.status, r.body), (StatusCode::OK, json!({ "status": "ok" })));
    let r = send(api.anon(Method::GET, "/api/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["openapi"], "3.1.0");
}

#[tokio::test]
async fn detect_rejects_bad_bodies_with_400_naming_the_field_and_records_nothing() {
    let api = Api::start().await;
    let cases = [
        ("env of the wrong type", json!({ "env": 5 }), Some("env")),
        ("env not a valid name", json!({ "env": "Prod Env" }), Some("env")),
        ("env not configured", json!({ "env": "qa" }), Some("env")),
        (
            "types with an unknown type",
            json!({ "types": ["network", "alien"] }),
            Some("types"),
        ),
        (
            "analyze_depth out of range",
            json!({ "analyze_depth": 4 }),
            Some("analyze_depth"),
        ),
        (
            "threshold above 1",
            json!({ "env": "dev", "threshold": 1.5 }),
            Some("threshold"),
        ),
        (
            "threshold below 0",
            json!({ "env": "dev", "threshold": -0.1 }),
            Some("threshold"),
        ),
        (
            "threshold of the wrong type",
            json!({ "env": "dev", "threshold": "high" }),
            Some("threshold"),
        ),
        (
            "unknown incident type",
            json!({ "env": "dev", "type": "alien" }),
            Some("type"),
        ),
        (
            "type of the wrong type",
            json!({ "env": "dev", "type": 3 }),
            Some("type"),
        ),
        (
            "unknown source",
            json!({ "env": "dev", "source": "nope" }),
            Some("source"),
        ),
        (
            "file source over REST",
            json!({ "env": "dev", "source": "file:/etc/passwd" }),
            Some("source"),
        ),
        ("unknown field", json!({ "env": "dev", "bogus": true }), Some("bogus")),
        ("not an object", json!(["dev"]), None),
        ("null body", Value::Null, None),
    ];
    for (what, body, field) in cases {
        let r = api.post("/api/incident/detect", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, field, what);
    }
    for (what, raw) in [
        ("malformed JSON", "{\"env\": \"dev\""),
        ("trailing garbage", "{\"env\":\"dev\"} x"),
    ] {
        let r = api.post_raw("/api/incident/detect", "application/json", raw).await;
        let msg = assert_error(&r, StatusCode::BAD_REQUEST, None, what);
        assert!(msg.contains("malformed JSON"), "{what}: {msg}");
    }
    let r = api.post_raw("/api/incident/detect", "application/json", "").await;
    assert_error(&r, StatusCode::BAD_REQUEST, None, "empty body");
    // A JSON body sent as another media type is refused before it is parsed.
    let r = api
        .post_raw("/api/incident/detect", "text/plain", r#"{"env":"dev"}"#)
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "text/plain body");
    // Errors echo at most a clipped piece of the input.
    let huge = json!({ "env": "dev", "type": "x".repeat(100_000) });
    let msg = assert_error(
        &api.post("/api/incident/detect", huge).await,
        StatusCode::BAD_REQUEST,
        Some("type"),
        "huge enum value",
    );
    assert!(msg.len() < 1000, "{} byte error message", msg.len());
    // Every rejected request changed nothing.
    assert_eq!(api.count().await, 0);
    // A `+json` media type with parameters is JSON.
    let r = api
        .post_raw(
            "/api/incident/detect",
            "application/vnd.api+json; charset=utf-8",
            r#"{"env":"dev"}"#,
        )
        .await;
    assert_eq!((r.status, &r.body["created"]), (StatusCode::OK, &json!(2)));
}

#[tokio::test]
async fn ack_and_resolve_reject_bad_bodies_with_400_and_change_nothing() {
    let api = Api::start().await;
    api.detect_sample().await;
    let long = "x".repeat(2001);
    let resolve_cases = [
        ("missing note", json!({}), Some("note")),
        ("null note", json!({ "note": null }), Some("note")),
        ("note of the wrong type", json!({ "note": 42 }), Some("note")),
        ("blank note", json!({ "note": " \t\n\u{3000}" }), Some("note")),
        ("note over 2000 characters", json!({ "note": long }), Some("note")),
        ("unknown field", json!({ "note": "fixed", "by": "me" }), Some("by")),
    ];
    for (what, body, field) in resolve_cases {
        let r = api.post("/api/incident/resolve/INC-000001", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, field, &format!("resolve: {what}"));
    }
    let r = api
        .post_raw("/api/incident/resolve/INC-000001", "application/json", "")
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, None, "resolve without a body");
    let ack_cases = [
        ("note of the wrong type", json!({ "note": ["a"] }), Some("note")),
        ("note over 2000 characters", json!({ "note": long }), Some("note")),
        ("unknown field", json!({ "status": "resolved" }), Some("status")),
    ];
    for (what, body, field) in ack_cases {
        let r = api.post("/api/incident/ack/INC-000001", body).await;
        assert_error(&r, StatusCode::BAD_REQUEST, field, &format!("ack: {what}"));
    }
    let r = api
        .post_raw("/api/incident/ack/INC-000001", "application/json", "{\"note\": ")
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, None, "ack: malformed JSON");
    let r = api
        .post_raw("/api/incident/ack/INC-000001", "text/plain", "on it")
        .await;
    assert_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, None, "ack: text body");
    // Still open, with no status change in the timeline.
    let a = api.get("/api/incident/analyze/INC-000001?depth=2").await;
    assert_eq!(a.body["incident"]["status"], "open");
    let timeline = a.body["timeline"].as_array().expect("timeline at depth 2");
    assert!(timeline.iter().all(|e| e["kind"] != "status_change"), "{timeline:?}");
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let api = Api::start().await;
    api.detect_sample().await;
    let cases = [
        ("/api/incident/analyze/INC-000001?depth=4", Some("depth")),
        ("/api/incident/analyze/INC-000001?depth=-1", Some("depth")),
        ("/api/incident/analyze/INC-000001?depth=deep", Some("depth")),
        ("/api/incident/analyze/INC-000001?depth=1.5", Some("depth")),
        ("/api/incident/analyze/INC-000001?depth=1&depth=2", Some("depth")),
        ("/api/incident/analyze/INC-000001?verbose=1", Some("verbose")),
        ("/api/incidents?limit=0", Some("limit")),
        ("/api/incidents?limit=201", Some("limit")),
        ("/api/incidents?limit=ten", Some("limit")),
        ("/api/incidents?status=closed", Some("status")),
        ("/api/incidents?type=alien", Some("type")),
        ("/api/incidents?env=Not%20An%20Env", Some("env")),
        ("/api/incidents?page=2", Some("page")),
    ];
    for (path, field) in cases {
        let r = api.get(path).await;
        assert_error(&r, StatusCode::BAD_REQUEST, field, path);
    }
    // The boundaries are accepted.
    for path in [
        "/api/incident/analyze/INC-000001?depth=0",
        "/api/incident/analyze/INC-000001?depth=3",
    ] {
        assert_eq!(api.get(path).await.status, StatusCode::OK, "{path}");
    }
    let r = api.get("/api/incidents?limit=1&status=open&type=auth&env=dev").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["count"], 1);
    assert_eq!(r.body["incidents"][0]["id"], "INC-000002");
}

#[tokio::test]
async fn malformed_ids_are_400_on_every_id_route() {
    let api = Api::start().await;
    api.detect_sample().await;
    let bad = [
        "INC-0",
        "INC-000000",
        "INC-",
        "INC-12ab",
        "inc-000001",
        "0",
        "-1",
        "INC-1234567890123",
        "1234567890123",
        "INC-1%20",
        "%20INC-1",
        "INC-%0A1",
    ];
    for id in bad {
        for (method, path, body) in [
            (Method::GET, format!("/api/incident/{id}"), None),
            (Method::GET, format!("/api/incident/analyze/{id}"), None),
            (Method::POST, format!("/api/incident/ack/{id}"), Some(json!({}))),
            (
                Method::POST,
                format!("/api/incident/resolve/{id}"),
                Some(json!({ "note": "n" })),
            ),
        ] {
            let mut rb = api.req(method.clone(), &path);
            if let Some(b) = body {
                rb = rb.json(&b);
            }
            let r = send(rb).await;
            assert_error(&r, StatusCode::BAD_REQUEST, Some("id"), &format!("{method} {path}"));
        }
    }
    // Leading zeros are the same id, and so is the number alone; 12 digits is the longest id.
    assert_eq!(
        api.get("/api/incident/INC-1").await.body["incident"]["id"],
        "INC-000001"
    );
    assert_eq!(api.get("/api/incident/1").await.body["incident"]["id"], "INC-000001");
    assert_error(
        &api.get("/api/incident/INC-999999999999").await,
        StatusCode::NOT_FOUND,
        Some("id"),
        "12 digits",
    );
    assert_eq!(api.count().await, 2);
}

#[tokio::test]
async fn unknown_ids_are_404_on_every_id_route() {
    let api = Api::start().await;
    api.detect_sample().await;
    for (method, path, body) in [
        (Method::GET, "/api/incident/INC-000404", None),
        (Method::GET, "/api/incident/analyze/INC-000404?depth=3", None),
        (
            Method::POST,
            "/api/incident/ack/INC-000404",
            Some(json!({ "note": "n" })),
        ),
        (Method::POST, "/api/incident/ack/INC-000404", None),
        (
            Method::POST,
            "/api/incident/resolve/INC-000404",
            Some(json!({ "note": "n" })),
        ),
    ] {
        let mut rb = api.req(method.clone(), path);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let msg = assert_error(
            &send(rb).await,
            StatusCode::NOT_FOUND,
            Some("id"),
            &format!("{method} {path}"),
        );
        assert!(msg.contains("INC-000404"), "{msg}");
    }
    assert_eq!(api.count().await, 2);
}

#[tokio::test]
async fn illegal_lifecycle_moves_are_409_and_change_nothing() {
    let api = Api::start().await;
    api.detect_sample().await;
    let r = api
        .post(
            "/api/incident/resolve/INC-000001",
            json!({ "note": "false positive: backup job" }),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["incident"]["status"]),
        (StatusCode::OK, &json!("resolved")),
        "{}",
        r.body
    );
    let before = api.get("/api/incident/analyze/INC-000001?depth=2").await.body;

    let msg = assert_error(
        &api.post("/api/incident/ack/INC-000001", json!({ "note": "late" }))
            .await,
        StatusCode::CONFLICT,
        None,
        "ack a resolved incident",
    );
    assert!(msg.contains("resolved") && msg.contains("acknowledged"), "{msg}");

    let after = api.get("/api/incident/analyze/INC-000001?depth=2").await.body;
    assert_eq!(
        after["incident"], before["incident"],
        "a refused move changed the incident"
    );
    assert_eq!(
        after["timeline"], before["timeline"],
        "a refused move wrote to the timeline"
    );
}

#[tokio::test]
async fn happy_path_detect_list_get_analyze_ack_resolve() {
    let api = Api::start().await;
    let report = api.detect_sample().await;
    assert_eq!(
        (
            report["env"].as_str(),
            report["created"].as_u64(),
            report["updated"].as_u64()
        ),
        (Some("dev"), Some(2), Some(0))
    );
    assert_eq!(report["threshold"], 0.8);
    let found: Vec<(&str, &str, &str)> = report["incidents"]
        .as_array()
        .expect("incidents")
        .iter()
        .map(|i| {
            (
                i["id"].as_str().unwrap(),
                i["type"].as_str().unwrap(),
                i["change"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [("INC-000001", "network", "created"), ("INC-000002", "auth", "created")]
    );

    let list = api.get("/api/incidents").await.body;
    assert_eq!(list["count"], 2);
    let ids: BTreeSet<&str> = list["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, BTreeSet::from(["INC-000001", "INC-000002"]));
    assert!(
        list["incidents"]
            .as_array()
            .unwrap()
            .iter()
            .all(|i| i["status"] == "open" && i["env"] == "dev")
    );

    let one = api.get("/api/incident/INC-000001").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.body["incident"]["title"], "Egress traffic spike on pod/shop/web-7");
    assert_eq!(one.body["incident"]["severity"], "high");
    let recent = one.body["recent_signals"].as_array().expect("recent_signals");
    assert!(
        !recent.is_empty() && recent.len() <= 10,
        "{} recent signals",
        recent.len()
    );
    assert!(one.body["untrusted_data_note"].as_str().is_some_and(|s| !s.is_empty()));

    let a = api.get("/api/incident/analyze/INC-000001?depth=2").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["depth"], 2);
    assert_eq!(a.body["affected_resources"][0]["entity"], "pod/shop/web-7");
    assert!(
        a.body["signal_groups"].as_array().is_some_and(|g| !g.is_empty()),
        "depth 2 has signal groups"
    );
    assert!(
        a.body["timeline"]
            .as_array()
            .is_some_and(|t| t.iter().any(|e| e["kind"] == "created"))
    );
    assert!(
        a.body.get("signals").is_none() && a.body.get("related_incidents").is_none(),
        "depth 3 fields at depth 2"
    );

    let ack = api
        .post("/api/incident/ack/INC-000001", json!({ "note": "on-call looking" }))
        .await;
    assert_eq!(ack.status, StatusCode::OK, "{}", ack.body);
    assert_eq!(
        (&ack.body["previous_status"], &ack.body["changed"]),
        (&json!("open"), &json!(true))
    );
    assert_eq!(ack.body["incident"]["status"], "acknowledged");
    // Acknowledging again is a no-op, not an error; the body is optional.
    let again = send(api.req(Method::POST, "/api/incident/ack/INC-000001")).await;
    assert_eq!(
        (again.status, &again.body["changed"]),
        (StatusCode::OK, &json!(false)),
        "{}",
        again.body
    );

    let note = "cause: misconfigured backup job; fix: rate-limited it";
    let res = api
        .post("/api/incident/resolve/INC-000001", json!({ "note": note }))
        .await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.body);
    assert_eq!(
        (&res.body["previous_status"], &res.body["incident"]["status"]),
        (&json!("acknowledged"), &json!("resolved"))
    );

    let resolved = api.get("/api/incidents?status=resolved").await.body;
    assert_eq!(
        (resolved["count"].as_u64(), resolved["incidents"][0]["id"].as_str()),
        (Some(1), Some("INC-000001"))
    );
    let timeline = api.get("/api/incident/analyze/INC-000001?depth=2").await.body["timeline"].clone();
    let moves: Vec<(&str, &str, &str)> = timeline
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "status_change")
        .map(|e| {
            (
                e["actor"].as_str().unwrap(),
                e["data"]["to"].as_str().unwrap(),
                e["data"]["note"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        moves,
        [("rest", "acknowledged", "on-call looking"), ("rest", "resolved", note)]
    );
    // The other incident was untouched.
    assert_eq!(
        api.get("/api/incident/INC-000002").await.body["incident"]["status"],
        "open"
    );
}

#[tokio::test]
async fn bodies_over_the_limit_are_413_on_rest_and_mcp() {
    const LIMIT: usize = 4096;
    let api = Api::start_with(|c| c.server.max_body_bytes = LIMIT).await;
    // A syntactically valid JSON body of exactly `len` bytes.
    let body_of = |len: usize| {
        let head = r#"{"env":"dev","source":""#;
        let tail = r#""}"#;
        format!("{head}{}{tail}", "s".repeat(len - head.len() - tail.len()))
    };
    let over = body_of(LIMIT + 1);
    for path in ["/api/incident/detect", "/api/incident/resolve/INC-000001", "/mcp"] {
        let r = send(
            api.req(Method::POST, path)
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::ACCEPT, "application/json, text/event-stream")
                .body(over.clone()),
        )
        .await;
        assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {}", r.body);
    }
    // At the limit the body is read and judged on its content (an unknown source).
    let r = api
        .post_raw("/api/incident/detect", "application/json", body_of(LIMIT))
        .await;
    assert_error(&r, StatusCode::BAD_REQUEST, Some("source"), "body at the limit");
    assert_eq!(api.count().await, 0);
}

#[tokio::test]
async fn default_body_limit_is_one_mebibyte() {
    let api = Api::start().await;
    let note = "n".repeat(1024 * 1024);
    let r = api
        .post("/api/incident/resolve/INC-000001", json!({ "note": note }))
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.body);
}

#[tokio::test]
async fn foreign_host_or_origin_is_403_everywhere() {
    let api = Api::start().await;
    let paths = [
        (Method::GET, "/healthz"),
        (Method::GET, "/metrics"),
        (Method::GET, "/api/openapi.json"),
        (Method::GET, "/api/incidents"),
        (Method::POST, "/api/incident/detect"),
        (Method::POST, "/mcp"),
    ];
    for (method, path) in &paths {
        for (what, name, value) in [
            ("foreign Host", header::HOST, "evil.example"),
            ("foreign Host with our port", header::HOST, "evil.example:8787"),
            ("foreign Origin", header::ORIGIN, "http://evil.example"),
            ("look-alike Origin", header::ORIGIN, "http://localhost.evil.example:80"),
            ("null Origin", header::ORIGIN, "null"),
        ] {
            // With the right key, and also without any: the Host/Origin guard comes first.
            for rb in [api.req(method.clone(), path), api.anon(method.clone(), path)] {
                let r = send(rb.header(name.clone(), value).json(&json!({ "env": "dev" }))).await;
                assert_error(&r, StatusCode::FORBIDDEN, None, &format!("{method} {path} with {what}"));
            }
        }
    }
    assert_eq!(api.count().await, 0, "a refused detect ran");
    // Allowed origins pass.
    let r = send(
        api.req(Method::GET, "/api/incidents")
            .header(header::ORIGIN, "http://localhost:5173"),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = send(api.anon(Method::GET, "/healthz").header(header::HOST, "localhost:1234")).await;
    assert_eq!(r.status, StatusCode::OK);
}

/// The status codes each route can answer with the bearer key configured.
fn expected_codes(method: &str, path: &str) -> BTreeSet<&'static str> {
    let mut codes = BTreeSet::from(["200", "401", "403", "413", "400", "503"]);
    if path.contains("{id}") || path.contains("{name}") {
        codes.insert("404");
    }
    let plans = path.contains("/contain/") || path.contains("/recover");
    if path.contains("/ack/") || path.contains("/resolve/") || plans {
        codes.insert("409");
    }
    if method == "post" || method == "put" {
        codes.insert("415");
    }
    // Approving or applying a plan: 409 when it cannot be (expired, used, tampered, not
    // approved); applying reads no body.
    if path.starts_with("/api/plans/") {
        codes.insert("404");
        if method == "post" {
            codes.insert("409");
        }
        if path.ends_with("apply") {
            codes.remove("415");
        }
    }
    // Planning a containment or recovery answers 202: the plan waits for a human's approval.
    if plans {
        codes.remove("200");
        codes.insert("202");
    }
    // Queueing a notification answers 202, registering a hook 201, removing one 204.
    match (method, path) {
        (_, "/api/incident/notify/{id}") => {
            codes.remove("200");
            codes.insert("202");
        }
        ("post", "/api/hooks" | "/api/incident/declare") => {
            codes.remove("200");
            codes.insert("201");
        }
        ("get", "/api/hooks") => {
            codes.remove("400");
        }
        ("delete", _) => {
            codes.remove("200");
            codes.insert("204");
        }
        // Queueing dead notifications again reads no body; one row may be unknown or not dead.
        ("post", "/api/outbox/{id}/retry") => {
            codes.remove("415");
            codes.insert("409");
        }
        ("post", "/api/outbox/retry-dead") => {
            codes.remove("415");
            codes.remove("400");
        }
        // An unknown `before` cursor is a 404, like the plan itself.
        ("get", "/api/plans") => {
            codes.insert("404");
        }
        _ => {}
    }
    if path == "/healthz" {
        codes = BTreeSet::from(["200", "403"]);
    }
    codes
}

/// Every `$ref` in `v` (all of them local JSON pointers).
fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                out.push(r);
            }
            m.values().for_each(|x| refs(x, out));
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn openapi_document_is_valid_openapi_3_1_and_matches_the_routes() {
    let api = Api::start().await;
    api.detect_sample().await;
    let r = send(api.anon(Method::GET, "/api/openapi.json")).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());

    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
        assert!(doc.pointer(pointer).is_some(), "dangling $ref {r}");
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("securitySchemes");

    let paths = doc["paths"].as_object().expect("paths");
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, item)| item.as_object().unwrap().keys().map(move |m| (m.clone(), p.clone())))
        .collect();
    let routes = [
        ("post", "/api/incident/detect"),
        ("get", "/api/incident/analyze/{id}"),
        ("get", "/api/incident/{id}"),
        ("get", "/api/incidents"),
        ("post", "/api/incident/ack/{id}"),
        ("post", "/api/incident/resolve/{id}"),
        ("post", "/api/incident/declare"),
        ("post", "/api/incident/note/{id}"),
        ("post", "/api/incident/assign/{id}"),
        ("post", "/api/incident/severity/{id}"),
        ("get", "/api/incident/postmortem/{id}"),
        ("post", "/api/alerts"),
        ("put", "/api/incident/contain/{id}"),
        ("post", "/api/incident/recover/{id}"),
        ("get", "/api/containments"),
        ("post", "/api/incident/recover"),
        ("post", "/api/incident/notify/{id}"),
        ("post", "/api/hooks"),
        ("get", "/api/hooks"),
        ("delete", "/api/hooks/{name}"),
        ("get", "/api/plans"),
        ("get", "/api/plans/{plan_id}"),
        ("post", "/api/plans/{plan_id}/approve"),
        ("post", "/api/plans/{plan_id}/approve-and-apply"),
        ("post", "/api/plans/{plan_id}/deny"),
        ("post", "/api/outbox/{id}/retry"),
        ("post", "/api/outbox/retry-dead"),
        ("get", "/api/outbox"),
        ("get", "/api/audit"),
        ("post", "/api/plans/{plan_id}/apply"),
        ("get", "/healthz"),
        // Not documented on purpose: POST /api/slack/interactions (only Slack calls it, with a
        // form body and Slack's signature scheme; see src/http/slack.rs), and GET /metrics (the
        // Prometheus exposition, not JSON: README "Metrics", src/http/metrics.rs).
    ];
    let want: BTreeSet<(String, String)> = routes.iter().map(|(m, p)| ((*m).to_owned(), (*p).to_owned())).collect();
    assert_eq!(documented, want);

    let mut op_ids = BTreeSet::new();
    for (method, path) in routes {
        let op = &doc["paths"][path][method];
        let what = format!("{method} {path}");
        assert!(
            op_ids.insert(op["operationId"].as_str().expect("operationId")),
            "{what}: duplicate operationId"
        );
        // Path template parameters are declared, required, and in the path.
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        for name in path.split('{').skip(1).map(|s| &s[..s.find('}').unwrap()]) {
            let p = params.iter().find(|p| p["name"] == name && p["in"] == "path");
            assert!(
                p.is_some_and(|p| p["required"] == true && p["schema"].is_object()),
                "{what}: path parameter {name}"
            );
        }
        for p in &params {
            assert!(
                ["path", "query"].contains(&p["in"].as_str().unwrap()) && p["schema"].is_object(),
                "{what}: {p}"
            );
        }
        // Responses: exactly the codes the handlers and guards can produce, each described;
        // errors are ApiError; 401 declares its challenge header.
        let responses = op["responses"].as_object().expect("responses");
        let codes: BTreeSet<&str> = responses.keys().map(String::as_str).collect();
        assert_eq!(codes, expected_codes(method, path), "{what}");
        for (code, resp) in responses {
            assert!(
                resp["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{what} {code}: description"
            );
            if !["200", "201", "202", "204"].contains(&code.as_str()) && path != "/healthz" {
                assert_eq!(
                    resp["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/ApiError",
                    "{what} {code}"
                );
            }
        }
        if path != "/healthz" {
            assert!(
                responses["401"]["headers"]["WWW-Authenticate"].is_object(),
                "{what}: 401 challenge header"
            );
            let security = op["security"].as_array().expect("security");
            for req in security {
                assert!(
                    req.as_object().unwrap().keys().all(|k| schemes.contains_key(k)),
                    "{what}: unknown scheme"
                );
            }
            assert!(
                !security.is_empty(),
                "{what}: no security requirement although a key is configured"
            );
        }
        // Applying a plan and retrying dead notifications read no body.
        if (method == "post" || method == "put") && !path.ends_with("apply") && !path.starts_with("/api/outbox/") {
            let body = &op["requestBody"];
            assert_eq!(
                body["required"],
                path != "/api/incident/ack/{id}" && !path.ends_with("/approve"),
                "{what}: requestBody.required"
            );
            assert!(
                body["content"]["application/json"]["schema"].is_object(),
                "{what}: body schema"
            );
        }
        // The documented route is served (a JSON answer, not the router's 404/405).
        let mut concrete = path
            .replace("/api/outbox/{id}", "/api/outbox/1")
            .replace("{id}", "INC-000002")
            .replace("{name}", "ops-hook")
            .replace("{plan_id}", "plan-0123456789abcdef");
        if path == "/api/alerts" {
            concrete.push_str("?env=dev");
        }
        let mut rb = api.req(method.to_uppercase().parse().unwrap(), &concrete);
        let plans = path.contains("/contain/") || path.contains("/recover");
        let manage = ["/declare", "/note/", "/assign/", "/severity/"]
            .iter()
            .any(|p| path.contains(p));
        let examples =
            path == "/api/alerts" || path.contains("/notify/") || (method == "post" && path == "/api/hooks") || manage;
        if examples || plans {
            rb = rb.json(&op["requestBody"]["content"]["application/json"]["example"]);
        } else if path == "/api/incident/detect" {
            rb = rb.json(&json!({ "env": "dev" }));
        } else if path.contains("/resolve/") {
            rb = rb.json(&json!({ "note": "done" }));
        }
        let reply = send(rb).await;
        // Without a cluster configured, planning is refused (409), still a JSON answer.
        // Without [notify] targets, the example's `service` is unknown (400).
        let want = match (method, path) {
            _ if plans => StatusCode::CONFLICT,
            (_, "/api/incident/notify/{id}") => StatusCode::BAD_REQUEST,
            // No such plan; and the agent's key never approves.
            (_, "/api/plans/{plan_id}/apply" | "/api/plans/{plan_id}") => StatusCode::NOT_FOUND,
            (
                _,
                "/api/plans/{plan_id}/approve" | "/api/plans/{plan_id}/approve-and-apply" | "/api/plans/{plan_id}/deny",
            ) => StatusCode::FORBIDDEN,
            ("post", "/api/hooks" | "/api/incident/declare") => StatusCode::CREATED,
            // No outbox row 1 here.
            (_, "/api/outbox/{id}/retry") => StatusCode::NOT_FOUND,
            ("delete", _) => StatusCode::NO_CONTENT,
            _ => StatusCode::OK,
        };
        assert_eq!(reply.status, want, "{what} as {concrete}: {}", reply.body);
        assert!(
            reply.body.is_object() || want == StatusCode::NO_CONTENT,
            "{what}: {}",
            reply.body
        );
    }
}

/// A request the served document calls valid is one the server accepts: `detect`'s `env`
/// and `source` are limited to what this server has configured.
#[tokio::test]
async fn served_openapi_document_only_admits_configured_environments() {
    let api = Api::start().await;
    let doc = send(api.anon(Method::GET, "/api/openapi.json")).await.body;
    let branches = doc["components"]["schemas"]["DetectRequest"]["oneOf"]
        .as_array()
        .expect("one branch per environment");
    // One environment per branch; the default environment's also takes `env: null` (left out).
    let env_of = |b: &Value| -> Value {
        let e = &b["properties"]["env"];
        if e["const"].is_string() {
            e["const"].clone()
        } else {
            e["enum"][0].clone()
        }
    };
    let envs: Vec<Value> = branches.iter().map(env_of).collect();
    assert_eq!(envs, [json!("dev"), json!("prod"), json!("staging")]);
    assert_eq!(branches[0]["properties"]["env"]["enum"], json!(["dev", null]));
    for detect in branches {
        // A source by name (sample) or by kind (jsonl).
        assert_eq!(
            detect["properties"]["source"]["enum"],
            json!(["sample", "jsonl", null]),
            "{detect}"
        );
        assert_eq!(detect["additionalProperties"], false);
    }
}
