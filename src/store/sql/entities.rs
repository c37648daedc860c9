//! Entities and their links: written inside the detection and alert-intake transactions (which
//! hold [`super::Lock::Incidents`], so replicas never race on one entity), read by `analyze`.
//! Id and text lists travel as one bound JSON array ([`Dialect::id_list`]), so every query is
//! one statement whatever the list's length.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_trait::async_trait;
use sqlx::AnyConnection;

use super::{SqlStore, values};
use crate::{
    domain::{
        Incident, IncidentId,
        entity::{EntityKind, EntityRef},
    },
    store::{
        StoreError,
        alert_intake::row,
        entities::{
            Candidates, EntityStore, EntityTally, Hop, HopQuery, Link, LinkedSignal, ResolutionRecord, StoredEntity,
            Window,
        },
        rows::{Cols, from_micros, incident_from_row, micros, parse, signal_from_row},
    },
};

/// Ids of committed entities by (environment, entity): entities are never deleted or renumbered,
/// so a cached id stays right. Bounded: when full it starts afresh.
#[derive(Default)]
pub(super) struct EntityIds {
    map: std::sync::Mutex<HashMap<(String, String), i64>>,
}

/// Entity ids cached at most.
const MAX_CACHED_IDS: usize = 200_000;

impl EntityIds {
    fn get_many<'a>(&self, env: &str, keys: impl Iterator<Item = &'a str>, out: &mut HashMap<String, i64>) {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut k = (env.to_owned(), String::new());
        for e in keys {
            e.clone_into(&mut k.1);
            if let Some(id) = map.get(&k) {
                out.insert(e.to_owned(), *id);
            }
        }
    }

    fn put_many(&self, env: &str, known: Vec<(String, i64)>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() + known.len() > MAX_CACHED_IDS {
            map.clear();
        }
        for (e, id) in known {
            map.insert((env.to_owned(), e), id);
        }
    }
}

/// A signal just inserted and the entities it names.
pub(super) struct NewLinks<'a> {
    pub incident_id: i64,
    pub signal_id: i64,
    pub observed_at: i64,
    pub entities: &'a [EntityRef],
}

pub(super) fn json_ids(ids: impl IntoIterator<Item = i64>) -> String {
    let v: Vec<i64> = ids.into_iter().collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".into())
}

/// The rows a [`Dialect::json_rows`] query returned in its one column `j`.
pub(super) fn json_rows<T: serde::de::DeserializeOwned>(row: &impl Cols) -> Result<Vec<T>, StoreError> {
    serde_json::from_str(&row.text("j")?).map_err(|e| StoreError::Corrupt(format!("json rows: {e}")))
}

fn entity_from_row(r: &impl Cols) -> Result<StoredEntity, StoreError> {
    Ok(StoredEntity {
        id: r.int("id")?,
        kind: parse(&r.text("kind")?, "entity kind")?,
        entity: r.text("entity")?,
    })
}

impl SqlStore {
    /// Records which entities each of `links` names (entities of `env`, created as needed), in
    /// the caller's transaction: a fixed number of statements for any number of signals.
    pub(super) async fn link_entities(
        &self,
        tx: &mut AnyConnection,
        env: &str,
        links: &[NewLinks<'_>],
    ) -> Result<(), StoreError> {
        let d = self.dialect;
        let mut kinds: BTreeMap<&str, EntityKind> = BTreeMap::new();
        for l in links {
            for e in l.entities {
                kinds.entry(e.key.as_str()).or_insert(e.kind);
            }
        }
        if kinds.is_empty() {
            return Ok(());
        }
        // Ids of entities committed before are cached; only the others are written or looked up.
        let mut ids: HashMap<String, i64> = HashMap::with_capacity(kinds.len());
        self.entity_ids.get_many(env, kinds.keys().copied(), &mut ids);
        let missing: Vec<(&str, EntityKind)> = kinds
            .iter()
            .filter(|(e, _)| !ids.contains_key(**e))
            .map(|(e, k)| (*e, *k))
            .collect();
        if !missing.is_empty() {
            let new_rows = missing.iter().map(|(e, k)| row![env, k.as_str(), *e]).collect();
            let inserted = values(
                d,
                tx,
                "INSERT INTO entities (env, kind, entity)",
                "ON CONFLICT (env, entity) DO NOTHING RETURNING id, entity",
                3,
                new_rows,
            )
            .await?;
            for r in &inserted {
                ids.insert(r.text("entity")?, r.int("id")?);
            }
            let keys: Vec<_> = missing
                .iter()
                .filter(|(e, _)| !ids.contains_key(*e))
                .map(|(e, _)| row![env, *e])
                .collect();
            if !keys.is_empty() {
                let found = values(
                    d,
                    tx,
                    "WITH k(env, entity) AS (",
                    &format!(
                        ") SELECT e.id, e.entity FROM k {} entities e ON e.env = k.env AND e.entity = k.entity",
                        d.keyed_join()
                    ),
                    2,
                    keys,
                )
                .await?;
                // Not inserted by this transaction: committed, so their ids can be cached.
                let mut known = Vec::with_capacity(found.len());
                for r in &found {
                    let (e, id) = (r.text("entity")?, r.int("id")?);
                    known.push((e.clone(), id));
                    ids.insert(e, id);
                }
                self.entity_ids.put_many(env, known);
            }
        }
        let mut link_rows = Vec::new();
        // Per (incident, entity): signals naming it, the first of them, the first and last time.
        let mut per_incident: BTreeMap<(i64, i64), (i64, i64, i64, i64)> = BTreeMap::new();
        for l in links {
            let mut seen: BTreeSet<i64> = BTreeSet::new();
            for e in l.entities {
                let Some(&id) = ids.get(&e.key) else {
                    return Err(StoreError::Database(format!("entity {} was not stored", e.key)));
                };
                if seen.insert(id) {
                    link_rows.push(row![l.incident_id, l.signal_id, id, l.observed_at]);
                    let t = per_incident.entry((l.incident_id, id)).or_insert((
                        0,
                        l.signal_id,
                        l.observed_at,
                        l.observed_at,
                    ));
                    t.0 += 1;
                    t.1 = t.1.min(l.signal_id);
                    t.2 = t.2.min(l.observed_at);
                    t.3 = t.3.max(l.observed_at);
                }
            }
        }
        values(
            d,
            tx,
            "INSERT INTO signal_entities (incident_id, signal_id, entity_id, observed_at)",
            "ON CONFLICT DO NOTHING",
            4,
            link_rows,
        )
        .await?;
        values(
            d,
            tx,
            "INSERT INTO incident_entities (incident_id, entity_id, signals, first_signal, first_at, last_at)",
            &format!(
                "ON CONFLICT (incident_id, entity_id) DO UPDATE SET signals = incident_entities.signals + excluded.signals, \
                 first_at = {least}(incident_entities.first_at, excluded.first_at), \
                 last_at = {greatest}(incident_entities.last_at, excluded.last_at)",
                least = d.least(),
                greatest = d.greatest()
            ),
            6,
            per_incident
                .into_iter()
                .map(|((i, e), (n, first, t0, t1))| row![i, e, n, first, t0, t1])
                .collect(),
        )
        .await?;
        Ok(())
    }
}

#[async_trait]
impl EntityStore for SqlStore {
    async fn find_entities(&self, env: &str, entities: &[String]) -> Result<Vec<StoredEntity>, StoreError> {
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dialect;
        let list = serde_json::to_string(entities).unwrap_or_else(|_| "[]".into());
        let rows = sqlx::query(&format!(
            "WITH k(entity) AS ({}) SELECT e.id, e.kind, e.entity FROM k {} entities e
             ON e.env = $2 AND e.entity = k.entity",
            d.text_list("$1"),
            d.keyed_join()
        ))
        .bind(list)
        .bind(env)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(entity_from_row).collect()
    }

    async fn incident_entities(&self, id: IncidentId, kinds: &[EntityKind]) -> Result<Vec<StoredEntity>, StoreError> {
        let d = self.dialect;
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        let row = sqlx::query(&format!(
            "SELECT {} AS j FROM incident_entities ie JOIN entities e ON e.id = ie.entity_id
             WHERE ie.incident_id = $1 AND ($2 = '[]' OR e.kind IN ({}))",
            d.json_rows("e.id, e.kind, e.entity"),
            d.text_list("$2")
        ))
        .bind(id.row())
        .bind(serde_json::to_string(&kinds).unwrap_or_else(|_| "[]".into()))
        .fetch_one(&self.pool)
        .await?;
        json_rows::<(i64, String, String)>(&row)?
            .into_iter()
            .map(|(id, kind, entity)| {
                Ok(StoredEntity {
                    id,
                    kind: parse(&kind, "entity kind")?,
                    entity,
                })
            })
            .collect()
    }

    async fn entity_hop(&self, q: HopQuery<'_>) -> Result<Hop, StoreError> {
        if q.from.is_empty() {
            return Ok(Hop::default());
        }
        let d = self.dialect;
        // `w`: incidents naming a frontier entity that lie wholly in the window and add no link
        // (all their entities are reached, or the caller has their links: `skip`); their counts
        // come from `incident_entities`, none of their signals is read. `a`: the other signals in
        // the window naming a frontier entity, read once, for the frontier's tallies and for the
        // links. Links come only from incidents with an entity not reached yet, and not `skip`;
        // pairs are grouped before the entity rows are read. The rows travel as one JSON document.
        let row = sqlx::query(&format!(
            "WITH f(id) AS ({ids}), r(id) AS ({reached}), \
             w AS (SELECT c.incident_id FROM \
                 (SELECT DISTINCT ie.incident_id FROM f {join} incident_entities ie ON ie.entity_id = f.id) c \
               JOIN incidents i ON i.id = c.incident_id \
               WHERE i.first_seen >= $2 AND i.last_seen <= $3 AND (c.incident_id = $6 OR NOT EXISTS \
                 (SELECT 1 FROM incident_entities u WHERE u.incident_id = c.incident_id \
                    AND u.entity_id NOT IN (SELECT id FROM r)))), \
             a AS MATERIALIZED (SELECT x.entity_id, x.incident_id, x.signal_id, x.observed_at \
               FROM f {join} signal_entities x ON x.entity_id = f.id AND x.observed_at >= $2 AND x.observed_at <= $3 \
               WHERE x.incident_id NOT IN (SELECT incident_id FROM w)), \
             live AS (SELECT i.incident_id FROM (SELECT DISTINCT incident_id FROM a) i \
               WHERE i.incident_id <> $6 AND EXISTS (SELECT 1 FROM incident_entities ie \
                 WHERE ie.incident_id = i.incident_id AND ie.entity_id NOT IN (SELECT id FROM r))), \
             p AS (SELECT a.entity_id AS src, b.entity_id AS dst, COUNT(*) AS n, MIN(a.signal_id) AS sig \
               FROM a JOIN signal_entities b ON b.signal_id = a.signal_id \
                 AND b.entity_id <> a.entity_id AND b.entity_id NOT IN (SELECT id FROM r) \
               WHERE a.incident_id IN (SELECT incident_id FROM live) \
               GROUP BY a.entity_id, b.entity_id LIMIT $4) \
             SELECT {agg} AS j FROM ( \
               SELECT 1 AS link, p.src, p.dst, e.kind, e.entity, p.n, p.sig, \
                      CAST(NULL AS BIGINT) AS t0, CAST(NULL AS BIGINT) AS t1 \
                 FROM p JOIN entities e ON e.id = p.dst \
               UNION ALL \
               SELECT 0, a.entity_id, a.incident_id, CAST(NULL AS TEXT), CAST(NULL AS TEXT), COUNT(*), \
                      CAST(NULL AS BIGINT), MIN(a.observed_at), MAX(a.observed_at) \
                 FROM a GROUP BY a.entity_id, a.incident_id \
               UNION ALL \
               SELECT 0, ie.entity_id, ie.incident_id, CAST(NULL AS TEXT), CAST(NULL AS TEXT), ie.signals, \
                      CAST(NULL AS BIGINT), ie.first_at, ie.last_at \
                 FROM f {join} incident_entities ie ON ie.entity_id = f.id \
                 WHERE ie.incident_id IN (SELECT incident_id FROM w)) u",
            agg = d.json_rows("u.link, u.src, u.dst, u.kind, u.entity, u.n, u.sig, u.t0, u.t1"),
            ids = d.id_list("$1"),
            join = d.keyed_join(),
            reached = d.id_list("$5"),
        ))
        .bind(json_ids(q.from.iter().copied()))
        .bind(micros(q.window.from))
        .bind(micros(q.window.to))
        .bind(i64::from(q.limit))
        .bind(json_ids(q.reached.iter().copied()))
        .bind(q.skip.map_or(0, IncidentId::row))
        .fetch_one(&self.pool)
        .await?;
        type HopRow = (
            i64,
            i64,
            i64,
            Option<String>,
            Option<String>,
            i64,
            Option<i64>,
            Option<i64>,
            Option<i64>,
        );
        let mut hop = Hop::default();
        for (link, src, dst, kind, entity, n, sig, t0, t1) in json_rows::<HopRow>(&row)? {
            if link == 1 {
                hop.links.push(Link {
                    from: src,
                    to: dst,
                    to_kind: parse(kind.as_deref().unwrap_or_default(), "entity kind")?,
                    to_key: entity.unwrap_or_default(),
                    signals: n,
                    example: sig.unwrap_or_default(),
                });
            } else {
                hop.tallies.push(EntityTally {
                    entity: src,
                    incident: IncidentId::from_row(dst),
                    signals: n,
                    first_at: from_micros(t0.unwrap_or_default())?,
                    last_at: from_micros(t1.unwrap_or_default())?,
                });
            }
        }
        Ok(hop)
    }

    async fn subject_links(&self, id: IncidentId, subject: i64) -> Result<Vec<Link>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} AS j FROM incident_entities ie JOIN entities e ON e.id = ie.entity_id
             WHERE ie.incident_id = $1 AND ie.entity_id <> $2",
            self.dialect
                .json_rows("ie.entity_id, e.kind, e.entity, ie.signals, ie.first_signal")
        ))
        .bind(id.row())
        .bind(subject)
        .fetch_one(&self.pool)
        .await?;
        json_rows::<(i64, String, String, i64, i64)>(&row)?
            .into_iter()
            .map(|(to, kind, entity, signals, example)| {
                Ok(Link {
                    from: subject,
                    to,
                    to_kind: parse(&kind, "entity kind")?,
                    to_key: entity,
                    signals,
                    example,
                })
            })
            .collect()
    }

    async fn entity_tallies(&self, entities: &[i64], window: Window) -> Result<Vec<EntityTally>, StoreError> {
        if entities.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dialect;
        let row = sqlx::query(&format!(
            "WITH f(id) AS ({}) SELECT {} AS j FROM ( \
               SELECT s.entity_id, s.incident_id, COUNT(*) AS n, MIN(s.observed_at) AS t0, MAX(s.observed_at) AS t1 \
               FROM f {} signal_entities s ON s.entity_id = f.id AND s.observed_at >= $2 AND s.observed_at <= $3 \
               GROUP BY s.entity_id, s.incident_id) t",
            d.id_list("$1"),
            d.json_rows("t.entity_id, t.incident_id, t.n, t.t0, t.t1"),
            d.keyed_join()
        ))
        .bind(json_ids(entities.iter().copied()))
        .bind(micros(window.from))
        .bind(micros(window.to))
        .fetch_one(&self.pool)
        .await?;
        json_rows::<(i64, i64, i64, i64, i64)>(&row)?
            .into_iter()
            .map(|(entity, incident, signals, t0, t1)| {
                Ok(EntityTally {
                    entity,
                    incident: IncidentId::from_row(incident),
                    signals,
                    first_at: from_micros(t0)?,
                    last_at: from_micros(t1)?,
                })
            })
            .collect()
    }

    async fn signals_by_id(&self, ids: &[i64]) -> Result<Vec<LinkedSignal>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dialect;
        let rows = sqlx::query(&format!(
            "WITH f(id) AS ({}) SELECT s.* FROM f {} signals s ON s.id = f.id ORDER BY s.id",
            d.id_list("$1"),
            d.keyed_join()
        ))
        .bind(json_ids(ids.iter().copied()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LinkedSignal {
                    id: r.int("id")?,
                    incident: IncidentId::from_row(r.int("incident_id")?),
                    signal: signal_from_row(r)?,
                })
            })
            .collect()
    }

    async fn incidents_by_id(&self, ids: &[IncidentId]) -> Result<Vec<Incident>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dialect;
        let rows = sqlx::query(&format!(
            "WITH f(id) AS ({}) SELECT i.* FROM f {} incidents i ON i.id = f.id ORDER BY i.id",
            d.id_list("$1"),
            d.keyed_join()
        ))
        .bind(json_ids(ids.iter().map(|i| i.row())))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(incident_from_row).collect()
    }

    async fn similar_candidates(&self, incident: &Incident, per_list: u32) -> Result<Candidates, StoreError> {
        self.similar_candidates_in(incident, per_list).await
    }

    async fn resolutions(&self, ids: &[IncidentId]) -> Result<Vec<ResolutionRecord>, StoreError> {
        self.resolutions_in(ids).await
    }
}

#[cfg(test)]
mod tests {
    use crate::domain::entity::EntityKind;

    /// The migrations type the subjects of signals recorded before them as `subject` types new
    /// ones: every prefix they name maps to the same kind.
    #[test]
    fn the_backfill_types_subjects_as_the_domain_does() {
        let pair = regex::Regex::new(r"WHEN '([a-z]+)' THEN '([a-z]+)'").unwrap();
        for sql in [
            include_str!("../../../migrations/sqlite/0015_entities.sql"),
            include_str!("../../../migrations/postgres/0007_entities.sql"),
        ] {
            let pairs: Vec<(&str, &str)> = pair
                .captures_iter(sql)
                .map(|c| (c.get(1).unwrap().as_str(), c.get(2).unwrap().as_str()))
                .collect();
            assert_eq!(pairs.len(), 28, "every alias of EntityKind::of_prefix");
            for (prefix, kind) in pairs {
                assert_eq!(EntityKind::of_prefix(prefix).as_str(), kind, "{prefix}");
            }
            assert!(sql.contains("ELSE 'other' END"));
        }
    }
}
