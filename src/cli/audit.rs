//! `incident-mcp audit`: verify, anchor and list the tamper-evident audit log.

use clap::Subcommand;

use super::{
    failure::Failure,
    output::{Output, emit},
    table::{table, utc},
};
use crate::service::{AuditList, AuditVerification, IncidentService};

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain: exit 0 when intact, 1 naming the first bad entry
    Verify {
        /// An entry's `SEQ:HASH` kept outside the database (from `audit anchor`, a webhook's
        /// `audit_anchor`, PagerDuty's custom details): also catches a rewrite of the whole chain.
        /// Repeatable.
        #[arg(long = "anchor", value_name = "SEQ:HASH")]
        anchors: Vec<crate::domain::audit::AuditAnchor>,
        #[command(flatten)]
        out: Output,
    },
    /// Print the chain's head as `SEQ:HASH`, to keep somewhere the database's writers cannot reach
    Anchor {
        #[command(flatten)]
        out: Output,
    },
    /// Recent entries, newest first
    List {
        /// How many entries to list (1-1000)
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Only entries older than this sequence number: the `next_before` of an earlier page
        #[arg(long)]
        before: Option<i64>,
        #[command(flatten)]
        out: Output,
    },
}

pub async fn run(svc: &IncidentService, what: &AuditCommand) -> Result<(), Failure> {
    match what {
        AuditCommand::Verify { anchors, out } => {
            let v = svc.audit_verify(anchors).await?;
            emit(out, &v, verification)?;
            match v.intact {
                true => Ok(()),
                false => Err(Failure {
                    error_code: "conflict",
                    printed: true,
                    ..Failure::input(v.summary)
                }),
            }
        }
        AuditCommand::Anchor { out } => match svc.audit_anchor().await? {
            Some(a) => emit(out, &a, |a| a.to_string()),
            None => Err(Failure {
                error_code: "not_found",
                ..Failure::input("the audit log is empty: there is nothing to anchor yet")
            }),
        },
        AuditCommand::List { limit, before, out } => emit(out, &svc.audit_recent(*limit, *before).await?, list),
    }
}

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
                utc(&e.at),
                e.kind.clone(),
                e.actor.clone(),
                e.incident_id.map(|i| i.to_string()).unwrap_or_default(),
                e.plan_id.clone().unwrap_or_default(),
                e.hash[..e.hash.len().min(12)].to_owned(),
            ]
        })
        .collect();
    let shown = table(&["SEQ", "AT (UTC)", "KIND", "ACTOR", "INCIDENT", "PLAN", "HASH"], &rows);
    crate::cli::table::with_more(shown, l.next_before)
}
