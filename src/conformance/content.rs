//! Fixture tools with fixed answers: text, image, audio, embedded resources, logging,
//! progress, errors, a JSON Schema 2020-12 input and a header-mirrored parameter.

use super::*;

#[tool_router(router = content_tools, vis = "pub(super)")]
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
}
