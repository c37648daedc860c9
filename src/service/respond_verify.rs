//! Health verification after a recovery (rollback, restore): the backend waits, within its
//! verification window, for the workloads the recovery touched to become healthy. If they do
//! not, the recovery's recorded inverse is applied: the world goes back to the state the human
//! approved the recovery from. Both steps are audited as `outcome` entries of the recovery's
//! plan: `verify_failed` (committed before the inverse is sent) and then `rolled_back` (or
//! `rollback_failed`).

use std::sync::Arc;

use serde_json::json;

use super::{IncidentService, ServiceError};
use crate::{
    cluster::{Backend, Change, Health},
    domain::{
        Status,
        audit::{AuditKind, NewAuditEntry},
        policy::Policy,
    },
    store::StoredPlan,
};

impl IncidentService {
    /// Verifies an applied recovery and rolls it back when it did not become healthy; `Ok`
    /// when healthy (or the backend cannot tell), an error saying what happened otherwise.
    pub(super) async fn verify_recovery(
        &self,
        stored: &StoredPlan,
        actor: &str,
        backend: &Arc<dyn Backend>,
        changes: &[Change],
        policy: &Policy,
    ) -> Result<(), ServiceError> {
        let reason = match backend.verify(changes).await {
            Ok(Health::Healthy | Health::NotChecked) => return Ok(()),
            Ok(Health::Unhealthy(why)) => why,
            Err(e) => format!("cannot verify: {e}"),
        };
        let plan = &stored.plan;
        let entry = |payload| {
            let e = NewAuditEntry::new(actor, AuditKind::Outcome, payload).plan(stored.id.clone());
            match plan.incident_id {
                Some(id) => e.incident(id),
                None => e,
            }
        };
        self.store
            .append_audit(entry(
                json!({"env": plan.env, "status": "verify_failed", "reason": reason}),
            ))
            .await?;
        let inverse: Result<Vec<Change>, _> = plan.inverse.iter().map(|c| serde_json::from_value(c.clone())).collect();
        let result = match inverse {
            Ok(inv) => backend.apply(&plan.env, policy, &inv).await.map_err(|e| e.to_string()),
            Err(_) => Err("the recorded inverse is unreadable".to_owned()),
        };
        let payload = match &result {
            Ok(results) => json!({"env": plan.env, "status": "rolled_back", "results": results}),
            Err(e) => json!({"env": plan.env, "status": "rollback_failed", "error": e}),
        };
        self.store.append_audit(entry(payload)).await?;
        let undone = match &result {
            Ok(_) => "its recorded inverse was applied (rolled back)".to_owned(),
            Err(e) => format!("rolling it back failed too ({e}); the workload needs a human"),
        };
        if let (Some(id), Ok(_)) = (plan.incident_id, &result)
            && self
                .store
                .get_incident(id)
                .await?
                .is_some_and(|i| i.status == Status::Recovered)
        {
            let note = format!("recovery {} rolled back: not healthy ({reason})", stored.id);
            self.timeline_move(id, Status::Contained, actor, &note).await;
        }
        Err(ServiceError::Backend(format!(
            "the recovery {} was applied but did not become healthy: {reason}; {undone}",
            stored.id
        )))
    }
}
