use proptest::prelude::*;

use super::*;

fn prod() -> Policy {
    Policy::try_from(PolicyConfig {
        allowed_actions: vec![
            Action::Isolate,
            Action::DeletePod,
            Action::Cordon,
            Action::Pause,
            Action::Revert,
        ],
        allowed_namespaces: vec!["shop".into(), "api".into()],
        resource_patterns: vec!["web-*".into(), "node-?".into()],
        label_selectors: vec!["app=web,!critical".into()],
        scripts: vec!["restart-container".into()],
        max_pods_per_action: 2,
        max_destructive_per_incident: 2,
        max_destructive_per_hour: 3,
        min_healthy_replicas: 2,
        ..PolicyConfig::default()
    })
    .unwrap()
}

fn req(action: Action, ns: Option<&str>, name: &str) -> ActionRequest {
    ActionRequest {
        action,
        namespace: ns.map(str::to_owned),
        name: name.into(),
        labels: BTreeMap::from([("app".to_string(), "web".to_string())]),
        script: None,
        pods: 1,
        nodes: 0,
        healthy_replicas_after: Some(3),
    }
}

fn refusal(d: PolicyDecision) -> (RefusalKind, String) {
    match d {
        PolicyDecision::Refuse { kind, reason } => (kind, reason),
        PolicyDecision::Allow => panic!("expected a refusal"),
    }
}

#[test]
fn an_allowed_request_passes() {
    let d = prod().evaluate("prod", &req(Action::Isolate, Some("shop"), "web-7"), Usage::default());
    assert_eq!(d, PolicyDecision::Allow);
    let mut cordon = req(Action::Cordon, None, "node-1");
    cordon.nodes = 1;
    cordon.pods = 0;
    assert!(prod().evaluate("prod", &cordon, Usage::default()).is_allowed());
}

#[test]
fn each_rule_refuses_with_a_specific_reason() {
    let p = prod();
    let u = Usage::default();
    let check = |r: ActionRequest, usage: Usage, kind: RefusalKind, text: &str| {
        let (k, reason) = refusal(p.evaluate("prod", &r, usage));
        assert_eq!(k, kind, "{reason}");
        assert!(reason.contains(text), "{reason:?} lacks {text:?}");
    };
    check(
        req(Action::Rollback, Some("shop"), "web-1"),
        u,
        RefusalKind::ActionNotAllowed,
        "action rollback is not allowed in env prod",
    );
    check(
        req(Action::Isolate, Some("payments"), "web-1"),
        u,
        RefusalKind::NamespaceNotAllowed,
        "namespace payments is not in the allowlist for env prod",
    );
    check(
        req(Action::Isolate, Some("kube-system"), "web-1"),
        u,
        RefusalKind::ProtectedNamespace,
        "kube-system is protected",
    );
    check(
        req(Action::Isolate, Some("Shop"), "web-1"),
        u,
        RefusalKind::InvalidName,
        "DNS-1123",
    );
    check(
        req(Action::Isolate, Some("shop"), "Web_1"),
        u,
        RefusalKind::InvalidName,
        "DNS-1123",
    );
    check(
        req(Action::Isolate, None, "web-1"),
        u,
        RefusalKind::InvalidName,
        "needs a namespace",
    );
    check(
        req(Action::Isolate, Some("shop"), "db-1"),
        u,
        RefusalKind::NameNotAllowed,
        "db-1 matches no resource pattern",
    );
    let mut critical = req(Action::Isolate, Some("shop"), "web-1");
    critical.labels.insert("critical".into(), "true".into());
    check(critical, u, RefusalKind::LabelsNotAllowed, "label selector");
    let mut script = req(Action::Isolate, Some("shop"), "web-1");
    script.script = Some("rm-rf".into());
    check(
        script,
        u,
        RefusalKind::ScriptNotAllowed,
        "script rm-rf is not allowlisted",
    );
    let mut many = req(Action::DeletePod, Some("shop"), "web-1");
    many.pods = 3;
    check(many, u, RefusalKind::PodBudget, "touches 3 pods; env prod allows 2");
    let mut nodes = req(Action::Cordon, None, "node-1");
    nodes.nodes = 2;
    check(nodes, u, RefusalKind::NodeBudget, "touches 2 nodes");
    let spent = Usage {
        destructive_for_incident: 2,
        destructive_last_hour: 0,
    };
    check(
        req(Action::Isolate, Some("shop"), "web-1"),
        spent,
        RefusalKind::IncidentBudget,
        "allows 2",
    );
    let hourly = Usage {
        destructive_for_incident: 0,
        destructive_last_hour: 3,
    };
    check(
        req(Action::Isolate, Some("shop"), "web-1"),
        hourly,
        RefusalKind::HourlyBudget,
        "last hour",
    );
    let mut thin = req(Action::DeletePod, Some("shop"), "web-1");
    thin.healthy_replicas_after = Some(1);
    check(
        thin,
        u,
        RefusalKind::MinHealthyReplicas,
        "would leave 1 healthy replicas",
    );
    let mut unknown = req(Action::DeletePod, Some("shop"), "web-1");
    unknown.healthy_replicas_after = None;
    check(unknown, u, RefusalKind::MinHealthyReplicas, "unknown");
}

#[test]
fn reverting_is_not_blocked_by_a_spent_budget() {
    let spent = Usage {
        destructive_for_incident: 99,
        destructive_last_hour: 99,
    };
    assert!(
        prod()
            .evaluate("prod", &req(Action::Revert, Some("shop"), "web-1"), spent)
            .is_allowed()
    );
    assert!(
        !prod()
            .evaluate("prod", &req(Action::Pause, Some("shop"), "web-1"), spent)
            .is_allowed()
    );
}

#[test]
fn a_cordon_can_be_reverted_without_a_namespace_and_other_actions_still_need_one() {
    let mut node = req(Action::Revert, None, "node-a");
    node.nodes = 1;
    assert!(prod().evaluate("prod", &node, Usage::default()).is_allowed());
    let (kind, why) = refusal(prod().evaluate("prod", &req(Action::Isolate, None, "web-1"), Usage::default()));
    assert_eq!(kind, RefusalKind::InvalidName);
    assert!(why.contains("needs a namespace"), "{why}");
}

#[test]
fn the_default_policy_refuses_everything_and_config_cannot_allow_protected_namespaces() {
    let d = Policy::default().evaluate("dev", &req(Action::Isolate, Some("shop"), "web-1"), Usage::default());
    assert_eq!(refusal(d).0, RefusalKind::ActionNotAllowed);
    for ns in ["kube-system", "kube-public", "vault"] {
        let cfg = PolicyConfig {
            allowed_namespaces: vec![ns.into()],
            protected_namespaces: vec!["vault".into()],
            ..PolicyConfig::default()
        };
        let e = Policy::try_from(cfg).unwrap_err();
        assert!(e.message.contains("protected"), "{e}");
    }
    let bad = PolicyConfig {
        allowed_namespaces: vec!["Shop".into()],
        ..PolicyConfig::default()
    };
    assert_eq!(Policy::try_from(bad).unwrap_err().field, "policy.allowed_namespaces");
}

#[test]
fn policy_parses_from_toml_with_unknown_keys_rejected() {
    let p: Policy = toml::from_str(
        "allowed_actions = ['isolate']\nallowed_namespaces = ['shop']\nresource_patterns = ['*']\nmax_pods_per_action = 5\n",
    )
    .unwrap();
    assert!(
        p.evaluate("x", &req(Action::Isolate, Some("shop"), "anything"), Usage::default())
            .is_allowed()
    );
    assert!(toml::from_str::<Policy>("allowed_action = ['isolate']").is_err());
    assert!(toml::from_str::<Policy>("allowed_actions = ['nuke']").is_err());
    let e = toml::from_str::<Policy>("allowed_namespaces = ['kube-system']").unwrap_err();
    assert!(e.to_string().contains("protected"), "{e}");
}

proptest! {
    /// However permissive the rest of the policy, a `kube-*` or configured protected
    /// namespace is never allowed: either the config is rejected or the request is refused.
    #[test]
    fn protected_namespaces_are_never_allowed(
        suffix in "[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?",
        extra in proptest::collection::vec("[a-z][a-z0-9]{0,8}", 0..4),
        action in proptest::sample::select(Action::ALL.to_vec()),
        name in "[a-z0-9]{1,12}",
        use_extra in any::<bool>(),
    ) {
        prop_assume!(!extra.iter().any(|e| e == "shop"));
        let target = if use_extra && !extra.is_empty() { extra[0].clone() } else { format!("kube-{suffix}") };
        let allowed: Vec<String> = extra.iter().cloned().chain([target.clone(), "shop".into()]).collect();
        let cfg = |allowed: Vec<String>| PolicyConfig {
            allowed_actions: Action::ALL.to_vec(),
            allowed_namespaces: allowed,
            resource_patterns: vec!["*".into()],
            scripts: vec!["s".into()],
            protected_namespaces: if use_extra { extra.clone() } else { vec![] },
            max_pods_per_action: u32::MAX,
            max_nodes_per_action: u32::MAX,
            max_destructive_per_incident: u32::MAX,
            max_destructive_per_hour: u32::MAX,
            min_healthy_replicas: 0,
            ..PolicyConfig::default()
        };
        prop_assert!(Policy::try_from(cfg(allowed)).is_err());
        // A policy that allows everything else still refuses the protected namespace.
        let p = Policy::try_from(cfg(vec!["shop".into()])).unwrap();
        let r = ActionRequest {
            action,
            namespace: Some(target),
            name,
            labels: BTreeMap::new(),
            script: None,
            pods: 0,
            nodes: 0,
            healthy_replicas_after: Some(u32::MAX),
        };
        prop_assert!(!p.evaluate("prod", &r, Usage::default()).is_allowed());
    }
}
