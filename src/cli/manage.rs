//! `declare`, `note`, `assign`, `severity`: incident management by the person at the terminal,
//! on the local store (remote mode sends the same requests to the server's REST API).

use clap::Args;

use super::{
    failure::{Failure, cli_id},
    flags::{configured_env, field},
    output::{Output, emit},
    table,
};
use crate::{
    domain::{IncidentType, Severity},
    service::{AssignRequest, Caller, DeclareRequest, IncidentService, NoteRequest, SeverityRequest},
};

#[derive(Debug, Args)]
pub struct DeclareArgs {
    /// What is wrong, in one line, e.g. "Checkout returns 502 for some users"
    #[arg(long)]
    pub title: String,
    /// A configured environment [default: the default environment]
    #[arg(long)]
    pub env: Option<String>,
    /// Incident type: network, app-vuln, auth, resource, availability, explainability, other
    /// [default: other]
    #[arg(long = "type")]
    pub kind: Option<String>,
    /// Severity: info, low, medium, high, critical [default: medium]
    #[arg(long)]
    pub severity: Option<String>,
    /// An affected entity, kind/name or kind/namespace/name (service/checkout,
    /// pod/shop/web-1, ip/203.0.113.9); repeat for several
    #[arg(long = "entity", value_name = "ENTITY")]
    pub entities: Vec<String>,
    /// A first note for the timeline: what was seen, by whom
    #[arg(long)]
    pub note: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct NoteArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    /// The note: what was found, tried or decided
    #[arg(long)]
    pub note: String,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct AssignArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    /// The owner: a person's name or handle
    #[arg(long, required_unless_present = "commander")]
    pub owner: Option<String>,
    /// The incident commander: a person's name or handle
    #[arg(long)]
    pub commander: Option<String>,
    #[command(flatten)]
    pub out: Output,
}

#[derive(Debug, Args)]
pub struct SeverityArgs {
    /// Incident id: INC-000123 or 123
    #[arg(long)]
    pub id: String,
    /// The new severity: info, low, medium, high, critical
    #[arg(long)]
    pub severity: String,
    /// Why, for the timeline and the audit log
    #[arg(long)]
    pub reason: String,
    #[command(flatten)]
    pub out: Output,
}

impl DeclareArgs {
    /// The request these flags make; `env` is checked against the configuration when given.
    pub(super) fn request(&self, cfg: Option<&crate::config::Config>) -> Result<DeclareRequest, Failure> {
        let env = match (&self.env, cfg) {
            (Some(e), Some(cfg)) => Some(configured_env(cfg, e)?),
            (Some(e), None) => Some(crate::domain::Env::parse(e)?),
            (None, _) => None,
        };
        Ok(DeclareRequest {
            env,
            title: self.title.clone(),
            kind: self
                .kind
                .as_deref()
                .map(str::parse::<IncidentType>)
                .transpose()
                .map_err(|e| field("type", e))?,
            severity: parse_severity(self.severity.as_deref())?,
            entities: self.entities.clone(),
            note: self.note.clone(),
        })
    }
}

pub(super) fn parse_severity(s: Option<&str>) -> Result<Option<Severity>, Failure> {
    Ok(s.map(str::parse::<Severity>)
        .transpose()
        .map_err(|e| field("severity", e))?)
}

pub async fn declare(svc: &IncidentService, a: &DeclareArgs) -> Result<(), Failure> {
    let req = a.request(Some(svc.config()))?;
    emit(&a.out, &svc.declare(req, Caller::CLI).await?, table::update)
}

pub async fn note(svc: &IncidentService, a: &NoteArgs) -> Result<(), Failure> {
    let req = NoteRequest {
        id: cli_id(&a.id)?,
        note: a.note.clone(),
    };
    emit(&a.out, &svc.note(req, Caller::CLI).await?, table::update)
}

pub async fn assign(svc: &IncidentService, a: &AssignArgs) -> Result<(), Failure> {
    let req = AssignRequest {
        id: cli_id(&a.id)?,
        owner: a.owner.clone(),
        commander: a.commander.clone(),
    };
    emit(&a.out, &svc.assign(req, Caller::CLI).await?, table::update)
}

pub async fn severity(svc: &IncidentService, a: &SeverityArgs) -> Result<(), Failure> {
    let req = SeverityRequest {
        id: cli_id(&a.id)?,
        severity: parse_severity(Some(&a.severity))?.unwrap_or(Severity::Medium),
        reason: a.reason.clone(),
    };
    emit(&a.out, &svc.set_severity(req, Caller::CLI).await?, table::update)
}
