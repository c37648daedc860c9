-- Incidents, their evidence and history. Times are Unix microseconds (UTC).
CREATE TABLE incidents (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    title        TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    env          TEXT    NOT NULL,
    severity     TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('open','acknowledged','contained','recovered','resolved')),
    fingerprint  TEXT    NOT NULL,
    first_seen   INTEGER NOT NULL,
    last_seen    INTEGER NOT NULL,
    signal_count INTEGER NOT NULL DEFAULT 0,
    labels       TEXT    NOT NULL DEFAULT '{}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE INDEX incidents_by_fingerprint ON incidents (fingerprint, id);
CREATE INDEX incidents_by_updated ON incidents (updated_at, id);

CREATE TABLE signals (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    rule        TEXT    NOT NULL,
    series      TEXT    NOT NULL,
    entity      TEXT    NOT NULL,
    value       REAL    NOT NULL,
    score       REAL    NOT NULL,
    observed_at INTEGER NOT NULL,
    message     TEXT,
    UNIQUE (incident_id, rule, series, entity, observed_at, value)
);
CREATE INDEX signals_by_incident ON signals (incident_id, observed_at);

CREATE TABLE timeline (
    id          INTEGER PRIMARY KEY,
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    at          INTEGER NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT    NOT NULL,
    message     TEXT    NOT NULL,
    data        TEXT    NOT NULL DEFAULT '{}'
);
CREATE INDEX timeline_by_incident ON timeline (incident_id, id);

CREATE TABLE metric_points (
    id          INTEGER PRIMARY KEY,
    env         TEXT    NOT NULL,
    source      TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    labels      TEXT    NOT NULL,
    value       REAL    NOT NULL,
    observed_at INTEGER NOT NULL,
    ingested_at INTEGER NOT NULL,
    UNIQUE (env, source, name, labels, observed_at)
);
CREATE INDEX metric_points_by_time ON metric_points (observed_at, id);
