//! Sandbox port: the simulated cluster of the `sandbox` backend (`cluster::sandbox`), kept in
//! the store so that it survives restarts and is shared by every process on the database.
//! The store knows objects only as keyed, versioned JSON; what they mean is the backend's.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::StoreError;

/// Identity of a simulated object: kind, namespace (`None`: cluster-scoped) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SandboxKey {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

/// One object of a simulated world as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct SandboxObject {
    pub key: SandboxKey,
    /// The world's revision when the object was last written (its `resourceVersion`).
    pub version: i64,
    /// The object's JSON (Kubernetes-shaped), without `metadata.resourceVersion`.
    pub body: Value,
    pub updated_at: DateTime<Utc>,
}

/// One write of a [`SandboxStore::sandbox_write`] batch.
#[derive(Debug, Clone, PartialEq)]
pub enum SandboxWrite {
    /// Create or replace the object. `expected`: the version it must still have (`None`: it
    /// must not exist).
    Put {
        key: SandboxKey,
        body: Value,
        expected: Option<i64>,
    },
    /// Delete the object, which must still have version `expected`.
    Delete { key: SandboxKey, expected: i64 },
}

impl SandboxWrite {
    pub fn key(&self) -> &SandboxKey {
        match self {
            SandboxWrite::Put { key, .. } | SandboxWrite::Delete { key, .. } => key,
        }
    }

    /// The version the object must have for the write to happen (`None`: absent).
    pub fn expected(&self) -> Option<i64> {
        match self {
            SandboxWrite::Put { expected, .. } => *expected,
            SandboxWrite::Delete { expected, .. } => Some(*expected),
        }
    }
}

/// The simulated worlds, one per environment whose cluster is `kind = "sandbox"`.
#[async_trait]
pub trait SandboxStore: Send + Sync {
    /// Creates `env`'s world at revision 1 with `objects` unless it exists; true when it was
    /// created now. One transaction: a world is never half seeded.
    async fn sandbox_seed(&self, env: &str, objects: &[(SandboxKey, Value)]) -> Result<bool, StoreError>;
    /// Every object of `env`'s world, by kind, namespace and name (empty: not seeded).
    async fn sandbox_objects(&self, env: &str) -> Result<Vec<SandboxObject>, StoreError>;
    /// Applies `writes` in one transaction if every object still has the version it expects,
    /// stamping the written objects with the world's next revision; returns that revision, or
    /// `None` (nothing written) when an object changed or the world does not exist.
    async fn sandbox_write(&self, env: &str, writes: &[SandboxWrite]) -> Result<Option<i64>, StoreError>;
}

/// The namespace column: `''` for cluster-scoped objects.
pub(super) fn ns_col(key: &SandboxKey) -> &str {
    key.namespace.as_deref().unwrap_or("")
}

/// A stored row back into an object.
pub(super) fn object_from_row(r: &impl super::rows::Cols) -> Result<SandboxObject, StoreError> {
    let ns = r.text("namespace")?;
    let body = r.text("body")?;
    Ok(SandboxObject {
        key: SandboxKey {
            kind: r.text("kind")?,
            namespace: (!ns.is_empty()).then_some(ns),
            name: r.text("name")?,
        },
        version: r.int("version")?,
        body: serde_json::from_str(&body).map_err(|e| super::rows::corrupt("sandbox object body", e))?,
        updated_at: r.time("updated_at")?,
    })
}
