//! `list`, `get`, `analyze`, `ack`, `resolve`: read and move incidents on the local store.

use clap::Args;

use super::{
    failure::{Failure, cli_id},
    flags::{configured_env, field},
    output::{Output, emit},
    table,
};
use crate::{
    domain::{Depth, IncidentType, Status},
    service::{AckRequest, AnalyzeRequest, Caller, GetRequest, IncidentService, ListRequest, ResolveRequest},
};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    /// Detail level 0-3
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    pub depth: i64,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only incidents of this configured environment
    #[arg(long)]
    pub env: Option<String>,
    /// Only incidents in this status (open, acknowledged, contained, recovered, resolved)
    #[arg(long)]
    pub status: Option<String>,
    /// Only incidents of this type (network, app-vuln, auth, resource, availability,
    /// explainability, other)
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// How many incidents to list (1-200)
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Continue after an earlier page: the `next_cursor` it printed
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct AckArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    /// A note for the incident's timeline
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    /// What resolved it, for the incident's timeline
    #[arg(long)]
    pub note: String,
    /// Resolve leaving the incident's containments in place (noted in the timeline)
    #[arg(long)]
    pub keep_containments: bool,
    #[command(flatten)]
    pub out: Output,
}

pub async fn analyze(svc: &IncidentService, a: &AnalyzeArgs) -> Result<(), Failure> {
    let req = AnalyzeRequest {
        id: cli_id(&a.id)?,
        depth: Some(Depth::new(a.depth)?),
    };
    emit(&a.out, &svc.analyze(req).await?, table::analysis)
}

pub async fn list(svc: &IncidentService, a: &ListArgs) -> Result<(), Failure> {
    let req = ListRequest {
        env: a.env.as_deref().map(|e| configured_env(svc.config(), e)).transpose()?,
        status: a
            .status
            .as_deref()
            .map(str::parse::<Status>)
            .transpose()
            .map_err(|e| field("status", e))?,
        kind: a
            .kind
            .as_deref()
            .map(str::parse::<IncidentType>)
            .transpose()
            .map_err(|e| field("type", e))?,
        limit: Some(a.limit),
        cursor: a.cursor.clone(),
    };
    emit(&a.out, &svc.list(req).await?, table::list)
}

pub async fn get(svc: &IncidentService, a: &GetArgs) -> Result<(), Failure> {
    let id = cli_id(&a.id)?;
    emit(&a.out, &svc.get(GetRequest { id }).await?, table::detail)
}

pub async fn ack(svc: &IncidentService, a: &AckArgs) -> Result<(), Failure> {
    let req = AckRequest {
        id: cli_id(&a.id)?,
        note: a.note.clone(),
    };
    emit(&a.out, &svc.ack(req, Caller::CLI).await?, table::lifecycle)
}

pub async fn resolve(svc: &IncidentService, a: &ResolveArgs) -> Result<(), Failure> {
    let req = ResolveRequest {
        id: cli_id(&a.id)?,
        note: a.note.clone(),
        keep_containments: a.keep_containments,
    };
    emit(&a.out, &svc.resolve(req, Caller::CLI).await?, table::lifecycle)
}
