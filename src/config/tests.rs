//! Unit tests of configuration parsing and validation.

use super::*;

#[test]
fn slack_buttons_need_the_bot_and_links_need_a_plain_public_url() {
    let parse = |extra: &str| Config::parse_str(&format!("{EXAMPLE_TOML}\n{extra}"), "toml", "t");
    let bot =
        "[notify.slack]\nbot_token_env = \"T\"\nchannel = \"C024BE91L\"\nsigning_secret_env = \"SLACK_SIGNING\"\n";
    let ok = parse(bot).unwrap();
    assert_eq!(
        ok.notify.slack.unwrap().signing_secret_env.as_deref(),
        Some("SLACK_SIGNING")
    );
    for (extra, needle) in [
        (
            "[notify.slack]\nwebhook_url_env = \"W\"\nsigning_secret_env = \"S\"\n",
            "buttons need the bot",
        ),
        (
            "[notify.slack]\nbot_token_env = \"T\"\nchannel = \"#x\"\nsigning_secret_env = \"S-1\"\n",
            "signing_secret_env",
        ),
    ] {
        let e = parse(extra).unwrap_err().to_string();
        assert!(e.contains(needle), "{extra}: {e}");
    }
    let mut cfg = Config::builtin();
    assert_eq!(cfg.public_url(), None);
    cfg.server.public_url = Some("https://incidents.example.com/".into());
    assert_eq!(cfg.public_url(), Some("https://incidents.example.com"));
    assert!(check_public_url("https://incidents.example.com/base").is_ok());
    for bad in [
        "incidents.example.com",
        "ftp://x.example",
        "https://u:p@x.example",
        "https://x.example/?a=1",
    ] {
        assert!(check_public_url(bad).is_err(), "{bad}");
    }
}

#[test]
fn approvers_need_unique_names_and_their_own_key_variable() {
    let parse = |extra: &str| Config::parse_str(&format!("{EXAMPLE_TOML}\n{extra}"), "toml", "t");
    let ok = parse("[[approvers]]\nname = \"alice\"\nkey_env = \"APPROVER_ALICE\"\n").unwrap();
    assert_eq!(ok.approvers[0].name, "alice");
    for (extra, needle) in [
        (
            "[[approvers]]\nname = \"bob\"\nkey_env = \"OPENCLAW_API_KEY\"\n",
            "agent's key",
        ),
        (
            "[[approvers]]\nname = \"bob\"\nkey_env = \"A-B\"\n",
            "environment variable",
        ),
        ("[[approvers]]\nname = \"b b\"\nkey_env = \"K\"\n", "unique name"),
        (
            "[[approvers]]\nname = \"a\"\nkey_env = \"K1\"\n[[approvers]]\nname = \"a\"\nkey_env = \"K2\"\n",
            "unique name",
        ),
        ("[[approvers]]\nname = \"carol\"\n", "at least one credential"),
        (
            "[[approvers]]\nname = \"carol\"\npassword_hash = \"hunter2\"\n",
            "argon2 PHC",
        ),
        (
            "[[approvers]]\nname = \"carol\"\nslack_user_id = \"alice\"\n",
            "Slack user id",
        ),
        (
            "[[approvers]]\nname = \"a\"\nslack_user_id = \"U1\"\n[[approvers]]\nname = \"b\"\nslack_user_id = \"U1\"\n",
            "unique Slack user id",
        ),
    ] {
        let e = parse(extra).unwrap_err().to_string();
        assert!(e.contains(needle), "{extra}: {e}");
    }
}

#[test]
fn approvers_may_sign_in_with_oidc_only_when_the_sign_in_is_configured() {
    let sign_in = "[oauth]\nissuer = 'https://id.example.com'\nresource = 'https://i.example.com/mcp'\n\
                   [oauth.sign_in]\nclient_id = 'approvals'\nredirect_uri = 'https://i.example.com/ui/oidc/callback'\n";
    let parse = |extra: &str| Config::parse_str(&format!("{EXAMPLE_TOML}\n{extra}"), "toml", "t");
    let ok = parse(&format!(
        "{sign_in}[[approvers]]\nname = 'alice'\noidc_subject = 's-1'\n[[approvers]]\nname = 'bob'\nemail = 'bob@example.com'\n"
    ))
    .unwrap();
    assert_eq!(ok.approvers[1].email.as_deref(), Some("bob@example.com"));
    for (extra, needle) in [
        (
            "[[approvers]]\nname = 'alice'\noidc_subject = 's-1'\n".to_owned(),
            "needs [oauth.sign_in]",
        ),
        (
            format!("{sign_in}[[approvers]]\nname = 'a'\nemail = 'x@y'\n[[approvers]]\nname = 'b'\nemail = 'X@Y'\n"),
            "unique email",
        ),
        (
            format!(
                "{sign_in}[[approvers]]\nname = 'a'\noidc_subject = 's'\n[[approvers]]\nname = 'b'\noidc_subject = 's'\n"
            ),
            "unique subject",
        ),
        (
            format!("{sign_in}[[approvers]]\nname = 'a'\nemail = 'nobody'\n"),
            "email address",
        ),
    ] {
        let e = parse(&extra).unwrap_err().to_string();
        assert!(e.contains(needle), "{extra}: {e}");
    }
}

#[test]
fn the_default_environment_is_default_env_else_the_only_one() {
    let builtin = Config::builtin();
    assert_eq!(builtin.env_names(), ["dev", "prod", "staging"]);
    assert_eq!(builtin.resolve_env(None).unwrap().as_str(), "dev");
    let staging = Env::parse("staging").unwrap();
    assert_eq!(builtin.resolve_env(Some(&staging)).unwrap(), staging);
    let one = Config::parse_str("[environments.lab]\n", "toml", "t").unwrap();
    assert_eq!(one.resolve_env(None).unwrap().as_str(), "lab");
    let two = Config::parse_str("[environments.a]\n[environments.b]\n", "toml", "t").unwrap();
    let e = two.resolve_env(None).unwrap_err();
    assert!(e.message.contains("a, b are configured") && e.field == "env", "{e}");
    let e = Config::parse_str("default_env = \"c\"\n[environments.a]\n", "toml", "t").unwrap_err();
    assert!(
        e.to_string()
            .contains("default_env: `c` is not a configured environment (a)"),
        "{e}"
    );
}

#[test]
fn builtin_defines_dev() {
    let cfg = Config::builtin();
    assert!(cfg.env(&Env::parse("dev").unwrap()).is_some());
    assert_eq!(cfg.server.http_addr, "127.0.0.1:8787");
}

#[test]
fn unknown_keys_and_bad_rules_are_rejected() {
    let e = Config::parse_str("[storage]\ndbb = 'x'\n", "toml", "t").unwrap_err();
    assert!(e.to_string().contains("dbb"), "{e}");
    let rule = r#"{"environments":{"x":{"rules":[{"name":"r","type":"network","severity":"low","metric":"m","entity":"e"}]}}}"#;
    let e = Config::parse_str(rule, "json", "t").unwrap_err();
    assert!(e.to_string().contains("above"), "{e}");
    let yaml = "environments:\n  y:\n    rules:\n      - {name: r, type: auth, severity: low, log_match: '(', window_secs: 1, min_count: 1, entity: e}\n";
    assert!(
        Config::parse_str(yaml, "yaml", "t")
            .unwrap_err()
            .to_string()
            .contains("regex")
    );
}

#[test]
fn environment_policy_is_parsed_and_validated_at_load() {
    use crate::domain::policy::{Action, ActionRequest, Usage};
    let toml = "[environments.prod.policy]\nallowed_actions = ['isolate']\nallowed_namespaces = ['shop']\n\
                resource_patterns = ['web-*']\n";
    let cfg = Config::parse_str(toml, "toml", "t").unwrap();
    let req = |ns: &str| ActionRequest {
        action: Action::Isolate,
        namespace: Some(ns.into()),
        name: "web-1".into(),
        labels: BTreeMap::new(),
        script: None,
        pods: 1,
        nodes: 0,
        healthy_replicas_after: Some(2),
    };
    let policy = &cfg.environments["prod"].policy;
    assert!(policy.evaluate("prod", &req("shop"), Usage::default()).is_allowed());
    assert!(!policy.evaluate("prod", &req("payments"), Usage::default()).is_allowed());
    let example = Config::parse_str(EXAMPLE_TOML, "toml", "t").unwrap();
    assert!(
        !example.environments["dev"]
            .policy
            .evaluate("dev", &req("shop"), Usage::default())
            .is_allowed(),
        "deny by default"
    );
    // The built-in dev environment acts on its sandbox, within its own policy.
    let builtin = Config::builtin();
    let dev = &builtin.environments["dev"];
    assert_eq!(
        dev.cluster.as_ref().map(|c| c.kind),
        Some(crate::cluster::connect::ClusterKind::Sandbox)
    );
    assert!(dev.policy.evaluate("dev", &req("shop"), Usage::default()).is_allowed());
    assert!(
        !dev.policy
            .evaluate("dev", &req("payments"), Usage::default())
            .is_allowed()
    );
    for (bad, why) in [
        ("allowed_namespaces = ['kube-system']", "protected"),
        ("allowed_namespaces = ['Shop']", "DNS-1123"),
        ("allowed_actions = ['nuke']", "nuke"),
        ("max_pods = 3", "max_pods"),
    ] {
        let e = Config::parse_str(&format!("[environments.prod.policy]\n{bad}\n"), "toml", "t").unwrap_err();
        assert!(e.to_string().contains(why), "{bad}: {e}");
    }
}

#[test]
fn api_key_is_redacted_in_debug() {
    let mut cfg = Config::builtin();
    cfg.api_key = Some(SecretString::from("canary-7f3a"));
    assert!(!format!("{cfg:?}").contains("canary-7f3a"));
}
