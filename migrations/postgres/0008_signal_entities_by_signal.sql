-- `signal_entities` keyed by signal (see migrations/sqlite/0016_signal_entities_by_signal.sql):
-- new links append to the key's last pages; the entity index already carries the incident.
ALTER TABLE signal_entities DROP CONSTRAINT signal_entities_pkey;
ALTER TABLE signal_entities ADD PRIMARY KEY (signal_id, entity_id);
