//! `notify` and `outbox`: queue a notification and deliver the outbox now; list dead letters.

use clap::{Args, Subcommand};

use super::{
    failure::{Failure, cli_id},
    inputs::{HookInput, HookListShown, Inputs},
    output::{Output, emit, emit_rendered},
    table::{table, utc},
};
use crate::{IncidentService, service::*};

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
    #[command(flatten)]
    pub out: Output,
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
        /// Only rows older than this id: the `next_before` of an earlier page
        #[arg(long)]
        before: Option<i64>,
        #[command(flatten)]
        out: Output,
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
    /// Lifecycle event to send: detect, analyze, acknowledge, contain, recover, resolve, approval,
    /// action_failed (repeatable)
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
    List {
        #[command(flatten)]
        out: Output,
    },
    /// Remove a registered webhook
    Remove {
        /// The webhook's name (as `hook list` shows it)
        #[arg(long)]
        name: String,
    },
}

/// `hook`: JSON on stdout (`hook list`: as `--format` says).
pub async fn hook(svc: &IncidentService, args: &HookArgs, inputs: Option<&Inputs>) -> Result<(), Failure> {
    if let Some(HookCommand::List { out }) = &args.what {
        let hooks: Vec<super::inputs::HookShown> = svc.registered_hooks().await?.into_iter().map(Into::into).collect();
        return emit(out, &HookListShown::from(hooks), hooks_table);
    }
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
            let saved = super::inputs::register(svc, std::slice::from_ref(&input)).await?;
            serde_json::to_value(&saved[0]).unwrap_or_default()
        }
        (None, None, Some(i)) if !i.hooks.is_empty() => {
            let saved = super::inputs::register(svc, &i.hooks).await?;
            serde_json::to_value(super::inputs::HookListShown::from(saved)).unwrap_or_default()
        }
        (None, None, _) => {
            return Err(Failure::input(
                "hook needs --url URL --event EVENT, --config FILE holding `hooks: [{url, events}]`, \
                 or a subcommand: add, list, remove",
            ));
        }
    };
    super::output::print_json(&out);
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
            let saved = super::inputs::HookShown::from(svc.register_hook(hook, Caller::CLI).await?);
            serde_json::to_value(saved).unwrap_or_default()
        }
        HookCommand::List { .. } => {
            let hooks: Vec<super::inputs::HookShown> =
                svc.registered_hooks().await?.into_iter().map(Into::into).collect();
            serde_json::to_value(super::inputs::HookListShown::from(hooks)).unwrap_or_default()
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
    let shown = serde_json::json!({ "queued": queued, "delivery": report, "row": row });
    let line = match (&queued, &row) {
        (Some(q), Some(r)) => format!(
            "{}\noutbox row {}: {} after {} attempt(s); delivered now: {} of {} due",
            q.summary,
            r.id,
            r.status.as_str(),
            r.attempts,
            report.sent,
            report.attempted
        ),
        _ => format!(
            "outbox drained: {} due, {} sent, {} to retry, {} dead",
            report.attempted, report.sent, report.retrying, report.dead
        ),
    };
    emit_rendered(&args.out, &shown, line)?;
    match row {
        Some(r) if r.status != crate::store::OutboxStatus::Sent => Err(Failure {
            printed: true,
            ..super::failure::backend(format!(
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

/// `outbox list [--dead]`: rows, newest first.
/// `outbox retry ID|--dead`: the requeued rows as JSON.
pub async fn outbox(svc: &IncidentService, what: &OutboxCommand) -> Result<(), Failure> {
    match what {
        OutboxCommand::List {
            dead,
            limit,
            before,
            out,
        } => {
            let list = svc.outbox_list(*dead, *limit, *before).await?;
            emit(out, &list, outbox_table)
        }
        OutboxCommand::Retry { id, dead } => {
            let req = OutboxRetryRequest {
                id: *id,
                all_dead: *dead,
            };
            crate::cli::output::print_json(&svc.retry_outbox(req.target()?, Caller::CLI).await?);
            Ok(())
        }
    }
}

fn outbox_table(l: &OutboxList) -> String {
    let rows: Vec<Vec<String>> = l
        .rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.status.as_str().to_owned(),
                r.target.clone(),
                r.event.clone(),
                r.incident.map(|i| i.to_string()).unwrap_or_default(),
                r.attempts.to_string(),
                utc(&r.next_attempt_at),
                r.last_error
                    .as_deref()
                    .map(|e| crate::domain::clip(e, 60))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let shown = table(
        &[
            "ID",
            "STATUS",
            "TARGET",
            "EVENT",
            "INCIDENT",
            "ATTEMPTS",
            "NEXT ATTEMPT (UTC)",
            "LAST ERROR",
        ],
        &rows,
    );
    crate::cli::table::with_more(shown, l.next_before)
}

/// Registered webhooks, one a line.
pub(crate) fn hooks_table(l: &HookListShown) -> String {
    let rows: Vec<Vec<String>> = l
        .hooks
        .iter()
        .map(|h| {
            vec![
                h.name.clone(),
                h.origin.clone(),
                h.events.join(","),
                h.secret_env.clone(),
                h.added_by.clone().unwrap_or_default(),
            ]
        })
        .collect();
    table(&["NAME", "ORIGIN", "EVENTS", "SECRET ENV", "ADDED BY"], &rows)
}
