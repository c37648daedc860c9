//! The entity graph's port: what signals name, written with the signals (detection, alert
//! intake), and the reads `analyze` walks it with. The walk's decisions are
//! `domain::graph`'s; this port only reads rows.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::StoreError;
pub use crate::domain::graph::Link;
use crate::domain::{Incident, IncidentId, Signal, entity::EntityKind};

/// An entity as stored, with its row id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntity {
    pub id: i64,
    pub kind: EntityKind,
    pub entity: String,
}

/// Signals observed between `from` and `to` (inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// The signals of one incident in a window that name one entity.
#[derive(Debug, Clone, PartialEq)]
pub struct EntityTally {
    pub entity: i64,
    pub incident: IncidentId,
    pub signals: i64,
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
}

/// What one hop of the walk reads: the signals observed in `window` naming an entity of `from`,
/// and through them the other entities they name, except those in `reached` and except through
/// the signals of incident `skip` (whose links the caller has from [`EntityStore::subject_links`]);
/// at most `limit` (from, to) pairs.
#[derive(Debug, Clone, Copy)]
pub struct HopQuery<'a> {
    pub from: &'a [i64],
    pub reached: &'a [i64],
    pub window: Window,
    pub limit: u32,
    pub skip: Option<IncidentId>,
}

/// One hop of the walk: the links found, and the tallies of the entities it started from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hop {
    pub links: Vec<Link>,
    pub tallies: Vec<EntityTally>,
}

/// A signal with its row id and incident.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkedSignal {
    pub id: i64,
    pub incident: IncidentId,
    pub signal: Signal,
}

/// A past incident that may resemble the one analysed, with what is compared.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub incident: Incident,
    /// Source and rule of its signals (the same for all: both are in its fingerprint).
    pub source_rule: Option<(String, String)>,
    /// Distinct entities its signals name.
    pub entities: i64,
    /// Of those, how many the analysed incident's signals name too.
    pub shared: i64,
}

/// What the analysed incident is compared by, besides its record.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidates {
    pub source_rule: Option<(String, String)>,
    pub entities: i64,
    pub candidates: Vec<Candidate>,
}

/// An action applied for an incident (its `application` audit entry and plan).
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedRecord {
    pub plan_id: String,
    pub applied_at: DateTime<Utc>,
    /// The plan's action (`isolate`, `rollback`, ...).
    pub action: String,
    /// What it acted on, and where.
    pub resource: String,
    pub namespace: Option<String>,
    /// Who applied it, and the human who approved it (the newest approval of the plan).
    pub applied_by: String,
    pub approved_by: Option<String>,
}

/// How an incident was resolved: the latest move to `resolved` (its note) and what was applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolutionRecord {
    pub incident: IncidentId,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
    pub actions: Vec<AppliedRecord>,
}

/// Entities, their links and what `analyze` reads of them.
#[async_trait]
pub trait EntityStore: Send + Sync {
    /// The stored entities of `env` among `entities` (entity texts).
    async fn find_entities(&self, env: &str, entities: &[String]) -> Result<Vec<StoredEntity>, StoreError>;
    /// The entities the signals of one incident name, of the given kinds (all when empty).
    async fn incident_entities(&self, id: IncidentId, kinds: &[EntityKind]) -> Result<Vec<StoredEntity>, StoreError>;
    /// One hop (see [`HopQuery`]): the links to entities not reached yet, per (from, to) pair,
    /// and the tallies of `from` (read from the same rows).
    async fn entity_hop(&self, q: HopQuery<'_>) -> Result<Hop, StoreError>;
    /// The links from `subject` through the signals of incident `id`, every one of which names
    /// it (an incident's signals share their subject): per other entity of the incident, how many
    /// of its signals name it and the first of them. No signal is read.
    async fn subject_links(&self, id: IncidentId, subject: i64) -> Result<Vec<Link>, StoreError>;
    /// Per (entity, incident): the signals observed in `window` naming each of `entities`.
    async fn entity_tallies(&self, entities: &[i64], window: Window) -> Result<Vec<EntityTally>, StoreError>;
    /// Signals by row id.
    async fn signals_by_id(&self, ids: &[i64]) -> Result<Vec<LinkedSignal>, StoreError>;
    /// Incidents by id.
    async fn incidents_by_id(&self, ids: &[IncidentId]) -> Result<Vec<Incident>, StoreError>;
    /// Incidents of the same environment opened before `incident` that may resemble it: those
    /// sharing the most entities with it, those of its fingerprint, and the most recently active
    /// (each list at most `per_list`), with what is compared.
    async fn similar_candidates(&self, incident: &Incident, per_list: u32) -> Result<Candidates, StoreError>;
    /// How each of `ids` was resolved.
    async fn resolutions(&self, ids: &[IncidentId]) -> Result<Vec<ResolutionRecord>, StoreError>;
}
