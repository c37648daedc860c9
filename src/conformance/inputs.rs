//! Fixture tools that need input from the client: sampling, elicitation and the
//! multi round-trip (`InputRequiredResult`) scenarios.

use super::*;

/// Arguments of `test_sampling`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(super) struct SamplingArgs {
    /// The prompt to send to the LLM
    pub prompt: String,
}

/// Arguments of `test_elicitation`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(super) struct ElicitationArgs {
    /// The message to show the user
    pub message: String,
}

#[tool_router(router = input_tools, vis = "pub(super)")]
impl IncidentServer {
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
