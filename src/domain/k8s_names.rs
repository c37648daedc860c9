//! Kubernetes naming rules (DNS-1123 labels and subdomains, label keys and values), name
//! globs and equality-based label selectors, as the API server validates them.

use std::{collections::BTreeMap, fmt};

use super::{DomainError, clip};

fn label_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// DNS-1123 label (namespaces, most resource names): `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
pub fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && label_ok(s)
}

/// DNS-1123 subdomain (pods, nodes, deployments): dot-separated labels, at most 253 in all.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(label_ok)
}

/// A Kubernetes namespace name (DNS-1123 label).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Namespace(String);

impl Namespace {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        if is_dns1123_label(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "namespace",
                format!(
                    "`{}` is not a DNS-1123 label (lowercase letters, digits and -, starting and ending alphanumeric, at most 63)",
                    clip(s, 70)
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `kube-system`, `kube-public`, `kube-node-lease` and every other `kube-*` namespace.
    pub fn is_builtin_protected(&self) -> bool {
        self.0.starts_with("kube-")
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A resource name pattern: DNS-1123 characters plus `*` (any run) and `?` (one character).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameGlob(String);

impl NameGlob {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 253
            && s.bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-.*?".contains(&c));
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "resource_patterns",
                format!(
                    "`{}` is not a name pattern (lowercase letters, digits, -, ., * and ?)",
                    clip(s, 70)
                ),
            ))
        }
    }

    pub fn matches(&self, name: &str) -> bool {
        glob(self.0.as_bytes(), name.as_bytes())
    }
}

/// Iterative wildcard match with single-star backtracking: linear in practice, no recursion.
fn glob(p: &[u8], s: &[u8]) -> bool {
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == b'?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == b'*')
}

fn label_name_ok(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
}

/// Label key: optional DNS-1123 subdomain prefix and `/`, then a name of at most 63.
pub fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && label_name_ok(name),
        None => label_name_ok(s),
    }
}

/// Label value: empty, or a name of at most 63 (alphanumeric ends; `-`, `_`, `.` inside).
pub fn is_label_value(s: &str) -> bool {
    s.is_empty() || label_name_ok(s)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    NotExists(String),
}

/// An equality-based label selector: `app=web,tier!=db,canary,!legacy` (all must hold).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelector(Vec<Requirement>);

impl LabelSelector {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let bad = |why: &str| DomainError::invalid("label_selectors", format!("`{}`: {why}", clip(s, 100)));
        let mut reqs = Vec::new();
        for part in s.split(',').map(str::trim) {
            let key_ok = |k: &str| {
                if is_label_key(k) {
                    Ok(k.to_owned())
                } else {
                    Err(bad(&format!("`{}` is not a valid label key", clip(k, 70))))
                }
            };
            let value_ok = |v: &str| {
                if is_label_value(v) {
                    Ok(v.to_owned())
                } else {
                    Err(bad(&format!("`{}` is not a valid label value", clip(v, 70))))
                }
            };
            let req = if let Some((k, v)) = part.split_once("!=") {
                Requirement::NotEquals(key_ok(k.trim())?, value_ok(v.trim())?)
            } else if let Some((k, v)) = part.split_once("==").or_else(|| part.split_once('=')) {
                Requirement::Equals(key_ok(k.trim())?, value_ok(v.trim())?)
            } else if let Some(k) = part.strip_prefix('!') {
                Requirement::NotExists(key_ok(k.trim())?)
            } else {
                Requirement::Exists(key_ok(part)?)
            };
            reqs.push(req);
        }
        Ok(Self(reqs))
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.0.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dns1123_examples() {
        for ok in ["a", "payments", "web-7", "a1", &"x".repeat(63)] {
            assert!(is_dns1123_label(ok), "{ok}");
        }
        for bad in ["", "-a", "a-", "Web", "a_b", "a.b", &"x".repeat(64), "é"] {
            assert!(!is_dns1123_label(bad), "{bad}");
        }
        assert!(is_dns1123_subdomain("node-1.eu-west.compute.internal"));
        assert!(!is_dns1123_subdomain("a..b") && !is_dns1123_subdomain(".a") && !is_dns1123_subdomain("a."));
        assert!(!is_dns1123_subdomain(&"a.".repeat(127)));
    }

    #[test]
    fn globs_and_selectors() {
        let g = NameGlob::parse("web-*-?").unwrap();
        assert!(g.matches("web-abc-1") && g.matches("web--x"));
        assert!(!g.matches("web-abc-12") && !g.matches("api-web-abc-1"));
        assert!(NameGlob::parse("*").unwrap().matches(""));
        assert!(NameGlob::parse("Web*").is_err() && NameGlob::parse("a/b").is_err());
        let sel = LabelSelector::parse("app=web, tier!=db,canary,!legacy").unwrap();
        let labels = |kv: &[(&str, &str)]| kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        assert!(sel.matches(&labels(&[("app", "web"), ("canary", "")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("canary", ""), ("tier", "db")])));
        assert!(!sel.matches(&labels(&[("app", "web"), ("canary", ""), ("legacy", "1")])));
        assert!(!sel.matches(&labels(&[("app", "web")])));
        assert!(LabelSelector::parse("example.com/app==web").is_ok());
        assert!(LabelSelector::parse("app=we b").is_err() && LabelSelector::parse("=x").is_err());
    }

    /// The Kubernetes regex, applied independently of the hand-written checks.
    fn k8s_label_regex() -> regex::Regex {
        regex::Regex::new("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$").unwrap()
    }

    proptest! {
        #[test]
        fn label_check_agrees_with_the_kubernetes_regex(s in "[a-z0-9.A-Z_-]{0,70}") {
            let want = s.len() <= 63 && k8s_label_regex().is_match(&s);
            prop_assert_eq!(is_dns1123_label(&s), want);
            prop_assert_eq!(Namespace::parse(&s).is_ok(), want);
        }

        #[test]
        fn subdomain_check_agrees_with_the_kubernetes_regex(s in "[a-z0-9.-]{0,260}") {
            let re = regex::Regex::new(
                r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
            ).unwrap();
            prop_assert_eq!(is_dns1123_subdomain(&s), s.len() <= 253 && re.is_match(&s));
        }

        #[test]
        fn star_glob_matches_every_name_and_literal_only_itself(s in "[a-z0-9-]{1,40}", t in "[a-z0-9-]{1,40}") {
            prop_assert!(NameGlob::parse("*").unwrap().matches(&s));
            prop_assert_eq!(NameGlob::parse(&s).unwrap().matches(&t), s == t);
        }
    }
}
