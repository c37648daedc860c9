//! `notify` and `outbox`: queue a notification and deliver the outbox now; list dead letters.

use clap::{Args, Subcommand};

use crate::{
    IncidentService,
    cli::inputs::{HookInput, Inputs},
    cli::{Failure, cli_id},
    service::*,
};

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Incident id (INC-000001 or 1) [default: the current incident: the most recently changed
    /// contained one, else the most recently changed open one]
    #[arg(long)]
    pub id: Option<String>,
    /// Target name: jira, pagerduty, slack or a configured webhook name
    #[arg(long)]
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
        /// Rows to show, at most 1000
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Queue dead notifications again (due now; audited): one row by id, or every dead row
    Retry {
        /// Outbox row id (see `outbox list --dead`)
        #[arg(required_unless_present = "dead", conflicts_with = "dead")]
        id: Option<i64>,
        /// Every row in the dead letters
        #[arg(long)]
        dead: bool,
    },
}

/// `hook add|list|remove`, or the shorthand `hook --url URL --event E` (one hook, named after
/// the URL's host), or `hook --config hooks.yaml` (every hook of a hooks file).
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HookArgs {
    #[command(subcommand)]
    pub what: Option<HookCommand>,
    /// https:// URL to register (shorthand of `hook add`)
    #[arg(long)]
    pub url: Option<String>,
    /// Lifecycle event to send (repeatable)
    #[arg(long = "event")]
    pub events: Vec<String>,
    /// Name [default: the URL's host, e.g. your-k8s-webhook-com]
    #[arg(long)]
    pub name: Option<String>,
    /// Environment variable holding the signing secret [default: INCIDENT_MCP_HOOK_SECRET,
    /// as for POST /api/hooks]
    #[arg(long)]
    pub secret_env: Option<String>,
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

/// `hook`: JSON on stdout.
pub async fn hook(svc: &IncidentService, args: &HookArgs, inputs: Option<&Inputs>) -> Result<(), Failure> {
    let out = match (&args.what, &args.url, inputs) {
        (Some(what), _, _) => hook_command(svc, what).await?,
        (None, Some(url), _) => {
            if args.events.is_empty() {
                return Err(Failure::input(
                    "--event: name at least one event: detect, analyze, acknowledge, contain, recover, resolve, approval",
                ));
            }
            let input = HookInput {
                url: url.clone(),
                events: args.events.clone(),
                name: args.name.clone(),
                secret_env: args.secret_env.clone(),
            };
            let saved = crate::cli::inputs::register(svc, std::slice::from_ref(&input)).await?;
            serde_json::to_value(&saved[0]).unwrap_or_default()
        }
        (None, None, Some(i)) if !i.hooks.is_empty() => {
            let saved = crate::cli::inputs::register(svc, &i.hooks).await?;
            serde_json::to_value(crate::cli::inputs::HookListShown::from(saved)).unwrap_or_default()
        }
        (None, None, _) => {
            return Err(Failure::input(
                "hook needs --url URL --event EVENT, --config FILE holding `hooks: [{url, events}]`, \
                 or a subcommand: add, list, remove",
            ));
        }
    };
    crate::cli::print_json(&out);
    Ok(())
}

pub(crate) async fn hook_command(svc: &IncidentService, what: &HookCommand) -> Result<serde_json::Value, Failure> {
    Ok(match what {
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
            let saved = crate::cli::inputs::HookShown::from(svc.register_hook(hook, Caller::CLI).await?);
            serde_json::to_value(saved).unwrap_or_default()
        }
        HookCommand::List => {
            let hooks: Vec<crate::cli::inputs::HookShown> =
                svc.registered_hooks().await?.into_iter().map(Into::into).collect();
            serde_json::to_value(crate::cli::inputs::HookListShown::from(hooks)).unwrap_or_default()
        }
        HookCommand::Remove { name } => match svc.remove_hook(name, Caller::CLI).await? {
            true => serde_json::json!({ "removed": name }),
            false => {
                return Err(Failure {
                    error_code: "not_found",
                    field: Some("name".into()),
                    ..Failure::input(format!("--name {name}: no registered webhook of that name"))
                });
            }
        },
    })
}

/// `notify`: queues (unless `--drain` alone), then delivers everything due now. Prints JSON.
/// Exit 2 when the queued notification could not be delivered (it stays queued or is dead).
pub async fn notify(svc: &IncidentService, args: &NotifyArgs) -> Result<(), Failure> {
    let queued = match (&args.id, &args.service) {
        (_, Some(service)) => {
            let id = match &args.id {
                Some(id) => cli_id(id)?,
                None => svc.current_incident("notify about").await?.id,
            };
            let req = NotifyRequest {
                id,
                service: service.clone(),
                message: args.message.clone(),
            };
            Some(svc.notify(req, Caller::CLI).await?)
        }
        (Some(_), None) => return Err(Failure::input("--service: name the target to notify")),
        (None, None) if !args.drain => {
            return Err(Failure::input("--service: name the target to notify (or --drain)"));
        }
        (None, None) => None,
    };
    let dispatcher = svc.dispatcher()?;
    let report = dispatcher.drain().await.map_err(ServiceError::from)?;
    let row = match &queued {
        Some(q) => svc.outbox_row(q.outbox_id).await?,
        None => None,
    };
    let out = serde_json::json!({ "queued": queued, "delivery": report, "row": row });
    crate::cli::print_json(&out);
    match row {
        Some(r) if r.status != crate::store::OutboxStatus::Sent => Err(Failure {
            printed: true,
            ..crate::cli::backend(format!(
                "notification {} not delivered ({}): {}",
                r.id,
                r.status.as_str(),
                r.last_error
                    .unwrap_or_else(|| "not attempted yet: it waits for an earlier notification of the \
                                                 same target and incident"
                        .into())
            ))
        }),
        _ => Ok(()),
    }
}

/// `outbox list [--dead]`: JSON rows, newest first. `outbox retry ID|--dead`: JSON report.
pub async fn outbox(svc: &IncidentService, what: &OutboxCommand) -> Result<(), Failure> {
    match what {
        OutboxCommand::List { dead, limit } => crate::cli::print_json(&svc.outbox_list(*dead, *limit).await?),
        OutboxCommand::Retry { id, dead } => {
            let req = OutboxRetryRequest {
                id: *id,
                all_dead: *dead,
            };
            crate::cli::print_json(&svc.retry_outbox(req.target()?, Caller::CLI).await?);
        }
    }
    Ok(())
}
