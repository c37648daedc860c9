//! The incident-management tools people ask an agent to run: declare an incident by hand, add
//! a note, assign an owner and commander, change the severity. Thin: parse (done by
//! `Parameters`), call the service, convert.

use rmcp::{handler::server::wrapper::Parameters, tool, tool_router};

use super::{
    IncidentServer,
    convert::{Json, ToolError},
};
use crate::service::*;

#[tool_router(router = manage_tools, vis = "pub(crate)")]
impl IncidentServer {
    /// Declare an incident by hand.
    #[tool(
        name = "incident_declare",
        title = "Declare an incident",
        description = "Open an incident by hand for something no rule detected. Each call opens a new incident: call \
it once. Audited.",
        annotations(
            title = "Declare an incident",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn incident_declare(
        &self,
        Parameters(req): Parameters<DeclareRequest>,
    ) -> Result<Json<IncidentUpdate>, ToolError> {
        Ok(Json(self.svc.declare(req, Caller::MCP).await?))
    }

    /// Add a note to an incident's timeline.
    #[tool(
        name = "incident_note",
        title = "Add a note",
        description = "Add a note to an incident's timeline: what was found, tried or decided. Shown in analyze (depth \
>= 2) and the post-mortem. Audited.",
        annotations(
            title = "Add a note",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = false,
            open_world_hint = false
        )
    )]
    pub async fn incident_note(
        &self,
        Parameters(req): Parameters<NoteRequest>,
    ) -> Result<Json<IncidentUpdate>, ToolError> {
        Ok(Json(self.svc.note(req, Caller::MCP).await?))
    }

    /// Assign an owner and/or an incident commander.
    #[tool(
        name = "incident_assign",
        title = "Assign owner and commander",
        description = "Set an incident's owner and/or incident commander, names as the user gives them (never invent \
one). Audited.",
        annotations(
            title = "Assign owner and commander",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn incident_assign(
        &self,
        Parameters(req): Parameters<AssignRequest>,
    ) -> Result<Json<IncidentUpdate>, ToolError> {
        Ok(Json(self.svc.assign(req, Caller::MCP).await?))
    }

    /// Change an incident's severity, with a reason.
    #[tool(
        name = "incident_severity",
        title = "Change severity",
        description = "Change an incident's severity, saying why (kept in the timeline). New evidence may still raise \
it. Audited.",
        annotations(
            title = "Change severity",
            read_only_hint = false,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn incident_severity(
        &self,
        Parameters(req): Parameters<SeverityRequest>,
    ) -> Result<Json<IncidentUpdate>, ToolError> {
        Ok(Json(self.svc.set_severity(req, Caller::MCP).await?))
    }
}
