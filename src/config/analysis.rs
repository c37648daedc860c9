//! `[analysis]`: how entities are extracted from signals (label and named-capture names, message
//! patterns) and how far `analyze` walks the correlation graph. Patterns are compiled here,
//! once, when the configuration loads.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::rules::LogPattern;
use crate::domain::entity::{EntityKind, EntityRules};

/// `[analysis]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnalysisConfig {
    /// The walk considers signals observed from this many seconds before the incident's first
    /// signal to this many after its last.
    pub margin_secs: u64,
    /// Entities one analysis reports at most (the walk stops adding when it is reached).
    pub max_entities: usize,
    /// Entities extracted from one signal at most (its subject first).
    pub max_entities_per_signal: usize,
    /// Kinds reported but not walked through (they link nearly everything).
    pub stop_kinds: Vec<EntityKind>,
    /// Label or named-capture name → the kind of entity its value names. Setting this table
    /// replaces the default one.
    pub names: BTreeMap<String, EntityKind>,
    /// Regexes run over each signal's message (its log line or alert text); their named
    /// captures must be names in `names` (or `namespace`, which also places pods and workloads).
    /// Setting this list replaces the default one.
    pub patterns: Vec<EntityPattern>,
}

/// One message pattern.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityPattern {
    pub name: String,
    pub regex: LogPattern,
}

/// Longest margin accepted: a week.
const MAX_MARGIN_SECS: u64 = 7 * 86_400;
/// Most entities an analysis may be configured to report.
const MAX_ENTITIES: usize = 10_000;
/// Most message patterns.
const MAX_PATTERNS: usize = 32;

impl Default for AnalysisConfig {
    fn default() -> Self {
        use EntityKind::*;
        let names: &[(&str, EntityKind)] = &[
            ("ip", Ip),
            ("src_ip", Ip),
            ("source_ip", Ip),
            ("client_ip", Ip),
            ("remote_ip", Ip),
            ("remote_addr", Ip),
            ("dst_ip", Ip),
            ("destination_ip", Ip),
            ("peer_ip", Ip),
            ("user", User),
            ("username", User),
            ("user_name", User),
            ("login", User),
            ("session", Session),
            ("session_id", Session),
            ("host", Host),
            ("hostname", Host),
            ("instance", Host),
            ("pod", Pod),
            ("pod_name", Pod),
            ("deployment", Workload),
            ("statefulset", Workload),
            ("daemonset", Workload),
            ("replicaset", Workload),
            ("cronjob", Workload),
            ("namespace", Namespace),
            ("service", Service),
            ("service_name", Service),
            ("node", Node),
            ("nodename", Node),
            ("feature", Feature),
            ("feature_name", Feature),
        ];
        let patterns: &[(&str, &str)] = &[
            (
                "ssh-login",
                r"(?:Failed|Accepted|Invalid) (?:password|publickey|user)(?: for)?(?: invalid user)? (?P<user>[A-Za-z0-9._@-]+) from (?P<ip>[0-9A-Fa-f.:]+)",
            ),
            (
                "logind-session",
                r"New session (?P<session>[A-Za-z0-9._-]+) of user (?P<user>[A-Za-z0-9._@-]+)",
            ),
            (
                "key-value",
                r"\b(?:user|username)=(?P<user>[A-Za-z0-9._@-]+)|\bsession(?:_id)?=(?P<session>[A-Za-z0-9._-]+)",
            ),
        ];
        Self {
            margin_secs: 3600,
            max_entities: 1000,
            max_entities_per_signal: 16,
            stop_kinds: vec![Namespace],
            names: names.iter().map(|(n, k)| ((*n).to_owned(), *k)).collect(),
            patterns: patterns
                .iter()
                .map(|(n, r)| EntityPattern {
                    name: (*n).to_owned(),
                    regex: LogPattern::new(r),
                })
                .collect(),
        }
    }
}

impl AnalysisConfig {
    /// The extraction rules, borrowed (patterns that failed to compile are refused at load).
    pub fn rules<'a>(&'a self, compiled: &'a [regex::Regex]) -> EntityRules<'a> {
        EntityRules {
            names: &self.names,
            patterns: compiled,
            max_per_signal: self.max_entities_per_signal,
        }
    }

    /// The compiled message patterns.
    pub fn compiled(&self) -> Vec<regex::Regex> {
        self.patterns.iter().filter_map(|p| p.regex.regex().cloned()).collect()
    }

    pub(super) fn check(&self) -> Result<(), String> {
        let at = "analysis";
        if self.margin_secs > MAX_MARGIN_SECS {
            return Err(format!("{at}.margin_secs: at most {MAX_MARGIN_SECS} (a week)"));
        }
        if !(1..=MAX_ENTITIES).contains(&self.max_entities) {
            return Err(format!("{at}.max_entities: must be in 1..={MAX_ENTITIES}"));
        }
        if !(1..=64).contains(&self.max_entities_per_signal) {
            return Err(format!("{at}.max_entities_per_signal: must be in 1..=64"));
        }
        if self.patterns.len() > MAX_PATTERNS {
            return Err(format!("{at}.patterns: at most {MAX_PATTERNS}"));
        }
        if let Some((name, kind)) = self.names.iter().find(|(_, k)| **k == EntityKind::Other) {
            return Err(format!(
                "{at}.names.{name}: `{kind}` is not a kind to extract (ip, user, session, host, pod, workload, \
                 namespace, service, node, feature)"
            ));
        }
        for p in &self.patterns {
            let re = match &p.regex.regex() {
                Some(re) => *re,
                None => {
                    return Err(format!(
                        "{at}.patterns.{}: not a valid regex (at most 1024 characters)",
                        p.name
                    ));
                }
            };
            if let Some(c) = re.capture_names().flatten().find(|c| !self.names.contains_key(*c)) {
                return Err(format!(
                    "{at}.patterns.{}: capture `{c}` names no entity kind; add it to analysis.names",
                    p.name
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid_and_checked() {
        let d = AnalysisConfig::default();
        d.check().unwrap();
        assert_eq!(d.compiled().len(), d.patterns.len());
        let mut bad = AnalysisConfig::default();
        bad.patterns[0].regex = LogPattern::new("(?P<who>x)");
        assert!(bad.check().unwrap_err().contains("capture `who`"));
        let mut bad = AnalysisConfig::default();
        bad.names.insert("x".into(), EntityKind::Other);
        assert!(bad.check().is_err());
        let bad = AnalysisConfig {
            max_entities: 0,
            ..AnalysisConfig::default()
        };
        assert!(bad.check().is_err());
    }

    #[test]
    fn the_default_patterns_find_the_manifest_entities() {
        let d = AnalysisConfig::default();
        let compiled = d.compiled();
        let rules = d.rules(&compiled);
        let keys = |msg: &str| -> Vec<String> {
            crate::domain::entity::extract(&rules, "", Some(msg), &BTreeMap::new())
                .into_iter()
                .map(|e| e.key)
                .collect()
        };
        assert_eq!(
            keys("Failed password for invalid user admin from 203.0.113.9 port 41800 ssh2"),
            ["user/admin", "ip/203.0.113.9"]
        );
        assert_eq!(
            keys("Accepted publickey for alice from 2001:db8::7 port 22 ssh2"),
            ["user/alice", "ip/2001:db8::7"]
        );
        assert_eq!(keys("New session 4711 of user alice."), ["session/4711", "user/alice"]);
        assert_eq!(keys("GET /x user=bob session_id=s-9"), ["user/bob", "session/s-9"]);
    }
}
