//! An incident's whole history in order, and its post-mortem record. The timeline merges what
//! the incident's timeline rows say (signals, status changes, notes, assignments, severity
//! changes, acknowledgements) with what the audit log says about it (plans, approvals with the
//! human's name, denials, applied and failed actions, reverts) and its notifications (the
//! outbox), by time. Read-only.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::{
    domain::{
        IncidentId, Status, TimelineEntry, TimelineKind, UNTRUSTED_NOTE, audit::AuditEntry, display_time, manage,
    },
    store::OutboxRow,
};

/// Audit entries and notifications read for one incident at most.
const HISTORY_LIMIT: u32 = 1000;

fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A proposal's target as asked: `namespace/resource`, else the policy request's name.
fn target_of(p: &Value) -> String {
    let args = &p["arguments"];
    let resource = match text(args, "resource") {
        r if r.is_empty() => text(&p["policy"], "name"),
        r => r,
    };
    match text(args, "namespace") {
        ns if ns.is_empty() || resource.is_empty() => resource,
        ns => format!("{ns}/{resource}"),
    }
}

/// A time in the payload (`expires_at`), as people read times.
fn shown_time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| display_time(&t.to_utc()))
        .unwrap_or_else(|| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
}

/// The timeline entry an audit entry stands for, if it is one the timeline shows.
fn from_audit(e: &AuditEntry) -> Option<TimelineEntry> {
    let p = &e.payload;
    let plan = e.plan_id.clone().unwrap_or_default();
    let actor = &e.actor;
    let mut data = BTreeMap::from([("plan_id".to_owned(), plan.clone())]);
    let (kind, message) = match e.kind.as_str() {
        "proposal" => {
            let (action, target) = (text(p, "action"), target_of(p));
            data.insert("action".into(), action.clone());
            data.insert("target".into(), target.clone());
            (
                TimelineKind::Plan,
                format!("plan {plan} proposed by {actor}: {action} {target}"),
            )
        }
        "approval" => {
            let principal = text(p, "principal");
            data.insert("approver".into(), actor.clone());
            data.insert("principal".into(), principal.clone());
            let until = shown_time(&p["expires_at"]);
            (
                TimelineKind::Approval,
                format!("plan {plan} approved by {actor} for {principal}, valid until {until}"),
            )
        }
        "denial" => {
            let reason = text(p, "reason");
            data.insert("denied_by".into(), actor.clone());
            data.insert("reason".into(), reason.clone());
            (TimelineKind::Denial, format!("plan {plan} denied by {actor}: {reason}"))
        }
        "application" => {
            let action = text(p, "action");
            data.insert("action".into(), action.clone());
            (
                TimelineKind::Action,
                format!("{action} applied by {actor} (plan {plan})"),
            )
        }
        "outcome" => {
            let status = text(p, "status");
            if matches!(status.as_str(), "applied" | "reverted") {
                return None;
            }
            data.insert("status".into(), status.clone());
            (TimelineKind::Action, format!("plan {plan} {status}"))
        }
        "revert" => {
            let reverted = text(p, "reverted");
            data.insert("reverted".into(), reverted.clone());
            let why = match text(p, "reason").as_str() {
                "ttl_expired" => " (its TTL expired)".to_owned(),
                _ => String::new(),
            };
            (
                TimelineKind::Revert,
                format!("containment {reverted} reverted by {actor}{why}"),
            )
        }
        _ => return None,
    };
    Some(TimelineEntry {
        at: e.at,
        kind,
        actor: actor.clone(),
        message,
        data,
    })
}

/// The timeline entry of a notification.
fn from_outbox(r: &OutboxRow) -> TimelineEntry {
    let status = r.status.as_str();
    let sent = r
        .sent_at
        .map(|t| format!(" at {}", display_time(&t)))
        .unwrap_or_default();
    TimelineEntry {
        at: r.created_at,
        kind: TimelineKind::Notification,
        actor: r.payload["actor"].as_str().unwrap_or("server").to_owned(),
        message: format!("{} notification to {}: {status}{sent}", r.event, r.target),
        data: BTreeMap::from([
            ("outbox_id".to_owned(), r.id.to_string()),
            ("target".to_owned(), r.target.clone()),
            ("event".to_owned(), r.event.clone()),
            ("status".to_owned(), status.to_owned()),
        ]),
    }
}

impl IncidentService {
    /// Everything that happened to incident `id`, oldest first.
    pub async fn incident_timeline(&self, id: IncidentId) -> Result<Vec<TimelineEntry>, ServiceError> {
        let mut all = self.store.timeline(id).await?;
        let audit = self.store.incident_audit(id, HISTORY_LIMIT).await?;
        all.extend(audit.iter().filter_map(from_audit));
        all.extend(
            self.store
                .incident_outbox(id, HISTORY_LIMIT)
                .await?
                .iter()
                .map(from_outbox),
        );
        // Stable: entries of one source keep their order when times tie.
        all.sort_by_key(|e| e.at);
        Ok(all)
    }

    /// The post-mortem record of incident `id`: phase durations, plans with their approvers,
    /// the whole timeline.
    pub async fn postmortem(&self, id: IncidentId) -> Result<Postmortem, ServiceError> {
        let incident = self.store.get_incident(id).await?.ok_or(ServiceError::NotFound(id))?;
        let stored_timeline = self.store.timeline(id).await?;
        let phases = manage::phases(&incident, &stored_timeline);
        let audit = self.store.incident_audit(id, HISTORY_LIMIT).await?;
        let plans = plan_decisions(&audit);
        let resolution_note = match incident.status {
            Status::Resolved => stored_timeline
                .iter()
                .rev()
                .find(|e| e.kind == TimelineKind::StatusChange && e.data.get("to").is_some_and(|t| t == "resolved"))
                .and_then(|e| e.data.get("note").cloned()),
            _ => None,
        };
        Ok(Postmortem {
            resolved: incident.status == Status::Resolved,
            phases,
            plans,
            timeline: self.incident_timeline(id).await?,
            resolution_note,
            incident,
            untrusted_data_note: UNTRUSTED_NOTE.into(),
        })
    }
}

/// The plans of an incident's audit entries (oldest first), in the order they were proposed.
fn plan_decisions(audit: &[AuditEntry]) -> Vec<PlanDecision> {
    let mut plans: Vec<PlanDecision> = Vec::new();
    let index = |plans: &[PlanDecision], id: &str| plans.iter().position(|p| p.plan_id == id);
    for e in audit {
        let Some(plan_id) = e.plan_id.as_deref() else {
            continue;
        };
        let p = &e.payload;
        match e.kind.as_str() {
            "proposal" if index(&plans, plan_id).is_none() => plans.push(PlanDecision {
                plan_id: plan_id.to_owned(),
                kind: text(p, "kind"),
                action: text(p, "action"),
                target: Some(target_of(p)).filter(|t| !t.is_empty()),
                proposed_by: e.actor.clone(),
                proposed_at: e.at,
                approved_by: None,
                approved_at: None,
                denied_by: None,
                denial_reason: None,
                applied_by: None,
                applied_at: None,
                reverted_by: None,
                reverted_at: None,
            }),
            "approval" => {
                if let Some(i) = index(&plans, plan_id) {
                    plans[i].approved_by = Some(e.actor.clone());
                    plans[i].approved_at = Some(e.at);
                }
            }
            "denial" => {
                if let Some(i) = index(&plans, plan_id) {
                    plans[i].denied_by = Some(e.actor.clone());
                    plans[i].denial_reason = Some(text(p, "reason"));
                }
            }
            "application" => {
                if let Some(i) = index(&plans, plan_id) {
                    plans[i].applied_by = Some(e.actor.clone());
                    plans[i].applied_at = Some(e.at);
                }
            }
            "revert" => {
                if let Some(i) = index(&plans, &text(p, "reverted")) {
                    plans[i].reverted_by = Some(e.actor.clone());
                    plans[i].reverted_at = Some(e.at);
                }
            }
            _ => {}
        }
    }
    plans
}
