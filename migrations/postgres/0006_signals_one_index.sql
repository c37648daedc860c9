-- Alert intake writes a signal per new alert occurrence: every index on `signals` is one more
-- random write. `signals_by_incident (incident_id, observed_at)` duplicates the prefix of the
-- UNIQUE (incident_id, rule, series, entity, observed_at, value) index, which serves the
-- per-incident reads (the newest-first sort then runs over that incident's signals only).
DROP INDEX IF EXISTS signals_by_incident;
