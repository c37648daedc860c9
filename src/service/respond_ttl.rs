//! Expiring containments and interrupted actions. A containment applied with `ttl_secs` is
//! reverted (its recorded inverse applied, audited) once the TTL runs out: by a background
//! task of `serve`/`watch`, and at start-up for anything that expired while the server was
//! down. An `intent` entry without an `outcome` (the process died during the backend call)
//! is reconciled at start-up: a `reconcile` entry says so, so the trail is complete.

use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};

use super::{IncidentService, ServiceError};
use crate::{
    cluster::Change,
    domain::{
        Env, Status,
        audit::{AuditKind, NewAuditEntry},
        policy::Action,
    },
    store::{AppliedAction, OpenActions},
};

/// Actor of automatic reverts.
pub const TTL_ACTOR: &str = "system:ttl";
/// Actor of start-up reconciliation.
pub const RECONCILE_ACTOR: &str = "system:reconcile";
/// How often the background task looks for expired containments.
const TTL_POLL: Duration = Duration::from_secs(5);

impl IncidentService {
    /// Reverts every containment whose TTL ran out; returns how many were reverted.
    pub async fn revert_expired(&self) -> Result<usize, ServiceError> {
        let due = self.store.open_actions(OpenActions::DueBy(Utc::now())).await?;
        let mut n = 0;
        for a in due {
            match self.revert_one(&a).await {
                Ok(true) => n += 1,
                Ok(false) => {}
                Err(e) => tracing::error!(plan = %a.plan_id, error = %e, "TTL revert failed; will retry"),
            }
        }
        Ok(n)
    }

    async fn revert_one(&self, a: &AppliedAction) -> Result<bool, ServiceError> {
        let Some(stored) = self.store.get_plan(&a.plan_id).await? else {
            return Ok(false);
        };
        let plan = &stored.plan;
        let inverse: Vec<Change> = plan
            .inverse
            .iter()
            .map(|c| serde_json::from_value(c.clone()))
            .collect::<Result<_, _>>()
            .map_err(|e| ServiceError::Conflict(format!("plan {} has an unreadable inverse: {e}", a.plan_id)))?;
        let script = inverse.iter().any(|c| matches!(c, Change::Script { .. }));
        let backend = self.backend_for(&a.env, script)?;
        let env = Env::parse(&a.env)?;
        let Some(env_cfg) = self.config.env(&env) else {
            return Err(ServiceError::UnknownEnv {
                env: a.env.clone(),
                known: self.config.env_names().join(", "),
            });
        };
        let tag = |e: NewAuditEntry| {
            let e = e.plan(a.plan_id.clone());
            match a.incident_id {
                Some(id) => e.incident(id),
                None => e,
            }
        };
        // The intent is committed before the backend call; if this write fails, nothing is done.
        self.store
            .append_audit(tag(NewAuditEntry::new(
                TTL_ACTOR,
                AuditKind::Intent,
                json!({"env": a.env, "action": Action::Revert, "reason": "ttl_expired", "changes": plan.inverse}),
            )))
            .await?;
        let result = backend.apply(&a.env, &env_cfg.policy, &inverse).await;
        let (status, detail) = match &result {
            Ok(r) => ("reverted", json!(r)),
            Err(e) => ("failed", json!(e.to_string())),
        };
        let outcome = tag(NewAuditEntry::new(
            TTL_ACTOR,
            AuditKind::Outcome,
            json!({"env": a.env, "status": status, "results": detail}),
        ));
        self.store.finish_action(None, vec![outcome]).await?;
        if let Err(e) = result {
            return Err(ServiceError::Backend(e.to_string()));
        }
        let entry = tag(NewAuditEntry::new(
            TTL_ACTOR,
            AuditKind::Revert,
            json!({"reverted": a.plan_id, "reason": "ttl_expired", "expired_at": a.expires_at}),
        ));
        let done = self
            .store
            .mark_reverted(&a.plan_id, TTL_ACTOR, Utc::now(), entry)
            .await?;
        if let Some(id) = a.incident_id {
            let note = format!("containment {} expired (TTL) and was reverted", a.plan_id);
            self.timeline_move(id, Status::Recovered, TTL_ACTOR, &note).await;
        }
        Ok(done)
    }

    /// Appends a `reconcile` entry for every `intent` without an outcome; returns the plan ids.
    pub async fn reconcile_interrupted(&self) -> Result<Vec<String>, ServiceError> {
        let open = self.store.unfinished_intents().await?;
        let mut ids = Vec::with_capacity(open.len());
        for (plan_id, incident) in open {
            let mut e = NewAuditEntry::new(
                RECONCILE_ACTOR,
                AuditKind::Reconcile,
                json!({"status": "interrupted",
                       "message": "an intent was recorded but no outcome: the server stopped during the backend \
                                   call, so the change may or may not be in place; check the target and revert if needed"}),
            )
            .plan(plan_id.clone());
            if let Some(id) = incident {
                e = e.incident(id);
            }
            self.store.append_audit(e).await?;
            tracing::warn!(plan = %plan_id, "reconciled an interrupted action");
            ids.push(plan_id);
        }
        Ok(ids)
    }

    /// Start-up reconciliation and TTL reverts, then a background task reverting expired
    /// containments until the returned guard is dropped.
    pub async fn start_response_tasks(&self) -> Result<DropGuard, ServiceError> {
        self.reconcile_interrupted().await?;
        if let Err(e) = self.revert_expired().await {
            tracing::error!(error = %e, "start-up TTL reverts failed");
        }
        let stop = CancellationToken::new();
        let svc = self.clone();
        let token = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep(TTL_POLL) => {}
                }
                if let Err(e) = svc.revert_expired().await {
                    tracing::error!(error = %e, "TTL reverts failed");
                }
            }
        });
        Ok(stop.drop_guard())
    }
}
