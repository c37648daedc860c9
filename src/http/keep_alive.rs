//! Connection hygiene for every route: paths with `.`/`..` segments are 404 (never served as
//! the path they would resolve to), and a request answered before its body was read (401,
//! 403, 404, 405, 413...) has the rest of its body drained, bounded, so the keep-alive
//! connection stays usable; past the bound (or a stalled client) the answer carries
//! `Connection: close` instead.

use std::{
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use axum::{
    body::{Body, BodyDataStream, Bytes},
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::Response,
};
use futures::{Stream, StreamExt};

use super::rest::error_body;

/// Most bytes read to drain an unread body; larger bodies close the connection.
const DRAIN_MAX_BYTES: u64 = 4 * 1024 * 1024;
/// Longest wait for a client to finish sending a body nobody reads.
const DRAIN_TIME: Duration = Duration::from_secs(5);

type Shared = Arc<Mutex<Option<BodyDataStream>>>;

/// The request body as handlers see it, while this middleware keeps hold of what they leave.
struct SharedBody(Shared);

impl Stream for SharedBody {
    type Item = Result<Bytes, axum::Error>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut guard = self.0.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(s) => s.poll_next_unpin(cx),
            None => Poll::Ready(None),
        }
    }
}

/// A path segment `.` or `..`, plain or percent-encoded.
fn has_dot_segment(path: &str) -> bool {
    path.split('/').any(|seg| {
        let s = seg.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    })
}

pub async fn hygiene(req: Request, next: Next) -> Response {
    if has_dot_segment(req.uri().path()) {
        let mut resp = error_body(
            StatusCode::NOT_FOUND,
            "no such path (dot segments are not resolved)",
            None,
        );
        close_if_body(&req, &mut resp);
        return resp;
    }
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().contains_key(header::TRANSFER_ENCODING);
    if !chunked && length.unwrap_or(0) == 0 {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared: Shared = Arc::new(Mutex::new(Some(body.into_data_stream())));
    let req = Request::from_parts(parts, Body::from_stream(SharedBody(shared.clone())));
    let mut resp = next.run(req).await;
    let rest = shared.lock().unwrap_or_else(|p| p.into_inner()).take();
    let drained = match rest {
        None => true,
        Some(_) if length.is_some_and(|n| n > DRAIN_MAX_BYTES) => false,
        Some(rest) => drain(rest).await,
    };
    if !drained {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    resp
}

fn close_if_body(req: &Request, resp: &mut Response) {
    let has_body = req.headers().contains_key(header::TRANSFER_ENCODING)
        || req
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
}

/// Reads what is left of a body; false when it is too large, fails or stalls.
async fn drain(mut rest: BodyDataStream) -> bool {
    let read = async {
        let mut total = 0u64;
        while let Some(chunk) = rest.next().await {
            match chunk {
                Ok(c) => {
                    total += c.len() as u64;
                    if total > DRAIN_MAX_BYTES {
                        return false;
                    }
                }
                Err(_) => return false,
            }
        }
        true
    };
    tokio::time::timeout(DRAIN_TIME, read).await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::has_dot_segment;

    #[test]
    fn dot_segments() {
        assert!(has_dot_segment("/api/../mcp"));
        assert!(has_dot_segment("/./mcp"));
        assert!(has_dot_segment("/api/%2E%2e/mcp"));
        assert!(!has_dot_segment("/mcp"));
        assert!(!has_dot_segment("/api/incidents/INC-1.json"));
    }
}
