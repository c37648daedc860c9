//! `--format table` renderings for `incident-mcp audit`.

use crate::{
    cli::table::table,
    service::{AuditList, AuditVerification},
};

pub(crate) fn verification(v: &AuditVerification) -> String {
    // The head as `SEQ:HASH`, ready for a later `--anchor`.
    match &v.head_anchor {
        Some(h) if v.intact => format!("{}\nhead {h}", v.summary),
        _ => v.summary.clone(),
    }
}

pub(crate) fn list(l: &AuditList) -> String {
    let rows: Vec<Vec<String>> = l
        .entries
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                e.kind.clone(),
                e.actor.clone(),
                e.incident_id.map(|i| i.to_string()).unwrap_or_default(),
                e.plan_id.clone().unwrap_or_default(),
                e.hash[..e.hash.len().min(12)].to_owned(),
            ]
        })
        .collect();
    table(&["SEQ", "AT", "KIND", "ACTOR", "INCIDENT", "PLAN", "HASH"], &rows)
}
