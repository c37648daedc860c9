-- Alertmanager alerts received at POST /api/alerts: one row per (environment, alert
-- fingerprint, startsAt), so a re-sent notification of the same alert adds nothing. The row
-- links the alert to the incident it opened or updated and records when it resolved.
CREATE TABLE alerts (
    env         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    starts_at   INTEGER NOT NULL,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    alertname   TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('firing', 'resolved')),
    ends_at     INTEGER,
    labels      TEXT    NOT NULL DEFAULT '{}',
    received_at INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (env, fingerprint, starts_at)
) WITHOUT ROWID;
CREATE INDEX alerts_by_incident ON alerts (incident_id, status);
