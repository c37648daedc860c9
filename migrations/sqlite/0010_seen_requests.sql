-- Signed requests accepted from outside (Slack interactions), kept while their timestamp is
-- still acceptable so that a replay of the same request is refused, across restarts and by
-- every process sharing the database. `key` is SHA-256 of timestamp and signature; times are
-- Unix microseconds.
CREATE TABLE seen_requests (
    key        TEXT    PRIMARY KEY,
    expires_at INTEGER NOT NULL
);
CREATE INDEX seen_requests_expiry ON seen_requests (expires_at);
