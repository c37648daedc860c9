-- Tamper-evident audit log: append-only, each row's hash covers its fields and the previous
-- row's hash (see src/domain/audit.rs). The head (last seq and hash) is kept in its own
-- one-row table, written in the same transaction as every append, so deleting the newest
-- rows shows up too. Triggers refuse UPDATE and DELETE; they stop accidents, not someone
-- who can rewrite the file, which is what `incident-mcp audit verify` is for.
CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY,
    at          INTEGER NOT NULL,
    actor       TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    incident_id INTEGER,
    plan_id     TEXT,
    payload     TEXT    NOT NULL,
    prev_hash   TEXT    NOT NULL,
    hash        TEXT    NOT NULL
);
CREATE INDEX audit_by_plan ON audit_log (plan_id) WHERE plan_id IS NOT NULL;
CREATE INDEX audit_by_incident ON audit_log (incident_id) WHERE incident_id IS NOT NULL;

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT    NOT NULL
);

-- Plans computed by contain/recover (nothing is mutated by planning). `body` is the plan's
-- canonical JSON; `hash` is SHA-256 over it. The id is derived from the hash.
CREATE TABLE plans (
    id          TEXT    PRIMARY KEY,
    hash        TEXT    NOT NULL,
    env         TEXT    NOT NULL,
    incident_id INTEGER,
    principal   TEXT    NOT NULL,
    tool        TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

-- Human approvals of one plan hash, for the plan's principal, single-use, expiring.
CREATE TABLE approvals (
    id          INTEGER PRIMARY KEY,
    plan_id     TEXT    NOT NULL REFERENCES plans (id),
    plan_hash   TEXT    NOT NULL,
    principal   TEXT    NOT NULL,
    approver    TEXT    NOT NULL,
    approved_at INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX approvals_by_plan ON approvals (plan_id, id);
