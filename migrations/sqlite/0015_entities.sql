-- Entities and the correlation graph (issue 14): the typed things signals name (ip/…, user/…,
-- session/…, host/…, pod/NS/…, deployment/NS/…, namespace/…, service/…, node/…, feature/…),
-- one row per environment and entity text, and which signals name them, written with the
-- signals. Two entities are linked when one signal names both.
--
-- `signal_entities` is keyed by incident first: an incident's entities are a prefix of the key,
-- and a hop of the walk reaches the other entities of a signal through (incident_id,
-- signal_id). `signal_entities_by_entity` finds the signals naming an entity within a time
-- window (observed_at is the signal's). `incident_entities` is each incident's entity set with
-- how many of its signals name each, and when: similar incidents by shared entities, the first
-- hop from an incident's own entity (every signal of an incident names its subject), and the
-- counts of incidents lying wholly in a walk's window, without reading their signals.
CREATE TABLE entities (
    id     INTEGER PRIMARY KEY,
    env    TEXT    NOT NULL,
    kind   TEXT    NOT NULL,
    entity TEXT    NOT NULL,
    UNIQUE (env, entity)
);

CREATE TABLE signal_entities (
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    signal_id   INTEGER NOT NULL,
    entity_id   INTEGER NOT NULL REFERENCES entities (id),
    observed_at INTEGER NOT NULL,
    PRIMARY KEY (incident_id, signal_id, entity_id)
) WITHOUT ROWID;
CREATE INDEX signal_entities_by_entity ON signal_entities (entity_id, observed_at);

CREATE TABLE incident_entities (
    incident_id  INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    entity_id    INTEGER NOT NULL REFERENCES entities (id),
    -- How many of the incident's signals name it, the first of them, and when the first and
    -- the last of them were observed.
    signals      INTEGER NOT NULL,
    first_signal INTEGER NOT NULL,
    first_at     INTEGER NOT NULL,
    last_at      INTEGER NOT NULL,
    PRIMARY KEY (incident_id, entity_id)
) WITHOUT ROWID;
CREATE INDEX incident_entities_by_entity ON incident_entities (entity_id, incident_id);

-- Signals recorded before this migration: each names its subject (the entity its rule fired
-- for), typed by its prefix as `domain::entity::EntityKind::of_prefix` does. What their labels
-- and messages named besides was not kept, so only new signals link several entities.
INSERT INTO entities (env, kind, entity)
SELECT DISTINCT i.env,
    CASE lower(substr(s.entity, 1, instr(s.entity, '/') - 1))
        WHEN 'ip' THEN 'ip' WHEN 'addr' THEN 'ip' WHEN 'address' THEN 'ip'
        WHEN 'user' THEN 'user' WHEN 'username' THEN 'user' WHEN 'login' THEN 'user' WHEN 'account' THEN 'user'
        WHEN 'session' THEN 'session'
        WHEN 'host' THEN 'host' WHEN 'hostname' THEN 'host' WHEN 'instance' THEN 'host'
        WHEN 'pod' THEN 'pod'
        WHEN 'workload' THEN 'workload' WHEN 'deployment' THEN 'workload' WHEN 'deploy' THEN 'workload'
        WHEN 'statefulset' THEN 'workload' WHEN 'sts' THEN 'workload' WHEN 'daemonset' THEN 'workload'
        WHEN 'ds' THEN 'workload' WHEN 'replicaset' THEN 'workload' WHEN 'rs' THEN 'workload'
        WHEN 'cronjob' THEN 'workload'
        WHEN 'namespace' THEN 'namespace' WHEN 'ns' THEN 'namespace'
        WHEN 'service' THEN 'service' WHEN 'svc' THEN 'service'
        WHEN 'node' THEN 'node'
        WHEN 'feature' THEN 'feature'
        ELSE 'other' END,
    s.entity
FROM signals s JOIN incidents i ON i.id = s.incident_id
WHERE instr(s.entity, '/') > 1 AND length(s.entity) > instr(s.entity, '/') AND length(s.entity) <= 240;

INSERT INTO signal_entities (incident_id, signal_id, entity_id, observed_at)
SELECT s.incident_id, s.id, e.id, s.observed_at
FROM signals s JOIN incidents i ON i.id = s.incident_id JOIN entities e ON e.env = i.env AND e.entity = s.entity;

INSERT INTO incident_entities (incident_id, entity_id, signals, first_signal, first_at, last_at)
SELECT incident_id, entity_id, COUNT(*), MIN(signal_id), MIN(observed_at), MAX(observed_at)
FROM signal_entities GROUP BY incident_id, entity_id;
