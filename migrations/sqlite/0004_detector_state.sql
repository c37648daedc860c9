-- Snapshots of streaming detectors (rolling 3-sigma, Half-Space Trees) per environment, rule
-- and series, written with the findings of the scan that produced them, so a restart
-- continues where the last committed scan stopped.
CREATE TABLE detector_state (
    env        TEXT    NOT NULL,
    rule       TEXT    NOT NULL,
    series     TEXT    NOT NULL,
    state      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (env, rule, series)
);
