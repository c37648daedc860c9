-- Read positions of incremental sources (e.g. PostgreSQL explainability_metrics), written in
-- the same transaction as the findings of the scan that read up to them.
CREATE TABLE source_cursors (
    env        TEXT    NOT NULL,
    source     TEXT    NOT NULL,
    cursor     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (env, source)
);
