//! The exact changes a plan makes to the world, and their inverse: Kubernetes objects and
//! patches, changes to the sandbox's simulated cluster, or an allowlisted script with its argv.
//! Backends compute and apply them (`cluster::Backend`); a plan records them as they are.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// HTTP verb of one Kubernetes change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum KubeVerb {
    Create,
    Patch,
    Delete,
}

/// Content type of a Kubernetes patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PatchKind {
    /// `application/merge-patch+json`
    Merge,
    /// `application/strategic-merge-patch+json`
    StrategicMerge,
    /// `application/apply-patch+yaml` (server-side apply, field manager `incident-mcp`)
    Apply,
}

/// One exact change to the world, as recorded in a plan (and its inverse).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum Change {
    Kube {
        verb: KubeVerb,
        /// e.g. `networking.k8s.io/v1`, `apps/v1`, `v1`.
        api_version: String,
        /// e.g. `NetworkPolicy`, `Deployment`, `Node`, `Pod`.
        kind: String,
        namespace: Option<String>,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        patch: Option<PatchKind>,
        /// The object (create), the patch document (patch); absent for delete.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        /// Delete/patch only if the object still has this resourceVersion (precondition).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_version: Option<String>,
    },
    /// A change to the `sandbox` backend's simulated cluster, kept in incident-mcp's own
    /// database: nothing real is touched.
    Sandbox {
        /// Always true: the change is simulated.
        simulated: bool,
        verb: KubeVerb,
        /// e.g. `NetworkPolicy`, `Deployment`, `Node`, `Pod`.
        kind: String,
        namespace: Option<String>,
        name: String,
        /// The object (create), a JSON merge patch (RFC 7386, patch); absent for delete.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        body: Option<Value>,
        /// Delete/patch only if the simulated object still has this version (precondition).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resource_version: Option<String>,
    },
    Script {
        /// Configured script id.
        script: String,
        /// Pinned sha256 of the script file, checked again right before running it.
        sha256: String,
        /// Arguments, passed as an argv array (never through a shell).
        argv: Vec<String>,
    },
}

/// Compact JSON, as the change is recorded.
impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&serde_json::to_string(self).map_err(|_| std::fmt::Error)?)
    }
}

impl Change {
    /// The configured script this change runs, if it is a script.
    pub fn script(&self) -> Option<&str> {
        match self {
            Change::Script { script, .. } => Some(script),
            _ => None,
        }
    }

    /// True when the change goes to the sandbox's simulated cluster.
    pub fn is_simulated(&self) -> bool {
        matches!(self, Change::Sandbox { .. })
    }
}
