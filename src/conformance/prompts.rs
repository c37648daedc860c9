//! Fixture prompts and completions.

use super::*;

pub(super) const SIMPLE_PROMPT: &str = "test_simple_prompt";
pub(super) const ARGS_PROMPT: &str = "test_prompt_with_arguments";
pub(super) const EMBEDDED_PROMPT: &str = "test_prompt_with_embedded_resource";
pub(super) const IMAGE_PROMPT: &str = "test_prompt_with_image";
pub(super) const MRTR_PROMPT: &str = "test_input_required_result_prompt";

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
