//! `analyze --format table`: the Kubernetes context block (depth ≥ 1, environments with a
//! cluster), as sections `table.rs` renders. Compact: one row per object, then its events and
//! revisions, then the reach of each containment policy allows.

use std::fmt::Write;

use crate::{cluster::context::KubeContext, domain::display_time as utc};

/// One table: its title (empty: none), headers and rows.
pub(super) type Section = (&'static str, &'static [&'static str], Vec<Vec<String>>);

/// The block's tables, in order, and the lines that follow them (what was not read, errors).
pub(super) fn kubernetes(k: &KubeContext) -> (Vec<Section>, String) {
    let mut sections: Vec<Section> = Vec::new();
    let rows: Vec<Vec<String>> = k
        .objects
        .iter()
        .map(|o| {
            let restarts: i32 = o.pods.iter().map(|p| p.restarts).fold(0, i32::saturating_add);
            let why: Vec<String> = o
                .pods
                .iter()
                .flat_map(|p| &p.containers)
                .filter_map(|c| {
                    let w = c.waiting.as_deref();
                    let t = c.last_termination.as_deref();
                    match (w, t) {
                        (None, None) => None,
                        (w, t) => Some([w, t].into_iter().flatten().collect::<Vec<_>>().join("/")),
                    }
                })
                .take(2)
                .collect();
            let node = o.node.as_ref().map_or_else(String::new, |n| {
                let mut s = n.name.clone();
                if !n.ready {
                    s.push_str(" (not ready)");
                }
                for p in &n.pressure {
                    let _ = write!(s, " {p}");
                }
                s
            });
            vec![
                o.entity.clone(),
                o.owners.join(" > "),
                node,
                o.services.join(","),
                format!("{restarts} {}", why.join(",")).trim_end().to_owned(),
                o.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        sections.push(("", &["OBJECT", "OWNERS", "NODE", "SERVICES", "RESTARTS", "ERROR"], rows));
    }
    let events: Vec<Vec<String>> = k
        .objects
        .iter()
        .flat_map(|o| &o.events)
        .map(|e| {
            vec![
                e.last_at.as_ref().map(utc).unwrap_or_default(),
                e.object.clone(),
                e.kind.clone(),
                e.reason.clone(),
                e.count.to_string(),
                e.message.chars().take(80).collect(),
            ]
        })
        .collect();
    if !events.is_empty() {
        let headers: &[&str] = &["LAST (UTC)", "OBJECT", "TYPE", "REASON", "COUNT", "MESSAGE"];
        sections.push(("events", headers, events));
    }
    let rollouts: Vec<Vec<String>> = k
        .objects
        .iter()
        .flat_map(|o| &o.rollouts)
        .map(|r| {
            let mut flags = Vec::new();
            if r.current {
                flags.push("current");
            }
            if r.in_window {
                flags.push("IN INCIDENT WINDOW");
            }
            vec![
                r.revision.to_string(),
                r.replicaset.clone(),
                r.created_at.as_ref().map(utc).unwrap_or_default(),
                format!("{}/{}", r.ready, r.replicas),
                r.images.join(","),
                flags.join(", "),
            ]
        })
        .collect();
    if !rollouts.is_empty() {
        let headers: &[&str] = &["REVISION", "REPLICASET", "CREATED (UTC)", "READY", "IMAGES", ""];
        sections.push(("recent deploys", headers, rollouts));
    }
    let reach: Vec<Vec<String>> = k
        .blast_radius
        .iter()
        .map(|r| {
            vec![
                r.action.clone(),
                format!("{}/{}", r.namespace, r.resource),
                r.pods.map(|p| p.to_string()).unwrap_or_default(),
                r.workloads.join(","),
                r.services.join(","),
                r.healthy_replicas_after.map(|p| p.to_string()).unwrap_or_default(),
                r.error.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if !reach.is_empty() {
        let headers: &[&str] = &[
            "ACTION",
            "TARGET",
            "PODS",
            "WORKLOADS",
            "SERVICES",
            "READY AFTER",
            "ERROR",
        ];
        sections.push(("blast radius of the containments policy allows", headers, reach));
    }
    let mut out = String::new();
    for n in &k.not_read {
        let _ = write!(out, "\nnot read: {n}");
    }
    if let Some(e) = &k.error {
        let _ = write!(out, "\nkubernetes.error: {e}");
    }
    (sections, out)
}
