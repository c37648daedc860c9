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

use super::IncidentServer;

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

// ---------------------------------------------------------------------------------------
// Tools
// ---------------------------------------------------------------------------------------

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SamplingArgs {
    /// The prompt to send to the LLM
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ElicitationArgs {
    /// The message to show the user
    pub message: String,
}

#[tool_router(router = conformance_tools, vis = "pub(crate)")]
impl IncidentServer {
    /// Scenario `tools-call-simple-text`.
    #[tool(
        name = "test_simple_text",
        description = "Conformance fixture: returns one text block"
    )]
    async fn test_simple_text(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text("This is a simple text response for testing.")])
    }

    /// Scenario `tools-call-image`.
    #[tool(
        name = "test_image_content",
        description = "Conformance fixture: returns one PNG image block"
    )]
    async fn test_image_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::image(TEST_IMAGE_BASE64, "image/png")])
    }

    /// Scenario `tools-call-audio`.
    #[tool(
        name = "test_audio_content",
        description = "Conformance fixture: returns one WAV audio block"
    )]
    async fn test_audio_content(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::audio(TEST_AUDIO_BASE64, "audio/wav")])
    }

    /// Scenario `tools-call-embedded-resource`.
    #[tool(
        name = "test_embedded_resource",
        description = "Conformance fixture: returns one embedded text resource"
    )]
    async fn test_embedded_resource(&self) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::resource(
            ResourceContents::text("This is an embedded resource content.", "test://embedded-resource")
                .with_mime_type("text/plain"),
        )])
    }

    /// Scenario `tools-call-mixed-content`.
    #[tool(
        name = "test_multiple_content_types",
        description = "Conformance fixture: returns text, image and embedded resource blocks"
    )]
    async fn test_multiple_content_types(&self) -> CallToolResult {
        CallToolResult::success(vec![
            ContentBlock::text("Multiple content types test:"),
            ContentBlock::image(TEST_IMAGE_BASE64, "image/png"),
            ContentBlock::resource(
                ResourceContents::text(
                    json!({ "test": "data", "value": 123 }).to_string(),
                    "test://mixed-content-resource",
                )
                .with_mime_type("application/json"),
            ),
        ])
    }

    /// Scenario `tools-call-with-logging` (≤ 2025-11-25): three info log notifications
    /// ~50 ms apart, filtered by the session's `logging/setLevel` (or, on 2026-07-28, by the
    /// request's `_meta` log level).
    #[tool(
        name = "test_tool_with_logging",
        description = "Conformance fixture: sends three info log notifications while it runs"
    )]
    async fn test_tool_with_logging(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        for (i, message) in [
            "Tool execution started",
            "Tool processing data",
            "Tool execution completed",
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                // The scenario asks for spaced notifications; this is fixture behaviour, not synchronisation.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            self.log(&ctx, LoggingLevel::Info, message).await;
        }
        CallToolResult::success(vec![ContentBlock::text("Tool with logging executed successfully")])
    }

    /// Scenario `server-stateless` (2026-07-28, SEP-2575): a request that did not set
    /// `_meta["io.modelcontextprotocol/logLevel"]` must get no `notifications/message`.
    #[tool(
        name = "test_logging_tool",
        description = "Conformance fixture: logs one info message, only if the request asked for logs"
    )]
    async fn test_logging_tool(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        self.log(&ctx, LoggingLevel::Info, "test_logging_tool ran").await;
        CallToolResult::success(vec![ContentBlock::text("logging tool executed")])
    }

    /// Scenario `tools-call-with-progress`: progress 0, 50, 100 of 100, ~50 ms apart, when the
    /// request carries `_meta.progressToken`.
    #[tool(
        name = "test_tool_with_progress",
        description = "Conformance fixture: reports progress 0/50/100 of 100 when given a progress token"
    )]
    async fn test_tool_with_progress(&self, ctx: RequestContext<RoleServer>) -> CallToolResult {
        let token = ctx.meta.get_progress_token();
        for (i, step) in [0.0_f64, 50.0, 100.0].into_iter().enumerate() {
            if i > 0 {
                // The scenario asks for spaced notifications; this is fixture behaviour, not synchronisation.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if let Some(token) = &token {
                let param = ProgressNotificationParam::new(token.clone(), step)
                    .with_total(100.0)
                    .with_message(format!("Completed step {step} of 100"));
                if let Err(e) = ctx.peer.notify_progress(param).await {
                    tracing::debug!(error = %e, "progress notification not delivered");
                }
            }
        }
        let text = match &token {
            Some(t) => format!("Progress reported for token {}", json!(t)),
            None => "No progress token given; ran without progress notifications".to_owned(),
        };
        CallToolResult::success(vec![ContentBlock::text(text)])
    }

    /// Scenario `tools-call-error`: a tool execution error (`isError: true`), not a protocol error.
    #[tool(
        name = "test_error_handling",
        description = "Conformance fixture: always fails with a tool error"
    )]
    async fn test_error_handling(&self) -> CallToolResult {
        CallToolResult::error(vec![ContentBlock::text(
            "This tool intentionally returns an error for testing",
        )])
    }

    /// Scenario `tools-call-sampling`: asks the client's LLM (`sampling/createMessage`).
    #[tool(
        name = "test_sampling",
        description = "Conformance fixture: asks the client's LLM to answer a prompt"
    )]
    async fn test_sampling(
        &self,
        Parameters(args): Parameters<SamplingArgs>,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        tool_response(drive(&ctx, responses, state, |r| sampling_step(r, &args.prompt)).await?)
    }

    /// Scenario `tools-call-elicitation`: asks the user for a user name and an e-mail address.
    #[tool(
        name = "test_elicitation",
        description = "Conformance fixture: asks the user for a name and e-mail address"
    )]
    async fn test_elicitation(
        &self,
        Parameters(args): Parameters<ElicitationArgs>,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        let schema = json!({
            "type": "object",
            "properties": {
                "username": { "type": "string", "description": "User's response" },
                "email": { "type": "string", "description": "User's email address" }
            },
            "required": ["username", "email"]
        });
        tool_response(
            drive(&ctx, responses, state, |r| {
                form_step(r, &args.message, &schema, |res| {
                    format!(
                        "User response: action={}, content={}",
                        action_name(&res.action),
                        content_json(res)
                    )
                })
            })
            .await?,
        )
    }

    /// Scenario `elicitation-sep1034-defaults`: a form whose primitive fields all carry defaults.
    #[tool(
        name = "test_elicitation_sep1034_defaults",
        description = "Conformance fixture: elicitation form with default values for every primitive type (SEP-1034)"
    )]
    async fn test_elicitation_sep1034_defaults(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        let schema = sep1034_schema();
        tool_response(
            drive(&ctx, responses, state, |r| {
                form_step(
                    r,
                    "Please review and update the form fields with defaults",
                    &schema,
                    completed_text,
                )
            })
            .await?,
        )
    }

    /// Scenario `elicitation-sep1330-enums`: a form with the five enum shapes of SEP-1330.
    #[tool(
        name = "test_elicitation_sep1330_enums",
        description = "Conformance fixture: elicitation form with all five enum schema variants (SEP-1330)"
    )]
    async fn test_elicitation_sep1330_enums(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        let schema = sep1330_schema();
        tool_response(
            drive(&ctx, responses, state, |r| {
                form_step(r, "Please choose from the enum fields", &schema, completed_text)
            })
            .await?,
        )
    }

    /// Scenario `json-schema-2020-12` (SEP-1613): `$schema`, `$defs` and
    /// `additionalProperties` must survive into `tools/list`.
    #[tool(
        name = "json_schema_2020_12_tool",
        description = "Tool with JSON Schema 2020-12 features",
        input_schema = json_schema_2020_12_input()
    )]
    async fn json_schema_2020_12_tool(&self, arguments: JsonObject) -> CallToolResult {
        CallToolResult::success(vec![ContentBlock::text(format!(
            "Received arguments: {}",
            Value::Object(arguments)
        ))])
    }

    /// Scenario `http-custom-header-server-validation` (SEP-2243): a tool with an
    /// `x-mcp-header` parameter, so the suite can check how `Mcp-Param-*` headers are validated.
    #[tool(
        name = "test_header_param",
        description = "Conformance fixture: echoes `region`, which clients also send in the Mcp-Param-Region header",
        input_schema = header_param_input()
    )]
    async fn test_header_param(&self, arguments: JsonObject) -> CallToolResult {
        match arguments.get("region").and_then(Value::as_str) {
            Some(region) => text_result(format!("region: {region}")),
            None => CallToolResult::error(vec![ContentBlock::text("argument `region` (a string) is required")]),
        }
    }

    /// Scenario `server-stateless` (SEP-2575): needs `sampling`, so a request that did not
    /// declare it fails with `MissingRequiredClientCapability` (-32021, HTTP 400).
    #[tool(
        name = "test_missing_capability",
        description = "Conformance fixture: requires the client's sampling capability"
    )]
    async fn test_missing_capability(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        tool_response(drive(&ctx, responses, state, |r| sampling_step(r, "Say hello")).await?)
    }

    /// Scenario `server-stateless` (SEP-2575): on 2026-07-28 the response stream must carry
    /// only the (input-required) result, never a server-to-client request.
    #[tool(
        name = "test_streaming_elicitation",
        description = "Conformance fixture: asks the user to confirm before completing"
    )]
    async fn test_streaming_elicitation(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        let schema = json!({
            "type": "object",
            "properties": { "confirmed": { "type": "boolean", "description": "Confirm?" } },
            "required": ["confirmed"]
        });
        tool_response(
            drive(&ctx, responses, state, |r| {
                form_step(r, "Please confirm to continue", &schema, completed_text)
            })
            .await?,
        )
    }

    /// Scenarios `input-required-result-basic-elicitation`, `-missing-input-response`,
    /// `-result-type`, `-ignore-extra-params` and `-validate-input` (SEP-2322).
    #[tool(
        name = "test_input_required_result_elicitation",
        description = "Conformance fixture: asks for the user's name (input request `user_name`), then greets them"
    )]
    async fn test_input_required_result_elicitation(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        tool_response(
            drive(&ctx, responses, state, |r| {
                r.require(Needs::ELICITATION)?;
                match r.elicited("user_name")? {
                    None => Ok(r.ask([("user_name", ask_name("What is your name?")?)], None)),
                    Some(res) => Ok(Step::Done(greeting(&res))),
                }
            })
            .await?,
        )
    }

    /// Scenario `input-required-result-basic-sampling` (SEP-2322).
    #[tool(
        name = "test_input_required_result_sampling",
        description = "Conformance fixture: asks the client's LLM a question (input request `capital_question`)"
    )]
    async fn test_input_required_result_sampling(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        tool_response(
            drive(&ctx, responses, state, |r| {
                r.require(Needs::SAMPLING)?;
                match r.sampled("capital_question")? {
                    None => Ok(r.ask(
                        [("capital_question", ask_llm("What is the capital of France?", 100))],
                        None,
                    )),
                    Some(answer) => Ok(Step::Done(text_result(format!("LLM answered: {answer}")))),
                }
            })
            .await?,
        )
    }

    /// Scenario `input-required-result-basic-list-roots` (SEP-2322).
    #[tool(
        name = "test_input_required_result_list_roots",
        description = "Conformance fixture: asks for the client's roots (input request `client_roots`)"
    )]
    async fn test_input_required_result_list_roots(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        tool_response(
            drive(&ctx, responses, state, |r| {
                r.require(Needs::ROOTS)?;
                match r.roots("client_roots")? {
                    None => Ok(r.ask([("client_roots", ask_roots())], None)),
                    Some(roots) => Ok(Step::Done(text_result(format!("Client roots: {}", roots_text(&roots))))),
                }
            })
            .await?,
        )
    }

    /// Scenario `input-required-result-request-state` (SEP-2322): the echoed, integrity-protected
    /// `requestState` is verified and the result says `state-ok`.
    #[tool(
        name = "test_input_required_result_request_state",
        description = "Conformance fixture: asks for confirmation with an integrity-protected requestState"
    )]
    async fn test_input_required_result_request_state(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        const TOOL: &str = "test_input_required_result_request_state";
        tool_response(drive(&ctx, responses, state, |r| confirm_with_state(r, TOOL, "state-ok")).await?)
    }

    /// Scenario `input-required-result-tampered-state` (SEP-2322): a `requestState` that fails
    /// its HMAC check is rejected with -32602.
    #[tool(
        name = "test_input_required_result_tampered_state",
        description = "Conformance fixture: rejects a requestState that fails its integrity check"
    )]
    async fn test_input_required_result_tampered_state(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        const TOOL: &str = "test_input_required_result_tampered_state";
        tool_response(
            drive(&ctx, responses, state, |r| {
                confirm_with_state(r, TOOL, "state verified")
            })
            .await?,
        )
    }

    /// Scenario `input-required-result-multiple-input-requests` (SEP-2322): elicitation,
    /// sampling and roots in one round; missing answers are asked for again.
    #[tool(
        name = "test_input_required_result_multiple_inputs",
        description = "Conformance fixture: asks for a name, an LLM greeting and the client's roots at once"
    )]
    async fn test_input_required_result_multiple_inputs(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        const TOOL: &str = "test_input_required_result_multiple_inputs";
        tool_response(
            drive(&ctx, responses, state, |r| {
                r.require(Needs {
                    elicitation: true,
                    sampling: true,
                    roots: true,
                })?;
                let sealed = seal(&format!("{TOOL}:1"));
                if r.state.is_some() {
                    r.expect_state(TOOL, &format!("{TOOL}:1"))?;
                }
                let name = r.elicited("user_name")?;
                let greeting_text = r.sampled("greeting")?;
                let roots = r.roots("client_roots")?;
                let (Some(name), Some(greeting_text), Some(roots)) = (&name, &greeting_text, &roots) else {
                    let mut asks = Vec::new();
                    if name.is_none() {
                        asks.push(("user_name", ask_name("What is your name?")?));
                    }
                    if greeting_text.is_none() {
                        asks.push(("greeting", ask_llm("Generate a greeting", 50)));
                    }
                    if roots.is_none() {
                        asks.push(("client_roots", ask_roots()));
                    }
                    return Ok(r.ask(asks, Some(sealed)));
                };
                Ok(Step::Done(text_result(format!(
                    "name: {}; greeting: {greeting_text}; roots: {}",
                    field_text(name, "name"),
                    roots_text(roots)
                ))))
            })
            .await?,
        )
    }

    /// Scenario `input-required-result-multi-round` (SEP-2322): two rounds of elicitation, each
    /// with its own `requestState`.
    #[tool(
        name = "test_input_required_result_multi_round",
        description = "Conformance fixture: asks for a name, then a favourite colour, across two rounds"
    )]
    async fn test_input_required_result_multi_round(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        const TOOL: &str = "test_input_required_result_multi_round";
        tool_response(
            drive(&ctx, responses, state, |r| {
                r.require(Needs::ELICITATION)?;
                let ask_step1 = |r: &Round<'_>| -> Result<Step<CallToolResult>, McpError> {
                    Ok(r.ask(
                        [("step1", ask_name("Step 1: What is your name?")?)],
                        Some(seal(&format!("{TOOL}:1"))),
                    ))
                };
                let Some(state) = r.opened_state(TOOL)? else {
                    return ask_step1(r);
                };
                let round2_prefix = format!("{TOOL}:2:");
                if let Some(name) = state.strip_prefix(&round2_prefix) {
                    return match r.elicited("step2")? {
                        Some(res) => Ok(Step::Done(text_result(format!(
                            "Hello {name}, your favourite colour is {}",
                            field_text(&res, "color")
                        )))),
                        None => Ok(r.ask([("step2", ask_colour()?)], Some(seal(&state)))),
                    };
                }
                if state != format!("{TOOL}:1") {
                    return Err(bad_state());
                }
                match r.elicited("step1")? {
                    None => ask_step1(r),
                    Some(res) => {
                        let name = field_text(&res, "name");
                        Ok(r.ask(
                            [("step2", ask_colour()?)],
                            Some(seal(&format!("{round2_prefix}{name}"))),
                        ))
                    }
                }
            })
            .await?,
        )
    }

    /// Scenario `input-required-result-capability-check` (SEP-2322): asks only for what the
    /// request's `clientCapabilities` declare.
    #[tool(
        name = "test_input_required_result_capabilities",
        description = "Conformance fixture: asks for input only through capabilities the client declared"
    )]
    async fn test_input_required_result_capabilities(
        &self,
        ctx: RequestContext<RoleServer>,
        InputResponsesArg(responses): InputResponsesArg,
        RequestStateArg(state): RequestStateArg,
    ) -> Result<CallToolResponse, McpError> {
        tool_response(
            drive(&ctx, responses, state, |r| {
                let mut asks = Vec::new();
                let mut answers = Vec::new();
                if r.caps.sampling.is_some() {
                    match r.sampled("sampling_request")? {
                        Some(text) => answers.push(format!("sampling: {text}")),
                        None => asks.push(("sampling_request", ask_llm("Say hello", 50))),
                    }
                }
                if r.caps.elicitation.is_some() {
                    match r.elicited("elicitation_request")? {
                        Some(res) => answers.push(format!("elicitation: {}", field_text(&res, "name"))),
                        None => asks.push(("elicitation_request", ask_name("What is your name?")?)),
                    }
                }
                if r.caps.roots.is_some() {
                    match r.roots("roots_request")? {
                        Some(roots) => answers.push(format!("roots: {}", roots_text(&roots))),
                        None => asks.push(("roots_request", ask_roots())),
                    }
                }
                if !asks.is_empty() {
                    return Ok(r.ask(asks, None));
                }
                Ok(Step::Done(text_result(if answers.is_empty() {
                    "The client declared no input capability; nothing was asked".to_owned()
                } else {
                    answers.join("; ")
                })))
            })
            .await?,
        )
    }
}

impl IncidentServer {
    /// Sends a log notification if the client wants this level: on 2026-07-28 only when the
    /// request's `_meta` asked for logs; on older revisions per `logging/setLevel` (all levels
    /// until the client sets one).
    async fn log(&self, ctx: &RequestContext<RoleServer>, level: LoggingLevel, message: &str) {
        let min = if is_modern(ctx) {
            ctx.meta.log_level()
        } else {
            Some((*self.log_level.lock().await).unwrap_or(LoggingLevel::Debug))
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
    IncidentServer::conformance_tools()
}

/// SEP-1034 form: a default for every primitive type.
fn sep1034_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "description": "User name", "default": "John Doe" },
            "age": { "type": "integer", "description": "User age", "default": 30 },
            "score": { "type": "number", "description": "User score", "default": 95.5 },
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active"
            },
            "verified": { "type": "boolean", "description": "Verification status", "default": true }
        },
        "required": []
    })
}

/// SEP-1330 form: the five enum shapes (untitled/titled single-select, legacy `enumNames`,
/// untitled/titled multi-select).
fn sep1330_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Untitled single-select",
                "enum": ["option1", "option2", "option3"]
            },
            "titledSingle": {
                "type": "string",
                "description": "Titled single-select",
                "oneOf": [
                    { "const": "value1", "title": "First Option" },
                    { "const": "value2", "title": "Second Option" },
                    { "const": "value3", "title": "Third Option" }
                ]
            },
            "legacyEnum": {
                "type": "string",
                "description": "Legacy titled enum (deprecated enumNames)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"]
            },
            "untitledMulti": {
                "type": "array",
                "description": "Untitled multi-select",
                "items": { "type": "string", "enum": ["option1", "option2", "option3"] }
            },
            "titledMulti": {
                "type": "array",
                "description": "Titled multi-select",
                "items": {
                    "anyOf": [
                        { "const": "value1", "title": "First Choice" },
                        { "const": "value2", "title": "Second Choice" },
                        { "const": "value3", "title": "Third Choice" }
                    ]
                }
            }
        },
        "required": []
    })
}

/// Input schema of `json_schema_2020_12_tool`, verbatim from the scenario (0.2.0-alpha.12,
/// a superset of 0.1.16's): 2020-12 `$schema`, `$defs` with an `$anchor`, composition
/// (`allOf`/`anyOf`) and conditional (`if`/`then`/`else`) keywords (SEP-1613, SEP-2106).
fn json_schema_2020_12_input() -> Arc<JsonObject> {
    object(json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {
            "address": {
                "$anchor": "addressDef",
                "type": "object",
                "properties": { "street": { "type": "string" }, "city": { "type": "string" } }
            }
        },
        "properties": {
            "name": { "type": "string" },
            "address": { "$ref": "#/$defs/address" },
            "contactMethod": { "type": "string", "enum": ["phone", "email"] },
            "phone": { "type": "string" },
            "email": { "type": "string" }
        },
        "allOf": [{ "anyOf": [{ "required": ["phone"] }, { "required": ["email"] }] }],
        "if": { "properties": { "contactMethod": { "const": "phone" } }, "required": ["contactMethod"] },
        "then": { "required": ["phone"] },
        "else": { "required": ["email"] },
        "additionalProperties": false
    }))
}

/// Input schema of `test_header_param`: `region` is mirrored in the `Mcp-Param-Region`
/// HTTP header (SEP-2243), which rmcp's HTTP transport validates against the body.
fn header_param_input() -> Arc<JsonObject> {
    object(json!({
        "type": "object",
        "properties": {
            "region": { "type": "string", "description": "Any region name", "x-mcp-header": "Region" }
        },
        "required": ["region"]
    }))
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::default(),
    }
}

// ---------------------------------------------------------------------------------------
// Multi round-trip requests (SEP-2322) on both protocol revisions
// ---------------------------------------------------------------------------------------

/// What a fixture needs next.
enum Step<T> {
    /// Finished.
    Done(T),
    /// Needs the client to answer these input requests, then retry.
    Input(InputRequiredResult),
}

/// What one round of a fixture sees: the client's answers so far, the echoed state and the
/// client's declared capabilities.
struct Round<'a> {
    responses: Option<&'a InputResponses>,
    state: Option<&'a str>,
    caps: &'a ClientCapabilities,
}

/// Client capabilities a fixture needs.
#[derive(Clone, Copy)]
struct Needs {
    elicitation: bool,
    sampling: bool,
    roots: bool,
}

impl Needs {
    const ELICITATION: Self = Self {
        elicitation: true,
        sampling: false,
        roots: false,
    };
    const SAMPLING: Self = Self {
        elicitation: false,
        sampling: true,
        roots: false,
    };
    const ROOTS: Self = Self {
        elicitation: false,
        sampling: false,
        roots: true,
    };
}

impl Round<'_> {
    /// Fails with `MissingRequiredClientCapability` (-32021) naming what was not declared.
    fn require(&self, needs: Needs) -> Result<(), McpError> {
        let mut missing = ClientCapabilities::default();
        let mut any = false;
        if needs.elicitation && self.caps.elicitation.is_none() {
            missing.elicitation = Some(Default::default());
            any = true;
        }
        if needs.sampling && self.caps.sampling.is_none() {
            missing.sampling = Some(Default::default());
            any = true;
        }
        if needs.roots && self.caps.roots.is_none() {
            missing.roots = Some(Default::default());
            any = true;
        }
        if any {
            Err(McpError::missing_required_client_capability(missing))
        } else {
            Ok(())
        }
    }

    /// An `InputRequiredResult` asking for `asks`, carrying `state`.
    fn ask<T>(&self, asks: impl IntoIterator<Item = (&'static str, InputRequest)>, state: Option<String>) -> Step<T> {
        let requests: InputRequests = asks.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Step::Input(InputRequiredResult::new(Some(requests), state))
    }

    /// The client's answer under `key`, if it sent one.
    fn response(&self, key: &str) -> Option<&Value> {
        self.responses.and_then(|r| r.get(key))
    }

    /// The client's elicitation answer under `key`; a malformed answer is a -32602 error.
    fn elicited(&self, key: &str) -> Result<Option<ElicitResult>, McpError> {
        self.response(key)
            .map(|v| parse_response::<ElicitResult>(key, v))
            .transpose()
    }

    /// The text of the client's sampling answer under `key`; a malformed answer is a -32602 error.
    fn sampled(&self, key: &str) -> Result<Option<String>, McpError> {
        let Some(v) = self.response(key) else {
            return Ok(None);
        };
        parse_response::<CreateMessageResult>(key, v)?;
        let text = v
            .pointer("/content/text")
            .and_then(Value::as_str)
            .unwrap_or("(no text)");
        Ok(Some(crate::domain::clip(text, MAX_ECHO)))
    }

    /// The client's roots answer under `key`; a malformed answer is a -32602 error.
    fn roots(&self, key: &str) -> Result<Option<ListRootsResult>, McpError> {
        self.response(key)
            .map(|v| parse_response::<ListRootsResult>(key, v))
            .transpose()
    }

    /// The verified payload of the echoed `requestState` of `tool`, if any; a state that
    /// fails verification (forged, tampered, or from another tool) is a -32602 error.
    fn opened_state(&self, tool: &str) -> Result<Option<String>, McpError> {
        let Some(sealed) = self.state else {
            return Ok(None);
        };
        match open(sealed) {
            Some(payload) if payload.split(':').next() == Some(tool) => Ok(Some(payload)),
            _ => Err(bad_state()),
        }
    }

    /// Requires the echoed `requestState` to be exactly `expected` (sealed by `tool`).
    fn expect_state(&self, tool: &str, expected: &str) -> Result<(), McpError> {
        match self.opened_state(tool)? {
            Some(payload) if payload == expected => Ok(()),
            _ => Err(bad_state()),
        }
    }
}

/// How a call ended: finished, or waiting for the client's input.
enum Outcome<T> {
    Done(T),
    Input(InputRequiredResult),
}

/// Serves a step function on both protocol revisions (see the module docs).
async fn drive<T>(
    ctx: &RequestContext<RoleServer>,
    mut responses: Option<InputResponses>,
    mut state: Option<String>,
    step: impl Fn(&Round<'_>) -> Result<Step<T>, McpError>,
) -> Result<Outcome<T>, McpError> {
    let caps = ctx.client_capabilities().unwrap_or_default();
    if is_modern(ctx) {
        let round = Round {
            responses: responses.as_ref(),
            state: state.as_deref(),
            caps: &caps,
        };
        return Ok(match step(&round)? {
            Step::Done(t) => Outcome::Done(t),
            Step::Input(input) => Outcome::Input(input),
        });
    }
    // ≤ 2025-11-25: answer the input requests ourselves through the session, then retry.
    for _ in 0..MAX_LEGACY_ROUNDS {
        let round = Round {
            responses: responses.as_ref(),
            state: state.as_deref(),
            caps: &caps,
        };
        let input = match step(&round)? {
            Step::Done(t) => return Ok(Outcome::Done(t)),
            Step::Input(input) => input,
        };
        let mut answers = responses.take().unwrap_or_default();
        for (key, request) in input.input_requests.unwrap_or_default() {
            answers.insert(key, ask_client(ctx, &caps, request).await?);
        }
        responses = Some(answers);
        state = input.request_state;
    }
    Err(McpError::internal_error(
        format!("fixture still needed input after {MAX_LEGACY_ROUNDS} rounds"),
        None,
    ))
}

/// Sends one input request to a ≤ 2025-11-25 client as a server-to-client request.
async fn ask_client(
    ctx: &RequestContext<RoleServer>,
    caps: &ClientCapabilities,
    request: InputRequest,
) -> Result<Value, McpError> {
    let answer = match request {
        InputRequest::Elicitation(req) => {
            if caps.elicitation.is_none() {
                return Err(missing(|c| c.elicitation = Some(Default::default())));
            }
            ctx.peer.create_elicitation(req.params).await.map(serde_json::to_value)
        }
        InputRequest::CreateMessage(req) => {
            if caps.sampling.is_none() {
                return Err(missing(|c| c.sampling = Some(Default::default())));
            }
            ctx.peer.create_message(req.params).await.map(serde_json::to_value)
        }
        InputRequest::ListRoots(_) => {
            if caps.roots.is_none() {
                return Err(missing(|c| c.roots = Some(Default::default())));
            }
            ctx.peer.list_roots().await.map(serde_json::to_value)
        }
        _ => return Err(McpError::internal_error("unsupported input request", None)),
    };
    match answer {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(McpError::internal_error(
            format!("could not encode the client's answer: {e}"),
            None,
        )),
        Err(ServiceError::McpError(e)) => Err(e),
        Err(e) => Err(McpError::internal_error(
            format!("the client did not answer: {e}"),
            None,
        )),
    }
}

/// `MissingRequiredClientCapability` for the capability `set` fills in.
fn missing(set: impl FnOnce(&mut ClientCapabilities)) -> McpError {
    let mut caps = ClientCapabilities::default();
    set(&mut caps);
    McpError::missing_required_client_capability(caps)
}

/// Does this request speak 2026-07-28 (stateless, MRTR) or later?
fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
}

fn tool_response(outcome: Outcome<CallToolResult>) -> Result<CallToolResponse, McpError> {
    Ok(match outcome {
        Outcome::Done(r) => r.into(),
        Outcome::Input(i) => i.into(),
    })
}

/// A one-question sampling fixture: ask the LLM `prompt`, report its answer.
fn sampling_step(r: &Round<'_>, prompt: &str) -> Result<Step<CallToolResult>, McpError> {
    r.require(Needs::SAMPLING)?;
    Ok(match r.sampled("sampling")? {
        None => r.ask([("sampling", ask_llm(prompt, 100))], None),
        Some(answer) => Step::Done(text_result(format!("LLM response: {answer}"))),
    })
}

/// A one-form elicitation fixture: ask `message` with `schema`, describe the answer with `done`.
fn form_step(
    r: &Round<'_>,
    message: &str,
    schema: &Value,
    done: impl Fn(&ElicitResult) -> String,
) -> Result<Step<CallToolResult>, McpError> {
    r.require(Needs::ELICITATION)?;
    Ok(match r.elicited("elicitation")? {
        None => r.ask([("elicitation", ask_form(message, schema)?)], None),
        Some(res) => Step::Done(text_result(done(&res))),
    })
}

/// The request-state fixtures: ask `confirm` with a sealed state; on the retry verify the
/// state (any failure is -32602) and answer with `ok_text`.
fn confirm_with_state(r: &Round<'_>, tool: &str, ok_text: &str) -> Result<Step<CallToolResult>, McpError> {
    r.require(Needs::ELICITATION)?;
    let expected = format!("{tool}:1");
    let ask = |r: &Round<'_>| -> Result<Step<CallToolResult>, McpError> {
        let schema = json!({
            "type": "object",
            "properties": { "ok": { "type": "boolean" } },
            "required": ["ok"]
        });
        Ok(r.ask(
            [("confirm", ask_form("Please confirm", &schema)?)],
            Some(seal(&expected)),
        ))
    };
    let confirm = r.elicited("confirm")?;
    if r.state.is_some() {
        r.expect_state(tool, &expected)?;
    } else if confirm.is_some() {
        return Err(McpError::invalid_params(
            "requestState is missing: echo the requestState you were given",
            None,
        ));
    }
    match confirm {
        None => ask(r),
        Some(res) => Ok(Step::Done(text_result(format!(
            "{ok_text}: action={}, content={}",
            action_name(&res.action),
            content_json(&res)
        )))),
    }
}

fn ask_form(message: &str, schema: &Value) -> Result<InputRequest, McpError> {
    let requested_schema: ElicitationSchema = serde_json::from_value(schema.clone())
        .map_err(|e| McpError::internal_error(format!("fixture elicitation schema is invalid: {e}"), None))?;
    Ok(InputRequest::Elicitation(ElicitRequest::new(
        ElicitRequestParams::FormElicitationParams {
            meta: None,
            message: message.to_owned(),
            requested_schema,
        },
    )))
}

fn ask_name(message: &str) -> Result<InputRequest, McpError> {
    let schema = json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] });
    ask_form(message, &schema)
}

fn ask_colour() -> Result<InputRequest, McpError> {
    let schema = json!({ "type": "object", "properties": { "color": { "type": "string" } }, "required": ["color"] });
    ask_form("Step 2: What is your favorite color?", &schema)
}

fn ask_llm(prompt: &str, max_tokens: u32) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(prompt)],
        max_tokens,
    )))
}

fn ask_roots() -> InputRequest {
    InputRequest::ListRoots(ListRootsRequest::default())
}

fn parse_response<T: serde::de::DeserializeOwned>(key: &str, value: &Value) -> Result<T, McpError> {
    T::deserialize(value).map_err(|e| {
        McpError::invalid_params(
            format!("inputResponses.{key} is not a valid response: {e}"),
            Some(json!({ "key": key })),
        )
    })
}

fn bad_state() -> McpError {
    McpError::invalid_params("requestState failed integrity verification", None)
}

fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

fn greeting(res: &ElicitResult) -> CallToolResult {
    match res.action {
        ElicitationAction::Accept => text_result(format!("Hello, {}!", field_text(res, "name"))),
        _ => text_result(format!("No name given (action={})", action_name(&res.action))),
    }
}

fn completed_text(res: &ElicitResult) -> String {
    format!(
        "Elicitation completed: action={}, content={}",
        action_name(&res.action),
        content_json(res)
    )
}

fn action_name(action: &ElicitationAction) -> &'static str {
    match action {
        ElicitationAction::Accept => "accept",
        ElicitationAction::Decline => "decline",
        ElicitationAction::Cancel => "cancel",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

fn content_json(res: &ElicitResult) -> String {
    let json = res.content.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string);
    crate::domain::clip(&json, MAX_ECHO)
}

/// A field of an accepted form as text (strings unquoted, clipped: it is echoed back and may
/// be sealed into a `requestState`), `?` when absent.
fn field_text(res: &ElicitResult, field: &str) -> String {
    match res.content.as_ref().and_then(|c| c.get(field)) {
        Some(Value::String(s)) => crate::domain::clip(s, MAX_ECHO),
        Some(v) => crate::domain::clip(&v.to_string(), MAX_ECHO),
        None => "?".to_owned(),
    }
}

fn roots_text(roots: &ListRootsResult) -> String {
    if roots.roots.is_empty() {
        return "(none)".to_owned();
    }
    let uris: Vec<&str> = roots.roots.iter().map(|r| r.uri.as_str()).collect();
    crate::domain::clip(&uris.join(", "), MAX_ECHO)
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

// ---------------------------------------------------------------------------------------
// Resources
// ---------------------------------------------------------------------------------------

/// Fixture resources, appended to `resources/list`.
pub(crate) fn resources() -> Vec<Resource> {
    vec![
        Resource::new(STATIC_TEXT_URI, "static-text")
            .with_description("Conformance fixture: a static text resource")
            .with_mime_type("text/plain"),
        Resource::new(STATIC_BINARY_URI, "static-binary")
            .with_description("Conformance fixture: a static binary (PNG) resource")
            .with_mime_type("image/png"),
        Resource::new(WATCHED_URI, "watched-resource")
            .with_description("Conformance fixture: a resource clients may subscribe to")
            .with_mime_type("text/plain"),
    ]
}

/// Fixture resource templates, appended to `resources/templates/list`.
pub(crate) fn resource_templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(TEMPLATE_URI, "template-data")
            .with_description("Conformance fixture: JSON data for any id")
            .with_mime_type("application/json"),
    ]
}

/// True for the fixture resources `resources/subscribe` accepts.
pub(crate) fn subscribable(uri: &str) -> bool {
    read_resource(uri).is_some()
}

/// Reads a fixture resource; `None` when `uri` is not one (the caller reports not-found).
pub(crate) fn read_resource(uri: &str) -> Option<ResourceContents> {
    match uri {
        STATIC_TEXT_URI => Some(
            ResourceContents::text("This is the content of the static text resource.", uri)
                .with_mime_type("text/plain"),
        ),
        STATIC_BINARY_URI => Some(ResourceContents::blob(TEST_IMAGE_BASE64, uri).with_mime_type("image/png")),
        WATCHED_URI => Some(ResourceContents::text("Watched resource content", uri).with_mime_type("text/plain")),
        _ => {
            let id = uri.strip_prefix(TEMPLATE_PREFIX)?.strip_suffix(TEMPLATE_SUFFIX)?;
            if id.is_empty() || id.len() > MAX_TEMPLATE_ID || id.contains('/') {
                return None;
            }
            let body = json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") });
            Some(ResourceContents::text(body.to_string(), uri).with_mime_type("application/json"))
        }
    }
}

// ---------------------------------------------------------------------------------------
// Prompts
// ---------------------------------------------------------------------------------------

const SIMPLE_PROMPT: &str = "test_simple_prompt";
const ARGS_PROMPT: &str = "test_prompt_with_arguments";
const EMBEDDED_PROMPT: &str = "test_prompt_with_embedded_resource";
const IMAGE_PROMPT: &str = "test_prompt_with_image";
const MRTR_PROMPT: &str = "test_input_required_result_prompt";

/// Fixture prompts, appended to `prompts/list`.
pub(crate) fn prompts() -> Vec<Prompt> {
    let required = |name: &str, description: &str| {
        PromptArgument::new(name)
            .with_description(description)
            .with_required(true)
    };
    vec![
        Prompt::new(
            SIMPLE_PROMPT,
            Some("Conformance fixture: a prompt without arguments"),
            None,
        ),
        Prompt::new(
            ARGS_PROMPT,
            Some("Conformance fixture: a prompt with two required arguments"),
            Some(vec![
                required("arg1", "First test argument"),
                required("arg2", "Second test argument"),
            ]),
        ),
        Prompt::new(
            EMBEDDED_PROMPT,
            Some("Conformance fixture: a prompt embedding a resource"),
            Some(vec![required("resourceUri", "URI of the resource to embed")]),
        ),
        Prompt::new(IMAGE_PROMPT, Some("Conformance fixture: a prompt with an image"), None),
        Prompt::new(
            MRTR_PROMPT,
            Some("Conformance fixture: a prompt that first asks the user for context (SEP-2322)"),
            None,
        ),
    ]
}

/// Renders a fixture prompt; `None` when `name` is not one.
///
/// `test_input_required_result_prompt` needs the request's `inputResponses` and context, so
/// it is served by [`get_prompt_response`]; here it reports that.
pub(crate) fn get_prompt(name: &str, args: &BTreeMap<String, String>) -> Option<Result<GetPromptResult, McpError>> {
    let arg = |key: &str| {
        args.get(key)
            .map(|v| crate::domain::clip(v, MAX_ECHO))
            .ok_or_else(|| McpError::invalid_params(format!("prompt {name} needs the argument {key}"), None))
    };
    let result = match name {
        SIMPLE_PROMPT => Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            "This is a simple prompt for testing.",
        )])
        .with_description("A simple prompt")),
        ARGS_PROMPT => (|| {
            let (a1, a2) = (arg("arg1")?, arg("arg2")?);
            Ok(GetPromptResult::new(vec![PromptMessage::new_text(
                Role::User,
                format!("Prompt with arguments: arg1='{a1}', arg2='{a2}'"),
            )])
            .with_description("A prompt with arguments"))
        })(),
        EMBEDDED_PROMPT => arg("resourceUri").map(|uri| {
            GetPromptResult::new(vec![
                PromptMessage::new(
                    Role::User,
                    ContentBlock::resource(
                        ResourceContents::text("Embedded resource content for testing.", uri)
                            .with_mime_type("text/plain"),
                    ),
                ),
                PromptMessage::new_text(Role::User, "Please process the embedded resource above."),
            ])
            .with_description("A prompt with an embedded resource")
        }),
        IMAGE_PROMPT => Ok(GetPromptResult::new(vec![
            PromptMessage::new(Role::User, ContentBlock::image(TEST_IMAGE_BASE64, "image/png")),
            PromptMessage::new_text(Role::User, "Please analyze the image above."),
        ])
        .with_description("A prompt with an image")),
        MRTR_PROMPT => Err(McpError::invalid_params(
            format!(
                "prompt {MRTR_PROMPT} needs input from the client, which this server build cannot request for prompts"
            ),
            None,
        )),
        _ => return None,
    };
    Some(result)
}

/// Like [`get_prompt`], plus `test_input_required_result_prompt` (scenario
/// `input-required-result-non-tool-request`, SEP-2322): `prompts/get` first answers with an
/// `InputRequiredResult` asking for `user_context`, then with the prompt.
pub(crate) async fn get_prompt_response(
    name: &str,
    args: &BTreeMap<String, String>,
    input_responses: Option<&InputResponses>,
    request_state: Option<&str>,
    ctx: &RequestContext<RoleServer>,
) -> Option<Result<GetPromptResponse, McpError>> {
    if name != MRTR_PROMPT {
        return get_prompt(name, args).map(|r| r.map(Into::into));
    }
    let outcome = drive(ctx, input_responses.cloned(), request_state.map(str::to_owned), |r| {
        r.require(Needs::ELICITATION)?;
        let schema =
            json!({ "type": "object", "properties": { "context": { "type": "string" } }, "required": ["context"] });
        Ok(match r.elicited("user_context")? {
            None => r.ask(
                [(
                    "user_context",
                    ask_form("What context should the prompt use?", &schema)?,
                )],
                None,
            ),
            Some(res) => Step::Done(
                GetPromptResult::new(vec![PromptMessage::new_text(
                    Role::User,
                    format!("Use this context: {}", field_text(&res, "context")),
                )])
                .with_description("A prompt built from user-provided context"),
            ),
        })
    })
    .await;
    Some(outcome.map(|o| match o {
        Outcome::Done(r) => r.into(),
        Outcome::Input(i) => i.into(),
    }))
}

// ---------------------------------------------------------------------------------------
// Completions
// ---------------------------------------------------------------------------------------

/// Completes the arguments of the fixture prompt and template; `None` for anything else.
pub(crate) fn complete(req: &CompleteRequestParams) -> Option<Result<CompleteResult, McpError>> {
    let candidates: &[&str] = match &req.r#ref {
        Reference::Prompt(p) if p.name == ARGS_PROMPT => match req.argument.name.as_str() {
            "arg1" | "arg2" => &["paris", "park", "party", "test-value"],
            _ => &[],
        },
        Reference::Prompt(p) if p.name == EMBEDDED_PROMPT => &[STATIC_TEXT_URI, STATIC_BINARY_URI, WATCHED_URI],
        Reference::Resource(r) if r.uri == TEMPLATE_URI => match req.argument.name.as_str() {
            "id" => &["1", "123", "456"],
            _ => &[],
        },
        _ => return None,
    };
    let prefix = req.argument.value.as_str();
    let values = candidates
        .iter()
        .filter(|c| c.starts_with(prefix))
        .map(|c| (*c).to_owned())
        .collect();
    Some(
        CompletionInfo::new(values)
            .map(CompleteResult::new)
            .map_err(|e| McpError::internal_error(e, None)),
    )
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
