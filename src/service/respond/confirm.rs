//! The approval workflow of a channel that can ask its user (an MCP client's dialog): what a
//! human must confirm, how the answer is judged, and what follows (approve, apply, or leave the
//! plan pending with the refusal audited). Adapters only carry the question out and the answer
//! in. The one typed-name rule ([`PlanReport::confirmed_by_name`]) is shared with the terminal
//! and the approval page.

use serde_json::json;

use super::types::{PlanReport, PlanStatus};
use crate::service::{IncidentService, NextStep, ServiceError};

/// What the proposer's channel asks its user before a plan is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Confirmation {
    /// A one-time code that only an approver gets out of band (approval page, Slack, a
    /// terminal): an agent answering its own dialog approves nothing.
    Code,
    /// The target's name, typed by the host app's user (the stdio opt-in). It approves as
    /// `approver` (e.g. `client:<name>`), never as a `human:`.
    TargetName { approver: String },
}

/// The question to put to the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The answer's field: `code` or `name`.
    pub field: &'static str,
    /// What the field holds.
    pub description: &'static str,
    pub message: String,
}

/// What the channel got back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Typed(String),
    /// No approval given: `declined`, `cancelled`, `no_content`, `dialog_failed`,
    /// `plan_changed`, `malformed`...
    Declined(&'static str),
}

/// Seconds an approval given through the dialog stays valid (it is used at once).
const DIALOG_APPROVAL_TTL: u64 = 120;

impl PlanReport {
    /// The one typed-name rule: the name typed (surrounding whitespace aside) is exactly the
    /// plan's target.
    pub fn confirmed_by_name(&self, typed: &str) -> bool {
        typed.trim() == self.target
    }

    /// The plan as answered when a confirmation did not approve it: still pending for a human.
    fn not_applied(mut self, principal: &str, reason: &str, message: &str) -> PlanReport {
        self.status = PlanStatus::NotApplied;
        self.next_step = format!(
            "not approved ({reason}: {message}); nothing was changed. The plan stays pending: a human approver may \
             still approve it (approval page, Slack, `incident-mcp approve {}`), then apply it",
            self.plan_id
        );
        self.next = Some(NextStep::Apply {
            plan_id: self.plan_id.clone(),
            principal: principal.to_owned(),
        });
        self
    }
}

impl IncidentService {
    /// Starts the confirmation of a just-proposed `plan` on its proposer's channel. `None`
    /// (the channel cannot ask): the plan stays pending and the approvers are told now.
    /// Otherwise the question to ask; on the first round of a code confirmation the approvers
    /// are told now too (they hand out the code).
    pub async fn ask_confirmation(
        &self,
        plan: &PlanReport,
        principal: &str,
        how: Option<&Confirmation>,
        first_round: bool,
    ) -> Option<Question> {
        let (p, changes, inverse) = (
            &plan.plan_id,
            serde_json::to_string(&plan.changes).unwrap_or_default(),
            serde_json::to_string(&plan.inverse).unwrap_or_default(),
        );
        match how {
            None => {
                self.announce_pending(plan, principal).await;
                None
            }
            Some(Confirmation::TargetName { .. }) => Some(Question {
                field: "name",
                description: "The target's name",
                message: format!(
                    "Approve {p}? {}. Changes: {changes}. Inverse (for revert): {inverse}. Type the target's name \
                     `{}` to approve; decline to leave it pending.",
                    plan.summary, plan.target
                ),
            }),
            Some(Confirmation::Code) => {
                if first_round {
                    self.announce_pending(plan, principal).await;
                }
                Some(Question {
                    field: "code",
                    description: "The one-time code an approver got for this plan",
                    message: format!(
                        "A human approver must approve {p}: {}. Changes: {changes}. Inverse (for revert): {inverse}. \
                         An approver gets a one-time code for this plan on the approval page (/ui/plans/{p}), from \
                         the Slack approval message, or with `incident-mcp code {p}` at a terminal; enter it here. \
                         Decline to leave the plan pending.",
                        plan.summary
                    ),
                })
            }
        }
    }

    /// Judges `answer` to `how` for `principal`'s `plan`: an approval is granted (a valid code,
    /// or the exact target name) and the plan applied; anything else leaves the plan pending,
    /// audited as a refusal (a refused code is audited by its own check), and answers the plan
    /// as `not_applied` with why.
    pub async fn confirm_and_apply(
        &self,
        plan: PlanReport,
        principal: &str,
        how: &Confirmation,
        answer: Answer,
    ) -> Result<PlanReport, ServiceError> {
        let refused = match (answer, how) {
            (Answer::Declined(reason), _) => Some((reason, "the dialog was not answered with an approval")),
            (Answer::Typed(name), Confirmation::TargetName { .. }) if !plan.confirmed_by_name(&name) => {
                Some(("wrong_name", "the name typed is not the target's"))
            }
            (Answer::Typed(_), Confirmation::TargetName { approver }) => {
                self.via(crate::metrics::Channel::Dialog)
                    .approve_plan(&plan.plan_id, approver, DIALOG_APPROVAL_TTL)
                    .await?;
                None
            }
            (Answer::Typed(code), Confirmation::Code) => {
                if let Err(e) = self.approve_with_code(&plan.plan_id, &code, principal).await {
                    return Ok(plan.not_applied(principal, "code_refused", &e.to_string()));
                }
                None
            }
        };
        if let Some((reason, message)) = refused {
            let payload = json!({"env": plan.env, "by": "elicitation", "reason": reason,
                                 "message": format!("{message}; nothing was changed")});
            self.audit_refusal(principal, plan.incident_id, Some(&plan.plan_id), payload)
                .await?;
            if matches!(how, Confirmation::TargetName { .. }) {
                self.announce_pending(&plan, principal).await;
            }
            return Ok(plan.not_applied(principal, reason, message));
        }
        self.apply_plan(&plan.plan_id, principal).await
    }
}
