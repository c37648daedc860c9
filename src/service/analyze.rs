//! `analyze`: an incident with its evidence grouped, its history and the entities involved.

use std::collections::BTreeMap;

use super::*;
use crate::domain::{Depth, Status, UNTRUSTED_NOTE};

impl IncidentService {
    pub async fn analyze(&self, req: AnalyzeRequest) -> Result<Analysis, ServiceError> {
        let depth = req.depth.unwrap_or_default().get();
        let incident = self
            .store
            .get_incident(req.id)
            .await?
            .ok_or(ServiceError::NotFound(req.id))?;
        let groups = self.store.signal_groups(req.id).await?;

        let mut by_entity: BTreeMap<&str, AffectedResource> = BTreeMap::new();
        for g in &groups {
            let r = by_entity.entry(&g.entity).or_insert_with(|| AffectedResource {
                entity: g.entity.clone(),
                kind: g.entity.split('/').next().unwrap_or("unknown").to_owned(),
                signals: 0,
                rules: Vec::new(),
                first_at: g.first_at,
                last_at: g.last_at,
            });
            r.signals += g.count;
            if !r.rules.contains(&g.rule) {
                r.rules.push(g.rule.clone());
            }
            r.first_at = r.first_at.min(g.first_at);
            r.last_at = r.last_at.max(g.last_at);
        }
        let mut affected_resources: Vec<_> = by_entity.into_values().collect();
        affected_resources.sort_by(|a, b| b.signals.cmp(&a.signals).then(a.entity.cmp(&b.entity)));

        let peak = groups.iter().map(|g| g.max_score).fold(0.0, f64::max);
        let summary = format!(
            "{} [{} {}] in {}: {} signal(s) across {} resource(s) between {} and {}; peak score {:.2}; status {}",
            incident.title,
            incident.severity,
            incident.kind,
            incident.env,
            incident.signal_count,
            affected_resources.len(),
            crate::domain::display_time(&incident.first_seen),
            crate::domain::display_time(&incident.last_seen),
            peak,
            incident.status,
        );
        let timeline = if depth >= 2 {
            Some(self.incident_timeline(req.id).await?)
        } else {
            None
        };
        let (signals, related) = if depth >= Depth::MAX {
            (
                Some(self.store.signals(req.id, 50).await?),
                Some(self.store.related(req.id, 10).await?),
            )
        } else {
            (None, None)
        };
        let correlation = self.correlate(&incident, &groups, depth).await?;
        let similar_incidents = if depth >= 1 {
            Some(self.similar_incidents(&incident).await?)
        } else {
            None
        };
        let suggested_actions = self.suggested_actions(&incident, &groups).await?;
        let kubernetes = if depth >= 1 {
            let window = (correlation.window_from, correlation.window_to);
            self.kube_context(&incident, &groups, &suggested_actions, window)
                .await?
        } else {
            None
        };
        self.enqueue_hooks(crate::notify::HookEvent::Analyze, req.id, "analyze")
            .await?;
        Ok(Analysis {
            correlation: Some(correlation),
            similar_incidents,
            suggested_actions,
            kubernetes,
            runbooks: self.runbooks(&incident).await?,
            next_steps: next_steps(&incident),
            incident,
            depth,
            summary,
            affected_resources,
            signal_groups: (depth >= 1).then_some(groups),
            timeline,
            signals,
            related_incidents: related,
            untrusted_data_note: UNTRUSTED_NOTE.into(),
        })
    }
}

fn next_steps(i: &crate::domain::Incident) -> Vec<String> {
    let id = i.id;
    let v: Vec<String> = match i.status {
        Status::Open => vec![
            format!("acknowledge {id} to record that someone is on it"),
            "check the affected resources and signal groups; compare with recent deploys".into(),
            format!("resolve {id} with a note if it is a false positive"),
        ],
        Status::Acknowledged => vec![
            "decide on containment for the affected resources (a human must approve any containment)".into(),
            format!("resolve {id} with a note once the cause is fixed"),
        ],
        Status::Contained | Status::Recovered => vec![
            "verify the service is healthy and the signals have stopped".into(),
            format!("resolve {id} with a note, then write the post-mortem (the incident-postmortem prompt)"),
        ],
        Status::Resolved => vec!["run the incident-postmortem prompt to write up the incident".into()],
    };
    v
}
