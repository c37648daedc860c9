-- `signal_entities` keyed by signal: signal ids only grow, so new links append to the table's
-- last pages instead of landing among every incident's rows (keyed by incident first, each
-- Alertmanager notification dirtied a page per incident it touched: alert intake lost a third
-- of its throughput). A hop still reaches a signal's other entities by the key's prefix; the
-- entity index carries the incident, so it still answers a hop alone.
CREATE TABLE signal_entities_by_signal (
    signal_id   INTEGER NOT NULL,
    entity_id   INTEGER NOT NULL REFERENCES entities (id),
    incident_id INTEGER NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    observed_at INTEGER NOT NULL,
    PRIMARY KEY (signal_id, entity_id)
) WITHOUT ROWID;
INSERT INTO signal_entities_by_signal (signal_id, entity_id, incident_id, observed_at)
SELECT signal_id, entity_id, incident_id, observed_at FROM signal_entities;
DROP TABLE signal_entities;
ALTER TABLE signal_entities_by_signal RENAME TO signal_entities;
CREATE INDEX signal_entities_by_entity ON signal_entities (entity_id, observed_at, incident_id);
