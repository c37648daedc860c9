//! Checks every incoming MCP message gets before rmcp parses it, on stdio and HTTP alike:
//! nesting depth, batches (not part of the revisions we serve), malformed JSON, and the
//! `tools/call` name type. A refused message is answered with a JSON-RPC error carrying its
//! `id` (or `"id": null` when it cannot be read), never with silence.

use serde::Deserialize;
use serde_json::{Value, json};

pub const PARSE_ERROR: i32 = -32700;
pub const INVALID_REQUEST: i32 = -32600;
pub const INVALID_PARAMS: i32 = -32602;
/// Server-defined: the server is at its session capacity.
pub const SERVER_BUSY: i32 = -32000;

/// What the checks read of a message that passed them.
#[derive(Debug, Default, Clone)]
pub struct Probe {
    /// `method`, when it is a string.
    pub method: Option<String>,
    /// `id`, when present (a request, or a response from the client).
    pub id: Option<Value>,
    /// The tool a `tools/call` names.
    pub tool: Option<String>,
}

impl Probe {
    /// A request (method and id), as opposed to a notification or a response.
    pub fn is_request(&self) -> bool {
        self.method.is_some() && self.id.is_some()
    }
}

/// A message refused before dispatch, with the JSON-RPC error to answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub id: Value,
    pub code: i32,
    pub message: String,
}

impl Rejection {
    pub fn new(id: Value, code: i32, message: impl Into<String>) -> Self {
        Self {
            id,
            code,
            message: message.into(),
        }
    }

    /// The JSON-RPC error response.
    pub fn to_json(&self) -> Value {
        json!({ "jsonrpc": "2.0", "id": self.id, "error": { "code": self.code, "message": self.message } })
    }
}

#[derive(Deserialize)]
struct RawMessage {
    #[serde(default)]
    id: Option<Value>,
    #[serde(default)]
    method: Option<Value>,
    #[serde(default)]
    params: Option<Value>,
}

/// True when `bytes` nests arrays/objects deeper than `max` (strings are skipped, so brackets
/// inside them do not count). Linear, allocation-free: runs before any parser recursion.
pub fn too_deep(bytes: &[u8], max: usize) -> bool {
    let (mut depth, mut in_str, mut escaped) = (0usize, false, false);
    for &b in bytes {
        if in_str {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_str = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Checks one message (one HTTP body or one stdio line).
pub fn check(bytes: &[u8], max_depth: usize) -> Result<Probe, Rejection> {
    if too_deep(bytes, max_depth) {
        return Err(Rejection::new(
            Value::Null,
            INVALID_REQUEST,
            format!("Invalid Request: the message nests deeper than {max_depth} levels (server.max_json_depth)"),
        ));
    }
    let first = bytes.iter().copied().find(|b| !b.is_ascii_whitespace());
    if first == Some(b'[') {
        if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
            return Err(parse_error(bytes));
        }
        return Err(Rejection::new(
            Value::Null,
            INVALID_REQUEST,
            "Invalid Request: JSON-RPC batches are not supported (MCP revisions 2025-06-18 and later removed them); send one message at a time",
        ));
    }
    let raw: RawMessage = match serde_json::from_slice(bytes) {
        Ok(raw) => raw,
        Err(_) if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_ok() => {
            return Err(Rejection::new(
                Value::Null,
                INVALID_REQUEST,
                "Invalid Request: a JSON-RPC message is a JSON object",
            ));
        }
        Err(_) => return Err(parse_error(bytes)),
    };
    let id = raw.id;
    let method = match raw.method {
        None => None,
        Some(Value::String(m)) => Some(m),
        Some(_) => {
            return Err(Rejection::new(
                id.unwrap_or(Value::Null),
                INVALID_REQUEST,
                "Invalid Request: \"method\" must be a string",
            ));
        }
    };
    let mut tool = None;
    if method.as_deref() == Some("tools/call") {
        let name = raw.params.as_ref().and_then(|p| p.get("name"));
        if let Some(Value::String(n)) = name {
            tool = Some(n.clone());
        } else {
            let got = match name {
                None => "missing".to_owned(),
                Some(v) => format!("a {}", json_type(v)),
            };
            return Err(Rejection::new(
                id.unwrap_or(Value::Null),
                INVALID_PARAMS,
                format!("Invalid params: tools/call needs params.name, the tool's name as a string (got {got})"),
            ));
        }
    }
    Ok(Probe { method, id, tool })
}

fn parse_error(bytes: &[u8]) -> Rejection {
    let detail = serde_json::from_slice::<serde::de::IgnoredAny>(bytes)
        .err()
        .map(|e| format!(": {e}"))
        .unwrap_or_default();
    Rejection::new(
        Value::Null,
        PARSE_ERROR,
        format!("Parse error: the message is not valid JSON{detail}"),
    )
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The refusal of a request sent in a session before the client's `notifications/initialized`
/// (the MCP lifecycle: only `ping` may precede it).
pub fn not_initialized(id: Value, method: &str) -> Rejection {
    Rejection::new(
        id,
        INVALID_REQUEST,
        format!(
            "Invalid Request: {} before notifications/initialized; finish the initialize handshake first",
            crate::domain::clip(method, 60)
        ),
    )
}

/// Methods a session may send between `initialize` and `notifications/initialized`.
pub fn allowed_before_initialized(method: &str) -> bool {
    matches!(method, "ping" | "initialize")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_ignores_brackets_in_strings() {
        assert!(!too_deep(br#"{"a":"[[[[[[[[[[[[[["}"#, 3));
        assert!(too_deep(b"[[[[1]]]]", 3));
        assert!(!too_deep(b"[[[1]]]", 3));
        assert!(!too_deep(br#"{"a":"\"[[[[[[["}"#, 2));
    }

    #[test]
    fn answers() {
        assert_eq!(check(b"{", 64).unwrap_err().code, PARSE_ERROR);
        assert_eq!(check(b"{", 64).unwrap_err().id, Value::Null);
        assert_eq!(check(b"[{\"jsonrpc\":\"2.0\"}]", 64).unwrap_err().code, INVALID_REQUEST);
        assert_eq!(check(b"5", 64).unwrap_err().code, INVALID_REQUEST);
        let r = check(
            br#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":5}}"#,
            64,
        )
        .unwrap_err();
        assert_eq!((r.code, r.id), (INVALID_PARAMS, json!(7)));
        let p = check(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, 64).unwrap();
        assert!(p.is_request());
        assert_eq!(p.method.as_deref(), Some("ping"));
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(check(deep.as_bytes(), 64).unwrap_err().code, INVALID_REQUEST);
    }
}
