//! Which rules of a policy let a request through: what a human sees on the approval page
//! under "why policy allowed it". Pure, like `Policy::evaluate`.

use super::{ActionRequest, Policy};

impl Policy {
    /// The rules that allow `req`, one line each, in `evaluate`'s order; empty when
    /// `evaluate` would refuse the action itself (the caller shows that refusal instead).
    pub fn allowing_rules(&self, req: &ActionRequest) -> Vec<String> {
        let mut out = Vec::new();
        if !self.actions.contains(&req.action) {
            return out;
        }
        out.push(format!("allowed_actions contains {}", req.action));
        if let Some(ns) = &req.namespace
            && self.namespaces.iter().any(|n| n.as_str() == ns)
        {
            out.push(format!("allowed_namespaces contains {ns}"));
        }
        let globs = self.limits.resource_patterns.iter();
        if let Some((raw, _)) = globs.zip(&self.patterns).find(|(_, g)| g.matches(&req.name)) {
            out.push(format!("{} matches resource_patterns entry {raw}", req.name));
        }
        let selectors = self.limits.label_selectors.iter();
        if let Some((raw, _)) = selectors.zip(&self.selectors).find(|(_, s)| s.matches(&req.labels)) {
            out.push(format!("labels match label_selectors entry {raw}"));
        }
        if let Some(script) = &req.script
            && self.allows_script(script)
        {
            out.push(format!("scripts contains {script}"));
        }
        let l = &self.limits;
        out.push(format!(
            "{} pod(s) ≤ max_pods_per_action {}, {} node(s) ≤ max_nodes_per_action {}",
            req.pods, l.max_pods_per_action, req.nodes, l.max_nodes_per_action
        ));
        if req.action.is_destructive() {
            out.push(format!(
                "budgets: max_destructive_per_incident {}, max_destructive_per_hour {}",
                l.max_destructive_per_incident, l.max_destructive_per_hour
            ));
        }
        if let (true, Some(n)) = (req.action.reduces_capacity(), req.healthy_replicas_after) {
            out.push(format!(
                "{n} healthy replica(s) left ≥ min_healthy_replicas {}",
                l.min_healthy_replicas
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::super::{Action, PolicyConfig};
    use super::*;

    #[test]
    fn names_the_entries_that_matched() {
        let policy = Policy::try_from(PolicyConfig {
            allowed_actions: vec![Action::Isolate],
            allowed_namespaces: vec!["shop".into()],
            resource_patterns: vec!["db-*".into(), "web-*".into()],
            ..PolicyConfig::default()
        })
        .unwrap();
        let req = ActionRequest {
            action: Action::Isolate,
            namespace: Some("shop".into()),
            name: "web-1".into(),
            labels: BTreeMap::new(),
            script: None,
            pods: 1,
            nodes: 0,
            healthy_replicas_after: Some(2),
        };
        let rules = policy.allowing_rules(&req);
        assert_eq!(rules[0], "allowed_actions contains isolate");
        assert_eq!(rules[1], "allowed_namespaces contains shop");
        assert_eq!(rules[2], "web-1 matches resource_patterns entry web-*");
        assert!(rules.last().unwrap().contains("2 healthy replica(s) left"), "{rules:?}");
        let refused = ActionRequest {
            action: Action::Cordon,
            ..req
        };
        assert!(policy.allowing_rules(&refused).is_empty());
    }
}
