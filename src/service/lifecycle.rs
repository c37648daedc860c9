//! `list`, `get`, `resolve` (`ack` is in `manage`: it is allowed at any active status).

use super::*;
use crate::{
    domain::{IncidentCursor, Status, UNTRUSTED_NOTE},
    store::IncidentFilter,
};

impl IncidentService {
    pub async fn list(&self, req: ListRequest) -> Result<IncidentList, ServiceError> {
        let limit = req.limit.unwrap_or(20);
        if !(1..=200).contains(&limit) {
            return Err(crate::domain::DomainError::invalid("limit", format!("{limit} is outside 1..200")).into());
        }
        let after = req.cursor.as_deref().map(IncidentCursor::decode).transpose()?;
        // One more than asked says whether another page exists.
        let filter = IncidentFilter {
            env: req.env.map(|e| e.to_string()),
            status: req.status,
            kind: req.kind,
            limit: limit + 1,
            after,
        };
        let mut incidents = self.store.list_incidents(&filter).await?;
        let next_cursor = super::audit::page_end(&mut incidents, limit, |i| IncidentCursor::after(i).encode());
        Ok(IncidentList {
            count: incidents.len(),
            incidents,
            next_cursor,
        })
    }

    pub async fn get(&self, req: GetRequest) -> Result<IncidentDetail, ServiceError> {
        let read = self
            .store
            .incident_with_signals(req.id, 10)
            .await?
            .ok_or(ServiceError::NotFound(req.id))?;
        Ok(IncidentDetail {
            runbooks: self.runbooks_with(&read.incident, read.annotations).await?,
            incident: read.incident,
            recent_signals: read.signals,
            untrusted_data_note: UNTRUSTED_NOTE.into(),
        })
    }

    pub async fn resolve(&self, req: ResolveRequest, caller: Caller) -> Result<LifecycleResult, ServiceError> {
        if req.note.trim().is_empty() {
            return Err(crate::domain::DomainError::invalid(
                "note",
                "a resolution note is required: say what caused it and what fixed it",
            )
            .into());
        }
        let note = self.resolution_note(&req, caller).await?;
        self.move_to(req.id, Status::Resolved, caller, Some(&note)).await
    }

    /// The note to resolve with: refused (audited) while containments of the incident are in
    /// place, unless the caller keeps them, which the note then records for the timeline.
    async fn resolution_note(&self, req: &ResolveRequest, caller: Caller) -> Result<String, ServiceError> {
        let incident = self
            .store
            .get_incident(req.id)
            .await?
            .ok_or(ServiceError::NotFound(req.id))?;
        if incident.status == Status::Resolved {
            return Ok(req.note.clone());
        }
        let q = ContainmentsRequest {
            env: None,
            id: Some(req.id),
        };
        let active = self.containments(&q).await?.containments;
        if active.is_empty() {
            return Ok(req.note.clone());
        }
        let names = active
            .iter()
            .map(ActiveContainment::describe)
            .collect::<Vec<_>>()
            .join(", ");
        let n = active.len();
        if !req.keep_containments {
            let message = format!(
                "{} still has {n} containment(s) in place: {names}. Revert them first (recover with method revert, \
                 once for each), or resolve with keep_containments (CLI: --keep-containments) to leave them in place",
                req.id
            );
            let plans: Vec<&str> = active.iter().map(|c| c.plan_id.as_str()).collect();
            let payload = serde_json::json!({"env": incident.env, "reason": "active_containments",
                                             "message": message, "containments": plans});
            self.audit_refusal(caller.actor, Some(req.id), None, payload).await?;
            return Err(ServiceError::Conflict(format!("{message}; nothing was changed")));
        }
        let kept = format!(" [resolved keeping {n} containment(s) in place: {names}]");
        let kept = if req.note.chars().count() + kept.chars().count() > 2000 {
            format!(" [resolved keeping {n} containment(s) in place; see the containments list]")
        } else {
            kept
        };
        tracing::info!(id = %req.id, containments = n, "resolved keeping containments in place");
        Ok(format!("{}{kept}", req.note))
    }

    async fn move_to(
        &self,
        id: crate::domain::IncidentId,
        to: Status,
        caller: Caller,
        note: Option<&str>,
    ) -> Result<LifecycleResult, ServiceError> {
        if note.is_some_and(|n| n.chars().count() > 2000) {
            return Err(crate::domain::DomainError::invalid("note", "longer than 2000 characters").into());
        }
        let hooks = self.lifecycle_rows(id, to, caller.actor, note).await?;
        let t = self
            .store
            .transition_with_outbox(id, to, caller.actor, note, hooks)
            .await?;
        let message = if t.changed {
            self.announce(IncidentEvent::Changed(id));
            format!("{id} moved from {} to {to}", t.previous)
        } else {
            format!("{id} was already {to}; nothing changed")
        };
        Ok(LifecycleResult {
            incident: t.incident,
            previous_status: t.previous,
            changed: t.changed,
            message,
        })
    }
}
