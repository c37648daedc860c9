-- migrations/sqlite/0030_incident_management.sql for PostgreSQL: owner, commander, first
-- acknowledgement, the annotations kept from an incident's alerts, and an index to read an
-- incident's notifications.
ALTER TABLE incidents ADD COLUMN owner TEXT;
ALTER TABLE incidents ADD COLUMN commander TEXT;
ALTER TABLE incidents ADD COLUMN acknowledged_at BIGINT;
ALTER TABLE incidents ADD COLUMN acknowledged_by TEXT;

UPDATE incidents SET (acknowledged_at, acknowledged_by) = (
    SELECT t.at, t.actor FROM timeline t
    WHERE t.incident_id = incidents.id AND t.kind = 'status_change'
      AND t.data::jsonb ->> 'to' = 'acknowledged'
    ORDER BY t.id LIMIT 1)
WHERE status <> 'open';

CREATE TABLE incident_annotations (
    incident_id BIGINT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    name        TEXT   NOT NULL,
    value       TEXT   NOT NULL,
    alertname   TEXT   NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (incident_id, name)
);

CREATE INDEX outbox_by_incident ON outbox (incident_id, id) WHERE incident_id IS NOT NULL;
