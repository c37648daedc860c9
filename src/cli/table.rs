//! Human-readable renderings for `--format table`.

use std::fmt::Write;

use crate::{domain::Incident, service::*};

/// The one timestamp style of tables: UTC, ISO-8601 to the second (`2026-05-01T12:00:00Z`);
/// column headers say `(UTC)`.
pub(crate) fn utc(t: &chrono::DateTime<chrono::Utc>) -> String {
    crate::domain::display_time(t)
}

pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = line(headers.iter().map(|h| h.to_string()).collect());
    for r in rows {
        out.push('\n');
        out.push_str(&line(r.clone()));
    }
    out
}

fn incident_rows(list: &[Incident]) -> Vec<Vec<String>> {
    list.iter()
        .map(|i| {
            vec![
                i.id.to_string(),
                i.status.to_string(),
                i.severity.to_string(),
                i.kind.to_string(),
                i.env.clone(),
                utc(&i.last_seen),
                i.title.clone(),
            ]
        })
        .collect()
}

const INCIDENT_HEADERS: &[&str] = &["ID", "STATUS", "SEVERITY", "TYPE", "ENV", "LAST SEEN (UTC)", "TITLE"];

pub fn list(l: &IncidentList) -> String {
    if l.incidents.is_empty() {
        return "no incidents".into();
    }
    let mut out = table(INCIDENT_HEADERS, &incident_rows(&l.incidents));
    if let Some(c) = &l.next_cursor {
        let _ = write!(out, "\nmore: rerun with --cursor {c}");
    }
    out
}

pub fn detect(r: &DetectReport) -> String {
    let mut out = r.summary.clone();
    for s in &r.sources {
        let _ = write!(
            out,
            "\nsource {}: {} events ({} metric points, {} log lines), {} skipped",
            s.name, s.events, s.metric_points, s.log_lines, s.skipped_lines
        );
    }
    if !r.incidents.is_empty() {
        let rows: Vec<Vec<String>> = r
            .incidents
            .iter()
            .map(|i| {
                vec![
                    i.id.to_string(),
                    format!("{:?}", i.change).to_lowercase(),
                    i.severity.to_string(),
                    i.kind.to_string(),
                    i.entity.clone(),
                    format!("{:.2}", i.max_score),
                    i.title.clone(),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&table(
            &["ID", "CHANGE", "SEVERITY", "TYPE", "ENTITY", "SCORE", "TITLE"],
            &rows,
        ));
    }
    // The same `alert: ...` lines as the JSON's `alerts` (CI steps grep for them).
    for a in &r.alerts {
        out.push('\n');
        out.push_str(a);
    }
    if let Some(analyses) = &r.analyses {
        for a in analyses {
            out.push_str("\n\n");
            out.push_str(&analysis(a));
        }
    }
    out
}

pub fn detail(d: &IncidentDetail) -> String {
    let i = &d.incident;
    let mut out = format!(
        "{}  {}\nstatus {}  severity {}  type {}  env {}\nfirst seen {}  last seen {}  signals {}",
        i.id,
        i.title,
        i.status,
        i.severity,
        i.kind,
        i.env,
        utc(&i.first_seen),
        utc(&i.last_seen),
        i.signal_count
    );
    people(&mut out, i);
    if let Some(p) = i.previous_id {
        out.push_str(&format!(
            "\nfollows {p} (fired again after it was resolved and the grouping window passed)"
        ));
    }
    if !d.recent_signals.is_empty() {
        let rows: Vec<Vec<String>> = d
            .recent_signals
            .iter()
            .map(|s| {
                vec![
                    utc(&s.observed_at),
                    s.entity.clone(),
                    format!("{}", s.value),
                    format!("{:.2}", s.score),
                    s.message.clone().unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str("\n\n");
        out.push_str(&table(
            &["TIME (UTC)", "ENTITY", "VALUE", "SCORE", "MESSAGE (untrusted)"],
            &rows,
        ));
    }
    runbooks(&mut out, &d.runbooks);
    out
}

/// An incident's timeline, one entry a line, after a blank line.
pub(crate) fn timeline(out: &mut String, tl: &[crate::domain::TimelineEntry]) {
    out.push_str("\n\ntimeline (UTC)");
    for t in tl {
        // A note's later lines stay under its first, not in the time column.
        let _ = write!(
            out,
            "\n{}  {:<13} {:<8} {}",
            utc(&t.at),
            t.kind.as_str(),
            t.actor,
            t.message.replace('\n', "\n                                        ")
        );
    }
}

/// Owner, commander and the first acknowledgement, when there are any.
pub(crate) fn people(out: &mut String, i: &Incident) {
    let mut parts = Vec::new();
    if let Some(o) = &i.owner {
        parts.push(format!("owner {o}"));
    }
    if let Some(c) = &i.commander {
        parts.push(format!("commander {c}"));
    }
    if let Some(t) = &i.acknowledged_at {
        let by = i.acknowledged_by.as_deref().unwrap_or("?");
        parts.push(format!("acknowledged {} by {by}", utc(t)));
    }
    if !parts.is_empty() {
        out.push('\n');
        out.push_str(&parts.join("  "));
    }
}

pub fn analysis(a: &Analysis) -> String {
    let mut out = a.summary.clone();
    people(&mut out, &a.incident);
    let rows: Vec<Vec<String>> = a
        .affected_resources
        .iter()
        .map(|r| {
            vec![
                r.entity.clone(),
                r.kind.clone(),
                r.signals.to_string(),
                r.rules.join(","),
            ]
        })
        .collect();
    out.push_str("\n\naffected resources\n");
    out.push_str(&table(&["ENTITY", "KIND", "SIGNALS", "RULES"], &rows));
    if let Some(groups) = &a.signal_groups {
        let rows: Vec<Vec<String>> = groups
            .iter()
            .map(|g| {
                vec![
                    g.rule.clone(),
                    g.series.clone(),
                    g.entity.clone(),
                    g.count.to_string(),
                    format!("{}..{}", g.min_value, g.max_value),
                    format!("{:.2}", g.max_score),
                ]
            })
            .collect();
        out.push_str("\n\nsignal groups\n");
        out.push_str(&table(
            &["RULE", "SERIES", "ENTITY", "COUNT", "VALUES", "MAX SCORE"],
            &rows,
        ));
    }
    if let Some(tl) = &a.timeline {
        timeline(&mut out, tl);
    }
    if let Some(rel) = &a.related_incidents
        && !rel.is_empty()
    {
        out.push_str("\n\nrelated incidents\n");
        out.push_str(&table(INCIDENT_HEADERS, &incident_rows(rel)));
    }
    insight(a, &mut out);
    if let Some(k) = &a.kubernetes {
        out.push_str("\n\nkubernetes (read-only; names and messages are cluster data)");
        let (sections, notes) = super::table_kube::kubernetes(k);
        for (title, headers, rows) in sections {
            out.push_str(if title.is_empty() { "\n" } else { "\n\n" });
            if !title.is_empty() {
                out.push_str(title);
                out.push('\n');
            }
            out.push_str(&table(headers, &rows));
        }
        out.push_str(&notes);
    }
    runbooks(&mut out, &a.runbooks);
    out.push_str("\n\nnext steps");
    for s in &a.next_steps {
        let _ = write!(out, "\n- {s}");
    }
    out
}

pub fn lifecycle(r: &LifecycleResult) -> String {
    r.message.clone()
}

/// A person's change to an incident: what happened, then where the incident stands.
pub fn update(u: &IncidentUpdate) -> String {
    let i = &u.incident;
    let mut out = format!(
        "{}
{}  {}  status {}  severity {}",
        u.message, i.id, i.title, i.status, i.severity
    );
    for (role, who) in [("owner", &i.owner), ("commander", &i.commander)] {
        if let Some(w) = who {
            let _ = write!(out, "  {role} {w}");
        }
    }
    out
}

/// Runbook links and the alert's description, as text (never links).
fn runbooks(out: &mut String, r: &crate::domain::runbook::Runbooks) {
    if r.is_empty() {
        return;
    }
    out.push_str("\n\nrunbooks (data: the server never opens these)\n");
    let rows: Vec<Vec<String>> = r
        .links
        .iter()
        .map(|l| {
            vec![
                format!("{:?}", l.kind).to_lowercase(),
                format!("{:?}", l.source).to_lowercase(),
                l.rule.clone(),
                l.url.clone(),
            ]
        })
        .collect();
    if !rows.is_empty() {
        out.push_str(&table(&["KIND", "FROM", "RULE", "URL"], &rows));
    }
    if let Some(d) = &r.description {
        let _ = write!(out, "\ndescription (untrusted): {d}");
    }
}

/// The sandbox's objects, one a line.
pub fn sandbox(v: &SandboxView) -> String {
    let rows: Vec<Vec<String>> = v
        .objects
        .iter()
        .map(|o| {
            vec![
                o.kind.clone(),
                o.namespace.clone().unwrap_or_else(|| "-".into()),
                o.name.clone(),
                o.version.to_string(),
                o.state.clone(),
            ]
        })
        .collect();
    format!(
        "simulated cluster of env {} (sandbox: nothing outside incident-mcp's database)\n{}",
        v.env,
        table(&["KIND", "NAMESPACE", "NAME", "VERSION", "STATE"], &rows)
    )
}

/// Active containments, one a line.
pub fn containments(l: &ContainmentList) -> String {
    if l.containments.is_empty() {
        return l.summary.clone();
    }
    let time = utc;
    let rows: Vec<Vec<String>> = l
        .containments
        .iter()
        .map(|c| {
            vec![
                c.plan_id.clone(),
                c.env.clone(),
                c.incident_id.map(|i| i.to_string()).unwrap_or_default(),
                c.action.clone(),
                c.target.clone(),
                c.namespace.clone().unwrap_or_else(|| "-".into()),
                time(&c.since),
                c.expires_at.as_ref().map_or_else(|| "never".into(), time),
                c.proposed_by.clone(),
                c.approved_by.clone().unwrap_or_else(|| "-".into()),
                if c.simulated { "yes" } else { "no" }.into(),
            ]
        })
        .collect();
    table(
        &[
            "PLAN",
            "ENV",
            "INCIDENT",
            "ACTION",
            "TARGET",
            "NAMESPACE",
            "SINCE (UTC)",
            "EXPIRES (UTC)",
            "PROPOSED BY",
            "APPROVED BY",
            "SIMULATED",
        ],
        &rows,
    )
}

/// A table followed by how to get the next page, when there is one.
pub fn with_more(table: String, next_before: Option<i64>) -> String {
    match next_before {
        Some(b) => format!("{table}\nmore: rerun with --before {b}"),
        None => table,
    }
}

/// The correlation graph (what each depth adds), similar incidents and suggestions of an analysis.
fn insight(a: &Analysis, out: &mut String) {
    if let Some(c) = &a.correlation {
        let _ = write!(
            out,
            "\n\nentities by depth (signals from {} to {}; added per depth: {}{})\n",
            utc(&c.window_from),
            utc(&c.window_to),
            c.added_per_depth
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            if c.truncated { "; truncated" } else { "" }
        );
        let rows: Vec<Vec<String>> = c
            .entities
            .iter()
            .map(|e| {
                vec![
                    e.depth.to_string(),
                    e.entity.clone(),
                    e.kind.to_string(),
                    e.signals.to_string(),
                    e.incidents.to_string(),
                    if e.stop {
                        "(not walked) ".to_owned()
                    } else {
                        String::new()
                    } + &e.via.join(","),
                ]
            })
            .collect();
        out.push_str(&table(
            &["DEPTH", "ENTITY", "KIND", "SIGNALS", "INCIDENTS", "VIA"],
            &rows,
        ));
        if !c.incidents.is_empty() {
            let rows: Vec<Vec<String>> = c
                .incidents
                .iter()
                .map(|i| {
                    vec![
                        i.id.to_string(),
                        i.status.to_string(),
                        i.shared_entities.to_string(),
                        i.nearest_depth.to_string(),
                        i.title.clone(),
                    ]
                })
                .collect();
            out.push_str("\n\nincidents these entities touch\n");
            out.push_str(&table(&["ID", "STATUS", "SHARED", "DEPTH", "TITLE"], &rows));
        }
    }
    if let Some(similar) = a.similar_incidents.as_ref().filter(|s| !s.is_empty()) {
        let rows: Vec<Vec<String>> = similar
            .iter()
            .map(|s| {
                let resolved = s.resolution.as_ref().map_or_else(
                    || "not resolved".to_owned(),
                    |r| format!("{} s: {}", r.time_to_resolve_secs, r.note.as_deref().unwrap_or("")),
                );
                vec![s.id.to_string(), format!("{:.2}", s.score), s.title.clone(), resolved]
            })
            .collect();
        out.push_str("\n\nsimilar past incidents\n");
        out.push_str(&table(&["ID", "SCORE", "TITLE", "RESOLVED (TIME, NOTE)"], &rows));
    }
    if !a.suggested_actions.is_empty() {
        let rows: Vec<Vec<String>> = a
            .suggested_actions
            .iter()
            .map(|s| {
                let policy = serde_json::to_value(s.policy.decision)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let operation = match s.operation {
                    Operation::Contain => "contain",
                    Operation::Recover => "recover",
                };
                vec![
                    operation.to_owned(),
                    serde_json::to_string(&s.arguments).unwrap_or_default(),
                    policy + &s.policy.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default(),
                ]
            })
            .collect();
        out.push_str("\n\nsuggested actions (nothing runs until planned and approved)\n");
        out.push_str(&table(&["OPERATION", "ARGUMENTS", "POLICY"], &rows));
    }
}
