-- The `sandbox` cluster backend (issue 10), as in migrations/sqlite/0010_sandbox.sql: a
-- simulated cluster per environment. `revision` counts the world's writes; each object carries
-- the revision of its last write as its version. `namespace` is '' for cluster-scoped objects.
CREATE TABLE sandbox_worlds (
    env       TEXT    PRIMARY KEY,
    revision  BIGINT NOT NULL,
    seeded_at BIGINT NOT NULL
);
CREATE TABLE sandbox_objects (
    env        TEXT    NOT NULL REFERENCES sandbox_worlds (env),
    kind       TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    BIGINT NOT NULL,
    body       TEXT    NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env, kind, namespace, name)
);
