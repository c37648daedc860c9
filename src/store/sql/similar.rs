//! What similar past incidents are compared by and how incidents were resolved: the reads
//! behind `EntityStore::similar_candidates` and `EntityStore::resolutions`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::{SqlStore, entities::json_ids};
use crate::{
    domain::{Incident, IncidentId, plan::Plan},
    store::{
        StoreError,
        entities::{AppliedRecord, Candidate, Candidates, ResolutionRecord},
        rows::{Cols, from_micros, incident_from_row, micros},
    },
};

/// `application` audit rows one `resolutions` call reads at most.
const MAX_AUDIT_ROWS: i64 = 500;

impl SqlStore {
    pub(super) async fn similar_candidates_in(
        &self,
        incident: &Incident,
        per_list: u32,
    ) -> Result<Candidates, StoreError> {
        let d = self.dialect;
        let id = incident.id.row();
        let limit = i64::from(per_list);
        let mut conn = self.pool.acquire().await?;
        // Incidents sharing entities with this one, most shared first.
        let shared_rows = sqlx::query(&format!(
            "SELECT o.incident_id, COUNT(*) AS shared FROM incident_entities mine {} incident_entities o
               ON o.entity_id = mine.entity_id AND o.incident_id <> mine.incident_id
             WHERE mine.incident_id = $1 GROUP BY o.incident_id ORDER BY shared DESC, o.incident_id DESC LIMIT $2",
            d.keyed_join()
        ))
        .bind(id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let mut shared: HashMap<i64, i64> = HashMap::new();
        for r in &shared_rows {
            shared.insert(r.int("incident_id")?, r.int("shared")?);
        }
        let same_fp: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE fingerprint = $1 AND id <> $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(&incident.fingerprint)
        .bind(id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let recent: Vec<i64> = sqlx::query_scalar(
            "SELECT id FROM incidents WHERE env = $1 AND id <> $2 ORDER BY updated_at DESC, id DESC LIMIT $3",
        )
        .bind(&incident.env)
        .bind(id)
        .bind(limit)
        .fetch_all(&mut *conn)
        .await?;
        let mut ids: BTreeSet<i64> = shared.keys().copied().collect();
        ids.extend(same_fp);
        ids.extend(recent);
        ids.insert(id);
        let rows = sqlx::query(&format!(
            "WITH f(id) AS ({}) SELECT i.*,
               (SELECT COUNT(*) FROM incident_entities x WHERE x.incident_id = i.id) AS n_entities,
               (SELECT s.source FROM signals s WHERE s.incident_id = i.id ORDER BY s.rule LIMIT 1) AS sig_source,
               (SELECT s.rule FROM signals s WHERE s.incident_id = i.id ORDER BY s.rule LIMIT 1) AS sig_rule
             FROM f {} incidents i ON i.id = f.id
             WHERE i.env = $2 AND (i.id = $3 OR i.created_at < $4 OR (i.created_at = $4 AND i.id < $3))",
            d.id_list("$1"),
            d.keyed_join()
        ))
        .bind(json_ids(ids))
        .bind(&incident.env)
        .bind(id)
        .bind(micros(incident.created_at))
        .fetch_all(&mut *conn)
        .await?;
        let mut out = Candidates {
            source_rule: None,
            entities: 0,
            candidates: Vec::with_capacity(rows.len()),
        };
        for r in &rows {
            let source_rule = match (r.opt_text("sig_source")?, r.opt_text("sig_rule")?) {
                (Some(s), Some(rule)) => Some((s, rule)),
                _ => None,
            };
            let entities = r.int("n_entities")?;
            let row_id = r.int("id")?;
            if row_id == id {
                out.source_rule = source_rule;
                out.entities = entities;
                continue;
            }
            out.candidates.push(Candidate {
                incident: incident_from_row(r)?,
                source_rule,
                entities,
                shared: shared.get(&row_id).copied().unwrap_or(0),
            });
        }
        Ok(out)
    }

    pub(super) async fn resolutions_in(&self, ids: &[IncidentId]) -> Result<Vec<ResolutionRecord>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let d = self.dialect;
        let list = json_ids(ids.iter().map(|i| i.row()));
        let mut conn = self.pool.acquire().await?;
        let moves = sqlx::query(&format!(
            "WITH f(id) AS ({}) SELECT t.incident_id, t.at, t.actor, t.data FROM f {} timeline t
               ON t.incident_id = f.id WHERE t.kind = 'status_change' ORDER BY t.incident_id, t.id",
            d.id_list("$1"),
            d.keyed_join()
        ))
        .bind(&list)
        .fetch_all(&mut *conn)
        .await?;
        let applied = sqlx::query(&format!(
            "WITH f(id) AS ({}) SELECT a.incident_id, a.at, a.actor, a.plan_id, a.payload, p.body,
               (SELECT ap.approver FROM approvals ap WHERE ap.plan_id = a.plan_id ORDER BY ap.id DESC LIMIT 1)
                 AS approver
             FROM f {} audit_log a ON a.incident_id = f.id
             LEFT JOIN plans p ON p.id = a.plan_id
             WHERE a.kind = 'application' ORDER BY a.seq LIMIT $2",
            d.id_list("$1"),
            d.keyed_join()
        ))
        .bind(&list)
        .bind(MAX_AUDIT_ROWS)
        .fetch_all(&mut *conn)
        .await?;
        let mut out: BTreeMap<i64, ResolutionRecord> = ids
            .iter()
            .map(|i| {
                (
                    i.row(),
                    ResolutionRecord {
                        incident: *i,
                        resolved_at: None,
                        resolved_by: None,
                        note: None,
                        actions: Vec::new(),
                    },
                )
            })
            .collect();
        for r in &moves {
            let data: BTreeMap<String, String> = serde_json::from_str(&r.text("data")?).unwrap_or_default();
            let Some(rec) = out.get_mut(&r.int("incident_id")?) else {
                continue;
            };
            if data.get("to").map(String::as_str) == Some("resolved") {
                rec.resolved_at = Some(from_micros(r.int("at")?)?);
                rec.resolved_by = Some(r.text("actor")?);
                rec.note = data.get("note").cloned();
            } else if data.get("from").map(String::as_str) == Some("resolved") {
                // Reopened by hand since: that resolution no longer stands.
                rec.resolved_at = None;
                rec.resolved_by = None;
                rec.note = None;
            }
        }
        for r in &applied {
            let Some(rec) = out.get_mut(&r.int("incident_id")?) else {
                continue;
            };
            let payload: serde_json::Value = serde_json::from_str(&r.text("payload")?).unwrap_or_default();
            let plan = r.opt_text("body")?.and_then(|b| Plan::from_stored(&b).ok());
            rec.actions.push(AppliedRecord {
                plan_id: r.opt_text("plan_id")?.unwrap_or_default(),
                applied_at: from_micros(r.int("at")?)?,
                action: payload["action"].as_str().unwrap_or("unknown").to_owned(),
                resource: plan.as_ref().map(|p| p.resource.clone()).unwrap_or_default(),
                namespace: plan.as_ref().and_then(|p| p.request.namespace.clone()),
                applied_by: r.text("actor")?,
                approved_by: r.opt_text("approver")?,
            });
        }
        Ok(out.into_values().collect())
    }
}
