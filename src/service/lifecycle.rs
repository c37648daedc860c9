//! `list`, `get`, `ack`, `resolve`.

use super::*;
use crate::{
    domain::{Status, UNTRUSTED_NOTE},
    store::IncidentFilter,
};

impl IncidentService {
    pub async fn list(&self, req: ListRequest) -> Result<IncidentList, ServiceError> {
        let limit = req.limit.unwrap_or(20);
        if !(1..=200).contains(&limit) {
            return Err(crate::domain::DomainError::invalid("limit", format!("{limit} is outside 1..200")).into());
        }
        let filter = IncidentFilter {
            env: req.env.map(|e| e.to_string()),
            status: req.status,
            kind: req.kind,
            limit,
        };
        let incidents = self.store.list_incidents(&filter).await?;
        Ok(IncidentList {
            count: incidents.len(),
            incidents,
        })
    }

    pub async fn get(&self, req: GetRequest) -> Result<IncidentDetail, ServiceError> {
        let incident = self
            .store
            .get_incident(req.id)
            .await?
            .ok_or(ServiceError::NotFound(req.id))?;
        let recent_signals = self.store.signals(req.id, 10).await?;
        Ok(IncidentDetail {
            incident,
            recent_signals,
            untrusted_data_note: UNTRUSTED_NOTE.into(),
        })
    }

    pub async fn ack(&self, req: AckRequest, caller: Caller) -> Result<LifecycleResult, ServiceError> {
        self.move_to(req.id, Status::Acknowledged, caller, req.note.as_deref())
            .await
    }

    pub async fn resolve(&self, req: ResolveRequest, caller: Caller) -> Result<LifecycleResult, ServiceError> {
        if req.note.trim().is_empty() {
            return Err(crate::domain::DomainError::invalid(
                "note",
                "a resolution note is required: say what caused it and what fixed it",
            )
            .into());
        }
        self.move_to(req.id, Status::Resolved, caller, Some(&req.note)).await
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
