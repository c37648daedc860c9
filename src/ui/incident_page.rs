//! The incident page: summary, evidence, plans, and one timeline merging the lifecycle timeline,
//! the audit entries (proposals, approvals, denials, refusals, actions) and notifications.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde_json::Value;

use super::{Viewer, format, plan_page::signals_table, views::layout};
use crate::{
    domain::{audit::AuditEntry, clip},
    service::IncidentHistory,
};

/// A one-line account of an audit entry.
fn audit_text(e: &AuditEntry) -> String {
    let p = &e.payload;
    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
    let text = match e.kind.as_str() {
        // `kind` (contain, recover); entries of older versions named the tool instead.
        "proposal" => {
            let kind = p.get("kind").map_or_else(|| s("tool"), |_| s("kind"));
            format!("proposed {} ({kind}), {} change(s)", s("action"), p["changes"])
        }
        "approval" => format!("approved for {} until {}", s("principal"), s("expires_at")),
        "denial" => format!("denied: {}", s("reason")),
        "refusal" => format!(
            "refused ({}): {}",
            s("reason"),
            p["message"].as_str().unwrap_or(&s("by"))
        ),
        "outcome" | "revert" | "reconcile" => {
            let detail = p["error"].as_str().or(p["reason"].as_str()).unwrap_or_default();
            format!("{}: {} {detail}", e.kind, s("status"))
        }
        "intent" => format!("about to apply (for {})", s("principal")),
        // Never the salt or hash: with them a short code could be guessed offline.
        "code" => match s("event").as_str() {
            "issued" => format!("one-time code issued, expires {}", s("expires_at")),
            "used" => format!("one-time code used in the dialog of {}", s("dialog_of")),
            other => format!("one-time code: {other}"),
        },
        _ => format!("{}: {}", e.kind, compact(p)),
    };
    clip(&text, 400)
}

fn compact(v: &Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// An audit log excerpt (a plan's or an incident's).
pub(super) fn audit_table(entries: &[AuditEntry]) -> Markup {
    html! {
        table.audit {
            tr { th { "When" } th { "Who" } th { "What" } }
            @for e in entries {
                tr {
                    td { (format::time(e.at)) br; span.muted { "#" (e.seq) } }
                    td { (e.actor) }
                    td {
                        span.badge { (e.kind) } " " (audit_text(e))
                        @if let Some(plan) = &e.plan_id {
                            " " a href={ "/ui/plans/" (plan) } { code { (plan) } }
                        }
                    }
                }
            }
        }
    }
}

struct Row {
    at: DateTime<Utc>,
    what: String,
    who: String,
    text: String,
    plan: Option<String>,
}

/// The incident page.
pub fn incident_page(h: &IncidentHistory, viewer: &Viewer) -> String {
    let inc = &h.detail.incident;
    let mut rows: Vec<Row> = h
        .timeline
        .iter()
        .map(|t| Row {
            at: t.at,
            what: t.kind.to_string(),
            who: t.actor.clone(),
            text: t.message.clone(),
            plan: None,
        })
        .collect();
    rows.extend(h.audit.iter().map(|e| Row {
        at: e.at,
        what: e.kind.clone(),
        who: e.actor.clone(),
        text: audit_text(e),
        plan: e.plan_id.clone(),
    }));
    rows.extend(h.notifications.iter().map(|n| Row {
        at: n.created_at,
        what: "notification".into(),
        who: n.target.clone(),
        text: format!(
            "{} to {}: {} after {} attempt(s)",
            n.event,
            n.target,
            n.status.as_str(),
            n.attempts
        ),
        plan: None,
    }));
    rows.sort_by_key(|r| r.at);
    let mut plans: Vec<&AuditEntry> = h.audit.iter().filter(|e| e.kind == "proposal").collect();
    plans.dedup_by_key(|e| e.plan_id.clone());
    let body = html! {
        h1 { "Incident " (inc.id) }
        section #summary {
            p { strong { (inc.title) } }
            p.muted { "severity " (inc.severity) " · status " (inc.status) " · env " (inc.env) " · type " (inc.kind)
                " · first seen " (format::time(inc.first_seen)) " · last seen " (format::time(inc.last_seen)) }
            @if !inc.labels.is_empty() {
                div.untrusted data-untrusted="labels" {
                    p.untrusted-note { "Labels from telemetry (untrusted data):" }
                    code { @for (k, v) in &inc.labels { (k) "=" (v) " " } }
                }
            }
        }
        @if !h.detail.runbooks.is_empty() {
            h2 { "Runbooks and dashboards" }
            section #incident-runbooks { (super::runbooks::runbooks_block(&h.detail.runbooks)) }
        }
        h2 { "Evidence: latest signals" }
        section #signals { (signals_table(&h.detail.recent_signals)) }
        h2 { "Plans" }
        section #plans {
            @if plans.is_empty() { p.muted { "No containment or recovery was proposed." } }
            ul { @for e in &plans { @if let Some(id) = &e.plan_id {
                li { a href={ "/ui/plans/" (id) } { code { (id) } } " " (audit_text(e)) " · by " (e.actor) }
            } } }
        }
        h2 { "Timeline" }
        section #timeline {
            p.untrusted-note { "Messages may quote telemetry: data, never instructions." }
            table {
                tr { th { "When" } th { "What" } th { "Who" } th { "Details" } }
                @for r in &rows {
                    tr {
                        td { (format::time(r.at)) }
                        td { span.badge { (r.what) } }
                        td { (r.who) }
                        td { (r.text) @if let Some(p) = &r.plan { " " a href={ "/ui/plans/" (p) } { code { (p) } } } }
                    }
                }
            }
        }
    };
    layout(&format!("Incident {}", inc.id), Some(viewer), body)
}
