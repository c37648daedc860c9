//! What a human reviews before deciding on a plan (the approval page, and any other human
//! channel that shows a plan): the plan and where it stands, the incident and its evidence, the
//! policy rules that let it through, and whether its undo would be allowed. Also an incident's
//! whole history (timeline, audit entries, notifications). Read-only: nothing here is audited
//! or changed.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use super::{GetRequest, IncidentDetail, IncidentService, PlanView, ServiceError, respond::plan_target};
use crate::{
    domain::{
        IncidentId, TimelineEntry,
        audit::AuditEntry,
        policy::{Action, ActionRequest, PolicyDecision, Usage},
    },
    store::OutboxRow,
};

/// Audit entries and notifications shown for one incident at most.
const HISTORY_LIMIT: u32 = 500;

/// A plan as a human reviews it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReview {
    pub view: PlanView,
    /// The incident the plan responds to, with its latest signals (untrusted telemetry).
    pub incident: Option<IncidentDetail>,
    /// `namespace` and `resource` exactly as proposed.
    pub namespace: Option<String>,
    pub resource: String,
    /// The object versions the plan was computed against (applying refuses other versions).
    pub targets: Vec<crate::domain::plan::TargetVersion>,
    /// The policy action checked at proposal time (`isolate`, `revert`...).
    pub action: Option<String>,
    /// What policy was checked against when the plan was proposed (the proposal audit entry's
    /// `policy` payload), and the dry run's verdict then.
    pub policy_request: Option<Value>,
    pub dry_run: Option<Value>,
    /// The rules of the environment's policy that allow the recorded request now.
    pub allowed_by: Vec<String>,
    /// Why policy would refuse the recorded request now, if it would.
    pub refused_now: Option<String>,
    pub inverse: InverseCheck,
}

/// Whether the plan's recorded inverse could be applied under the environment's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InverseCheck {
    /// `allowed`, `refused`, `none` (nothing recorded) or `not_applicable` (the plan is an undo).
    pub state: &'static str,
    pub detail: String,
}

/// An incident's history from every part of the server.
#[derive(Debug, Clone, Serialize)]
pub struct IncidentHistory {
    pub detail: IncidentDetail,
    /// Lifecycle timeline (signals, status changes, notes), oldest first.
    pub timeline: Vec<TimelineEntry>,
    /// Audit entries (proposals, approvals, denials, refusals, actions), oldest first.
    pub audit: Vec<AuditEntry>,
    /// Outbox rows (notifications), newest first.
    pub notifications: Vec<OutboxRow>,
}

impl IncidentService {
    /// The plan `plan_id` with everything a human needs to decide on it.
    pub async fn plan_review(&self, plan_id: &str) -> Result<PlanReview, ServiceError> {
        let view = self.plan_view(plan_id).await?;
        let Some(stored) = self.store.get_plan(plan_id).await? else {
            return Err(ServiceError::UnknownPlan(crate::domain::clip(plan_id, 40)));
        };
        let incident = match view.plan.incident_id {
            Some(id) => Some(self.get(GetRequest { id }).await?),
            None => None,
        };
        let proposal = view.history.iter().find(|e| e.kind == "proposal");
        let policy_request = proposal.map(|p| p.payload["policy"].clone()).filter(|v| !v.is_null());
        let dry_run = proposal.map(|p| p.payload["dry_run"].clone()).filter(|v| !v.is_null());
        let plan = &stored.plan;
        let recorded = Some(plan.request.clone());
        let resource = plan.resource.clone();
        let namespace = plan.request.namespace.clone();
        let policy = self.config.env(&plan.env).map(|c| &c.policy);
        let (allowed_by, refused_now) = match (policy, &recorded) {
            (Some(p), Some(req)) => match p.evaluate(plan.env.as_str(), req, Usage::default()) {
                PolicyDecision::Allow => (p.allowing_rules(req), None),
                PolicyDecision::Refuse { reason, .. } => (Vec::new(), Some(reason)),
            },
            (None, _) => (Vec::new(), Some(format!("env {} has no policy configured", plan.env))),
            (_, None) => (Vec::new(), Some("the proposal's policy record is missing".into())),
        };
        let is_undo = plan.reverts.is_some();
        let inverse = match policy {
            _ if is_undo => InverseCheck {
                state: "not_applicable",
                detail: "this plan is itself the undo of an earlier containment".into(),
            },
            _ if plan.inverse.is_empty() => InverseCheck {
                state: "none",
                detail: "no inverse is recorded: this change cannot be undone automatically".into(),
            },
            None => InverseCheck {
                state: "refused",
                detail: format!("env {} has no policy configured", plan.env),
            },
            Some(p) => {
                let revert = ActionRequest {
                    action: Action::Revert,
                    namespace: namespace.clone(),
                    name: plan_target(&resource),
                    labels: BTreeMap::new(),
                    script: resource.strip_prefix("script/").map(str::to_owned),
                    pods: plan.blast_radius.pods,
                    nodes: plan.blast_radius.nodes,
                    healthy_replicas_after: None,
                };
                let scripts = plan.inverse.iter().filter_map(|c| c.script().map(str::to_owned));
                let unlisted: Vec<String> = scripts.filter(|s| !p.allows_script(s)).collect();
                match p.evaluate(plan.env.as_str(), &revert, Usage::default()) {
                    PolicyDecision::Refuse { reason, .. } => InverseCheck {
                        state: "refused",
                        detail: format!("policy would refuse the undo: {reason}"),
                    },
                    PolicyDecision::Allow if !unlisted.is_empty() => InverseCheck {
                        state: "refused",
                        detail: format!(
                            "policy would refuse the undo: script {} is not allowlisted in env {}",
                            unlisted.join(", "),
                            plan.env
                        ),
                    },
                    PolicyDecision::Allow => InverseCheck {
                        state: "allowed",
                        detail: format!("policy of env {} allows revert of {resource}", plan.env),
                    },
                }
            }
        };
        Ok(PlanReview {
            view,
            incident,
            namespace,
            resource,
            targets: plan.targets.clone(),
            action: recorded.map(|r| r.action.to_string()),
            policy_request,
            dry_run,
            allowed_by,
            refused_now,
            inverse,
        })
    }

    /// Everything recorded about incident `id`.
    pub async fn incident_history(&self, id: IncidentId) -> Result<IncidentHistory, ServiceError> {
        let detail = self.get(GetRequest { id }).await?;
        let timeline = self.store.timeline(id).await?;
        let audit = self.store.incident_audit(id, HISTORY_LIMIT).await?;
        // The outbox has no per-incident index: the newest rows, filtered.
        let notifications = self
            .store
            .outbox_rows(None, 1000)
            .await?
            .into_iter()
            .filter(|r| r.incident == Some(id))
            .take(HISTORY_LIMIT as usize)
            .collect();
        Ok(IncidentHistory {
            detail,
            timeline,
            audit,
            notifications,
        })
    }
}
