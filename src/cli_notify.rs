//! `notify` and `outbox`: queue a notification and deliver the outbox now; list dead letters.

use clap::{Args, Subcommand};

use crate::{IncidentService, ServiceError, service::*};

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Incident id, e.g. INC-000001
    #[arg(long, required_unless_present = "drain")]
    pub id: Option<String>,
    /// Target name: jira, pagerduty, slack or a configured webhook name
    #[arg(long, required_unless_present = "drain")]
    pub service: Option<String>,
    /// Text to include
    #[arg(long)]
    pub message: Option<String>,
    /// Only deliver what the outbox holds that is due now, then exit
    #[arg(long)]
    pub drain: bool,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Outbox rows, newest first
    List {
        /// Only rows moved to the dead letters
        #[arg(long)]
        dead: bool,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum HookCommand {
    /// Register (or replace) a webhook: JSON body signed with HMAC-SHA256 (see README)
    Add {
        /// Name the notify tool and CLI use for it
        #[arg(long)]
        name: String,
        /// https:// URL (http:// only for loopback with allow_insecure_loopback = true)
        #[arg(long)]
        url: String,
        /// Environment variable holding the signing secret (the server process must have it);
        /// it must start with `[notify] hook_secret_env_prefix` (default INCIDENT_MCP_HOOK_)
        #[arg(long)]
        secret_env: String,
        /// Lifecycle event to send: detect, analyze, acknowledge, contain, recover, resolve, approval,
        /// action_failed (repeatable)
        #[arg(long = "event", required = true)]
        events: Vec<String>,
    },
    /// Registered webhooks (config-file webhooks are not listed)
    List,
    /// Remove a registered webhook
    Remove {
        #[arg(long)]
        name: String,
    },
}

/// `hook add|list|remove`: JSON on stdout.
pub async fn hook(svc: &IncidentService, what: &HookCommand) -> Result<(), (u8, String)> {
    let fail = |e: ServiceError| {
        let code = if e.class() == ErrorClass::Backend { 2 } else { 1 };
        (code, e.to_string())
    };
    let out = match what {
        HookCommand::Add {
            name,
            url,
            secret_env,
            events,
        } => {
            let hook = crate::store::RegisteredHook {
                name: name.clone(),
                url: url.clone(),
                secret_env: secret_env.clone(),
                events: events.clone(),
                added_by: None,
            };
            serde_json::to_value(svc.register_hook(hook, Caller::CLI).await.map_err(fail)?).unwrap_or_default()
        }
        HookCommand::List => serde_json::to_value(svc.registered_hooks().await.map_err(fail)?).unwrap_or_default(),
        HookCommand::Remove { name } => match svc.remove_hook(name, Caller::CLI).await.map_err(fail)? {
            true => serde_json::json!({ "removed": name }),
            false => return Err((1, format!("--name {name}: no registered webhook of that name"))),
        },
    };
    crate::cli::print_json(&out);
    Ok(())
}

/// `notify`: queues (unless `--drain` alone), then delivers everything due now. Prints JSON.
/// Exit 2 when the queued notification could not be delivered (it stays queued or is dead).
pub async fn notify(svc: &IncidentService, args: &NotifyArgs) -> Result<(), (u8, String)> {
    let fail = |e: ServiceError| {
        let code = if e.class() == ErrorClass::Backend { 2 } else { 1 };
        (code, e.to_string())
    };
    let queued = match (&args.id, &args.service) {
        (Some(id), Some(service)) => {
            let id = id.parse().map_err(|e: crate::domain::DomainError| (1, e.to_string()))?;
            let req = NotifyRequest {
                id,
                service: service.clone(),
                message: args.message.clone(),
            };
            Some(svc.notify(req, Caller::CLI).await.map_err(fail)?)
        }
        _ => None,
    };
    let dispatcher = svc.dispatcher().map_err(fail)?;
    let report = dispatcher.drain().await.map_err(|e| fail(ServiceError::from(e)))?;
    let row = match &queued {
        Some(q) => svc.outbox_row(q.outbox_id).await.map_err(fail)?,
        None => None,
    };
    let out = serde_json::json!({ "queued": queued, "delivery": report, "row": row });
    crate::cli::print_json(&out);
    match row {
        Some(r) if r.status != crate::store::OutboxStatus::Sent => Err((
            2,
            format!(
                "notification {} not delivered ({}): {}",
                r.id,
                r.status.as_str(),
                r.last_error.unwrap_or_default()
            ),
        )),
        _ => Ok(()),
    }
}

/// `outbox list [--dead]`: JSON rows, newest first.
pub async fn outbox(svc: &IncidentService, what: &OutboxCommand) -> Result<(), (u8, String)> {
    let OutboxCommand::List { dead, limit } = what;
    let list = svc.outbox_list(*dead, *limit).await.map_err(|e| (2, e.to_string()))?;
    crate::cli::print_json(&list);
    Ok(())
}
