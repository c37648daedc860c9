//! The front of `/mcp`, before rmcp: the body is read once (bounded) and checked like a stdio
//! line (malformed JSON → 400 with -32700, batches and over-deep messages → 400 with -32600,
//! `tools/call` without a string name → -32602); `initialize` is admitted against the session
//! cap (503 + `Retry-After` when every session is busy); a session's requests before its
//! `notifications/initialized` are refused; `DELETE` answers 204; and a request whose stream
//! carries nothing but its answer is answered as `application/json` (one write, no SSE). With
//! `[oauth]`, a message outside the request's token scopes is refused (403 `insufficient_scope`)
//! and a session opened with one subject's token is unknown (404) to another subject's.

use std::sync::Arc;

use axum::{
    body::{Body, Bytes},
    extract::{Request, State},
    http::{HeaderValue, Method, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use futures::StreamExt;
use serde_json::Value;

use crate::mcp::{
    jsonrpc::{self, Rejection},
    sessions::Sessions,
};

const SESSION_HEADER: &str = "mcp-session-id";
/// Seconds a client is told to wait when every session is busy.
const RETRY_AFTER_SECS: &str = "1";

pub struct McpGate {
    /// With `[oauth]`: refuses messages outside the request's token scopes (403).
    pub scope: Option<super::oauth::ScopeGate>,
    pub sessions: Arc<Sessions>,
    pub max_body: usize,
    pub max_depth: usize,
    pub json_response: bool,
}

pub async fn gate(State(g): State<Arc<McpGate>>, req: Request, next: Next) -> Response {
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(scope) = &g.scope
        && let Some(refused) = scope.foreign_session(req.extensions().get(), session.as_deref())
    {
        return refused;
    }
    match *req.method() {
        Method::POST => post(&g, req, next).await,
        Method::DELETE => {
            let mut resp = next.run(req).await;
            if let (Some(scope), Some(sid)) = (&g.scope, &session)
                && resp.status().is_success()
            {
                scope.forget(sid);
            }
            if resp.status() == StatusCode::ACCEPTED {
                *resp.status_mut() = StatusCode::NO_CONTENT;
                *resp.body_mut() = Body::empty();
                resp.headers_mut().remove(header::CONTENT_TYPE);
                resp.headers_mut().remove(header::CONTENT_LENGTH);
            }
            resp
        }
        _ => next.run(req).await,
    }
}

fn rpc_error(status: StatusCode, r: &Rejection) -> Response {
    (status, axum::Json(r.to_json())).into_response()
}

async fn post(g: &McpGate, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, g.max_body).await else {
        let r = Rejection::new(
            Value::Null,
            jsonrpc::INVALID_REQUEST,
            format!(
                "Invalid Request: the body is unreadable or over the server's limit of {} bytes (server.max_body_bytes)",
                g.max_body
            ),
        );
        return rpc_error(StatusCode::PAYLOAD_TOO_LARGE, &r);
    };
    let probe = match jsonrpc::check(&bytes, g.max_depth) {
        Ok(p) => p,
        Err(r) => {
            tracing::warn!(code = r.code, "refused an MCP message: {}", r.message);
            let status = if r.code == jsonrpc::INVALID_PARAMS {
                StatusCode::OK
            } else {
                StatusCode::BAD_REQUEST
            };
            return rpc_error(status, &r);
        }
    };
    if let Some(scope) = &g.scope
        && let Some(refused) = scope.refuse(parts.extensions.get(), &probe).await
    {
        return refused;
    }
    let session = parts.headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok());
    if let (Some(method), Some(id)) = (probe.method.as_deref(), probe.id.as_ref()) {
        match session {
            None if method == "initialize" => {
                if let Err(cap) = g.sessions.admit().await {
                    tracing::warn!(max = cap.max, "refused a new MCP session: every session is busy");
                    let r = Rejection::new(
                        id.clone(),
                        jsonrpc::SERVER_BUSY,
                        format!(
                            "the server holds its maximum of {} MCP sessions, all busy (server.max_sessions); retry later",
                            cap.max
                        ),
                    );
                    let mut resp = rpc_error(StatusCode::SERVICE_UNAVAILABLE, &r);
                    resp.headers_mut()
                        .insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_SECS));
                    return resp;
                }
            }
            Some(sid) if !jsonrpc::allowed_before_initialized(method) && !g.sessions.initialized(sid) => {
                return rpc_error(StatusCode::BAD_REQUEST, &jsonrpc::not_initialized(id.clone(), method));
            }
            _ => {}
        }
    }
    // Long-lived streams stay SSE whatever comes first.
    let convert = g.json_response && probe.is_request() && probe.method.as_deref() != Some("subscriptions/listen");
    let opening = session.is_none() && probe.method.as_deref() == Some("initialize");
    let grant = parts.extensions.get::<crate::domain::access::Grant>().cloned();
    let resp = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    if let (true, Some(scope), Some(grant)) = (opening, &g.scope, &grant)
        && let Some(sid) = resp.headers().get(SESSION_HEADER).and_then(|v| v.to_str().ok())
    {
        scope.bind(sid, grant);
    }
    let is_sse = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    if convert && resp.status() == StatusCode::OK && is_sse {
        return single_answer_as_json(resp).await;
    }
    resp
}

/// Reads the SSE stream up to its first message: when that is the answer (a JSON-RPC response),
/// it becomes an `application/json` body; otherwise (a notification first) the stream is
/// passed on unchanged, the events already read included.
async fn single_answer_as_json(resp: Response) -> Response {
    let (mut parts, body) = resp.into_parts();
    let mut stream = body.into_data_stream();
    let mut seen: Vec<Bytes> = Vec::new();
    // The bytes of the event being read. Events usually arrive one per chunk: the chunk itself
    // (no copy), and the answer is a slice of it.
    let mut buf = Bytes::new();
    let replay = |seen: Vec<Bytes>| futures::stream::iter(seen.into_iter().map(Ok::<_, axum::Error>));
    loop {
        match stream.next().await {
            Some(Ok(chunk)) => {
                // Only the new bytes (and the one before them) can complete an event's `\n\n`.
                let from = buf.len().saturating_sub(1);
                buf = if buf.is_empty() {
                    chunk.clone()
                } else {
                    [&buf[..], &chunk[..]].concat().into()
                };
                seen.push(chunk);
                let mut start = 0;
                let mut search = from;
                while let Some(end) = memchr::memmem::find(&buf[search..], b"\n\n").map(|i| search + i) {
                    let data = sse_data(&buf[start..end]);
                    start = end + 2;
                    search = start;
                    if data.is_empty() {
                        continue;
                    }
                    if is_response(&data) {
                        parts
                            .headers
                            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
                        parts.headers.remove(header::CONTENT_LENGTH);
                        parts.headers.remove(header::CACHE_CONTROL);
                        let answer = match data {
                            std::borrow::Cow::Borrowed(one_line) => buf.slice_ref(one_line),
                            std::borrow::Cow::Owned(joined) => joined.into(),
                        };
                        return Response::from_parts(parts, Body::from(answer));
                    }
                    return Response::from_parts(parts, Body::from_stream(replay(seen).chain(stream)));
                }
                buf = buf.slice(start..);
            }
            Some(Err(e)) => {
                let failed = futures::stream::once(async move { Err::<Bytes, _>(e) });
                return Response::from_parts(parts, Body::from_stream(replay(seen).chain(failed)));
            }
            None => return Response::from_parts(parts, Body::from_stream(replay(seen))),
        }
    }
}

/// The `data:` lines of one SSE event, joined (borrowed when there is one: the JSON-RPC
/// messages written here are one line).
fn sse_data(event: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    let mut left = Some(event);
    let lines = std::iter::from_fn(move || {
        let r = left?;
        Some(match memchr::memchr(b'\n', r) {
            Some(i) => {
                left = Some(&r[i + 1..]);
                &r[..i]
            }
            None => {
                left = None;
                r
            }
        })
    });
    let mut lines = lines.filter_map(|line| {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        line.strip_prefix(b"data:")
            .map(|rest| rest.strip_prefix(b" ").unwrap_or(rest))
    });
    let Some(first) = lines.next() else {
        return std::borrow::Cow::Borrowed(&[]);
    };
    let mut rest = lines.peekable();
    if rest.peek().is_none() {
        return std::borrow::Cow::Borrowed(first);
    }
    let mut out = first.to_vec();
    for line in rest {
        out.push(b'\n');
        out.extend_from_slice(line);
    }
    std::borrow::Cow::Owned(out)
}

/// A JSON-RPC response (an id, no method), decided by the message's top-level keys up to the
/// first of `result`, `error` or `method`: the answer itself (a whole page of incidents) is not
/// parsed again. Anything not a JSON object, or one without those keys, is not a response.
fn is_response(data: &[u8]) -> bool {
    let mut at = skip_ws(data, 0);
    if data.get(at) != Some(&b'{') {
        return false;
    }
    at += 1;
    let mut has_id = false;
    loop {
        at = skip_ws(data, at);
        let Some((key, next)) = json_value::<String>(data, at) else {
            return false;
        };
        at = skip_ws(data, next);
        if data.get(at) != Some(&b':') {
            return false;
        }
        match key.as_str() {
            "method" => return false,
            "result" | "error" => return has_id,
            "id" => has_id = true,
            _ => {}
        }
        let Some((_, next)) = json_value::<serde::de::IgnoredAny>(data, at + 1) else {
            return false;
        };
        at = skip_ws(data, next);
        match data.get(at) {
            Some(b',') => at += 1,
            _ => return false,
        }
    }
}

fn skip_ws(data: &[u8], mut at: usize) -> usize {
    while data.get(at).is_some_and(|b| b.is_ascii_whitespace()) {
        at += 1;
    }
    at
}

/// One JSON value starting at `at`, and the offset just after it.
fn json_value<T: serde::de::DeserializeOwned>(data: &[u8], at: usize) -> Option<(T, usize)> {
    let mut values = serde_json::Deserializer::from_slice(data.get(at..)?).into_iter::<T>();
    let value = values.next()?.ok()?;
    Some((value, at + values.byte_offset()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_events() {
        assert_eq!(&*sse_data(b"id: 0\nretry: 3000\ndata:"), b"");
        assert_eq!(&*sse_data(b"event: message\ndata: {\"id\":1}"), b"{\"id\":1}");
        assert_eq!(&*sse_data(b"data: {\"a\":\r\ndata: 1}"), b"{\"a\":\n1}");
        assert_eq!(&*sse_data(b"retry: 3000"), b"");
        assert!(is_response(br#"{"jsonrpc":"2.0","id":1,"result":{}}"#));
        assert!(is_response(
            br#" { "jsonrpc" : "2.0" , "id" : "a\"b" , "error" : {"code": -1} } "#
        ));
        assert!(is_response(br#"{"id":{"x":[1,"}"]},"jsonrpc":"2.0","result":[]}"#));
        assert!(!is_response(
            br#"{"jsonrpc":"2.0","method":"notifications/progress","params":{}}"#
        ));
        // A server request (id and method) is not the answer; neither is anything without an id.
        assert!(!is_response(
            br#"{"jsonrpc":"2.0","id":7,"method":"sampling/createMessage"}"#
        ));
        assert!(!is_response(br#"{"jsonrpc":"2.0","result":{}}"#));
        for junk in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"id\"",
            b"{\"id\":1",
            b"{\"id\":1 \"result\":1}",
            b"{1:2}",
            b"null",
        ] {
            assert!(!is_response(junk), "{}", String::from_utf8_lossy(junk));
        }
    }
}
