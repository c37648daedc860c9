//! Plans and approvals. A plan is the exact change a tool would make; its hash is SHA-256
//! over the canonical JSON (sorted keys) of the whole plan. An approval binds one human's
//! consent to that hash and to the principal that asked, is single-use and expires.
//! `verify_approval` fails closed: anything it cannot confirm is a refusal with a reason.

use std::{collections::BTreeMap, fmt};

use chrono::{DateTime, TimeDelta, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Env, IncidentId,
    change::Change,
    digest,
    policy::{Action, ActionRequest},
};

/// How long an approval stays valid unless configured otherwise.
pub const DEFAULT_APPROVAL_TTL: TimeDelta = TimeDelta::minutes(5);

/// The version of an object the plan was computed against (Kubernetes `resourceVersion`,
/// or a script's pinned sha256); applying against a different version is refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct TargetVersion {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub resource_version: String,
}

/// What a plan touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BlastRadius {
    pub pods: u32,
    pub nodes: u32,
    pub workloads: Vec<String>,
    pub namespaces: Vec<String>,
}

super::incident::string_enum! {
    /// Whether a plan contains (undone by its recorded inverse) or recovers.
    PlanKind {
        Contain = "contain",
        Recover = "recover",
    }
}

/// The exact change a containment or recovery would make, computed without mutating anything.
/// It is stored as the canonical JSON of this type and hashed from it: what a human approves
/// is exactly what is applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub kind: PlanKind,
    pub env: Env,
    pub incident_id: Option<IncidentId>,
    /// Who asked (e.g. an MCP session's principal); only they may apply it.
    pub principal: String,
    /// The target as asked for: a pod, `deployment/NAME`, a node, an IP/CIDR or `script/ID`.
    pub resource: String,
    /// What policy was checked against at planning; applying checks it again.
    pub request: ActionRequest,
    /// Action-specific parameters as asked (`backup_id`, script arguments `arg.NAME`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, String>,
    pub targets: Vec<TargetVersion>,
    /// The exact changes (Kubernetes objects and patches, simulated changes, or script + argv).
    pub changes: Vec<Change>,
    /// The recorded inverse of `changes`, applied by revert and TTL expiry.
    pub inverse: Vec<Change>,
    pub blast_radius: BlastRadius,
    /// Automatic revert after this many seconds once applied (containments only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_secs: Option<u64>,
    /// The containment plan this plan undoes (a revert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reverts: Option<String>,
}

impl Plan {
    /// SHA-256 (hex) over the canonical JSON of the whole plan.
    pub fn hash(&self) -> String {
        digest::sha256_hex(self.canonical().as_bytes())
    }

    /// `plan-` and the first 16 hex digits of the hash: the same plan gets the same id.
    pub fn id(&self) -> String {
        format!("plan-{}", &self.hash()[..16])
    }

    /// The canonical JSON (sorted keys) the plan is stored as and hashed over.
    pub fn canonical(&self) -> String {
        let v = serde_json::to_value(self).expect("a plan serialises to JSON");
        digest::canonical_json(&v)
    }

    /// A stored plan read back. A plan recorded by an older version (before plans were
    /// typed) is refused as such rather than guessed at.
    pub fn from_stored(body: &str) -> Result<Self, StoredPlanError> {
        let v: Value = serde_json::from_str(body).map_err(|e| StoredPlanError::Unreadable(e.to_string()))?;
        if v.get("tool").is_some() && v.get("kind").is_none() {
            return Err(StoredPlanError::OlderVersion);
        }
        serde_json::from_value(v).map_err(|e| StoredPlanError::Unreadable(e.to_string()))
    }

    /// The policy action the plan performs.
    pub fn action(&self) -> Action {
        self.request.action
    }

    /// True when a change or its inverse goes to the sandbox's simulated cluster.
    pub fn is_simulated(&self) -> bool {
        self.changes.iter().chain(&self.inverse).any(Change::is_simulated)
    }
}

/// Why a stored plan cannot be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoredPlanError {
    #[error("plan recorded by an older version; propose it again")]
    OlderVersion,
    #[error("unreadable plan: {0}")]
    Unreadable(String),
}

/// A human's consent to one plan hash, for one principal, once, until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Approval {
    pub plan_id: String,
    pub plan_hash: String,
    /// The principal the plan was made for.
    pub principal: String,
    /// The human who approved.
    pub approver: String,
    pub approved_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

impl Approval {
    /// Grants an approval of `plan` by `approver`; nobody approves their own plan.
    pub fn grant(plan: &Plan, approver: &str, now: DateTime<Utc>, ttl: TimeDelta) -> Result<Self, ApprovalRefusal> {
        if approver.is_empty() || approver == plan.principal {
            return Err(ApprovalRefusal::SelfApproval {
                principal: plan.principal.clone(),
            });
        }
        Ok(Self {
            plan_id: plan.id(),
            plan_hash: plan.hash(),
            principal: plan.principal.clone(),
            approver: approver.to_owned(),
            approved_at: now,
            expires_at: now + ttl,
            used_at: None,
        })
    }
}

/// Why an approval does not allow applying a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApprovalRefusal {
    /// No approval exists for this plan.
    Unknown {
        plan_id: String,
    },
    Expired {
        expired_at: DateTime<Utc>,
    },
    Used {
        used_at: DateTime<Utc>,
    },
    /// The plan changed since it was approved (or the approval is for another plan).
    HashMismatch,
    OtherPrincipal {
        approved_for: String,
        caller: String,
    },
    SelfApproval {
        principal: String,
    },
}

impl fmt::Display for ApprovalRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unknown { plan_id } => write!(f, "plan {plan_id} has no approval; a human must approve it first"),
            Self::Expired { expired_at } => write!(
                f,
                "the approval expired at {}; ask for a new approval",
                super::display_time(expired_at)
            ),
            Self::Used { used_at } => write!(
                f,
                "the approval was already used at {}; approvals are single-use",
                super::display_time(used_at)
            ),
            Self::HashMismatch => write!(
                f,
                "the plan no longer matches the approved plan hash; plan again and ask for a new approval"
            ),
            Self::OtherPrincipal { approved_for, caller } => {
                write!(f, "the approval was granted for {approved_for}, not for {caller}")
            }
            Self::SelfApproval { principal } => write!(f, "{principal} cannot approve its own plan"),
        }
    }
}

impl ApprovalRefusal {
    /// Short machine-readable code for audit payloads.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unknown { .. } => "unknown",
            Self::Expired { .. } => "expired",
            Self::Used { .. } => "used",
            Self::HashMismatch => "hash_mismatch",
            Self::OtherPrincipal { .. } => "other_principal",
            Self::SelfApproval { .. } => "self_approval",
        }
    }
}

/// Whether `approval` lets `caller` apply plan `plan_id`, whose content is now `plan`
/// (recomputed at apply time, so a changed target shows as a hash mismatch). Fails closed.
pub fn verify_approval(
    approval: Option<&Approval>,
    plan_id: &str,
    plan: &Plan,
    caller: &str,
    now: DateTime<Utc>,
) -> Result<(), ApprovalRefusal> {
    let Some(a) = approval.filter(|a| a.plan_id == plan_id) else {
        return Err(ApprovalRefusal::Unknown {
            plan_id: plan_id.to_owned(),
        });
    };
    if !digest::same_digest(&a.plan_hash, &plan.hash()) {
        return Err(ApprovalRefusal::HashMismatch);
    }
    if a.principal != plan.principal || caller != a.principal {
        return Err(ApprovalRefusal::OtherPrincipal {
            approved_for: a.principal.clone(),
            caller: caller.to_owned(),
        });
    }
    if let Some(used_at) = a.used_at {
        return Err(ApprovalRefusal::Used { used_at });
    }
    // An approval whose expiry is not after its grant, or whose clock went backwards, is expired.
    if now >= a.expires_at || now < a.approved_at {
        return Err(ApprovalRefusal::Expired {
            expired_at: a.expires_at,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::domain::change::KubeVerb;

    fn plan() -> Plan {
        Plan {
            kind: PlanKind::Contain,
            env: Env::parse("prod").unwrap(),
            incident_id: Some(IncidentId::from_row(7)),
            principal: "mcp:session-1".into(),
            resource: "web-1".into(),
            request: ActionRequest {
                action: Action::Isolate,
                namespace: Some("shop".into()),
                name: "web-1".into(),
                labels: Default::default(),
                script: None,
                pods: 1,
                nodes: 0,
                healthy_replicas_after: None,
            },
            params: BTreeMap::new(),
            targets: vec![TargetVersion {
                kind: "Pod".into(),
                namespace: Some("shop".into()),
                name: "web-1".into(),
                resource_version: "4711".into(),
            }],
            changes: vec![policy_change(KubeVerb::Create)],
            inverse: vec![policy_change(KubeVerb::Delete)],
            blast_radius: BlastRadius {
                pods: 1,
                ..BlastRadius::default()
            },
            ttl_secs: None,
            reverts: None,
        }
    }

    fn policy_change(verb: KubeVerb) -> Change {
        Change::Kube {
            verb,
            api_version: "networking.k8s.io/v1".into(),
            kind: "NetworkPolicy".into(),
            namespace: Some("shop".into()),
            name: "quarantine-web-1".into(),
            patch: None,
            body: (verb == KubeVerb::Create).then(|| json!({"metadata": {"name": "quarantine-web-1"}})),
            resource_version: None,
        }
    }

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn approved() -> Approval {
        Approval::grant(&plan(), "human:alice", t0(), DEFAULT_APPROVAL_TTL).unwrap()
    }

    #[test]
    fn hash_is_canonical_and_covers_every_field() {
        let p = plan();
        let stored = p.canonical();
        let back = Plan::from_stored(&stored).unwrap();
        assert_eq!(back, p, "the stored form reads back as the same typed plan");
        assert_eq!(back.hash(), p.hash());
        assert_eq!(p.hash().len(), 64);
        assert!(p.id().starts_with("plan-") && p.id().len() == 21);
        let mut other = p.clone();
        other.targets[0].resource_version = "4712".into();
        assert_ne!(p.hash(), other.hash());
        let mut other = p.clone();
        other.principal = "mcp:session-2".into();
        assert_ne!(p.hash(), other.hash());
        let mut other = p.clone();
        other.params.insert("backup_id".into(), "latest".into());
        assert_ne!(p.hash(), other.hash());
        let mut other = p.clone();
        other.ttl_secs = Some(600);
        assert_ne!(p.hash(), other.hash());
        let mut other = p.clone();
        other.request.action = Action::DeletePod;
        assert_ne!(p.hash(), other.hash());
    }

    #[test]
    fn a_fresh_approval_verifies_for_its_principal() {
        let a = approved();
        assert_eq!(a.expires_at - a.approved_at, TimeDelta::minutes(5));
        assert_eq!(
            verify_approval(
                Some(&a),
                &plan().id(),
                &plan(),
                "mcp:session-1",
                t0() + TimeDelta::seconds(299)
            ),
            Ok(())
        );
    }

    #[test]
    fn no_approval_or_one_for_another_plan_is_unknown() {
        let e = verify_approval(None, &plan().id(), &plan(), "mcp:session-1", t0()).unwrap_err();
        assert_eq!(e.code(), "unknown");
        assert!(e.to_string().contains("a human must approve it"), "{e}");
        let mut other = plan();
        other.resource = "web-2".into();
        let a = Approval::grant(&other, "human:alice", t0(), DEFAULT_APPROVAL_TTL).unwrap();
        let e = verify_approval(Some(&a), &plan().id(), &plan(), "mcp:session-1", t0()).unwrap_err();
        assert_eq!(e.code(), "unknown");
    }

    #[test]
    fn expired_approvals_are_refused() {
        let a = approved();
        let e = verify_approval(
            Some(&a),
            &plan().id(),
            &plan(),
            "mcp:session-1",
            t0() + TimeDelta::minutes(5),
        )
        .unwrap_err();
        assert_eq!(
            e,
            ApprovalRefusal::Expired {
                expired_at: a.expires_at
            }
        );
        let e = verify_approval(
            Some(&a),
            &plan().id(),
            &plan(),
            "mcp:session-1",
            t0() - TimeDelta::seconds(1),
        )
        .unwrap_err();
        assert_eq!(e.code(), "expired", "a clock before the grant fails closed");
    }

    #[test]
    fn used_approvals_are_refused() {
        let mut a = approved();
        a.used_at = Some(t0() + TimeDelta::seconds(10));
        let e = verify_approval(
            Some(&a),
            &plan().id(),
            &plan(),
            "mcp:session-1",
            t0() + TimeDelta::seconds(20),
        )
        .unwrap_err();
        assert_eq!(e.code(), "used");
    }

    #[test]
    fn tampered_hash_or_changed_target_is_a_mismatch() {
        let mut a = approved();
        a.plan_hash = "0".repeat(64);
        assert_eq!(
            verify_approval(Some(&a), &plan().id(), &plan(), "mcp:session-1", t0()),
            Err(ApprovalRefusal::HashMismatch)
        );
        // Same plan id (stored row) but the plan recomputed at apply time differs.
        let mut changed = plan();
        changed.targets[0].resource_version = "9999".into();
        assert_eq!(
            verify_approval(Some(&approved()), &plan().id(), &changed, "mcp:session-1", t0()),
            Err(ApprovalRefusal::HashMismatch)
        );
    }

    #[test]
    fn another_principal_cannot_use_the_approval_and_nobody_approves_their_own_plan() {
        let e = verify_approval(Some(&approved()), &plan().id(), &plan(), "mcp:session-2", t0()).unwrap_err();
        assert_eq!(
            e,
            ApprovalRefusal::OtherPrincipal {
                approved_for: "mcp:session-1".into(),
                caller: "mcp:session-2".into()
            }
        );
        let e = Approval::grant(&plan(), "mcp:session-1", t0(), DEFAULT_APPROVAL_TTL).unwrap_err();
        assert_eq!(e.code(), "self_approval");
    }

    #[test]
    fn plans_of_older_versions_and_unknown_actions_are_refused_not_guessed() {
        let old = json!({"env": "prod", "tool": "incident_contain", "arguments": {"action": "isolate"},
                         "principal": "mcp", "targets": [], "changes": [], "inverse": [],
                         "blast_radius": {"pods": 0, "nodes": 0, "workloads": [], "namespaces": []}});
        let e = Plan::from_stored(&old.to_string()).unwrap_err();
        assert_eq!(e, StoredPlanError::OlderVersion);
        assert_eq!(e.to_string(), "plan recorded by an older version; propose it again");
        let mut v = serde_json::to_value(plan()).unwrap();
        v["request"]["action"] = json!("explode");
        let e = Plan::from_stored(&v.to_string()).unwrap_err();
        assert!(
            matches!(e, StoredPlanError::Unreadable(ref m) if m.contains("explode")),
            "{e}"
        );
        let e = Plan::from_stored("{not json").unwrap_err();
        assert!(matches!(e, StoredPlanError::Unreadable(_)), "{e}");
    }
}
