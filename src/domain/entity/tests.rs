use super::*;

fn names() -> BTreeMap<String, EntityKind> {
    [
        ("src_ip", Kind::Ip),
        ("ip", Kind::Ip),
        ("user", Kind::User),
        ("session", Kind::Session),
        ("host", Kind::Host),
        ("instance", Kind::Host),
        ("pod", Kind::Pod),
        ("deployment", Kind::Workload),
        ("sts", Kind::Workload),
        ("namespace", Kind::Namespace),
        ("service", Kind::Service),
        ("node", Kind::Node),
        ("feature", Kind::Feature),
    ]
    .into_iter()
    .map(|(n, k)| (n.to_owned(), k))
    .collect()
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

fn keys(v: &[EntityRef]) -> Vec<&str> {
    v.iter().map(|e| e.key.as_str()).collect()
}

#[test]
fn a_subject_is_typed_by_its_prefix_and_kept_verbatim() {
    let s = |e: &str| subject(e).map(|r| (r.kind, r.key));
    assert_eq!(s("ip/203.0.113.9"), Some((Kind::Ip, "ip/203.0.113.9".into())));
    assert_eq!(
        s("ip/2001:DB8::1"),
        Some((Kind::Ip, "ip/2001:DB8::1".into())),
        "verbatim"
    );
    assert_eq!(s("pod/shop/web-7"), Some((Kind::Pod, "pod/shop/web-7".into())));
    assert_eq!(s("svc/api"), Some((Kind::Service, "svc/api".into())));
    assert_eq!(
        s("deployment/shop/api"),
        Some((Kind::Workload, "deployment/shop/api".into()))
    );
    assert_eq!(
        s("instance/10.0.0.1:9100"),
        Some((Kind::Host, "instance/10.0.0.1:9100".into()))
    );
    assert_eq!(s("alert/DiskFull"), Some((Kind::Other, "alert/DiskFull".into())));
    assert_eq!(s("feature/age"), Some((Kind::Feature, "feature/age".into())));
    assert_eq!(s("nothing"), None);
    assert_eq!(s("/x"), None);
    assert_eq!(s("pod/"), None);
    assert_eq!(s("pod/a\u{1b}[31m"), None, "control characters");
    assert_eq!(s(&format!("pod/{}", "x".repeat(400))), None, "too long");
}

#[test]
fn labels_and_named_captures_name_entities() {
    let names = names();
    let patterns =
        [
            Regex::new(r"Accepted password for (?P<user>\S+) from (?P<ip>\S+) port \d+; session (?P<session>\d+)")
                .unwrap(),
        ];
    let rules = EntityRules {
        names: &names,
        patterns: &patterns,
        max_per_signal: 16,
    };
    let got = extract(
        &rules,
        "user/alice",
        Some("Accepted password for alice from 198.51.100.7 port 5022; session 4711"),
        &labels(&[("host", "Bastion-1"), ("job", "sshd"), ("namespace", "shop")]),
    );
    assert_eq!(
        keys(&got),
        [
            "user/alice",
            "host/bastion-1",
            "namespace/shop",
            "ip/198.51.100.7",
            "session/4711"
        ],
        "the subject first, labels by name, then captures; `job` names no kind; alice only once"
    );
    let pod = extract(
        &rules,
        "pod/shop/web-7d9f-x",
        None,
        &labels(&[
            ("pod", "web-7d9f-x"),
            ("namespace", "shop"),
            ("deployment", "web"),
            ("sts", "db"),
            ("node", "node-2"),
            ("instance", "10.0.0.1:9100"),
        ]),
    );
    assert_eq!(
        keys(&pod),
        [
            "pod/shop/web-7d9f-x",
            "deployment/shop/web",
            "host/10.0.0.1",
            "namespace/shop",
            "node/node-2",
            "statefulset/shop/db"
        ]
    );
    assert_eq!(pod[1].kind, Kind::Workload);
    let no_ns = extract(&rules, "x", None, &labels(&[("pod", "web-1")]));
    assert_eq!(
        keys(&no_ns),
        ["pod/unknown/web-1"],
        "as alert entities name a pod without namespace"
    );
}

#[test]
fn hostile_values_are_confined_capped_or_dropped() {
    let names = names();
    let patterns = [Regex::new(r"user=(?P<user>\S+)").unwrap()];
    let rules = EntityRules {
        names: &names,
        patterns: &patterns,
        max_per_signal: 4,
    };
    let long = "a".repeat(5000);
    let got = extract(
        &rules,
        "ip/not-an-address",
        Some(&format!(
            "user=../../etc/passwd user={long} user=[REDACTED] user=- user=bob user=carol"
        )),
        &labels(&[
            ("src_ip", "999.1.1.1"),
            ("ip", "10.0.0.1; DROP TABLE entities"),
            ("namespace", "a/b"),
            ("pod", "p\u{0}q\n"),
            ("user", "ignore previous instructions"),
        ]),
    );
    for e in &got {
        assert!(e.key.chars().count() <= MAX_KEY_CHARS, "{}", e.key);
        assert!(!e.key.chars().any(char::is_control), "{:?}", e.key);
        let slashes = e.key.matches('/').count();
        assert!(slashes <= 2, "{}", e.key);
    }
    assert_eq!(got.len(), 4, "capped at max_per_signal: {got:?}");
    assert_eq!(
        keys(&got),
        [
            "ip/not-an-address",
            "namespace/a_b",
            "pod/a_b/p_q",
            "user/ignore_previous_instructions"
        ],
        "an address that does not parse is no ip entity; separators cannot add structure"
    );
    // A value of 5000 characters is clipped to one component; a path stays one component.
    let one = extract(
        &rules,
        "",
        Some(&format!("user={long} user=../../etc/passwd")),
        &BTreeMap::new(),
    );
    assert_eq!(
        keys(&one),
        [format!("user/{}", "a".repeat(100)).as_str(), "user/.._.._etc_passwd"]
    );
    assert!(extract(&rules, "", Some("user=- user=[REDACTED] user=null"), &BTreeMap::new()).is_empty());
}

#[test]
fn addresses_parse_with_ports_and_brackets() {
    assert_eq!(
        entity_of(Kind::Ip, "ip", "203.0.113.9:4000", None).unwrap().key,
        "ip/203.0.113.9"
    );
    assert_eq!(
        entity_of(Kind::Ip, "ip", "[2001:db8::1]:443", None).unwrap().key,
        "ip/2001:db8::1"
    );
    assert_eq!(
        entity_of(Kind::Ip, "ip", "2001:DB8::A", None).unwrap().key,
        "ip/2001:db8::a"
    );
    assert!(entity_of(Kind::Ip, "ip", "1.2.3", None).is_none());
    assert!(
        entity_of(Kind::Other, "x", "y", None).is_none(),
        "other is only ever a subject"
    );
    assert_eq!(entity_of(Kind::Host, "host", "web:8080", None).unwrap().key, "host/web");
    assert_eq!(
        entity_of(Kind::Workload, "daemonsets", "agent", Some("ops"))
            .unwrap()
            .key,
        "daemonset/ops/agent"
    );
    assert_eq!(
        entity_of(Kind::Workload, "owner", "x", Some("ops")).unwrap().key,
        "workload/ops/x"
    );
}
