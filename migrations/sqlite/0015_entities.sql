-- Entities and the correlation graph (issue 14): the typed things signals name (ip/…, user/…,
-- session/…, host/…, pod/NS/…, deployment/NS/…, namespace/…, service/…, node/…, feature/…),
-- one row per environment and entity text, and which signals name them, written with the
-- signals. Two entities are linked when one signal names both.
--
-- `signal_entities` is keyed by incident first: an incident's entities are a prefix of the key,
-- and a hop of the walk reaches the other entities of a signal through (incident_id,
-- signal_id). `signal_entities_by_entity` finds the signals naming an entity within a time
-- window (observed_at is the signal's). `incident_entities` is each incident's entity set, for
-- finding similar incidents by shared entities without reading every signal.
-- Signals recorded before this migration have no links: only new evidence is correlated.
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
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    entity_id   INTEGER NOT NULL REFERENCES entities (id),
    PRIMARY KEY (incident_id, entity_id)
) WITHOUT ROWID;
CREATE INDEX incident_entities_by_entity ON incident_entities (entity_id, incident_id);
