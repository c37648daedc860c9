//! Applying an approved plan: the target must still be at the planned version, the approval
//! is spent together with the `intent` audit entry (committed before the backend is called;
//! if that write fails nothing is done), and the result is audited as `application` +
//! `outcome` in one transaction with the applied-action record (TTL, revert).

use chrono::{TimeDelta, Utc};
use serde_json::{Value, json};

use crate::service::{
    IncidentService, ServiceError,
    respond::refusal::{Refusal, Request, coded, plan_refusal},
    respond::types::*,
    respond::{backend_error, report},
};
use crate::{
    cluster::{BackendError, Change},
    domain::{
        IncidentId, Status,
        audit::{AuditKind, NewAuditEntry},
        plan::PlanKind,
        policy::{Action, PolicyDecision},
    },
    metrics::ActionOutcome,
    store::{ActionFailure, AppliedAction, ApprovalUse, StoredPlan},
};

impl IncidentService {
    /// Applies a stored plan for `principal` if a human approved exactly it. Refusals are
    /// audited and change nothing; applying twice changes the world once (approvals are single-use).
    pub async fn apply_plan(&self, plan_id: &str, principal: &str) -> Result<PlanReport, ServiceError> {
        self.apply_plan_as(plan_id, principal, principal).await
    }

    /// [`Self::apply_plan`] for `principal`'s plan, carried out by `actor` (the proposer itself,
    /// or the human who approved it and had the server apply it): the audit entries name `actor`
    /// and record the principal.
    pub(in crate::service) async fn apply_plan_as(
        &self,
        plan_id: &str,
        principal: &str,
        actor: &str,
    ) -> Result<PlanReport, ServiceError> {
        let r = self.apply_approved(plan_id, principal, actor).await;
        let incident = match &r {
            Err(Refusal::Unaudited { .. }) => self
                .store
                .get_plan(plan_id)
                .await
                .ok()
                .flatten()
                .and_then(|p| p.plan.incident_id),
            _ => None,
        };
        let args = json!({ "plan_id": plan_id });
        let at = Request {
            op: "apply",
            actor,
            incident,
            plan: Some(plan_id),
            args: &args,
        };
        self.settle(r, at).await
    }

    async fn apply_approved(&self, plan_id: &str, principal: &str, actor: &str) -> Result<PlanReport, Refusal> {
        let stored = self.store.get_plan(plan_id).await?;
        let Some(stored) = stored.filter(|s| s.id == plan_id) else {
            let payload = json!({"reason": "unknown_plan", "message": "no such plan"});
            self.audit_refusal(principal, None, None, payload).await?;
            return Err(Refusal::Audited(ServiceError::UnknownPlan(crate::domain::clip(
                plan_id, 40,
            ))));
        };
        let plan = &stored.plan;
        let history = self.store.plan_audit(plan_id, 500).await?;
        if let Some(d) = history.iter().find(|e| e.kind == "denial") {
            let message = format!("{} denied plan {plan_id}", d.actor);
            let payload = json!({"env": plan.env, "reason": "denied", "message": message});
            self.audit_refusal(actor, plan.incident_id, Some(plan_id), payload)
                .await?;
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "{message}; it will never be applied"
            ))));
        }
        let refuse = |reason: &str, message: String| {
            let payload = json!({"env": plan.env, "reason": reason, "message": message});
            (
                payload,
                Refusal::Audited(ServiceError::Conflict(format!("{message}; nothing was changed"))),
            )
        };
        let changes = &plan.changes;
        if plan.hash() != stored.hash || plan.id() != stored.id {
            let (p, e) = refuse("tampered", format!("plan {plan_id} does not match its recorded hash"));
            self.audit_refusal(principal, plan.incident_id, Some(plan_id), p)
                .await?;
            return Err(e);
        }
        let script = changes.iter().any(|c| matches!(c, Change::Script { .. }));
        let backend = self
            .backend_for(plan.env.as_str(), script)
            .map_err(coded("no_backend"))?;
        let current = backend
            .current_versions(&plan.targets)
            .await
            .map_err(|e| plan_refusal(e, false))?;
        if current != plan.targets {
            let (p, e) = refuse(
                "target_changed",
                format!(
                    "target changed since planning (planned {:?}, now {:?}); plan again",
                    plan.targets, current
                ),
            );
            self.audit_refusal(principal, plan.incident_id, Some(plan_id), p)
                .await?;
            return Err(e);
        }
        // Policy again, as recorded in the plan: budgets may have been spent since.
        let req = &plan.request;
        let env = &plan.env;
        if let PolicyDecision::Refuse { reason, .. } = self.check_policy(env, req, plan.incident_id, principal).await? {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed"
            ))));
        }
        let env_cfg = self.config.env(env).ok_or_else(|| ServiceError::UnknownEnv {
            env: plan.env.to_string(),
            known: self.config.env_names().join(", "),
        })?;
        // Everything that could refuse the apply is checked before the approval is spent: a
        // refusal here leaves it valid. The undo must still be possible (the config may have
        // changed since planning), and the backend's own check must pass on the changes.
        if plan.kind == PlanKind::Contain
            && let Some(reason) = self
                .undo_refusal(env, req, &plan.inverse, backend.as_ref(), plan.incident_id, principal)
                .await?
        {
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "refused by policy: {reason}; nothing was changed (the approval was not spent)"
            ))));
        }
        if let Err(e) = backend.recheck(plan.env.as_str(), &env_cfg.policy, changes) {
            let (p, e) = refuse("backend_refused", format!("{e} (the approval was not spent)"));
            self.audit_refusal(principal, plan.incident_id, Some(plan_id), p)
                .await?;
            return Err(e);
        }
        let action = plan.action();
        let mut intent = NewAuditEntry::new(
            actor,
            AuditKind::Intent,
            json!({"env": plan.env, "kind": plan.kind, "action": action, "changes": plan.changes,
                   "principal": principal}),
        );
        if let Some(id) = plan.incident_id {
            intent = intent.incident(id);
        }
        let now = Utc::now();
        let used = self
            .store
            .use_approval(ApprovalUse {
                plan_id: plan_id.to_owned(),
                caller: principal.to_owned(),
                current: None,
                now,
                intent,
            })
            .await?;
        if let Err(refusal) = used {
            crate::metrics::global().refusal(refusal.code());
            return Err(Refusal::Audited(ServiceError::Conflict(format!(
                "{refusal}; nothing was changed"
            ))));
        }
        // From here on the approval is spent and the intent recorded: what follows is an
        // outcome (audited as such), not a refusal.
        let result = backend.apply(plan.env.as_str(), &env_cfg.policy, changes).await;
        let report = self
            .record_result(&stored, actor, action, result)
            .await
            .map_err(Refusal::Audited)?;
        if matches!(action, Action::Rollback | Action::Restore) {
            self.verify_recovery(&stored, actor, &backend, changes, &env_cfg.policy)
                .await
                .map_err(Refusal::Audited)?;
        }
        Ok(report)
    }

    async fn record_result(
        &self,
        stored: &StoredPlan,
        actor: &str,
        action: Action,
        result: Result<Vec<Value>, BackendError>,
    ) -> Result<PlanReport, ServiceError> {
        let plan = &stored.plan;
        let with_ids = |e: NewAuditEntry| {
            let e = e.plan(stored.id.clone());
            match plan.incident_id {
                Some(id) => e.incident(id),
                None => e,
            }
        };
        let outcomes = match result {
            Ok(o) => o,
            Err(err) => {
                let error = err.to_string();
                let payload = json!({"env": plan.env, "status": "failed", "error": error});
                let note = format!(
                    "the approved plan {} failed to apply ({action}); part of it may be in place: check the target, \
                     then plan again or revert by hand",
                    stored.id
                );
                let outbox = self
                    .action_failed_rows(plan.incident_id, &stored.id, "apply_failed", actor, &error, &note)
                    .await;
                let failure = ActionFailure {
                    revert: None,
                    audit: vec![with_ids(NewAuditEntry::new(actor, AuditKind::Outcome, payload))],
                    outbox,
                };
                self.store.record_action_failure(failure, Utc::now()).await?;
                crate::metrics::global().action(action.as_str(), ActionOutcome::Failed);
                return Err(backend_error(err));
            }
        };
        let now = Utc::now();
        let ttl = plan.ttl_secs;
        let applied = AppliedAction {
            plan_id: stored.id.clone(),
            incident_id: plan.incident_id,
            env: plan.env.to_string(),
            applied_at: now,
            expires_at: ttl.map(|t| now + TimeDelta::seconds(t as i64)),
            reverted_at: None,
            revert_attempts: 0,
            next_revert_at: None,
            revert_failed_at: None,
        };
        let entries = vec![
            with_ids(NewAuditEntry::new(
                actor,
                AuditKind::Application,
                json!({"env": plan.env, "destructive": action.is_destructive(), "action": action,
                       "changes": plan.changes.len()}),
            )),
            with_ids(NewAuditEntry::new(
                actor,
                AuditKind::Outcome,
                json!({"env": plan.env, "status": "applied", "results": outcomes}),
            )),
        ];
        let record = (plan.kind == PlanKind::Contain).then_some(&applied);
        self.store.finish_action(record, entries).await?;
        crate::metrics::global().action(action.as_str(), ActionOutcome::Applied);
        if let Some(reverted) = plan.reverts.as_deref() {
            let entry = with_ids(NewAuditEntry::new(
                actor,
                AuditKind::Revert,
                json!({"reverted": reverted}),
            ));
            self.store.mark_reverted(reverted, actor, now, entry).await?;
        }
        if let Some(id) = plan.incident_id {
            let to = if plan.kind == PlanKind::Contain {
                Status::Contained
            } else {
                Status::Recovered
            };
            let approver = match self.store.latest_approval(&stored.id).await {
                Ok(Some(a)) if a.approver != actor => format!(", approved by {}", a.approver),
                _ => String::new(),
            };
            let note = format!("{action} applied by {actor}{approver} ({})", stored.id);
            self.timeline_move(id, to, actor, &note).await;
        }
        Ok(report(stored, PlanStatus::Applied, None, Some(outcomes)))
    }

    /// Records the action in the incident's timeline by moving it along its lifecycle when
    /// that move is legal (a containment of an already contained incident changes no status).
    pub(in crate::service) async fn timeline_move(&self, id: IncidentId, to: Status, actor: &str, note: &str) {
        let hooks = self
            .lifecycle_rows(id, to, actor, Some(note))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(%id, error = %e, "cannot read the webhooks; lifecycle notifications skipped");
                Vec::new()
            });
        match self
            .store
            .transition_with_outbox(id, to, actor, Some(note), hooks)
            .await
        {
            Ok(t) if t.changed => self.announce(crate::service::IncidentEvent::Changed(id)),
            Ok(_) => {}
            Err(e) => tracing::info!(%id, error = %e, "no lifecycle move for the applied action"),
        }
    }
}
