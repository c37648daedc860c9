//! Multi round-trip requests (SEP-2322) on both protocol revisions.

use super::*;

/// What a fixture needs next.
pub(super) enum Step<T> {
    /// Finished.
    Done(T),
    /// Needs the client to answer these input requests, then retry.
    Input(InputRequiredResult),
}

/// What one round of a fixture sees: the client's answers so far, the echoed state and the
/// client's declared capabilities.
pub(super) struct Round<'a> {
    pub(super) responses: Option<&'a InputResponses>,
    pub(super) state: Option<&'a str>,
    pub(super) caps: &'a ClientCapabilities,
}

/// Client capabilities a fixture needs.
#[derive(Clone, Copy)]
pub(super) struct Needs {
    pub(super) elicitation: bool,
    pub(super) sampling: bool,
    pub(super) roots: bool,
}

impl Needs {
    pub(super) const ELICITATION: Self = Self {
        elicitation: true,
        sampling: false,
        roots: false,
    };
    pub(super) const SAMPLING: Self = Self {
        elicitation: false,
        sampling: true,
        roots: false,
    };
    pub(super) const ROOTS: Self = Self {
        elicitation: false,
        sampling: false,
        roots: true,
    };
}

impl Round<'_> {
    /// Fails with `MissingRequiredClientCapability` (-32021) naming what was not declared.
    pub(super) fn require(&self, needs: Needs) -> Result<(), McpError> {
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
    pub(super) fn ask<T>(
        &self,
        asks: impl IntoIterator<Item = (&'static str, InputRequest)>,
        state: Option<String>,
    ) -> Step<T> {
        let requests: InputRequests = asks.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        Step::Input(InputRequiredResult::new(Some(requests), state))
    }

    /// The client's answer under `key`, if it sent one.
    pub(super) fn response(&self, key: &str) -> Option<&Value> {
        self.responses.and_then(|r| r.get(key))
    }

    /// The client's elicitation answer under `key`; a malformed answer is a -32602 error.
    pub(super) fn elicited(&self, key: &str) -> Result<Option<ElicitResult>, McpError> {
        self.response(key)
            .map(|v| parse_response::<ElicitResult>(key, v))
            .transpose()
    }

    /// The text of the client's sampling answer under `key`; a malformed answer is a -32602 error.
    pub(super) fn sampled(&self, key: &str) -> Result<Option<String>, McpError> {
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
    pub(super) fn roots(&self, key: &str) -> Result<Option<ListRootsResult>, McpError> {
        self.response(key)
            .map(|v| parse_response::<ListRootsResult>(key, v))
            .transpose()
    }

    /// The verified payload of the echoed `requestState` of `tool`, if any; a state that
    /// fails verification (forged, tampered, or from another tool) is a -32602 error.
    pub(super) fn opened_state(&self, tool: &str) -> Result<Option<String>, McpError> {
        let Some(sealed) = self.state else {
            return Ok(None);
        };
        match open(sealed) {
            Some(payload) if payload.split(':').next() == Some(tool) => Ok(Some(payload)),
            _ => Err(bad_state()),
        }
    }

    /// Requires the echoed `requestState` to be exactly `expected` (sealed by `tool`).
    pub(super) fn expect_state(&self, tool: &str, expected: &str) -> Result<(), McpError> {
        match self.opened_state(tool)? {
            Some(payload) if payload == expected => Ok(()),
            _ => Err(bad_state()),
        }
    }
}

/// How a call ended: finished, or waiting for the client's input.
pub(super) enum Outcome<T> {
    Done(T),
    Input(InputRequiredResult),
}

/// Serves a step function on both protocol revisions (see the module docs).
pub(super) async fn drive<T>(
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
pub(super) async fn ask_client(
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
pub(super) fn missing(set: impl FnOnce(&mut ClientCapabilities)) -> McpError {
    let mut caps = ClientCapabilities::default();
    set(&mut caps);
    McpError::missing_required_client_capability(caps)
}

/// Does this request speak 2026-07-28 (stateless, MRTR) or later?
pub(super) fn is_modern(ctx: &RequestContext<RoleServer>) -> bool {
    ctx.protocol_version()
        .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28)
}

pub(super) fn tool_response(outcome: Outcome<CallToolResult>) -> Result<CallToolResponse, McpError> {
    Ok(match outcome {
        Outcome::Done(r) => r.into(),
        Outcome::Input(i) => i.into(),
    })
}

/// A one-question sampling fixture: ask the LLM `prompt`, report its answer.
pub(super) fn sampling_step(r: &Round<'_>, prompt: &str) -> Result<Step<CallToolResult>, McpError> {
    r.require(Needs::SAMPLING)?;
    Ok(match r.sampled("sampling")? {
        None => r.ask([("sampling", ask_llm(prompt, 100))], None),
        Some(answer) => Step::Done(text_result(format!("LLM response: {answer}"))),
    })
}

/// A one-form elicitation fixture: ask `message` with `schema`, describe the answer with `done`.
pub(super) fn form_step(
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
pub(super) fn confirm_with_state(r: &Round<'_>, tool: &str, ok_text: &str) -> Result<Step<CallToolResult>, McpError> {
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

pub(super) fn ask_form(message: &str, schema: &Value) -> Result<InputRequest, McpError> {
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

pub(super) fn ask_name(message: &str) -> Result<InputRequest, McpError> {
    let schema = json!({ "type": "object", "properties": { "name": { "type": "string" } }, "required": ["name"] });
    ask_form(message, &schema)
}

pub(super) fn ask_colour() -> Result<InputRequest, McpError> {
    let schema = json!({ "type": "object", "properties": { "color": { "type": "string" } }, "required": ["color"] });
    ask_form("Step 2: What is your favorite color?", &schema)
}

pub(super) fn ask_llm(prompt: &str, max_tokens: u32) -> InputRequest {
    InputRequest::CreateMessage(CreateMessageRequest::new(CreateMessageRequestParams::new(
        vec![SamplingMessage::user_text(prompt)],
        max_tokens,
    )))
}

pub(super) fn ask_roots() -> InputRequest {
    InputRequest::ListRoots(ListRootsRequest::default())
}

pub(super) fn parse_response<T: serde::de::DeserializeOwned>(key: &str, value: &Value) -> Result<T, McpError> {
    T::deserialize(value).map_err(|e| {
        McpError::invalid_params(
            format!("inputResponses.{key} is not a valid response: {e}"),
            Some(json!({ "key": key })),
        )
    })
}

pub(super) fn bad_state() -> McpError {
    McpError::invalid_params("requestState failed integrity verification", None)
}

pub(super) fn text_result(text: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(text)])
}

pub(super) fn greeting(res: &ElicitResult) -> CallToolResult {
    match res.action {
        ElicitationAction::Accept => text_result(format!("Hello, {}!", field_text(res, "name"))),
        _ => text_result(format!("No name given (action={})", action_name(&res.action))),
    }
}

pub(super) fn completed_text(res: &ElicitResult) -> String {
    format!(
        "Elicitation completed: action={}, content={}",
        action_name(&res.action),
        content_json(res)
    )
}

pub(super) fn action_name(action: &ElicitationAction) -> &'static str {
    match action {
        ElicitationAction::Accept => "accept",
        ElicitationAction::Decline => "decline",
        ElicitationAction::Cancel => "cancel",
        #[allow(unreachable_patterns)]
        _ => "unknown",
    }
}

pub(super) fn content_json(res: &ElicitResult) -> String {
    let json = res.content.as_ref().map_or_else(|| "{}".to_owned(), Value::to_string);
    crate::domain::clip(&json, MAX_ECHO)
}

/// A field of an accepted form as text (strings unquoted, clipped: it is echoed back and may
/// be sealed into a `requestState`), `?` when absent.
pub(super) fn field_text(res: &ElicitResult, field: &str) -> String {
    match res.content.as_ref().and_then(|c| c.get(field)) {
        Some(Value::String(s)) => crate::domain::clip(s, MAX_ECHO),
        Some(v) => crate::domain::clip(&v.to_string(), MAX_ECHO),
        None => "?".to_owned(),
    }
}

pub(super) fn roots_text(roots: &ListRootsResult) -> String {
    if roots.roots.is_empty() {
        return "(none)".to_owned();
    }
    let uris: Vec<&str> = roots.roots.iter().map(|r| r.uri.as_str()).collect();
    crate::domain::clip(&uris.join(", "), MAX_ECHO)
}
