//! Active containments: what is isolated, blocked, paused or cordoned right now (applied, with
//! something to undo, not reverted by hand or by TTL), with who proposed and who approved it.
//! Read by the containments tool, `incident://containments`, `GET /api/containments` and
//! `incident-mcp containments`; resolving an incident checks it.

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{IncidentService, ServiceError};
use crate::{
    domain::{Env, IncidentId, plan::PlanKind},
    store::{AppliedAction, OpenActions, StoredPlan},
};

/// Which active containments to show.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ContainmentsRequest {
    /// Only containments in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Env>,
    /// Only containments of this incident, e.g. INC-000001.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<IncidentId>,
}

/// A containment in place now.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ActiveContainment {
    /// The applied plan.
    pub plan_id: String,
    pub env: String,
    pub incident_id: Option<IncidentId>,
    /// isolate, pause, block, cordon (or a script's action).
    pub action: String,
    /// The target as proposed: a pod, `deployment/NAME`, a node, an IP/CIDR or `script/ID`.
    pub target: String,
    pub namespace: Option<String>,
    /// When it was applied.
    pub since: DateTime<Utc>,
    /// Automatic revert after this many seconds, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// When it is reverted automatically; absent: it stays until someone reverts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    /// The principal that proposed and applied it (`mcp:<client>`, `rest`, `cli`).
    pub proposed_by: String,
    /// The human whose approval was spent to apply it, as recorded with the approval.
    pub approved_by: Option<String>,
    pub approved_at: Option<DateTime<Utc>>,
    /// True on the sandbox's simulated cluster: nothing real is contained.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
    /// How to undo it.
    pub undo: String,
}

/// Containments in place, newest first.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ContainmentList {
    pub containments: Vec<ActiveContainment>,
    pub count: usize,
    pub summary: String,
}

impl ActiveContainment {
    /// `isolate web-7 in shop (plan-...)`.
    pub fn describe(&self) -> String {
        let place = self
            .namespace
            .as_deref()
            .map(|n| format!(" in {n}"))
            .unwrap_or_default();
        format!("{} {}{place} ({})", self.action, self.target, self.plan_id)
    }
}

impl IncidentService {
    /// Applied containments with a recorded inverse that were not reverted, with their plans.
    pub(super) async fn open_containments(
        &self,
        q: OpenActions,
    ) -> Result<Vec<(AppliedAction, StoredPlan)>, ServiceError> {
        let mut out = Vec::new();
        for a in self.store.open_actions(q).await? {
            if let Some(p) = self.store.get_plan(&a.plan_id).await?
                && p.plan.kind == PlanKind::Contain
                && !p.plan.inverse.is_empty()
            {
                out.push((a, p));
            }
        }
        Ok(out)
    }

    /// What is contained now (filtered by environment and incident), newest first.
    pub async fn containments(&self, req: &ContainmentsRequest) -> Result<ContainmentList, ServiceError> {
        if let Some(env) = &req.env
            && self.config.env(env).is_none()
        {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        }
        let q = match req.id {
            Some(id) => OpenActions::Incident(id),
            None => OpenActions::All,
        };
        let mut containments = Vec::new();
        for (a, stored) in self.open_containments(q).await? {
            if req.env.as_ref().is_some_and(|e| e.as_str() != a.env) {
                continue;
            }
            containments.push(self.active(a, &stored).await?);
        }
        let summary = match containments.len() {
            0 => "no containment is in place".to_owned(),
            n => format!(
                "{n} containment(s) in place: {}",
                containments
                    .iter()
                    .map(ActiveContainment::describe)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        Ok(ContainmentList {
            count: containments.len(),
            containments,
            summary,
        })
    }

    async fn active(&self, a: AppliedAction, stored: &StoredPlan) -> Result<ActiveContainment, ServiceError> {
        let p = &stored.plan;
        let approval = self
            .store
            .latest_approval(&stored.id)
            .await?
            .filter(|ap| ap.used_at.is_some());
        let undo = match a.incident_id {
            Some(id) => format!(
                "recover {id} with method revert (CLI: incident-mcp recover --id {id} --method revert) reverts the \
                 incident's latest containment"
            ),
            None => "apply the plan's recorded inverse".to_owned(),
        };
        Ok(ActiveContainment {
            plan_id: stored.id.clone(),
            env: a.env,
            incident_id: a.incident_id,
            action: p.action().to_string(),
            target: p.resource.clone(),
            namespace: p.request.namespace.clone(),
            since: a.applied_at,
            ttl_secs: p.ttl_secs,
            expires_at: a.expires_at,
            proposed_by: p.principal.clone(),
            approved_by: approval.as_ref().map(|ap| ap.approver.clone()),
            approved_at: approval.map(|ap| ap.approved_at),
            simulated: p.is_simulated(),
            undo,
        })
    }
}
