-- Incident management by people (issue 14 items 5 and 6): who owns an incident and who commands
-- it, when it was first acknowledged and by whom (acknowledging is allowed at any active status,
-- so it is a fact of its own, not only a status), the runbook, dashboard and description
-- annotations kept from its Alertmanager alerts (sanitised; URLs are data, never fetched), and
-- an index to read an incident's notifications for its timeline. Times are Unix microseconds.
ALTER TABLE incidents ADD COLUMN owner TEXT;
ALTER TABLE incidents ADD COLUMN commander TEXT;
ALTER TABLE incidents ADD COLUMN acknowledged_at INTEGER;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;

-- Incidents acknowledged before: their first move to `acknowledged`.
UPDATE incidents SET (acknowledged_at, acknowledged_by) = (
    SELECT t.at, t.actor FROM timeline t
    WHERE t.incident_id = incidents.id AND t.kind = 'status_change'
      AND json_extract(t.data, '$.to') = 'acknowledged'
    ORDER BY t.id LIMIT 1)
WHERE status <> 'open';

-- One value per incident and annotation name (`runbook_url`, `dashboard`, `generator_url`,
-- `description`): the latest alert's.
CREATE TABLE incident_annotations (
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    name        TEXT    NOT NULL,
    value       TEXT    NOT NULL,
    alertname   TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (incident_id, name)
);

CREATE INDEX outbox_by_incident ON outbox (incident_id, id) WHERE incident_id IS NOT NULL;
