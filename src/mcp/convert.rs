//! Service errors → MCP results. Tool failures become `isError` results with an
//! actionable message; internal details stay in the logs.

use rmcp::{
    ErrorData as McpError,
    handler::server::tool::IntoCallToolResult,
    model::{CallToolResponse, CallToolResult, ContentBlock},
};

use crate::service::{ErrorClass, ServiceError};

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
        Ok(CallToolResult::error(vec![ContentBlock::text(format!("{}{hint}", self.0))]).into())
    }
}

/// Service errors met outside tools (resources, prompts) → JSON-RPC errors.
pub fn to_protocol_error(e: ServiceError, uri: Option<&str>) -> McpError {
    match e.class() {
        ErrorClass::NotFound => match uri {
            Some(u) => McpError::resource_not_found(e.to_string(), Some(serde_json::json!({ "uri": u }))),
            None => McpError::invalid_params(e.to_string(), None),
        },
        ErrorClass::Input | ErrorClass::Conflict | ErrorClass::Forbidden => {
            McpError::invalid_params(e.to_string(), None)
        }
        ErrorClass::Backend => McpError::internal_error(e.to_string(), None),
    }
}
