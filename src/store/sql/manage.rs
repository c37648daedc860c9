//! [`ManageStore`]: declared incidents and people's changes to incidents, each in one
//! transaction holding [`Lock::Audit`] (they append to the audit chain) and the incident's row
//! lock, as lifecycle moves take it.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::Utc;

use super::{Lock, SqlStore};
use crate::{
    domain::{IncidentId, TimelineKind, audit::NewAuditEntry, manage},
    store::{
        ManageOutcome, ManageStore, ManageWrite, OutboxRow, StoreError,
        manage::{Declaration, StoredAnnotation},
        rows::{Cols, JsonRow, micros, outbox_from_row},
    },
};

#[async_trait]
impl ManageStore for SqlStore {
    async fn declare(&self, d: Declaration) -> Result<IncidentId, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let change = self.merge_finding(&mut tx, &d.env, &d.actor, 0, &d.finding).await?;
        Self::insert_detect_hooks(&mut tx, &d.hooks, &d.actor, std::slice::from_ref(&change)).await?;
        if let Some(note) = &d.note {
            let now = Utc::now();
            Self::insert_timeline(
                &mut tx,
                change.id.row(),
                now,
                TimelineKind::Note,
                &d.actor,
                note,
                &BTreeMap::new(),
            )
            .await?;
        }
        Self::append_audit_in(&mut tx, d.audit.incident(change.id)).await?;
        tx.commit().await?;
        Ok(change.id)
    }

    async fn manage(&self, w: ManageWrite) -> Result<ManageOutcome, StoreError> {
        let mut tx = self.begin(Lock::Audit).await?;
        let current = self
            .fetch_incident(&mut tx, w.id, true)
            .await?
            .ok_or(StoreError::NotFound(w.id))?;
        let now = Utc::now();
        let d = manage::decide(&current, &w.actor, &w.op, now)?;
        let previous = current.status;
        if !d.changed {
            tx.commit().await?;
            return Ok(ManageOutcome {
                incident: current,
                previous,
                changed: false,
                message: d.message,
            });
        }
        let f = &d.fields;
        sqlx::query(
            "UPDATE incidents SET owner = $1, commander = $2, severity = $3, status = $4, acknowledged_at = $5,
                                  acknowledged_by = $6, updated_at = $7 WHERE id = $8",
        )
        .bind(f.owner.as_deref())
        .bind(f.commander.as_deref())
        .bind(f.severity.as_str())
        .bind(f.status.as_str())
        .bind(f.acknowledged_at.map(micros))
        .bind(f.acknowledged_by.as_deref())
        .bind(micros(now))
        .bind(w.id.row())
        .execute(&mut *tx)
        .await?;
        for (kind, message, data) in &d.entries {
            Self::insert_timeline(&mut tx, w.id.row(), now, *kind, &w.actor, message, data).await?;
        }
        Self::insert_outbox(&mut tx, &w.outbox, now).await?;
        let (kind, payload) = d.audit;
        Self::append_audit_in(&mut tx, NewAuditEntry::new(&w.actor, kind, payload).incident(w.id)).await?;
        let incident = self
            .fetch_incident(&mut tx, w.id, false)
            .await?
            .ok_or(StoreError::NotFound(w.id))?;
        tx.commit().await?;
        Ok(ManageOutcome {
            incident,
            previous,
            changed: true,
            message: d.message,
        })
    }

    async fn annotations(&self, id: IncidentId) -> Result<Vec<StoredAnnotation>, StoreError> {
        let mut conn = self.pool.acquire().await?;
        annotations_on(&mut conn, id).await
    }

    async fn incident_rules(&self, id: IncidentId) -> Result<Vec<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT DISTINCT rule FROM signals WHERE incident_id = $1 ORDER BY rule LIMIT 100")
                .bind(id.row())
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn incident_outbox(&self, id: IncidentId, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query("SELECT * FROM outbox WHERE incident_id = $1 ORDER BY id LIMIT $2")
            .bind(id.row())
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(outbox_from_row).collect()
    }
}

/// The annotations of a `Dialect::json_objects` array over `incident_annotations`, by name.
pub(super) fn annotations_from_json(text: &str) -> Result<Vec<StoredAnnotation>, StoreError> {
    let mut out = JsonRow::parse_all(text)?
        .iter()
        .map(annotation_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// One `incident_annotations` row (a table row or a JSON object of one).
fn annotation_from_row(r: &impl Cols) -> Result<StoredAnnotation, StoreError> {
    Ok(StoredAnnotation {
        name: r.text("name")?,
        value: r.text("value")?,
        alertname: r.text("alertname")?,
        updated_at: r.time("updated_at")?,
    })
}

/// An incident's alert annotations, by name, read on `conn`.
pub(super) async fn annotations_on(
    conn: &mut sqlx::AnyConnection,
    id: IncidentId,
) -> Result<Vec<StoredAnnotation>, StoreError> {
    let rows = sqlx::query(
        "SELECT name, value, alertname, updated_at FROM incident_annotations WHERE incident_id = $1 ORDER BY name",
    )
    .bind(id.row())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter().map(annotation_from_row).collect()
}
