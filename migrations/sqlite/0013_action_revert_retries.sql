-- Retries of a failing TTL revert (issue 10): how many automatic attempts were made, when the
-- next one is due (NULL: at expiry), and when the server gave up (`revert_failed`: the
-- containment is still in place and is left for a human; no more automatic attempts).
ALTER TABLE actions ADD COLUMN revert_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE actions ADD COLUMN next_revert_at INTEGER;
ALTER TABLE actions ADD COLUMN revert_failed_at INTEGER;
