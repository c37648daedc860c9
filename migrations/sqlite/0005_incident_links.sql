-- Grouping window for re-fired findings: when an incident was resolved, and which earlier
-- incident of the same fingerprint a new one follows (a re-fire after the window opens a new
-- incident linked to the old one instead of reopening it).
ALTER TABLE incidents ADD COLUMN resolved_at INTEGER;
ALTER TABLE incidents ADD COLUMN previous_id INTEGER REFERENCES incidents (id);
UPDATE incidents SET resolved_at = updated_at WHERE status = 'resolved';
