//! `incident_contain`, `incident_recover`, `incident_apply`: plan, then apply after a human
//! approved that exact plan. Approval comes only from a human: the client's confirmation
//! dialog (elicitation, where the human types the target's name) or out of band
//! (`incident-mcp approve <plan-id>`). No tool argument counts as approval: the request
//! types reject unknown fields such as `confirm`.

use rmcp::{
    ErrorData as McpError, RoleServer,
    handler::server::{
        tool::{InputResponses, IntoCallToolResult, RequestState},
        wrapper::Parameters,
    },
    model::*,
    schemars,
    service::{ElicitationError, ElicitationMode, RequestContext},
    tool, tool_router,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{
    IncidentServer,
    convert::{Json, McpPhrases, ToolError},
};
use crate::service::*;

/// Whose plans MCP tools make when the client declared no name; approvals are bound to the
/// principal (see [`principal`]).
pub const MCP_PRINCIPAL: &str = "mcp";

/// Whose plans an MCP request makes: `mcp:<client name>` from the identity the client declared
/// (at initialize for a session, whatever a request's `_meta` says: `call_tool` drops those keys
/// in a session; in the request's `_meta` for stateless clients), so the audit log tells
/// agents apart and a plan approved for one client cannot be applied by another. The name is
/// self-declared: this attributes, it does not authenticate (the bearer key does). It survives
/// reconnects, so an agent that comes back after the human approved can still apply. A request
/// with an OAuth access token adds `/oauth:<subject>` (the token's `sub`).
pub(crate) fn principal(ctx: &RequestContext<RoleServer>) -> String {
    let name: String = ctx
        .client_info()
        .map(|i| i.name)
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .take(64)
        .collect();
    let base = match name.is_empty() {
        true => MCP_PRINCIPAL.to_owned(),
        false => format!("{MCP_PRINCIPAL}:{name}"),
    };
    // Over OAuth the authorization server's subject is part of it: one user's approved plan
    // is not another user's to apply, whatever client name both declare.
    match super::grant_of(ctx) {
        Some(g) => format!("{base}/oauth:{}", g.subject_label()),
        None => base,
    }
}
/// Why the arguments of a destructive tool do not parse (an unknown field such as `confirm`,
/// an action that does not exist), if they do not: such a call is refused and audited.
pub(super) fn unparsable(request: &CallToolRequestParams) -> Option<String> {
    let args = serde_json::Value::Object(request.arguments.clone().unwrap_or_default());
    let err = match request.name.as_ref() {
        "incident_contain" => serde_json::from_value::<ContainRequest>(args).err(),
        "incident_recover" => serde_json::from_value::<RecoverRequest>(args).err(),
        "incident_apply" => serde_json::from_value::<ApplyRequest>(args).err(),
        _ => None,
    };
    err.map(|e| e.to_string())
}

/// Key of the confirmation in a 2026-07-28 `InputRequiredResult` round trip.
const CONFIRM_KEY: &str = "confirm";

/// The confirmation form of the stdio opt-in: the user of the host app types the target's name.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfirmTarget {
    /// Type the target's name exactly to approve this plan
    pub name: String,
}
rmcp::elicit_safe!(ConfirmTarget);

/// The approval form: a one-time code an approver got out of band for this plan.
#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ConfirmCode {
    /// The one-time code an approver got for this plan (approval page, Slack, `incident-mcp code`)
    pub code: String,
}
rmcp::elicit_safe!(ConfirmCode);

fn tool_error(e: ServiceError) -> Result<CallToolResponse, McpError> {
    ToolError(e).into_call_tool_result()
}

fn result(report: &PlanReport) -> Result<CallToolResponse, McpError> {
    let report = &report.clone().phrase(&McpPhrases);
    let v = serde_json::to_value(report).map_err(|e| McpError::internal_error(e.to_string(), None))?;
    let mut r = CallToolResult::structured(v);
    r.content.insert(
        0,
        ContentBlock::text(format!("{}. {}", report.summary, report.next_step)),
    );
    Ok(r.into())
}

#[tool_router(router = respond_tools, vis = "pub(crate)")]
impl IncidentServer {
    /// Plan a containment and apply it once a human approves exactly that plan.
    #[tool(
        name = "incident_contain",
        title = "Contain an incident",
        description = "Plan a containment (isolate or delete a pod, pause a workload, block an IP/CIDR, cordon a \
node): exact changes, blast radius, dry run, inverse. It applies only once a human approver approves that exact \
plan: with dialogs, the user is asked for a one-time code only approvers get; otherwise it stays pending: tell the \
user, poll incident_plan, then incident_apply. You cannot approve. ttl_secs reverts it automatically.",
        output_schema = rmcp::handler::server::tool::schema_for_output::<PlanReport>(),
        annotations(
            title = "Contain an incident",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn incident_contain(
        &self,
        Parameters(req): Parameters<ContainRequest>,
        InputResponses(inputs): InputResponses,
        RequestState(state): RequestState,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match self.svc.propose_contain(&req, &principal(&ctx)).await {
            Ok(plan) => self.confirm_and_apply(plan, inputs, state, &ctx).await,
            Err(e) => tool_error(e),
        }
    }

    /// Plan a recovery and apply it once a human approves exactly that plan.
    #[tool(
        name = "incident_recover",
        title = "Recover from an incident",
        description = "Plan a recovery: rollback (a workload to its previous revision), restore (recorded replicas or \
a backup) or revert (undo the incident's latest containment); it applies only after a human approves that exact \
plan, as for incident_contain.",
        output_schema = rmcp::handler::server::tool::schema_for_output::<PlanReport>(),
        annotations(
            title = "Recover from an incident",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    pub async fn incident_recover(
        &self,
        Parameters(req): Parameters<RecoverRequest>,
        InputResponses(inputs): InputResponses,
        RequestState(state): RequestState,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match self.svc.propose_recover(&req, &principal(&ctx)).await {
            Ok(plan) => self.confirm_and_apply(plan, inputs, state, &ctx).await,
            Err(e) => tool_error(e),
        }
    }

    /// Where a plan stands, read-only: for waiting on a human's approval.
    #[tool(
        name = "incident_plan",
        title = "Check a plan",
        description = "Where a plan stands (read-only): status, newest approval (`valid` until `expires_at`, `used`, \
`expired`) and by whom, changes, audit history. Poll it while a human decides; call incident_apply once the approval \
is `valid`.",
        annotations(
            title = "Check a plan",
            read_only_hint = true,
            destructive_hint = false,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    pub async fn incident_plan(&self, Parameters(req): Parameters<PlanRequest>) -> Result<Json<PlanView>, ToolError> {
        Ok(Json(self.svc.plan_view(&req.plan_id).await?.phrase(&McpPhrases)))
    }

    /// Apply a plan a human approved out of band.
    #[tool(
        name = "incident_apply",
        title = "Apply an approved plan",
        description = "Apply a pending plan once a human approved it out of band (approval page, Slack, terminal); \
otherwise the refusal says why. A plan changes the world once.",
        output_schema = rmcp::handler::server::tool::schema_for_output::<PlanReport>(),
        annotations(
            title = "Apply an approved plan",
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = true
        )
    )]
    pub async fn incident_apply(
        &self,
        Parameters(req): Parameters<ApplyRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match self.svc.apply_plan(&req.plan_id, &principal(&ctx)).await {
            Ok(r) => result(&r),
            Err(e) => tool_error(e),
        }
    }
}

impl IncidentServer {
    /// Carries the service's confirmation question to the human through the client's dialog,
    /// when the client has one, and its answer back: by default a one-time code that only an
    /// approver can get out of band, so an agent answering its own dialog approves nothing;
    /// typing the target's name instead is an opt-in for stdio
    /// (`server.stdio_dialog_confirms_by_name`), recorded as `client:<name>`, never `human:`.
    /// What is asked, how the answer is judged and what follows is the service's.
    async fn confirm_and_apply(
        &self,
        plan: PlanReport,
        inputs: Option<InputResponses_>,
        state: Option<String>,
        ctx: &RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let who = principal(ctx);
        let modern = ctx
            .protocol_version()
            .is_some_and(|v| v >= ProtocolVersion::V_2026_07_28);
        let can_elicit = if modern {
            ctx.client_capabilities().is_some_and(|c| c.elicitation.is_some())
        } else {
            ctx.peer.supported_elicitation_modes().contains(&ElicitationMode::Form)
        };
        let by_name = self.stdio && self.svc.config().server.stdio_dialog_confirms_by_name;
        let how = can_elicit.then(|| match by_name {
            true => Confirmation::TargetName {
                approver: format!("client:{}", who.strip_prefix("mcp:").unwrap_or("unnamed")),
            },
            false => Confirmation::Code,
        });
        let answered = if modern {
            inputs.as_ref().and_then(|r| r.get(CONFIRM_KEY))
        } else {
            None
        };
        let first_round = !modern || answered.is_none();
        let asked = self.svc.ask_confirmation(&plan, &who, how.as_ref(), first_round).await;
        let (Some(how), Some(q)) = (how, asked) else {
            return result(&plan);
        };
        let answer = if modern {
            let Some(v) = answered else {
                let schema = serde_json::from_value(json!({
                    "type": "object",
                    "properties": {q.field: {"type": "string", "description": q.description}},
                    "required": [q.field]
                }))
                .map_err(|e| McpError::internal_error(e.to_string(), None))?;
                let ask = InputRequest::Elicitation(ElicitRequest::new(ElicitRequestParams::FormElicitationParams {
                    meta: None,
                    message: q.message,
                    requested_schema: schema,
                }));
                let reqs: InputRequests = [(CONFIRM_KEY.to_owned(), ask)].into_iter().collect();
                return Ok(InputRequiredResult::new(Some(reqs), Some(plan.plan_id.clone())).into());
            };
            if state.as_deref() != Some(plan.plan_id.as_str()) {
                Answer::Declined("plan_changed")
            } else {
                match ElicitResult::deserialize(v) {
                    Ok(ElicitResult {
                        action: ElicitationAction::Accept,
                        content: Some(c),
                        ..
                    }) => Answer::Typed(c[q.field].as_str().unwrap_or_default().to_owned()),
                    Ok(_) => Answer::Declined("declined"),
                    Err(_) => Answer::Declined("malformed"),
                }
            }
        } else if by_name {
            answer_of(
                ctx.peer
                    .elicit::<ConfirmTarget>(q.message)
                    .await
                    .map(|c| c.map(|c| c.name)),
            )
        } else {
            answer_of(
                ctx.peer
                    .elicit::<ConfirmCode>(q.message)
                    .await
                    .map(|c| c.map(|c| c.code)),
            )
        };
        match self.svc.confirm_and_apply(plan, &who, &how, answer).await {
            Ok(r) => result(&r),
            Err(e) => tool_error(e),
        }
    }
}

/// A legacy (2025-11-25) dialog's outcome.
fn answer_of(r: Result<Option<String>, ElicitationError>) -> Answer {
    match r {
        Ok(Some(typed)) => Answer::Typed(typed),
        Ok(None) | Err(ElicitationError::NoContent) => Answer::Declined("no_content"),
        Err(ElicitationError::UserDeclined) => Answer::Declined("declined"),
        Err(ElicitationError::UserCancelled) => Answer::Declined("cancelled"),
        Err(e) => {
            tracing::warn!(error = %e, "confirmation dialog failed");
            Answer::Declined("dialog_failed")
        }
    }
}

type InputResponses_ = rmcp::model::InputResponses;
