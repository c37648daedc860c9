//! `postmortem`: an incident's post-mortem record outside the MCP prompt — the very record the
//! `incident-postmortem` prompt carries (`IncidentService::postmortem`): who proposed,
//! approved, applied and reverted each plan and when, the phase durations, the timeline.

use std::fmt::Write;

use super::{
    failure::{Failure, cli_id},
    incidents::GetArgs,
    output::emit,
    table::{self, table, utc},
};
use crate::service::{IncidentService, Postmortem};

pub async fn postmortem(svc: &IncidentService, a: &GetArgs) -> Result<(), Failure> {
    let id = cli_id(&a.id)?;
    emit(&a.out, &svc.postmortem(id).await?, render)
}

/// `--format table`: the incident, its phases, its plans and their deciders, the timeline.
pub fn render(p: &Postmortem) -> String {
    let i = &p.incident;
    let mut out = format!(
        "post-mortem record of {}  {}\nstatus {}  severity {}  type {}  env {}  first seen {}",
        i.id,
        i.title,
        i.status,
        i.severity,
        i.kind,
        i.env,
        utc(&i.first_seen)
    );
    table::people(&mut out, i);
    if !p.resolved {
        out.push_str("\nnot resolved yet: the phases not reached have no duration");
    }
    if let Some(n) = &p.resolution_note {
        let _ = write!(out, "\nresolution note: {n}");
    }
    let dash = || "-".to_owned();
    let rows: Vec<Vec<String>> = p
        .phases
        .iter()
        .map(|ph| {
            vec![
                ph.name.clone(),
                ph.duration.clone(),
                utc(&ph.from),
                ph.to.as_ref().map_or_else(dash, utc),
                ph.between.clone(),
            ]
        })
        .collect();
    out.push_str("\n\nphases\n");
    out.push_str(&table(
        &["PHASE", "DURATION", "FROM (UTC)", "TO (UTC)", "BETWEEN"],
        &rows,
    ));
    out.push_str("\n\nplans\n");
    if p.plans.is_empty() {
        out.push_str("no containment or recovery was proposed");
    } else {
        let rows: Vec<Vec<String>> = p
            .plans
            .iter()
            .map(|d| {
                let decided = match (&d.approved_by, &d.denied_by) {
                    (Some(by), _) => format!("approved by {by}"),
                    (None, Some(by)) => format!("denied by {by}: {}", d.denial_reason.as_deref().unwrap_or("")),
                    (None, None) => "not decided".into(),
                };
                vec![
                    d.plan_id.clone(),
                    format!("{} {}", d.kind, d.action),
                    d.target.clone().unwrap_or_else(dash),
                    d.proposed_by.clone(),
                    decided,
                    d.approved_at.as_ref().map_or_else(dash, utc),
                    d.applied_at.as_ref().map_or_else(dash, utc),
                    match (&d.reverted_at, &d.reverted_by) {
                        (Some(at), Some(by)) => format!("{} by {by}", utc(at)),
                        (Some(at), None) => utc(at),
                        _ => dash(),
                    },
                ]
            })
            .collect();
        out.push_str(&table(
            &[
                "PLAN",
                "ACTION",
                "TARGET",
                "PROPOSED BY",
                "DECISION",
                "APPROVED (UTC)",
                "APPLIED (UTC)",
                "REVERTED (UTC)",
            ],
            &rows,
        ));
    }
    table::timeline(&mut out, &p.timeline);
    let _ = write!(out, "\n\n{}", p.untrusted_data_note);
    out
}
