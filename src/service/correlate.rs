//! The correlation graph around an incident: the walk (`domain::graph`) over the links the
//! store reads, hop by hop, within the incident's time window, then the counts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::TimeDelta;

use super::{
    IncidentService, ServiceError,
    insight::{CorrelatedEntity, Correlation, LinkSignal, TouchedIncident},
};
use crate::{
    domain::{Incident, IncidentId, entity::subject, graph::Walk},
    store::{
        SignalGroup,
        entities::{HopQuery, Window},
    },
};

/// Entity pairs one hop reads at most; past it the walk is reported truncated.
const MAX_LINKS_PER_HOP: u32 = 50_000;
/// Entities shown with an example linking signal, at most (the nearest, strongest first).
const MAX_LINK_EXAMPLES: usize = 50;
/// Entities of the previous depth named per entity, at most.
const MAX_VIA: usize = 5;
/// Other incidents listed, at most.
const MAX_TOUCHED: usize = 20;

/// The signals in the window naming one entity.
struct Counts {
    signals: i64,
    incidents: BTreeSet<IncidentId>,
    first_at: chrono::DateTime<chrono::Utc>,
    last_at: chrono::DateTime<chrono::Utc>,
}

impl IncidentService {
    /// Walks `depth` hops from the entities `incident`'s signals fired for (`groups`).
    pub(super) async fn correlate(
        &self,
        incident: &Incident,
        groups: &[SignalGroup],
        depth: u8,
    ) -> Result<Correlation, ServiceError> {
        let cfg = &self.config.analysis;
        let margin = TimeDelta::seconds(i64::try_from(cfg.margin_secs).unwrap_or(i64::MAX / 2_000_000));
        let window = Window {
            from: incident.first_seen - margin,
            to: incident.last_seen + margin,
        };
        let subjects: BTreeSet<String> = groups
            .iter()
            .filter_map(|g| subject(&g.entity))
            .map(|e| e.key)
            .collect();
        let subjects: Vec<String> = subjects.into_iter().collect();
        let seeds = self.store.find_entities(&incident.env, &subjects).await?;
        let mut walk = Walk::start(
            seeds.into_iter().map(|e| (e.id, e.kind, e.entity)).collect(),
            &cfg.stop_kinds,
            cfg.max_entities,
        );
        let mut added_per_depth = vec![walk.reached().len()];
        let mut cut = false;
        // Each hop also tallies the entities it starts from; the last depth's are tallied after.
        let mut tallies = Vec::new();
        let mut tallied: std::collections::HashSet<i64> = std::collections::HashSet::new();
        for hop_no in 0..depth {
            let frontier = walk.frontier();
            let reached: Vec<i64> = walk.reached().iter().map(|r| r.id).collect();
            // The first hop from the incident's one subject: through its own signals, every one
            // of which names the subject, the links are its entity counts (no signal is read).
            let own = match (hop_no, frontier.as_slice()) {
                (0, [subject]) => Some(self.store.subject_links(incident.id, *subject).await?),
                _ => None,
            };
            let mut hop = self
                .store
                .entity_hop(HopQuery {
                    from: &frontier,
                    reached: &reached,
                    window,
                    limit: MAX_LINKS_PER_HOP,
                    skip: own.as_ref().map(|_| incident.id),
                })
                .await?;
            cut |= hop.links.len() >= MAX_LINKS_PER_HOP as usize;
            hop.links.extend(own.into_iter().flatten());
            tallies.extend(hop.tallies);
            tallied.extend(frontier);
            added_per_depth.push(walk.step(&hop.links));
        }
        let untallied: Vec<i64> = walk
            .reached()
            .iter()
            .map(|r| r.id)
            .filter(|id| !tallied.contains(id))
            .collect();
        tallies.extend(self.store.entity_tallies(&untallied, window).await?);
        let mut per_entity: HashMap<i64, Counts> = HashMap::new();
        // Other incidents: (shared entities, signals, nearest depth).
        let mut touched: BTreeMap<IncidentId, (i64, i64, u8)> = BTreeMap::new();
        for t in &tallies {
            let e = per_entity.entry(t.entity).or_insert_with(|| Counts {
                signals: 0,
                incidents: BTreeSet::new(),
                first_at: t.first_at,
                last_at: t.last_at,
            });
            e.signals += t.signals;
            e.incidents.insert(t.incident);
            e.first_at = e.first_at.min(t.first_at);
            e.last_at = e.last_at.max(t.last_at);
            if t.incident != incident.id {
                let depth = walk.get(t.entity).map_or(u8::MAX, |r| r.depth);
                let i = touched.entry(t.incident).or_insert((0, 0, u8::MAX));
                i.0 += 1;
                i.1 += t.signals;
                i.2 = i.2.min(depth);
            }
        }

        let mut reached: Vec<_> = walk.reached().to_vec();
        let strength = |r: &crate::domain::graph::Reached| r.via.iter().map(|v| v.1).sum::<i64>();
        reached.sort_by(|a, b| {
            a.depth
                .cmp(&b.depth)
                .then(strength(b).cmp(&strength(a)))
                .then(a.key.cmp(&b.key))
        });
        let example_ids: Vec<i64> = reached
            .iter()
            .filter_map(|r| r.example)
            .take(MAX_LINK_EXAMPLES)
            .collect();
        let examples: HashMap<i64, LinkSignal> = self
            .store
            .signals_by_id(&example_ids)
            .await?
            .into_iter()
            .map(|s| {
                (
                    s.id,
                    LinkSignal {
                        incident_id: s.incident,
                        rule: s.signal.rule,
                        entity: s.signal.entity,
                        observed_at: s.signal.observed_at,
                        message: s.signal.message,
                    },
                )
            })
            .collect();
        let key_of = |id: i64| walk.get(id).map(|r| r.key.clone());
        let entities = reached
            .iter()
            .map(|r| {
                let counts = per_entity.get(&r.id);
                CorrelatedEntity {
                    entity: r.key.clone(),
                    kind: r.kind,
                    depth: r.depth,
                    via: r.via.iter().take(MAX_VIA).filter_map(|(id, _)| key_of(*id)).collect(),
                    link: r.example.and_then(|e| examples.get(&e).cloned()),
                    signals: counts.map_or(0, |c| c.signals),
                    incidents: counts.map_or(0, |c| c.incidents.len() as i64),
                    first_at: counts.map(|c| c.first_at),
                    last_at: counts.map(|c| c.last_at),
                    stop: r.stop,
                }
            })
            .collect();

        let mut ranked: Vec<(IncidentId, (i64, i64, u8))> = touched.into_iter().collect();
        ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(b.1.1.cmp(&a.1.1)).then(b.0.cmp(&a.0)));
        ranked.truncate(MAX_TOUCHED);
        let ids: Vec<IncidentId> = ranked.iter().map(|(id, _)| *id).collect();
        let records: HashMap<IncidentId, Incident> = self
            .store
            .incidents_by_id(&ids)
            .await?
            .into_iter()
            .map(|i| (i.id, i))
            .collect();
        let incidents = ranked
            .into_iter()
            .filter_map(|(id, (shared, signals, nearest))| {
                let i = records.get(&id)?;
                Some(TouchedIncident {
                    id,
                    title: i.title.clone(),
                    status: i.status,
                    severity: i.severity,
                    shared_entities: shared,
                    signals,
                    nearest_depth: nearest,
                })
            })
            .collect();
        Ok(Correlation {
            depth,
            window_from: window.from,
            window_to: window.to,
            added_per_depth,
            entities,
            incidents,
            truncated: walk.truncated() || cut,
        })
    }
}
