//! Entities: the typed things signals name (an IP address, a user, a session, a host, a pod, a
//! workload, a namespace, a service, a node, a feature of the explainability source), and how
//! they are extracted from a signal. Pure: the rules (label and capture names, message patterns)
//! come from the configuration and are handed in.
//!
//! Every signal names its *subject*, the entity its rule fired for (`ip/203.0.113.9`,
//! `pod/shop/web-7`); extraction adds what its labels and its message name besides. Entities
//! named by one signal are linked by it: that is the correlation graph analysis walks.
//!
//! Telemetry is untrusted: every value is reduced to a safe alphabet and clipped, an address
//! must parse as one, and a signal yields at most `max_per_signal` entities.

use std::collections::BTreeMap;

use regex::Regex;

use super::{incident::string_enum, safe_component};

use EntityKind as Kind;

string_enum! {
    /// What kind of thing an entity is.
    EntityKind {
        /// An IP address (`ip/203.0.113.9`).
        Ip = "ip",
        /// A user or account name (`user/alice`).
        User = "user",
        /// A login or application session (`session/4711`).
        Session = "session",
        /// A host, by name or address (`host/bastion-1`).
        Host = "host",
        /// A Kubernetes pod (`pod/NAMESPACE/NAME`).
        Pod = "pod",
        /// A workload: Deployment, StatefulSet, DaemonSet, ReplicaSet, CronJob (`deployment/NAMESPACE/NAME`).
        Workload = "workload",
        /// A Kubernetes namespace (`namespace/shop`).
        Namespace = "namespace",
        /// A service (`service/checkout`).
        Service = "service",
        /// A cluster node (`node/node-a`).
        Node = "node",
        /// A model feature of the explainability source (`feature/age`).
        Feature = "feature",
        /// Anything else a rule names as its subject (`alert/DiskFull`, `job/node-exporter`).
        Other = "other",
    }
}

/// Longest entity key stored (`pod/` + a 100-character namespace + a 100-character name fits).
pub const MAX_KEY_CHARS: usize = 240;
/// Matches of one message pattern used per signal, at most.
const MAX_MATCHES_PER_PATTERN: usize = 8;

/// One entity: its kind and its key, the text that identifies it within an environment
/// (`user/alice`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntityRef {
    pub kind: EntityKind,
    pub key: String,
}

/// How entities are extracted from a signal, borrowed from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct EntityRules<'a> {
    /// Label or named-capture name → the kind of entity its value names (`src_ip` → ip).
    pub names: &'a BTreeMap<String, EntityKind>,
    /// Patterns run over the signal's message; their named captures are looked up in `names`.
    pub patterns: &'a [Regex],
    /// Entities kept per signal (the subject first).
    pub max_per_signal: usize,
}

impl EntityKind {
    /// The kind a subject's prefix names (`svc/api` is a service, `instance/…` a host).
    pub fn of_prefix(prefix: &str) -> Self {
        match prefix.to_ascii_lowercase().as_str() {
            "ip" | "addr" | "address" => Self::Ip,
            "user" | "username" | "login" | "account" => Self::User,
            "session" => Self::Session,
            "host" | "hostname" | "instance" => Self::Host,
            "pod" => Self::Pod,
            "workload" | "deployment" | "deploy" | "statefulset" | "sts" | "daemonset" | "ds" | "replicaset" | "rs"
            | "cronjob" => Self::Workload,
            "namespace" | "ns" => Self::Namespace,
            "service" | "svc" => Self::Service,
            "node" => Self::Node,
            "feature" => Self::Feature,
            _ => Self::Other,
        }
    }
}

/// The entity a signal's `entity` field names: its kind from the prefix, its key the text
/// itself, verbatim (as the signal stores it, so the store can find a signal's subject by its
/// text). `None` for text that names nothing (no `kind/`, or longer than [`MAX_KEY_CHARS`]).
pub fn subject(entity: &str) -> Option<EntityRef> {
    let (prefix, rest) = entity.split_once('/')?;
    if prefix.is_empty() || rest.is_empty() || entity.chars().count() > MAX_KEY_CHARS {
        return None;
    }
    if entity.chars().any(char::is_control) {
        return None;
    }
    Some(EntityRef {
        kind: EntityKind::of_prefix(prefix),
        key: entity.to_owned(),
    })
}

/// The entities a signal names: its subject, then what its labels name, then what the
/// configured patterns find in its message; each once, at most `rules.max_per_signal`.
pub fn extract(
    rules: &EntityRules<'_>,
    entity: &str,
    message: Option<&str>,
    labels: &BTreeMap<String, String>,
) -> Vec<EntityRef> {
    let max = rules.max_per_signal.max(1);
    let mut out: Vec<EntityRef> = Vec::new();
    let push = |e: EntityRef, out: &mut Vec<EntityRef>| {
        if out.len() < max && !out.contains(&e) {
            out.push(e);
        }
    };
    if let Some(s) = subject(entity) {
        push(s, &mut out);
    }
    let label_ns = labels.get("namespace").map(String::as_str);
    for (name, value) in labels {
        if let Some(e) = named(rules, name, value, label_ns) {
            push(e, &mut out);
        }
    }
    if let Some(text) = message {
        for re in rules.patterns {
            let names: Vec<&str> = re.capture_names().flatten().collect();
            for caps in re.captures_iter(text).take(MAX_MATCHES_PER_PATTERN) {
                let ns = caps.name("namespace").map(|m| m.as_str()).or(label_ns);
                for name in &names {
                    if let Some(m) = caps.name(name)
                        && let Some(e) = named(rules, name, m.as_str(), ns)
                    {
                        push(e, &mut out);
                    }
                }
            }
        }
    }
    out
}

/// The entity the value of label or capture `name` names, if `name` names a kind.
fn named(rules: &EntityRules<'_>, name: &str, value: &str, namespace: Option<&str>) -> Option<EntityRef> {
    let kind = rules.names.get(name).copied()?;
    entity_of(kind, name, value, namespace)
}

/// Values that name nothing in common log and label formats.
fn is_placeholder(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "" | "-" | "--" | "unknown" | "none" | "null" | "nil" | "n/a" | "<none>" | "?" | "*"
    ) || v.contains("REDACTED")
}

/// The entity of kind `kind` that `value` names (`name` is the label or capture it came from:
/// a workload keeps its controller kind, `statefulset/shop/db`).
pub fn entity_of(kind: EntityKind, name: &str, value: &str, namespace: Option<&str>) -> Option<EntityRef> {
    // Sentence punctuation a pattern may have taken along (`of user alice.`).
    let value = value.trim().trim_end_matches(['.', ',', ';']);
    if is_placeholder(value) {
        return None;
    }
    let key = match kind {
        Kind::Ip => format!("ip/{}", parse_addr(value)?),
        Kind::Host => format!("host/{}", safe_component(&strip_port(value).to_ascii_lowercase())),
        Kind::Pod | Kind::Workload => {
            let ns = namespace.map(str::trim).filter(|n| !is_placeholder(n));
            let ns = safe_component(ns.unwrap_or("unknown"));
            let prefix = if kind == Kind::Pod {
                "pod"
            } else {
                workload_prefix(name)
            };
            format!("{prefix}/{ns}/{}", safe_component(value))
        }
        Kind::Other => return None,
        k => format!("{}/{}", k.as_str(), safe_component(value)),
    };
    (key.chars().count() <= MAX_KEY_CHARS).then_some(EntityRef { kind, key })
}

/// `deployment`, `statefulset`, ... from the label or capture name (short forms and plurals
/// too), else `workload`.
fn workload_prefix(name: &str) -> &'static str {
    match name.to_ascii_lowercase().trim_end_matches('s') {
        "deployment" | "deploy" => "deployment",
        "statefulset" | "st" => "statefulset",
        "daemonset" | "d" => "daemonset",
        "replicaset" | "r" => "replicaset",
        "cronjob" => "cronjob",
        _ => "workload",
    }
}

/// `10.0.0.1:9100` → `10.0.0.1`; `host:8080` → `host`; anything else unchanged.
fn strip_port(v: &str) -> &str {
    match v.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && !h.contains(':') && !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
            h
        }
        _ => v,
    }
}

/// An address in canonical form, from `203.0.113.9`, `203.0.113.9:4000`, `[2001:db8::1]:443`
/// or `2001:DB8::1`; `None` if it is not one.
fn parse_addr(v: &str) -> Option<std::net::IpAddr> {
    let v = v.trim();
    if v.len() > 64 {
        return None;
    }
    if let Ok(a) = v.parse() {
        return Some(a);
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok();
    }
    strip_port(v).parse::<std::net::Ipv4Addr>().ok().map(Into::into)
}

#[cfg(test)]
mod tests;
