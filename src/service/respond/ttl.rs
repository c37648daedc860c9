//! Expiring containments and interrupted actions. A containment applied with `ttl_secs` is
//! reverted (its recorded inverse applied, audited) once the TTL runs out: by a background
//! task of `serve`/`watch`, and at start-up for anything that expired while the server was
//! down. A failing undo is retried with exponential backoff, `[respond] revert_max_attempts`
//! times in all; then the action is `revert_failed`, `action_failed` is notified, and it is
//! left for a human. An `intent` entry without an `outcome` (the process died during the backend call)
//! is reconciled at start-up: a `reconcile` entry says so, so the trail is complete.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::metrics::ActionOutcome;
use crate::service::{IncidentService, ServiceError};
use crate::{
    cluster::Change,
    domain::{
        Env, Status,
        audit::{AuditKind, NewAuditEntry},
        policy::Action,
    },
    store::{ActionFailure, AppliedAction, OpenActions, RevertAttempt},
};

/// Actor of automatic reverts.
pub const TTL_ACTOR: &str = "system:ttl";
/// Actor of start-up reconciliation.
pub const RECONCILE_ACTOR: &str = "system:reconcile";
/// How often the background task looks for expired containments.
const TTL_POLL: Duration = Duration::from_secs(5);

/// An audit entry about `a`: its plan and incident.
fn tag(a: &AppliedAction, e: NewAuditEntry) -> NewAuditEntry {
    let e = e.plan(a.plan_id.clone());
    match a.incident_id {
        Some(id) => e.incident(id),
        None => e,
    }
}

impl IncidentService {
    /// Reverts every containment whose TTL ran out; returns how many were reverted.
    pub async fn revert_expired(&self) -> Result<usize, ServiceError> {
        self.revert_due(Utc::now()).await
    }

    /// Reverts every containment whose TTL ran out by `now` and whose next attempt (after a
    /// failed one) is due by then; returns how many were reverted. A failed attempt is audited
    /// once (intent, then an outcome numbering it) and the next one waits
    /// (`[respond]` backoff); after `revert_max_attempts` the action is `revert_failed`,
    /// `action_failed` is queued, and it is left for a human. Tests pass their own `now`.
    pub async fn revert_due(&self, now: DateTime<Utc>) -> Result<usize, ServiceError> {
        let due = self.store.open_actions(OpenActions::DueBy(now)).await?;
        let mut n = 0;
        for a in due {
            match self.revert_one(&a).await {
                Ok(true) => n += 1,
                // Reverted meanwhile by someone else (a recovery plan).
                Ok(false) => {}
                Err(e) => {
                    crate::metrics::global().action(Action::Revert.as_str(), ActionOutcome::RevertFailed);
                    if let Err(rec) = self.revert_failed_attempt(&a, &e.to_string(), now).await {
                        tracing::error!(plan = %a.plan_id, error = %rec, "cannot record a failed TTL revert");
                    }
                }
            }
        }
        Ok(n)
    }

    /// One revert attempt; `Err` when it failed (the caller records it), `Ok(false)` when the
    /// action was reverted meanwhile by someone else.
    async fn revert_one(&self, a: &AppliedAction) -> Result<bool, ServiceError> {
        let Some(stored) = self.store.get_plan(&a.plan_id).await? else {
            return Err(ServiceError::Conflict(format!("plan {} is gone", a.plan_id)));
        };
        let plan = &stored.plan;
        let inverse = &plan.inverse;
        let script = inverse.iter().any(|c| matches!(c, Change::Script { .. }));
        let backend = self.backend_for(&a.env, script)?;
        let env = Env::parse(&a.env)?;
        let Some(env_cfg) = self.config.env(&env) else {
            return Err(ServiceError::UnknownEnv {
                env: a.env.clone(),
                known: self.config.env_names().join(", "),
            });
        };
        let attempt = a.revert_attempts + 1;
        // The intent is committed before the backend call; if this write fails, nothing is done.
        self.store
            .append_audit(tag(
                a,
                NewAuditEntry::new(
                    TTL_ACTOR,
                    AuditKind::Intent,
                    json!({"env": a.env, "action": Action::Revert, "reason": "ttl_expired", "attempt": attempt,
                           "changes": plan.inverse}),
                ),
            ))
            .await?;
        let detail = backend
            .apply(&a.env, &env_cfg.policy, inverse)
            .await
            .map_err(|e| ServiceError::Backend(e.to_string()))?;
        let outcome = tag(
            a,
            NewAuditEntry::new(
                TTL_ACTOR,
                AuditKind::Outcome,
                json!({"env": a.env, "status": "reverted", "attempt": attempt, "results": detail}),
            ),
        );
        self.store.finish_action(None, vec![outcome]).await?;
        let entry = tag(
            a,
            NewAuditEntry::new(
                TTL_ACTOR,
                AuditKind::Revert,
                json!({"reverted": a.plan_id, "reason": "ttl_expired", "expired_at": a.expires_at}),
            ),
        );
        let done = self
            .store
            .mark_reverted(&a.plan_id, TTL_ACTOR, Utc::now(), entry)
            .await?;
        if done {
            tracing::info!(plan = %a.plan_id, "reverted an expired containment (TTL)");
            crate::metrics::global().action(Action::Revert.as_str(), ActionOutcome::Reverted);
        }
        if done && let Some(id) = a.incident_id {
            let note = format!("containment {} expired (TTL) and was reverted", a.plan_id);
            self.timeline_move(id, Status::Recovered, TTL_ACTOR, &note).await;
        }
        Ok(done)
    }

    /// Records failed attempt number `revert_attempts + 1` of `a` at `now`: its outcome, and
    /// either when the next attempt is due or, after the last one, `revert_failed` with the
    /// `action_failed` notifications; one transaction.
    async fn revert_failed_attempt(
        &self,
        a: &AppliedAction,
        error: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ServiceError> {
        let policy = &self.config.respond;
        let attempt = a.revert_attempts + 1;
        let give_up = attempt >= policy.revert_max_attempts;
        let next_at = (!give_up).then(|| now + policy.revert_backoff(attempt));
        tracing::error!(plan = %a.plan_id, attempt, max = policy.revert_max_attempts, error, give_up,
                        "TTL revert failed");
        let mut payload = json!({"env": a.env, "status": "failed", "error": error, "attempt": attempt,
                                 "max_attempts": policy.revert_max_attempts,
                                 "state": if give_up { "revert_failed" } else { "active" },
                                 "next_attempt_at": next_at});
        let mut outbox = Vec::new();
        if give_up {
            let note = format!(
                "containment {} expired but {attempt} automatic revert attempt(s) failed; it is still in place and \
                 is not retried: revert it by hand (recover with method revert, e.g. `incident-mcp recover \
                 --method revert`) once the cause is fixed",
                a.plan_id
            );
            payload["message"] = json!(note);
            outbox = self
                .action_failed_rows(a.incident_id, &a.plan_id, "revert_failed", TTL_ACTOR, error, &note)
                .await;
        }
        let failure = ActionFailure {
            revert: Some(RevertAttempt {
                plan_id: a.plan_id.clone(),
                attempts: attempt,
                next_at,
                failed_at: give_up.then_some(now),
            }),
            audit: vec![tag(a, NewAuditEntry::new(TTL_ACTOR, AuditKind::Outcome, payload))],
            outbox,
        };
        self.store.record_action_failure(failure, now).await?;
        Ok(())
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
