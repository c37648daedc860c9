//! What policy says of an action before it is planned, for suggestions: the checks that need
//! the live target (its labels, the pods and nodes it touches, the healthy replicas it leaves)
//! cannot be decided yet. They are set aside and named; every other check runs exactly as
//! `Policy::evaluate` runs it when the action is planned. Pure.

use super::{ActionRequest, Policy, PolicyDecision, RefusalKind, Usage};

/// What is not known about a request before its plan is computed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Unknowns {
    /// The target's labels (for `label_selectors`).
    pub labels: bool,
    /// How many pods it touches (for `max_pods_per_action`).
    pub pods: bool,
    /// How many nodes it touches (for `max_nodes_per_action`).
    pub nodes: bool,
    /// The healthy replicas it leaves (for `min_healthy_replicas`, when it takes capacity away).
    pub healthy_replicas: bool,
}

/// Policy's answer before planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Preview {
    /// Every check that can run now passes; `deferred` names the policy keys checked only once
    /// the plan is computed (empty: nothing is left to check).
    Allow { deferred: Vec<&'static str> },
    /// A check that can run now refuses it, as planning would.
    Refuse { kind: RefusalKind, reason: String },
}

impl Policy {
    /// [`Policy::evaluate`] with what `unknown` names set aside.
    pub fn preview(&self, env: &str, req: &ActionRequest, usage: Usage, unknown: Unknowns) -> Preview {
        let mut policy = self.clone();
        let mut req = req.clone();
        let mut deferred = Vec::new();
        if unknown.labels && !policy.selectors.is_empty() {
            policy.selectors.clear();
            deferred.push("label_selectors");
        }
        if unknown.pods {
            req.pods = 0;
            deferred.push("max_pods_per_action");
        }
        if unknown.nodes {
            req.nodes = 0;
            deferred.push("max_nodes_per_action");
        }
        if unknown.healthy_replicas && req.action.reduces_capacity() && req.healthy_replicas_after.is_none() {
            req.healthy_replicas_after = Some(u32::MAX);
            deferred.push("min_healthy_replicas");
        }
        match policy.evaluate(env, &req, usage) {
            PolicyDecision::Allow => Preview::Allow { deferred },
            PolicyDecision::Refuse { kind, reason } => Preview::Refuse { kind, reason },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Action, PolicyConfig};
    use super::*;

    fn policy(selectors: &[&str]) -> Policy {
        Policy::try_from(PolicyConfig {
            allowed_actions: vec![Action::Isolate, Action::Pause],
            allowed_namespaces: vec!["shop".into()],
            resource_patterns: vec!["web-*".into(), "web".into()],
            label_selectors: selectors.iter().map(|s| (*s).to_owned()).collect(),
            ..PolicyConfig::default()
        })
        .unwrap()
    }

    fn req(action: Action, ns: &str, name: &str) -> ActionRequest {
        ActionRequest {
            action,
            namespace: Some(ns.into()),
            name: name.into(),
            labels: BTreeMap::new(),
            script: None,
            pods: 1,
            nodes: 0,
            healthy_replicas_after: None,
        }
    }

    #[test]
    fn unknowns_are_set_aside_and_named_the_rest_decides() {
        let all = Unknowns {
            labels: true,
            pods: true,
            nodes: true,
            healthy_replicas: true,
        };
        let p = policy(&["app=web"]);
        assert_eq!(
            p.preview("prod", &req(Action::Isolate, "shop", "web-1"), Usage::default(), all),
            Preview::Allow {
                deferred: vec![
                    "label_selectors",
                    "max_pods_per_action",
                    "max_nodes_per_action",
                    "min_healthy_replicas"
                ]
            }
        );
        // Evaluate itself refuses what is unknown: the preview is not a decision.
        assert!(
            !p.evaluate("prod", &req(Action::Isolate, "shop", "web-1"), Usage::default())
                .is_allowed()
        );
        let refused = p.preview("prod", &req(Action::Isolate, "pay", "web-1"), Usage::default(), all);
        assert!(
            matches!(
                refused,
                Preview::Refuse {
                    kind: RefusalKind::NamespaceNotAllowed,
                    ..
                }
            ),
            "{refused:?}"
        );
        let spent = Usage {
            destructive_for_incident: 3,
            destructive_last_hour: 0,
        };
        let refused = p.preview("prod", &req(Action::Pause, "shop", "web"), spent, all);
        assert!(
            matches!(
                refused,
                Preview::Refuse {
                    kind: RefusalKind::IncidentBudget,
                    ..
                }
            ),
            "{refused:?}"
        );
        // Known values are checked: two pods where one is allowed.
        let mut two = req(Action::Isolate, "shop", "web-1");
        two.pods = 2;
        let known = Unknowns { pods: false, ..all };
        assert!(matches!(
            policy(&[]).preview("prod", &two, Usage::default(), known),
            Preview::Refuse {
                kind: RefusalKind::PodBudget,
                ..
            }
        ));
    }
}
