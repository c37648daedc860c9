//! Declared incidents: a containment that names no incident opens one for its target, as a
//! person declaring an incident would, and the declaration is audited.

use std::collections::BTreeMap;

use serde_json::json;

use super::{IncidentService, ServiceError, respond::types::ContainAction};
use crate::{
    domain::{
        Env, IncidentId, IncidentType, Severity, Signal, SignalKind,
        audit::{AuditKind, NewAuditEntry},
    },
    store::{DetectionBatch, NewFinding},
};

impl IncidentService {
    /// Opens (or updates: the same target in the same environment is one incident) a declared
    /// incident for a containment that names none, and audits the declaration.
    pub(super) async fn declare_incident(
        &self,
        env: &Env,
        action: ContainAction,
        resource: &str,
        namespace: Option<&str>,
        principal: &str,
    ) -> Result<IncidentId, ServiceError> {
        let Some(env_cfg) = self.config.env(env) else {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        };
        let resource = crate::domain::clip(resource, 253);
        let entity = match (resource.split_once('/'), namespace) {
            (Some((kind, name)), Some(ns)) => format!("{kind}/{ns}/{name}"),
            (Some(_), None) => resource.clone(),
            (None, _) if matches!(action, ContainAction::Cordon) => format!("node/{resource}"),
            (None, _) if matches!(action, ContainAction::Block) => format!("ip/{resource}"),
            (None, Some(ns)) => format!("pod/{ns}/{resource}"),
            (None, None) => format!("pod/{resource}"),
        };
        let entity = crate::domain::sanitize_untrusted(&entity);
        let action_name = serde_json::to_value(action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let signal = Signal {
            kind: SignalKind::Log,
            source: "declared".into(),
            rule: "declared".into(),
            series: "declared".into(),
            entity: entity.clone(),
            value: 1.0,
            score: 1.0,
            observed_at: chrono::Utc::now(),
            message: Some(format!("declared by {principal}: {action_name} {entity}")),
        };
        let finding = NewFinding {
            fingerprint: super::detect::fingerprint(env, "declared", "declared", &entity),
            title: format!("Declared for containment ({action_name}) of {entity}"),
            kind: IncidentType::Other,
            severity: Severity::Medium,
            labels: BTreeMap::from([("declared_by".to_owned(), principal.to_owned())]),
            // The declared target alone: the message is our own text, not telemetry.
            entities: vec![crate::domain::entity::subject(&signal.entity).into_iter().collect()],
            signals: vec![signal],
        };
        let batch = DetectionBatch {
            env: env.to_string(),
            actor: principal.to_owned(),
            findings: vec![finding],
            metrics: Vec::new(),
            cursors: Vec::new(),
            detector_states: Vec::new(),
            dedup_window_secs: env_cfg.dedup_window_secs,
            hooks: self.detect_hooks().await?,
        };
        let change = self
            .store
            .record_detection(batch)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| ServiceError::Store("the declared incident was not recorded".into()))?;
        self.announce_change(change.id, change.change, &mut (0, 0));
        let entry = NewAuditEntry::new(
            principal,
            AuditKind::Declaration,
            json!({"env": env.as_str(), "action": action_name, "resource": resource, "namespace": namespace,
                   "entity": entity, "reason": "containment without an incident"}),
        )
        .incident(change.id);
        self.store.append_audit(entry).await?;
        Ok(change.id)
    }
}
