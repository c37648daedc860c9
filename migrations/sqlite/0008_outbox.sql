-- Notification outbox (issue 5). A row is written in the same transaction as the incident
-- change that caused it; the dispatcher claims due rows with a lease, so a sender that dies
-- leaves rows that are retried once the lease runs out. Times are Unix microseconds.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    target          TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    incident_id     INTEGER,
    payload         TEXT    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'pending'
                    CHECK (status IN ('pending', 'inflight', 'sent', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    last_status     INTEGER,
    last_error      TEXT,
    created_at      INTEGER NOT NULL,
    sent_at         INTEGER
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
CREATE INDEX outbox_order ON outbox (target, incident_id, id);

-- Every delivery attempt, for the dead-letter view and for tests of backoff and Retry-After.
CREATE TABLE outbox_attempts (
    outbox_id   INTEGER NOT NULL REFERENCES outbox (id),
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    http_status INTEGER,
    outcome     TEXT    NOT NULL,
    error       TEXT,
    PRIMARY KEY (outbox_id, attempt)
);

-- External references per target and incident: the Jira issue key, the Slack thread ts.
CREATE TABLE notify_refs (
    target      TEXT    NOT NULL,
    incident_id INTEGER NOT NULL,
    value       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (target, incident_id)
);

-- Webhooks registered at run time (`incident-mcp hook add`), beside those of the config file.
-- The signing secret is named by environment variable only, as in the config.
CREATE TABLE webhooks (
    name       TEXT    PRIMARY KEY,
    url        TEXT    NOT NULL,
    secret_env TEXT    NOT NULL,
    events     TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
