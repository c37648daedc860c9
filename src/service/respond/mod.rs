//! Contain and recover: plan, then apply. Planning validates names, asks the backend for the
//! exact changes (mutating nothing), checks policy and stores the plan (audited). Applying
//! needs a human approval of that exact plan hash: the target must still be at the planned
//! version, the approval is spent together with the `intent` audit entry (committed before
//! the backend is called), and the result is audited as `application` + `outcome`.

pub(super) mod apply;
pub(super) mod confirm;
pub(super) mod defaults;
pub(super) mod refusal;
pub(super) mod ttl;
pub(super) mod types;
pub(super) mod verify;

use std::{collections::BTreeMap, sync::Arc};

use serde_json::{Value, json};

use super::{
    IncidentService, NextStep, ServiceError,
    respond::refusal::{Refusal, Request, coded, plan_refusal},
    respond::types::*,
};
use crate::{
    cluster::{ActionSpec, Backend, BackendError, BackendPlan, DryRun},
    domain::{
        DomainError, Env, IncidentId,
        audit::{AuditKind, NewAuditEntry},
        k8s_names::{Namespace, is_dns1123_subdomain},
        plan::{Plan, PlanKind},
        policy::{Action, ActionRequest, PolicyDecision},
    },
    store::{OpenActions, StoredPlan},
};

/// Prefix of a `resource` that names a configured script.
const SCRIPT_PREFIX: &str = "script/";
/// What a containment or recovery acts on, as asked.
struct Target {
    action: Action,
    namespace: Option<String>,
    resource: String,
    params: BTreeMap<String, String>,
    ttl_secs: Option<u64>,
}

/// Plans read per store query while listing.
const LIST_PAGE: u32 = 200;
/// Plans read for one list answer at most; beyond, `next_before` says where to continue.
const LIST_SCAN_MAX: usize = 2000;

pub(super) fn invalid(field: &str, msg: impl Into<String>) -> ServiceError {
    DomainError::invalid(field, msg).into()
}

/// Script arguments as [`ActionSpec::params`] (`arg.NAME`).
fn script_params(args: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    args.iter().map(|(k, v)| (format!("arg.{k}"), v.clone())).collect()
}

/// The name part of `kind/name` (or the whole resource).
pub(super) fn target_name(resource: &str) -> &str {
    resource.rsplit_once('/').map_or(resource, |(_, n)| n)
}

/// The name policy judges and reports show: a blocked network's canonical address or CIDR (as
/// the approver reads it), else the part of `resource` after its `KIND/` prefix.
pub(super) fn policy_name(action: Action, resource: &str, script: bool) -> Result<String, ServiceError> {
    if action != Action::Block || script {
        return Ok(target_name(resource).to_owned());
    }
    let (addr, prefix) = crate::cluster::kube::parse_cidr(resource).map_err(backend_error)?;
    Ok(network_name(addr, prefix))
}

/// The name of what a stored plan acts on, as [`policy_name`] gave it: the undo of a block
/// names the network alike.
pub(in crate::service) fn plan_target(resource: &str) -> String {
    match crate::cluster::kube::parse_cidr(resource) {
        Ok((addr, prefix)) if !resource.starts_with(SCRIPT_PREFIX) => network_name(addr, prefix),
        _ => target_name(resource).to_owned(),
    }
}

fn network_name(addr: std::net::IpAddr, prefix: u8) -> String {
    match (addr, prefix) {
        (std::net::IpAddr::V4(_), 32) | (std::net::IpAddr::V6(_), 128) => addr.to_string(),
        _ => format!("{addr}/{prefix}"),
    }
}

pub(super) fn backend_error(e: BackendError) -> ServiceError {
    match e {
        e @ (BackendError::Changed { .. }
        | BackendError::Refused(_)
        | BackendError::NotFound { .. }
        | BackendError::Conflict(_)) => ServiceError::Conflict(e.to_string()),
        BackendError::Invalid(m) => invalid("resource", m),
        e => ServiceError::Backend(e.to_string()),
    }
}

impl IncidentService {
    pub(super) fn backend_for(&self, env: &str, script: bool) -> Result<Arc<dyn Backend>, ServiceError> {
        let found = if script {
            self.backends.script.clone()
        } else {
            self.backends.cluster.get(env).cloned()
        };
        found.ok_or_else(|| {
            ServiceError::Conflict(if script {
                "no script backend is configured; script actions are unavailable".into()
            } else {
                format!("environment {env} has no cluster configured; containment and recovery are unavailable there")
            })
        })
    }

    /// Audits a refusal that happened outside policy and approval checks (declined
    /// confirmation, hidden tool, target changed, ...).
    pub async fn audit_refusal(
        &self,
        actor: &str,
        incident: Option<IncidentId>,
        plan_id: Option<&str>,
        payload: Value,
    ) -> Result<(), ServiceError> {
        crate::service::exposition::record_refusal(&payload);
        let mut e = NewAuditEntry::new(actor, AuditKind::Refusal, payload);
        if let Some(id) = incident {
            e = e.incident(id);
        }
        if let Some(p) = plan_id {
            e = e.plan(p);
        }
        self.store.append_audit(e).await?;
        Ok(())
    }

    /// Plans a containment for `principal`; nothing is changed. Every refusal is audited.
    pub async fn propose_contain(&self, req: &ContainRequest, principal: &str) -> Result<PlanReport, ServiceError> {
        let args = serde_json::to_value(req).unwrap_or_default();
        let r = self.contain_plan(req, args.clone(), principal).await;
        let at = Request {
            op: "contain",
            actor: principal,
            incident: Some(req.id),
            plan: None,
            args: &args,
        };
        self.settle(r, at).await
    }

    async fn contain_plan(&self, req: &ContainRequest, args: Value, principal: &str) -> Result<PlanReport, Refusal> {
        if let Some(t) = req.ttl_secs
            && !(60..=604_800).contains(&t)
        {
            return Err(invalid("ttl_secs", format!("{t} is outside 60..=604800 seconds")).into());
        }
        let Some(form) = ContainTarget::parse(&req.resource) else {
            let shown = crate::domain::clip(&req.resource, 70);
            return Err(invalid(
                "resource",
                format!("`{shown}` is none of: a DNS-1123 name, deployment/NAME, script/ID, an IP address or CIDR"),
            )
            .into());
        };
        if let Some(why) = form.mismatch(req.action) {
            return Err(coded("target_mismatch")(ServiceError::Conflict(format!(
                "refused: {why}; nothing was changed"
            ))));
        }
        let target = Target {
            action: req.action.into(),
            namespace: req.namespace.clone(),
            resource: req.resource.clone(),
            params: script_params(&req.args),
            ttl_secs: req.ttl_secs,
        };
        self.propose(PlanKind::Contain, args, req.id, target, principal).await
    }

    /// Plans a recovery (rollback, restore, or revert of the latest containment still in
    /// place). Every refusal is audited.
    pub async fn propose_recover(&self, req: &RecoverRequest, principal: &str) -> Result<PlanReport, ServiceError> {
        let args = serde_json::to_value(req).unwrap_or_default();
        let r = match (req.method, req.resource.as_deref().and_then(|r| r.split_once('/'))) {
            // What RECOVER_RESOURCE_PATTERN says: no other prefix names anything a recovery acts on.
            (_, Some((kind, _))) if !matches!(
                kind,
                "deployment" | "deployments" | "deploy" | "statefulset" | "statefulsets" | "sts" | "script"
            ) => Err(invalid(
                "resource",
                format!(
                    "`{}/...` is not something a recovery acts on: use deployment/NAME, statefulset/NAME, script/ID \
                     or a pod's name",
                    crate::domain::clip(kind, 40)
                ),
            )
            .into()),
            (RecoverMethod::Revert, _) => self.propose_revert(req, principal).await,
            _ => self.recover_plan(req, args.clone(), principal).await,
        };
        let at = Request {
            op: "recover",
            actor: principal,
            incident: Some(req.id),
            plan: None,
            args: &args,
        };
        self.settle(r, at).await
    }

    async fn recover_plan(&self, req: &RecoverRequest, args: Value, principal: &str) -> Result<PlanReport, Refusal> {
        let Some(resource) = req.resource.clone() else {
            return Err(invalid(
                "resource",
                "rollback and restore need the workload, e.g. deployment/web",
            )
            .into());
        };
        let action = match req.method {
            RecoverMethod::Rollback => Action::Rollback,
            _ => Action::Restore,
        };
        let mut params = script_params(&req.args);
        if let Some(b) = &req.backup_id {
            params.insert("backup_id".to_owned(), b.clone());
        }
        let target = Target {
            action,
            namespace: req.namespace.clone(),
            resource,
            params,
            ttl_secs: None,
        };
        self.propose(PlanKind::Recover, args, req.id, target, principal).await
    }

    async fn propose(
        &self,
        kind: PlanKind,
        args: Value,
        id: IncidentId,
        target: Target,
        principal: &str,
    ) -> Result<PlanReport, Refusal> {
        let Target {
            action,
            namespace,
            resource,
            params,
            ttl_secs,
        } = target;
        let incident = self.store.get_incident(id).await?.ok_or(ServiceError::NotFound(id))?;
        let env = Env::parse(&incident.env)?;
        let script = resource.strip_prefix(SCRIPT_PREFIX).map(str::to_owned);
        let network = action == Action::Block && script.is_none();
        let name = policy_name(action, &resource, script.is_some())?;
        if !network && !is_dns1123_subdomain(&name) {
            let shown = crate::domain::clip(&name, 70);
            return Err(invalid("resource", format!("`{shown}` is not a valid DNS-1123 name")).into());
        }
        if let Some(ns) = &namespace {
            Namespace::parse(ns).map_err(|mut e| {
                e.field = "namespace".into();
                ServiceError::from(e)
            })?;
        }
        let early = ActionRequest {
            action,
            namespace: namespace.clone(),
            name: name.clone(),
            labels: BTreeMap::new(),
            script: script.clone(),
            pods: 0,
            nodes: 0,
            healthy_replicas_after: None,
        };
        if let Some(reason) = self.early_refusal(&env, &early, id, principal).await? {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed"
            ))));
        }
        let backend = self
            .backend_for(env.as_str(), script.is_some())
            .map_err(coded("no_backend"))?;
        let spec = ActionSpec {
            env: env.to_string(),
            incident: id.to_string(),
            action,
            namespace: namespace.clone(),
            // The script backend knows scripts by id.
            resource: script.clone().unwrap_or_else(|| resource.clone()),
            params,
        };
        let bp: BackendPlan = backend
            .plan(&spec)
            .await
            .map_err(|e| plan_refusal(e, script.is_some()))?;
        let ar = ActionRequest {
            action,
            namespace,
            name: name.clone(),
            labels: bp.labels.clone(),
            script,
            pods: bp.blast_radius.pods,
            nodes: bp.blast_radius.nodes,
            healthy_replicas_after: bp.healthy_replicas_after,
        };
        if let PolicyDecision::Refuse { reason, .. } = self.check_policy(&env, &ar, Some(id), principal).await? {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed"
            ))));
        }
        // The undo must be possible before the action is.
        if kind == PlanKind::Contain
            && let Some(reason) = self
                .undo_refusal(&env, &ar, &bp.inverse, backend.as_ref(), Some(id), principal)
                .await?
        {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed"
            ))));
        }
        if let DryRun::Failed { reason } = &bp.dry_run {
            let payload = json!({"env": env.as_str(), "by": "dry_run", "reason": "dry_run_failed", "message": reason});
            self.audit_refusal(principal, Some(id), None, payload).await?;
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "the server-side dry run refused the change: {reason}; nothing was changed"
            ))));
        }
        let plan = Plan {
            kind,
            env,
            incident_id: Some(id),
            principal: principal.to_owned(),
            resource,
            request: ar,
            params: spec.params,
            targets: bp.targets.clone(),
            changes: bp.changes.clone(),
            inverse: bp.inverse.clone(),
            blast_radius: bp.blast_radius.clone(),
            ttl_secs,
            reverts: None,
        };
        let stored = self.save_proposal(&plan, principal, &args, &bp.dry_run).await?;
        Ok(report(&stored, PlanStatus::Pending, Some(bp.dry_run), None))
    }

    /// Stores the plan with its `proposal` entry (the request as asked, and what policy was
    /// checked against, which the plan itself records for applying).
    async fn save_proposal(
        &self,
        plan: &Plan,
        principal: &str,
        args: &Value,
        dry_run: &DryRun,
    ) -> Result<StoredPlan, ServiceError> {
        let mut audit = NewAuditEntry::new(
            principal,
            AuditKind::Proposal,
            json!({"env": plan.env, "kind": plan.kind, "action": plan.action(), "arguments": args,
                   "changes": plan.changes.len(), "blast_radius": plan.blast_radius, "dry_run": dry_run,
                   "policy": plan.request}),
        );
        if let Some(id) = plan.incident_id {
            audit = audit.incident(id);
        }
        Ok(self.store.save_plan(plan, audit).await?)
    }

    /// A plan undoing the incident's latest containment still in place: its recorded inverse.
    async fn propose_revert(&self, req: &RecoverRequest, principal: &str) -> Result<PlanReport, Refusal> {
        self.store
            .get_incident(req.id)
            .await?
            .ok_or(ServiceError::NotFound(req.id))?;
        // The newest containment with something to undo (a deleted pod has nothing).
        let open = self.open_containments(OpenActions::Incident(req.id)).await?;
        let Some((_, orig)) = open.into_iter().next() else {
            return Err(coded("nothing_to_revert")(ServiceError::Conflict(format!(
                "{} has no containment in place to revert",
                req.id
            ))));
        };
        let o = &orig.plan;
        let resource = o.resource.clone();
        let namespace = o.request.namespace.clone();
        let env = o.env.clone();
        let inverse = &o.inverse;
        // What runs is the inverse: its scripts are the ones policy must allow.
        let undo_script = super::undo::first_script(inverse);
        let ar = ActionRequest {
            action: Action::Revert,
            namespace: namespace.clone(),
            name: plan_target(&resource),
            labels: BTreeMap::new(),
            script: undo_script.clone(),
            pods: o.blast_radius.pods,
            nodes: o.blast_radius.nodes,
            healthy_replicas_after: None,
        };
        if let PolicyDecision::Refuse { reason, .. } = self.check_policy(&env, &ar, Some(req.id), principal).await? {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed"
            ))));
        }
        let backend = self.backend_for(env.as_str(), undo_script.is_some())?;
        if let Some(reason) = self
            .undo_refusal(&env, &ar, inverse, backend.as_ref(), Some(req.id), principal)
            .await?
        {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed"
            ))));
        }
        let args = json!({"id": req.id, "method": "revert", "reverts": orig.id,
                          "resource": resource, "namespace": namespace});
        let plan = Plan {
            kind: PlanKind::Recover,
            env,
            incident_id: Some(req.id),
            principal: principal.to_owned(),
            resource,
            request: ar,
            params: BTreeMap::new(),
            targets: Vec::new(),
            changes: o.inverse.clone(),
            inverse: o.changes.clone(),
            blast_radius: o.blast_radius.clone(),
            ttl_secs: None,
            reverts: Some(orig.id.clone()),
        };
        let stored = self
            .save_proposal(&plan, principal, &args, &DryRun::NotSupported)
            .await?;
        Ok(report(&stored, PlanStatus::Pending, None, None))
    }

    /// A stored plan with its newest approval and audit history: what a human looks at before
    /// approving it, or afterwards to see what became of it.
    pub async fn plan_view(&self, plan_id: &str) -> Result<PlanView, ServiceError> {
        let Some(stored) = self.store.get_plan(plan_id).await? else {
            return Err(ServiceError::UnknownPlan(crate::domain::clip(plan_id, 40)));
        };
        self.view_of(stored).await
    }

    /// The newest plans, or only those still waiting for a human.
    pub async fn list_plans(&self, req: &PlanListRequest) -> Result<PlanList, ServiceError> {
        let limit = req.limit.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(invalid("limit", format!("{limit} is outside 1..=200")));
        }
        let well_formed = |b: &str| {
            b.len() == 21 && b.starts_with("plan-") && b[5..].bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
        };
        if let Some(b) = req.before.as_deref().filter(|b| !well_formed(b)) {
            let shown = crate::domain::clip(b, 40);
            return Err(invalid(
                "before",
                format!("`{shown}` is not a plan id (plan- and 16 hex digits)"),
            ));
        }
        if let Some(b) = &req.before
            && self.store.get_plan(b).await?.is_none_or(|p| p.id != *b)
        {
            // Like `plan_view`: a well-formed id of no plan is not found (404), not bad input.
            return Err(ServiceError::UnknownPlanCursor(crate::domain::clip(b, 40)));
        }
        let mut plans = Vec::new();
        let mut cursor = req.before.clone();
        let mut examined = 0;
        let next_before = loop {
            let page = self.store.recent_plans(cursor.as_deref(), LIST_PAGE).await?;
            let exhausted = page.len() < LIST_PAGE as usize;
            for stored in page {
                examined += 1;
                cursor = Some(stored.id.clone());
                if let Some(p) = self.summary_if(stored, req.pending).await? {
                    plans.push(p);
                    if plans.len() == limit as usize {
                        break;
                    }
                }
            }
            // Full, or too many plans read for one answer: the caller continues from the cursor.
            if plans.len() == limit as usize || examined >= LIST_SCAN_MAX {
                break cursor;
            }
            if exhausted {
                break None;
            }
        };
        Ok(PlanList { plans, next_before })
    }

    /// A plan's line in the list, or `None` when only pending plans are wanted and it is not.
    async fn summary_if(&self, stored: StoredPlan, pending_only: bool) -> Result<Option<PlanSummary>, ServiceError> {
        let created_at = stored.created_at;
        let v = self.view_of(stored).await?;
        let approval = v.approval.map(|a| a.state);
        // Waiting for a human: not applied, and no approval given (or only an expired one).
        let waiting = v.plan.status == PlanStatus::Pending && matches!(approval.as_deref(), None | Some("expired"));
        if pending_only && !waiting {
            return Ok(None);
        }
        Ok(Some(PlanSummary {
            plan_id: v.plan.plan_id,
            status: v.plan.status,
            env: v.plan.env,
            incident_id: v.plan.incident_id,
            kind: v.plan.kind,
            principal: v.principal,
            created_at,
            approval,
            summary: v.plan.summary,
        }))
    }

    pub(super) async fn view_of(&self, stored: StoredPlan) -> Result<PlanView, ServiceError> {
        let history = self.store.plan_audit(&stored.id, 500).await?;
        let outcome = history.iter().rev().find(|e| e.kind == "outcome");
        let denial = history.iter().find(|e| e.kind == "denial").map(|e| DenialState {
            denied_by: e.actor.clone(),
            denied_at: e.at,
            reason: e.payload["reason"].as_str().unwrap_or_default().to_owned(),
        });
        let (status, results) = match outcome.map(|e| (&e.payload["status"], &e.payload["results"])) {
            Some((s, r)) if s == "applied" => (PlanStatus::Applied, r.as_array().cloned()),
            Some(_) if denial.is_some() => (PlanStatus::Denied, None),
            Some(_) => (PlanStatus::NotApplied, None),
            None if denial.is_some() => (PlanStatus::Denied, None),
            None => (PlanStatus::Pending, None),
        };
        let now = chrono::Utc::now();
        let approval = self.store.latest_approval(&stored.id).await?.map(|a| ApprovalState {
            state: match (a.used_at, a.expires_at <= now) {
                (Some(_), _) => "used",
                (None, true) => "expired",
                (None, false) => "valid",
            }
            .into(),
            approver: a.approver,
            approved_at: a.approved_at,
            expires_at: a.expires_at,
            used_at: a.used_at,
        });
        Ok(PlanView {
            plan: report(&stored, status, None, results),
            principal: stored.plan.principal.clone(),
            approval,
            denial,
            history,
        })
    }
}

/// A plan's report in `status`.
pub(super) fn report(
    s: &StoredPlan,
    status: PlanStatus,
    dry_run: Option<DryRun>,
    outcome: Option<Vec<Value>>,
) -> PlanReport {
    let p = &s.plan;
    let target = plan_target(&p.resource);
    // The proposer's own step (apply once approved, revert once applied) is data: each adapter
    // phrases it for its callers. Approving is always a human's, on the approval channels.
    let next = match (status, p.kind, p.incident_id) {
        (PlanStatus::Pending, _, _) => Some(NextStep::Apply {
            plan_id: s.id.clone(),
            principal: p.principal.clone(),
        }),
        (PlanStatus::Applied, PlanKind::Contain, Some(incident)) => Some(NextStep::Revert { incident }),
        _ => None,
    };
    let next_step = match status {
        PlanStatus::Pending => format!(
            "nothing has changed yet. A human must approve this exact plan: run `incident-mcp approve {}` \
             or POST /api/plans/{}/approve with their own approver key (single-use, expires), then apply it",
            s.id, s.id
        ),
        PlanStatus::Applied => "applied".into(),
        PlanStatus::NotApplied => format!("not applied; the plan stays pending: `incident-mcp approve {}`", s.id),
        PlanStatus::Denied => "a human denied this plan; it will never be applied. Plan again if the situation \
                               changed, and say why"
            .into(),
    };
    let simulated = p.is_simulated();
    let summary = format!(
        "{} {} of {target} in env {}{}: {} change(s), {} pod(s), {} node(s)",
        s.id,
        match status {
            PlanStatus::Pending => "pending",
            PlanStatus::Applied => "applied",
            PlanStatus::NotApplied => "not applied",
            PlanStatus::Denied => "denied",
        },
        p.env,
        if simulated { " (simulated: sandbox backend)" } else { "" },
        p.changes.len(),
        p.blast_radius.pods,
        p.blast_radius.nodes
    );
    PlanReport {
        plan_id: s.id.clone(),
        status,
        env: p.env.to_string(),
        incident_id: p.incident_id,
        kind: p.kind,
        changes: p.changes.clone(),
        inverse: p.inverse.clone(),
        blast_radius: p.blast_radius.clone(),
        dry_run,
        target,
        simulated,
        ttl_secs: p.ttl_secs,
        outcome,
        next_step,
        next,
        summary,
    }
}
