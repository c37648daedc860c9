//! Similar past incidents: the store's candidates (sharing entities, of the same fingerprint,
//! recently active in the environment), scored by `domain::similarity`, with how the best were
//! resolved.

use std::collections::HashMap;

use super::{
    IncidentService, ServiceError,
    insight::{Resolution, ResolutionAction, SimilarIncident},
};
use crate::domain::{
    Incident,
    similarity::{MIN_SCORE, Profile, Similarity, similarity},
};

/// Candidates read per kind (shared entities, same fingerprint, recent).
const CANDIDATES_PER_LIST: u32 = 200;
/// Similar incidents listed, at most.
const MAX_SIMILAR: usize = 5;

impl IncidentService {
    /// Past incidents of `incident`'s environment most like it, best first.
    pub(super) async fn similar_incidents(&self, incident: &Incident) -> Result<Vec<SimilarIncident>, ServiceError> {
        let found = self.store.similar_candidates(incident, CANDIDATES_PER_LIST).await?;
        let target = Profile {
            fingerprint: &incident.fingerprint,
            source_rule: found.source_rule.as_ref().map(|(s, r)| (s.as_str(), r.as_str())),
            title: &incident.title,
            labels: &incident.labels,
            entities: found.entities,
        };
        let mut scored: Vec<(Similarity, &crate::store::entities::Candidate)> = found
            .candidates
            .iter()
            .map(|c| {
                let other = Profile {
                    fingerprint: &c.incident.fingerprint,
                    source_rule: c.source_rule.as_ref().map(|(s, r)| (s.as_str(), r.as_str())),
                    title: &c.incident.title,
                    labels: &c.incident.labels,
                    entities: c.entities,
                };
                let linked = incident.previous_id == Some(c.incident.id);
                (similarity(&target, &other, c.shared, linked), c)
            })
            .filter(|(s, _)| s.score >= MIN_SCORE)
            .collect();
        scored.sort_by(|a, b| {
            b.0.score
                .total_cmp(&a.0.score)
                .then(b.1.incident.created_at.cmp(&a.1.incident.created_at))
                .then(b.1.incident.id.cmp(&a.1.incident.id))
        });
        scored.truncate(MAX_SIMILAR);
        let ids: Vec<_> = scored.iter().map(|(_, c)| c.incident.id).collect();
        let resolutions: HashMap<_, _> = self
            .store
            .resolutions(&ids)
            .await?
            .into_iter()
            .map(|r| (r.incident, r))
            .collect();
        Ok(scored
            .into_iter()
            .map(|(s, c)| {
                let i = &c.incident;
                let r = resolutions.get(&i.id);
                let resolution = r.and_then(|r| {
                    let at = r.resolved_at?;
                    Some(Resolution {
                        resolved_at: at,
                        resolved_by: r.resolved_by.clone().unwrap_or_default(),
                        note: r.note.clone(),
                        time_to_resolve_secs: (at - i.first_seen).num_seconds().max(0),
                    })
                });
                let actions = r
                    .map(|r| {
                        r.actions
                            .iter()
                            .map(|a| ResolutionAction {
                                action: a.action.clone(),
                                resource: a.resource.clone(),
                                namespace: a.namespace.clone(),
                                applied_at: a.applied_at,
                                approved_by: a.approved_by.clone(),
                                plan_id: a.plan_id.clone(),
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                SimilarIncident {
                    id: i.id,
                    title: i.title.clone(),
                    status: i.status,
                    severity: i.severity,
                    created_at: i.created_at,
                    score: s.score,
                    reasons: reasons(&s, c.source_rule.as_ref().map(|(_, r)| r.as_str())),
                    shared_entities: s.shared_entities,
                    resolution,
                    actions,
                }
            })
            .collect())
    }
}

/// The parts of a score that matched, in words.
fn reasons(s: &Similarity, rule: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    if s.same_fingerprint {
        out.push("same fingerprint family: the same finding again (environment, source, rule and entity)".into());
    }
    if s.shared_entities > 0 {
        out.push(format!(
            "{} shared entit{} (overlap {:.2})",
            s.shared_entities,
            if s.shared_entities == 1 { "y" } else { "ies" },
            s.entity_overlap
        ));
    }
    if s.same_rule {
        out.push(format!("same rule {}", rule.unwrap_or("")));
    }
    if s.title_similarity > 0.0 {
        out.push(format!("title words overlap {:.2}", s.title_similarity));
    }
    if s.label_similarity > 0.0 {
        out.push(format!("labels overlap {:.2}", s.label_similarity));
    }
    out
}
