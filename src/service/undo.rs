//! The undo must be possible before the action is: a containment is planned (and applied) only
//! if its recorded inverse would pass the environment's policy: `revert` allowed for its
//! target, every undo script allowlisted, and the backend's own check of the inverse changes.
//! A containment with nothing to undo (a deleted pod, which its controller replaces) passes.

use serde_json::json;

use super::{IncidentService, ServiceError};
use crate::{
    cluster::{Backend, Change},
    domain::{
        Env, IncidentId,
        audit::{AuditKind, NewAuditEntry},
        policy::{Action, ActionRequest, PolicyDecision, Usage},
    },
};

/// The policy requests of undoing a containment described by `original`: one `revert` per undo
/// script (or one without a script).
pub(super) fn undo_requests(original: &ActionRequest, inverse: &[Change]) -> Vec<ActionRequest> {
    let revert = |script: Option<String>| ActionRequest {
        action: Action::Revert,
        script,
        healthy_replicas_after: None,
        ..original.clone()
    };
    let mut scripts: Vec<String> = inverse
        .iter()
        .filter_map(|c| match c {
            Change::Script { script, .. } => Some(script.clone()),
            _ => None,
        })
        .collect();
    scripts.dedup();
    match scripts.is_empty() {
        true => vec![revert(None)],
        false => scripts.into_iter().map(|s| revert(Some(s))).collect(),
    }
}

/// The ids of the scripts among `changes`; the first one, for the policy request of a revert.
pub(super) fn first_script(changes: &[Change]) -> Option<String> {
    changes.iter().find_map(|c| match c {
        Change::Script { script, .. } => Some(script.clone()),
        _ => None,
    })
}

impl IncidentService {
    /// Why the containment `original` with recorded `inverse` could not be undone in `env`, once
    /// audited (reason `undo_not_allowed`); `None` when it could.
    pub(super) async fn undo_refusal(
        &self,
        env: &Env,
        original: &ActionRequest,
        inverse: &[Change],
        backend: &dyn Backend,
        incident: Option<IncidentId>,
        actor: &str,
    ) -> Result<Option<String>, ServiceError> {
        if inverse.is_empty() {
            return Ok(None);
        }
        let Some(env_cfg) = self.config.env(env) else {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        };
        let mut refusal = None;
        for req in undo_requests(original, inverse) {
            // `revert` never counts against budgets, so usage does not matter here.
            if let PolicyDecision::Refuse { kind, reason } =
                env_cfg.policy.evaluate(env.as_str(), &req, Usage::default())
            {
                refusal = Some((json!(kind), reason, req.script));
                break;
            }
        }
        if refusal.is_none()
            && let Err(e) = backend.recheck(env.as_str(), &env_cfg.policy, inverse)
        {
            refusal = Some((json!("backend_refused"), e.to_string(), None));
        }
        let Some((kind, reason, script)) = refusal else {
            return Ok(None);
        };
        let message = format!("this containment could not be undone: its revert would be refused ({reason})");
        let payload = json!({"env": env.as_str(), "by": "policy", "reason": "undo_not_allowed", "undo_refusal": kind,
                             "message": message, "action": original.action, "namespace": original.namespace,
                             "name": original.name, "undo_script": script});
        super::exposition::record_refusal(&payload);
        let mut entry = NewAuditEntry::new(actor, AuditKind::Refusal, payload);
        if let Some(id) = incident {
            entry = entry.incident(id);
        }
        self.store.append_audit(entry).await?;
        Ok(Some(format!(
            "{message}; allow `revert` of it (and any undo script) in env {env} first"
        )))
    }
}
