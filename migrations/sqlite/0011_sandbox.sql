-- The `sandbox` cluster backend (issue 10): a simulated cluster per environment, kept here so
-- it survives restarts. `revision` counts the world's writes; each object carries the revision
-- of its last write as its version (its simulated resourceVersion). `namespace` is '' for
-- cluster-scoped objects (nodes). Bodies are Kubernetes-shaped JSON, labelled simulated.
CREATE TABLE sandbox_worlds (
    env       TEXT    PRIMARY KEY,
    revision  INTEGER NOT NULL,
    seeded_at INTEGER NOT NULL
);
CREATE TABLE sandbox_objects (
    env        TEXT    NOT NULL REFERENCES sandbox_worlds (env),
    kind       TEXT    NOT NULL,
    namespace  TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    version    INTEGER NOT NULL,
    body       TEXT    NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (env, kind, namespace, name)
);
