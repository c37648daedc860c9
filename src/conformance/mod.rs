//! Conformance-suite fixtures (cargo feature `conformance`, test builds only).
//!
//! The official MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.16 and
//! 0.2.0-alpha.12) calls tools, resources and prompts with fixed names (`test_simple_text`,
//! `test://static-text`, `test_prompt_with_arguments`, ...) and checks what they return.
//! This module is our own implementation of those fixtures, written from the scenario
//! descriptions shipped in the suite, so that `incident-mcp serve --http` built with
//! `--features conformance` passes every scenario with no baseline
//! (`tests/conformance/run.sh`). Nothing here touches the incident store.
//!
//! Input from the client (elicitation, sampling, roots) is written once per fixture as a
//! pure *step* function over the client's answers so far ([`Round`] → [`Step`]), then
//! [`drive`] serves it on both protocol revisions:
//! - 2026-07-28 (stateless): the step's `InputRequiredResult` is returned as is (SEP-2322
//!   multi round-trip requests); the client retries with `inputResponses`/`requestState`.
//! - ≤ 2025-11-25 (sessions): server-to-client requests are still allowed, so [`drive`]
//!   answers each input request itself through the session peer (`elicitation/create`,
//!   `sampling/createMessage`, `roots/list`) and re-runs the step with the answers.
//!
//! A fixture never asks for input the client did not declare it can give: it fails with
//! `MissingRequiredClientCapability` (-32021) instead.
//!
//! Not implemented: `test_reconnection` (SEP-1699 `server-sse-polling`, a pending scenario in
//! both suite versions): it must close the HTTP response stream from inside the handler,
//! which rmcp's session manager does not expose to handlers.

// Logging, sampling and roots are deprecated by 2026-07-28 (SEP-2577) but are part of
// 2025-11-25, which these fixtures also serve.
#![allow(deprecated)]

mod content;
mod inputs;
mod prompts;
mod resources;
mod rounds;
mod schemas;

use std::{
    collections::BTreeMap,
    hash::BuildHasher,
    sync::{Arc, OnceLock},
    time::Duration,
};

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::{
        router::tool::ToolRouter,
        tool::{InputResponses as InputResponsesArg, RequestState as RequestStateArg},
        wrapper::Parameters,
    },
    model::{
        CallToolResponse, CallToolResult, ClientCapabilities, CompleteRequestParams, CompleteResult, CompletionInfo,
        ContentBlock, CreateMessageRequest, CreateMessageRequestParams, CreateMessageResult, ElicitRequest,
        ElicitRequestParams, ElicitResult, ElicitationAction, ElicitationSchema, GetPromptResponse, GetPromptResult,
        InputRequest, InputRequests, InputRequiredResult, InputResponses, JsonObject, ListRootsRequest,
        ListRootsResult, LoggingLevel, LoggingMessageNotificationParam, ProgressNotificationParam, Prompt,
        PromptArgument, PromptMessage, ProtocolVersion, Reference, Resource, ResourceContents, ResourceTemplate, Role,
        SamplingMessage,
    },
    schemars,
    service::{RequestContext, ServiceError},
    tool, tool_router,
};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::mcp::IncidentServer;

#[allow(unused_imports)]
use {inputs::*, prompts::*, rounds::*, schemas::*};

pub(crate) use prompts::{complete, get_prompt_response, prompts};
pub(crate) use resources::{read_resource, resource_templates, resources, subscribable};

/// A 1×1 red PNG pixel (base64), used wherever a scenario wants image data.
const TEST_IMAGE_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
/// A minimal WAV file (base64), used wherever a scenario wants audio data.
const TEST_AUDIO_BASE64: &str = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";

const STATIC_TEXT_URI: &str = "test://static-text";
const STATIC_BINARY_URI: &str = "test://static-binary";
const WATCHED_URI: &str = "test://watched-resource";
const TEMPLATE_URI: &str = "test://template/{id}/data";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// Rounds the legacy bridge in [`drive`] runs before giving up on a fixture.
const MAX_LEGACY_ROUNDS: usize = 5;
/// The longest id the template resource accepts (it is echoed back).
const MAX_TEMPLATE_ID: usize = 128;
/// The most characters of a client's answer a fixture echoes back.
const MAX_ECHO: usize = 500;

impl IncidentServer {
    /// Sends a log notification if the client wants this level: on 2026-07-28 only when the
    /// request's `_meta` asked for logs; on older revisions per `logging/setLevel` (all levels
    /// until the client sets one).
    async fn log(&self, ctx: &RequestContext<RoleServer>, level: LoggingLevel, message: &str) {
        let min = if is_modern(ctx) {
            ctx.meta.log_level()
        } else {
            Some(self.log_level().await.unwrap_or(LoggingLevel::Debug))
        };
        let Some(min) = min else { return };
        if (level as u8) < (min as u8) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, json!(message)).with_logger("conformance");
        if let Err(e) = ctx.peer.notify_logging_message(param).await {
            tracing::debug!(error = %e, "log notification not delivered");
        }
    }
}

/// The fixture tools, merged into the server's tool router.
pub(crate) fn tools() -> ToolRouter<IncidentServer> {
    IncidentServer::content_tools() + IncidentServer::input_tools()
}

// ---------------------------------------------------------------------------------------
// requestState integrity (HMAC-SHA256 with a per-process random key)
// ---------------------------------------------------------------------------------------

/// The per-process key sealing `requestState`. Derived from std's randomly seeded SipHash
/// keys; a restart invalidates outstanding states, which is fine for fixtures.
fn state_key() -> &'static [u8; 32] {
    static KEY: OnceLock<[u8; 32]> = OnceLock::new();
    KEY.get_or_init(|| {
        let mut hasher = Sha256::new();
        for i in 0u64..8 {
            hasher.update(std::collections::hash_map::RandomState::new().hash_one(i).to_le_bytes());
        }
        hasher.update(std::process::id().to_le_bytes());
        if let Ok(t) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            hasher.update(t.as_nanos().to_le_bytes());
        }
        hasher.finalize().into()
    })
}

/// HMAC-SHA256 (RFC 2104) of `msg` under `key` (key ≤ 64 bytes).
fn hmac_sha256(key: &[u8; 32], msg: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    block[..32].copy_from_slice(key);
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(msg);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Seals `payload` into an opaque `requestState`: `hex(payload).hex(tag)`. Signed, not
/// encrypted: never put secrets in it.
fn seal(payload: &str) -> String {
    format!(
        "{}.{}",
        hex::encode(payload),
        hex::encode(hmac_sha256(state_key(), payload.as_bytes()))
    )
}

/// Opens a sealed `requestState`; `None` if it was forged or altered.
fn open(sealed: &str) -> Option<String> {
    let (payload_hex, tag_hex) = sealed.split_once('.')?;
    let payload = hex::decode(payload_hex).ok()?;
    let tag = hex::decode(tag_hex).ok()?;
    let expected = hmac_sha256(state_key(), &payload);
    if bool::from(expected[..].ct_eq(&tag[..])) {
        String::from_utf8(payload).ok()
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_state_round_trips_and_rejects_tampering() {
        let sealed = seal("tool:1");
        assert_eq!(open(&sealed).as_deref(), Some("tool:1"));
        assert_eq!(open(&format!("{sealed}-TAMPERED")), None);
        assert_eq!(open("not-a-state"), None);
        let (payload, tag) = sealed.split_once('.').expect("sealed state has a dot");
        assert_eq!(
            open(&format!("{}.{tag}", hex::encode("tool:2"))),
            None,
            "payload swap must fail: {payload}"
        );
    }

    #[test]
    fn fixture_schemas_parse() {
        assert!(ask_name("n").is_ok());
        assert!(ask_colour().is_ok());
        assert!(ask_form("m", &sep1034_schema()).is_ok());
        assert!(ask_form("m", &sep1330_schema()).is_ok());
        assert!(!header_param_input().is_empty());
        assert!(!json_schema_2020_12_input().is_empty());
    }

    #[test]
    fn template_resource_substitutes_and_rejects_bad_ids() {
        let Some(ResourceContents::TextResourceContents { text, .. }) = read_resource("test://template/123/data")
        else {
            panic!("template read failed");
        };
        assert!(text.contains("123"));
        assert!(read_resource("test://template//data").is_none());
        assert!(read_resource("test://template/a/b/data").is_none());
        assert!(read_resource("test://nonexistent-resource-for-conformance-testing").is_none());
    }

    #[test]
    fn prompts_render_and_validate_arguments() {
        let mut args = BTreeMap::new();
        assert!(matches!(get_prompt(ARGS_PROMPT, &args), Some(Err(_))));
        args.insert("arg1".to_owned(), "hello".to_owned());
        args.insert("arg2".to_owned(), "world".to_owned());
        let Some(Ok(r)) = get_prompt(ARGS_PROMPT, &args) else {
            panic!("prompt failed")
        };
        let text = serde_json::to_string(&r.messages).expect("serialize");
        assert!(text.contains("arg1='hello'") && text.contains("arg2='world'"));
        assert!(get_prompt("incident-triage", &args).is_none());
    }
}
