//! The plan page (what the human approves, and the three decisions) and the page after a decision.

use chrono::{DateTime, Utc};
use maud::{Markup, html};
use serde_json::Value;

use super::{Viewer, format, views::layout};
use crate::{
    domain::Signal,
    service::{ApprovalReport, IssuedCode, PlanReport, PlanReview, PlanStatus},
};

/// Approval validities offered on the page, in seconds.
const TTL_CHOICES: [(u64, &str); 4] = [
    (60, "1 minute"),
    (300, "5 minutes"),
    (900, "15 minutes"),
    (3600, "1 hour"),
];

/// Changes as the JSON the diff view reads.
fn as_values(changes: &[crate::cluster::Change]) -> Vec<Value> {
    changes
        .iter()
        .map(|c| serde_json::to_value(c).unwrap_or(Value::Null))
        .collect()
}

fn diff(values: &[Value]) -> Markup {
    let lines = format::diff_lines(values);
    html! {
        @if lines.is_empty() {
            p.muted { "(none)" }
        } @else {
            pre.diff {
                @for l in &lines {
                    span class=(l.class()) { (l.sign) " " (l.text) } "\n"
                }
            }
        }
    }
}

/// Telemetry, shown as text and marked as untrusted data.
pub(super) fn signals_table(signals: &[Signal]) -> Markup {
    html! {
        div.untrusted data-untrusted="telemetry" {
            p.untrusted-note {
                "Untrusted telemetry: shown as text; it is data, never instructions."
            }
            @if signals.is_empty() {
                p.muted { "No signals recorded." }
            } @else {
                table {
                    tr { th { "Observed" } th { "Rule · entity" } th { "Value · score" } th { "Message" } }
                    @for s in signals {
                        tr {
                            td { (format::time(s.observed_at)) }
                            td { (s.rule) " · " (s.entity) }
                            td { (s.value) " · " (format!("{:.2}", s.score)) }
                            td { @if let Some(m) = &s.message { code { (m) } } }
                        }
                    }
                }
            }
        }
    }
}

fn decision_forms(r: &PlanReview, viewer: &Viewer) -> Markup {
    let id = &r.view.plan.plan_id;
    let target = &r.view.plan.target;
    html! {
        h2 { "Decide" }
        section #decide {
            form.decide #approve-form method="post" action={ "/ui/plans/" (id) "/approve" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="approve-name" { "To approve, type the target's name: " code { (target) } }
                input #approve-name type="text" name="confirm_name" required autocomplete="off"
                    autocapitalize="none" spellcheck="false";
                label for="ttl" { "The approval is single-use and valid for" }
                select #ttl name="ttl_secs" {
                    @for (secs, text) in TTL_CHOICES {
                        option value=(secs) selected[secs == 300] { (text) }
                    }
                }
                button type="submit" { "Approve" }
                span.muted { "The proposer (" (r.view.principal) ") then applies it." }
            }
            form.decide #apply-form method="post" action={ "/ui/plans/" (id) "/approve-and-apply" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="apply-name" { "Or approve and apply now: type " code { (target) } }
                input #apply-name type="text" name="confirm_name" required autocomplete="off"
                    autocapitalize="none" spellcheck="false";
                button.apply type="submit" { "Approve & apply" }
            }
            form.decide #code-form method="post" action={ "/ui/plans/" (id) "/code" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                span.muted { "Or approve inside the agent's MCP dialog: get a one-time code and type it there yourself." }
                button type="submit" { "Get a one-time code" }
            }
            form.decide #deny-form method="post" action={ "/ui/plans/" (id) "/deny" } {
                input type="hidden" name="csrf" value=(viewer.csrf);
                label for="reason" { "Or deny it, saying why (the agent sees the reason)" }
                textarea #reason name="reason" rows="2" maxlength="500" required {}
                button.danger type="submit" { "Deny" }
            }
        }
    }
}

/// The plan page; `error` explains a refused decision.
pub fn plan_page(r: &PlanReview, viewer: &Viewer, now: DateTime<Utc>, error: Option<&str>) -> String {
    let v = &r.view;
    let p = &v.plan;
    let (state, sentence) = format::plan_state(v, now);
    let proposed = v.history.iter().find(|e| e.kind == "proposal").map(|e| e.at);
    let body = html! {
        h1 { "Plan " code { (p.plan_id) } " " span.badge.(state) #state { (state.replace('-', " ")) } }
        p #state-text { (sentence) }
        @if let Some(e) = error { p.error role="alert" { (e) } }
        @if let Some(d) = &v.denial {
            p #denial { "Denied by " (d.denied_by) " at " (format::time(d.denied_at)) ": " q { (d.reason) } }
        }
        section #what {
            table {
                tr { th { "Action" } td #action { (r.action.as_deref().unwrap_or("?")) " (" (p.kind) ")" } }
                tr { th { "Target" } td #target {
                    code { (r.resource) }
                    @if let Some(ns) = &r.namespace { " in namespace " code { (ns) } }
                    " · name to type: " strong { (p.target) }
                } }
                @for t in &r.targets {
                    tr { th { "Planned against" } td { code {
                        (t.kind) " " @if let Some(ns) = &t.namespace { (ns) "/" } (t.name)
                        " at version " (t.resource_version)
                    } } }
                }
                tr { th { "Environment" } td { (p.env) } }
                tr { th { "Blast radius" } td #blast {
                    (p.blast_radius.pods) " pod(s), " (p.blast_radius.nodes) " node(s)"
                    @if !p.blast_radius.workloads.is_empty() { "; workloads " (p.blast_radius.workloads.join(", ")) }
                    @if !p.blast_radius.namespaces.is_empty() { "; namespaces " (p.blast_radius.namespaces.join(", ")) }
                } }
                tr { th { "Auto-revert (TTL)" } td #ttl-value { @match p.ttl_secs {
                    Some(t) => { "reverted automatically " (format::duration(t as i64)) " after it is applied" },
                    None => { "none: stays until reverted" },
                } } }
                tr { th { "Proposed by" } td #proposer { (v.principal)
                    @if let Some(at) = proposed { span.muted { " at " (format::time(at)) } } } }
                tr { th { "Approval" } td #approval { @match &v.approval {
                    Some(a) => { (a.state) " · by " (a.approver) " · expires " (format::time(a.expires_at))
                        @if a.state == "valid" { " (" (format::duration((a.expires_at - now).num_seconds())) " left)" } },
                    None => { "none yet" },
                } } }
            }
        }
        h2 { "What will change"
            @if let Some(d) = &r.dry_run { span.muted { " · dry run: " (d["status"].as_str().unwrap_or("?")) } } }
        section #changes { (diff(&as_values(&p.changes))) }
        h2 { "Undo (recorded inverse)" }
        section #inverse {
            p { span.badge.(if r.inverse.state == "allowed" { "applied" } else { "denied" }) #inverse-state
                { (r.inverse.state.replace('_', " ")) } " " (r.inverse.detail) }
            (diff(&as_values(&p.inverse)))
        }
        h2 { "Why policy allowed it" }
        section #policy {
            @if let Some(why) = &r.refused_now { p.error { "Policy would refuse it now: " (why) } }
            ul { @for rule in &r.allowed_by { li { (rule) } } }
            @if let Some(req) = &r.policy_request {
                p.muted { "Checked at proposal time against:" }
                pre { (serde_json::to_string_pretty(req).unwrap_or_default()) }
            }
        }
        @if let Some(inc) = &r.incident {
            h2 { "Incident " a href={ "/ui/incidents/" (inc.incident.id) } { (inc.incident.id) } }
            section #incident {
                p { strong { (inc.incident.title) } }
                p.muted { "severity " (inc.incident.severity) " · status " (inc.incident.status)
                    " · env " (inc.incident.env) " · " (inc.incident.signal_count) " signal(s)" }
                (super::runbooks::runbooks_block(&inc.runbooks))
                (signals_table(&inc.recent_signals))
            }
        }
        @if matches!(p.status, PlanStatus::Pending | PlanStatus::NotApplied) { (decision_forms(r, viewer)) }
        h2 { "History" }
        section #history { (super::incident_page::audit_table(&v.history)) }
    };
    layout(&format!("Plan {}", p.plan_id), Some(viewer), body)
}

/// A one-time code, shown once (the page is `Cache-Control: no-store`).
pub fn code_page(viewer: &Viewer, code: &IssuedCode) -> String {
    let body = html! {
        h1 { "One-time code" }
        p.ok role="status" { "Your code for plan " code { (code.plan_id) } ":" }
        p #code { strong { code { (code.code) } } }
        p { "Type it into the agent's approval dialog yourself. It approves as " (code.approver)
            ", once, until " (format::time(code.expires_at)) ". It is shown only now." }
        p.error { "Never paste it into the agent's chat: whoever holds it can approve this plan." }
        p { a href={ "/ui/plans/" (code.plan_id) } { "Back to the plan" } }
    };
    layout("One-time code", Some(viewer), body)
}

/// What a decision did.
pub enum ApproveOutcome<'a> {
    Approved(&'a ApprovalReport),
    Applied(&'a PlanReport),
}

/// The page after Approve or Approve & apply.
pub fn approve_result(viewer: &Viewer, plan_id: &str, outcome: ApproveOutcome) -> String {
    let body = html! {
        @match outcome {
            ApproveOutcome::Approved(a) => {
                h1 { "Approved" }
                p.ok #result role="status" { (a.summary) }
                p { "Only " (a.principal) " can apply it, once, before " (format::time(a.expires_at)) "." }
            },
            ApproveOutcome::Applied(r) => {
                h1 { "Approved and applied: " (r.status_word()) }
                p.ok #result role="status" { (r.summary) }
                @if let Some(results) = &r.outcome {
                    h2 { "Outcome" }
                    section #outcome { @for res in results { pre { (serde_json::to_string_pretty(res).unwrap_or_default()) } } }
                }
            },
        }
        p { a href={ "/ui/plans/" (plan_id) } { "Back to the plan" } " · " a href="/ui/plans" { "Queue" } }
    };
    layout("Decision", Some(viewer), body)
}

trait StatusWord {
    fn status_word(&self) -> String;
}

impl StatusWord for PlanReport {
    fn status_word(&self) -> String {
        serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
            .unwrap_or_default()
    }
}
