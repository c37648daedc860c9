//! The policy check contain/recover will call before planning: the environment's policy,
//! budgets counted from the audit log, and an audited refusal.

use chrono::{TimeDelta, Utc};
use serde_json::json;

use super::{IncidentService, ServiceError};
use crate::domain::{
    Env, IncidentId,
    audit::{AuditKind, NewAuditEntry},
    policy::{ActionRequest, PolicyDecision, RefusalKind, Usage},
};

impl IncidentService {
    /// Evaluates `req` against the policy of `env`, counting destructive actions already
    /// applied (for `incident`, and in the environment during the last hour). A refusal is
    /// appended to the audit log before it is returned; if that write fails, the call fails.
    pub async fn check_policy(
        &self,
        env: &Env,
        req: &ActionRequest,
        incident: Option<IncidentId>,
        actor: &str,
    ) -> Result<PolicyDecision, ServiceError> {
        let Some(env_cfg) = self.config.env(env) else {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        };
        let since = Utc::now() - TimeDelta::hours(1);
        let usage = self.store.destructive_usage(env.as_str(), incident, since).await?;
        let decision = env_cfg.policy.evaluate(env.as_str(), req, usage);
        if let PolicyDecision::Refuse { kind, reason } = &decision {
            let payload = json!({
                    "env": env.as_str(),
                    "by": "policy",
                    "reason": kind,
                    "message": reason,
                    "action": req.action,
                    "namespace": req.namespace,
                    "name": req.name,
                    "script": req.script,
                    "pods": req.pods,
                    "nodes": req.nodes,
            });
            super::exposition::record_refusal(&payload);
            let mut entry = NewAuditEntry::new(actor, AuditKind::Refusal, payload);
            if let Some(id) = incident {
                entry = entry.incident(id);
            }
            self.store.append_audit(entry).await?;
        }
        Ok(decision)
    }

    /// The part of the policy decided before the backend is asked anything (action, name,
    /// namespace): a protected or unlisted namespace never sees even a read or a dry run.
    /// Returns the audited refusal's reason; `None` leaves the decision to [`Self::check_policy`]
    /// once the backend's plan is known.
    pub(super) async fn early_refusal(
        &self,
        env: &Env,
        req: &ActionRequest,
        incident: IncidentId,
        actor: &str,
    ) -> Result<Option<String>, ServiceError> {
        let Some(env_cfg) = self.config.env(env) else {
            return Ok(None);
        };
        let early = matches!(
            env_cfg.policy.evaluate(env.as_str(), req, Usage::default()),
            PolicyDecision::Refuse {
                kind: RefusalKind::ActionNotAllowed
                    | RefusalKind::InvalidName
                    | RefusalKind::ProtectedNamespace
                    | RefusalKind::NamespaceNotAllowed,
                ..
            }
        );
        if !early {
            return Ok(None);
        }
        Ok(match self.check_policy(env, req, Some(incident), actor).await? {
            PolicyDecision::Refuse { reason, .. } => Some(reason),
            PolicyDecision::Allow => None,
        })
    }
}
