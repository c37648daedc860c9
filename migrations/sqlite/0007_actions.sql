-- Applied containments and recoveries (issue 4). The exact changes and their recorded
-- inverse live in the plan (`plans.body`); this row says when the plan was applied, when its
-- TTL runs out (NULL: never) and whether it was reverted, so expired containments are
-- reverted automatically, also after a restart.
CREATE TABLE actions (
    plan_id     TEXT    PRIMARY KEY REFERENCES plans (id),
    incident_id INTEGER,
    env         TEXT    NOT NULL,
    applied_at  INTEGER NOT NULL,
    expires_at  INTEGER,
    reverted_at INTEGER,
    reverted_by TEXT
);
CREATE INDEX actions_due ON actions (expires_at) WHERE reverted_at IS NULL AND expires_at IS NOT NULL;
CREATE INDEX actions_by_incident ON actions (incident_id, applied_at) WHERE reverted_at IS NULL;
