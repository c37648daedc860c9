//! Service errors → MCP results. Tool failures become `isError` results with an
//! actionable message; internal details stay in the logs.

use rmcp::{
    ErrorData as McpError,
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult, ContentBlock, MetaObject},
};

use serde::Serialize;

use crate::service::{ErrorClass, NextStep, Phrasebook, ServiceError};

/// Next steps as MCP callers take them: by tool.
pub struct McpPhrases;

impl Phrasebook for McpPhrases {
    fn phrase(&self, step: &NextStep) -> String {
        match step {
            NextStep::ListIncidents => "call incident_list to see existing incidents".into(),
            NextStep::Propose => "a plan id is what incident_contain or incident_recover answered".into(),
            NextStep::Apply { plan_id, principal } if principal == "rest" || principal == "cli" => {
                format!("{principal}, which proposed it, applies it ({plan_id})")
            }
            NextStep::Apply { plan_id, .. } => format!("call incident_apply with plan_id {plan_id}"),
            NextStep::Revert { incident } => {
                format!("incident_recover with id {incident} and method revert undoes the containment")
            }
        }
    }
}

/// A tool's structured answer: `structuredContent` and, for clients that read only `content`,
/// the same object as JSON text. rmcp's own `Json` prints the text from the `Value` through
/// `fmt::Display` (a formatter call per token), a ninth of `incident_list`'s CPU under load; here
/// the text is written straight from `T`. The tool macro takes the output schema from any
/// return type named `Json<T>`, so this one keeps `outputSchema` in `tools/list`.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoCallToolResult for Json<T> {
    fn into_call_tool_result(self) -> Result<CallToolResponse, McpError> {
        let failed = |e: serde_json::Error| {
            McpError::internal_error(format!("could not serialize the tool's answer: {e}"), None)
        };
        let text = serde_json::to_string(&self.0).map_err(failed)?;
        let value = serde_json::to_value(&self.0).map_err(failed)?;
        let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
        r.structured_content = Some(value);
        Ok(r.into())
    }
}

/// A tool that ran and failed.
pub struct ToolError(pub ServiceError);

impl From<ServiceError> for ToolError {
    fn from(e: ServiceError) -> Self {
        Self(e)
    }
}

impl IntoCallToolResult for ToolError {
    fn into_call_tool_result(self) -> Result<CallToolResponse, McpError> {
        let hint = match self.0.class() {
            ErrorClass::Backend => " (backend failure: retry later or check the server's logs)",
            _ => "",
        };
        let mut r = CallToolResult::error(vec![ContentBlock::text(format!(
            "{}{hint}",
            self.0.phrased(&McpPhrases)
        ))]);
        r.meta = Some(error_meta(self.0.code(), self.0.field()));
        Ok(r.into())
    }
}

/// `_meta` of an `isError` result: `{"error_code", "field"}`. Not `structuredContent`: the
/// TypeScript SDK validates an error result's structured content against the tool's output
/// schema too, and would turn the error into a protocol exception.
pub fn error_meta(code: &str, field: Option<&str>) -> MetaObject {
    let mut m = serde_json::Map::new();
    m.insert("error_code".into(), code.into());
    if let Some(f) = field {
        m.insert("field".into(), f.into());
    }
    MetaObject(m)
}

/// Gives an `isError` result that carries no code (rmcp's answer to arguments that do not fit
/// the schema, a disabled tool) the code of its kind.
pub fn with_error_code(resp: CallToolResponse, code: &str) -> CallToolResponse {
    match resp {
        CallToolResponse::Complete(mut r) if r.is_error == Some(true) => {
            let has = r.meta.as_ref().is_some_and(|m| m.0.contains_key("error_code"));
            if !has {
                let mut m = r.meta.take().unwrap_or_default();
                m.0.insert("error_code".into(), code.into());
                r.meta = Some(m);
            }
            CallToolResponse::Complete(r)
        }
        other => other,
    }
}

/// Service errors met outside tools (resources, prompts) → JSON-RPC errors.
pub fn to_protocol_error(e: ServiceError, uri: Option<&str>) -> McpError {
    match e.class() {
        ErrorClass::NotFound => match uri {
            Some(u) => McpError::resource_not_found(e.phrased(&McpPhrases), Some(serde_json::json!({ "uri": u }))),
            None => McpError::invalid_params(e.phrased(&McpPhrases), None),
        },
        ErrorClass::Input | ErrorClass::Conflict | ErrorClass::Forbidden => {
            McpError::invalid_params(e.phrased(&McpPhrases), None)
        }
        ErrorClass::Backend => McpError::internal_error(e.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Page {
        zeta: Vec<&'static str>,
        alpha: Option<u32>,
        quoted: &'static str,
    }

    #[test]
    fn a_structured_answer_carries_the_same_object_as_text_and_as_structured_content() {
        let page = Page {
            zeta: vec!["a\"b", "ü\n"],
            alpha: None,
            quoted: "x\\y",
        };
        let Ok(CallToolResponse::Complete(r)) = Json(page).into_call_tool_result() else {
            panic!("a complete result");
        };
        assert_eq!(r.is_error, Some(false));
        let structured = r.structured_content.expect("structuredContent");
        assert_eq!(
            structured,
            serde_json::json!({"zeta": ["a\"b", "ü\n"], "alpha": null, "quoted": "x\\y"})
        );
        let [block] = r.content.as_slice() else {
            panic!("one content block")
        };
        let text = &block.as_text().expect("a text block").text;
        let parsed: serde_json::Value = serde_json::from_str(text).expect("the text is JSON");
        assert_eq!(parsed, structured);
    }
}
