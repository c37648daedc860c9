//! The CLI's commands over REST (`cli_remote`): each builds the body the local command builds,
//! calls its route, and prints the answer exactly as the local command prints its result.

use reqwest::Method;
use serde_json::{Value, json};

use super::{
    approve,
    command::Command,
    detect::DetectArgs,
    failure::{Failure, backend, cli_id},
    flags::{DetectFlags, detect_request_as_given},
    incidents::{AckArgs, AnalyzeArgs, GetArgs, ListArgs, ResolveArgs},
    inputs::{HookInput, HookListShown, HookShown, Inputs},
    manage::{AssignArgs, NoteArgs, SeverityArgs, parse_severity},
    notify::{HookArgs, HookCommand},
    output::{emit, emit_rendered, print_json},
    plans::{ApplyArgs, ApproveArgs, DenyArgs, PlanArgs, PlansArgs},
    remote::{Remote, body, query, removed, segment},
    respond::{self, ContainmentsArgs},
    table,
};
use crate::{
    domain::{Env, IncidentType, Status},
    service::*,
};

fn no_route(what: &str) -> Failure {
    Failure::input(format!(
        "{what} has no REST route: with `auth --server` stored, run it on the server (or `incident-mcp auth --remove` \
         to work on the local store)"
    ))
}

/// Runs `cmd` against the server.
pub async fn run(cmd: &Command, r: &Remote, inputs: Option<&Inputs>) -> Result<(), Failure> {
    match cmd {
        Command::Detect(DetectArgs {
            env,
            kind,
            threshold,
            source,
            analyze_depth,
            out,
        }) => {
            let flags = DetectFlags {
                env: env.as_deref(),
                kind: kind.as_deref(),
                threshold: *threshold,
                source: source.clone(),
                analyze_depth: *analyze_depth,
            };
            let req = detect_request_as_given(flags, inputs)?;
            if req
                .source
                .as_deref()
                .is_some_and(|s| s == "stdin" || s.starts_with("file:"))
            {
                return Err(Failure::input(
                    "--source: the server cannot read this machine's files or stdin; name a configured source",
                ));
            }
            let b = serde_json::to_value(&req).map_err(backend)?;
            let report: DetectReport = r.call(Method::POST, "/api/incident/detect", Some(&b)).await?;
            emit(out, &report, table::detect)
        }
        Command::Analyze(AnalyzeArgs { id, depth, out }) => {
            let id = cli_id(id)?;
            let depth = crate::domain::Depth::new(*depth)?;
            let path = format!("/api/incident/analyze/{id}?depth={}", depth.get());
            let a: Analysis = r.call(Method::GET, &path, None).await?;
            emit(out, &a, table::analysis)
        }
        Command::List(ListArgs {
            env,
            status,
            kind,
            limit,
            cursor,
            out,
        }) => {
            // The same checks and messages as the local command, before the call.
            let env = env.as_deref().map(Env::parse).transpose()?;
            let status = status.as_deref().map(str::parse::<Status>).transpose()?;
            let kind = kind.as_deref().map(str::parse::<IncidentType>).transpose()?;
            let q = query(&[
                ("env", env.map(|e| e.to_string())),
                ("status", status.map(|s| s.to_string())),
                ("type", kind.map(|k| k.to_string())),
                ("limit", Some(limit.to_string())),
                ("cursor", cursor.clone()),
            ]);
            let l: IncidentList = r.call(Method::GET, &format!("/api/incidents{q}"), None).await?;
            emit(out, &l, table::list)
        }
        Command::Get(GetArgs { id, out }) => {
            let id = cli_id(id)?;
            let d: IncidentDetail = r.call(Method::GET, &format!("/api/incident/{id}"), None).await?;
            emit(out, &d, table::detail)
        }
        Command::Ack(AckArgs { id, note, out }) => {
            let id = cli_id(id)?;
            let b = body(json!({ "note": note }));
            let l: LifecycleResult = r
                .call(Method::POST, &format!("/api/incident/ack/{id}"), Some(&b))
                .await?;
            emit(out, &l, table::lifecycle)
        }
        Command::Resolve(ResolveArgs {
            id,
            note,
            keep_containments,
            out,
        }) => {
            let id = cli_id(id)?;
            let b = json!({ "note": note, "keep_containments": keep_containments });
            let path = format!("/api/incident/resolve/{id}");
            let l: LifecycleResult = r.call(Method::POST, &path, Some(&b)).await?;
            emit(out, &l, table::lifecycle)
        }
        Command::Postmortem(GetArgs { id, out }) => {
            let id = cli_id(id)?;
            let p: Postmortem = r
                .call(Method::GET, &format!("/api/incident/postmortem/{id}"), None)
                .await?;
            emit(out, &p, super::postmortem::render)
        }
        Command::Declare(a) => {
            let req = a.request(None)?;
            let b = serde_json::to_value(&req).map_err(backend)?;
            let u: IncidentUpdate = r.call(Method::POST, "/api/incident/declare", Some(&b)).await?;
            emit(&a.out, &u, table::update)
        }
        Command::Note(NoteArgs { id, note, out }) => {
            let id = cli_id(id)?;
            let b = json!({ "note": note });
            let u: IncidentUpdate = r
                .call(Method::POST, &format!("/api/incident/note/{id}"), Some(&b))
                .await?;
            emit(out, &u, table::update)
        }
        Command::Assign(AssignArgs {
            id,
            owner,
            commander,
            out,
        }) => {
            let id = cli_id(id)?;
            let b = body(json!({ "owner": owner, "commander": commander }));
            let u: IncidentUpdate = r
                .call(Method::POST, &format!("/api/incident/assign/{id}"), Some(&b))
                .await?;
            emit(out, &u, table::update)
        }
        Command::Severity(SeverityArgs {
            id,
            severity,
            reason,
            out,
        }) => {
            let id = cli_id(id)?;
            let severity = parse_severity(Some(severity))?;
            let b = json!({ "severity": severity, "reason": reason });
            let u: IncidentUpdate = r
                .call(Method::POST, &format!("/api/incident/severity/{id}"), Some(&b))
                .await?;
            emit(out, &u, table::update)
        }
        Command::Approve(ApproveArgs {
            plan_id,
            ttl_secs,
            as_name,
            apply,
            out,
        }) => {
            if as_name.is_some() {
                return Err(Failure::input(
                    "--as: against a server, the stored key says who you are (`incident-mcp auth --key`)",
                ));
            }
            let path = format!("/api/plans/{}", segment(plan_id));
            let view: PlanView = r.call(Method::GET, &path, None).await?;
            approve::confirm(&view).map_err(|d| Failure::input(d.message))?;
            if *apply {
                let done: PlanReport = r.call(Method::POST, &format!("{path}/approve-and-apply"), None).await?;
                return emit(out, &done, |p| p.summary.clone());
            }
            let b = json!({ "ttl_secs": ttl_secs });
            let report: ApprovalReport = r.call(Method::POST, &format!("{path}/approve"), Some(&b)).await?;
            emit(out, &report, |a| a.summary.clone())
        }
        Command::Plans(PlansArgs {
            pending,
            limit,
            before,
            out,
        }) => {
            let q = query(&[
                ("pending", pending.then(|| "true".to_owned())),
                ("limit", Some(limit.to_string())),
                ("before", before.clone()),
            ]);
            let list: PlanList = r.call(Method::GET, &format!("/api/plans{q}"), None).await?;
            emit(out, &list, respond::list_table)
        }
        Command::Plan(PlanArgs { plan_id, out }) => {
            let path = format!("/api/plans/{}", segment(plan_id));
            let view: PlanView = r.call(Method::GET, &path, None).await?;
            emit(out, &view, respond::view_table)
        }
        Command::Apply(ApplyArgs { plan_id, out }) => {
            let path = format!("/api/plans/{}/apply", segment(plan_id));
            let report: PlanReport = r.call(Method::POST, &path, None).await?;
            emit(out, &report, respond::table)
        }
        Command::Notify(a) => {
            if a.drain {
                return Err(no_route("notify --drain (the server's dispatcher delivers)"));
            }
            let (Some(id), Some(service)) = (&a.id, &a.service) else {
                return Err(Failure::input(
                    "--id and --service: name the incident and the target (over REST the server queues it and \
                     its dispatcher delivers)",
                ));
            };
            let id = cli_id(id)?;
            let b = body(json!({ "service": service, "message": a.message }));
            let q: NotifyReport = r
                .call(Method::POST, &format!("/api/incident/notify/{id}"), Some(&b))
                .await?;
            let shown = json!({ "queued": q, "delivery": null, "row": null });
            emit_rendered(&a.out, &shown, q.summary.clone())?;
            Ok(())
        }
        Command::Hook(a) => hook(r, a, inputs).await,
        Command::Contain(a) => {
            let Some(id) = a.id.as_deref() else {
                return Err(no_route("contain without --id (declaring an incident)"));
            };
            let id = cli_id(id)?;
            check_env(r, a.env.as_deref(), id).await?;
            let b = body(json!({
                "action": a.action, "scope": a.scope, "resource": a.resource, "namespace": a.namespace,
                "ttl_secs": a.ttl_secs, "args": script_args(&a.args)?,
            }));
            let report: PlanReport = r
                .call(Method::PUT, &format!("/api/incident/contain/{id}"), Some(&b))
                .await?;
            respond::print(&report, a.format.as_deref())
        }
        Command::Recover(a) => {
            let id = a.id.as_deref().map(cli_id).transpose()?;
            if let Some(id) = id {
                check_env(r, a.env.as_deref(), id).await?;
            }
            let b = body(json!({
                "method": a.method, "resource": a.resource, "namespace": a.namespace,
                "backup_id": a.backup_id, "args": script_args(&a.args)?,
            }));
            let path = match id {
                Some(id) => format!("/api/incident/recover/{id}"),
                None => "/api/incident/recover".to_owned(),
            };
            let report: PlanReport = r.call(Method::POST, &path, Some(&b)).await?;
            respond::print(&report, a.format.as_deref())
        }
        Command::Deny(DenyArgs {
            plan_id,
            reason,
            as_name,
            out,
        }) => {
            if as_name.is_some() {
                return Err(Failure::input(
                    "--as: against a server, the stored key says who you are (`incident-mcp auth --key`)",
                ));
            }
            let path = format!("/api/plans/{}/deny", segment(plan_id));
            let b = json!({ "reason": reason });
            let view: PlanView = r.call(Method::POST, &path, Some(&b)).await?;
            emit(out, &view, |v| v.plan.summary.clone())
        }
        Command::Containments(ContainmentsArgs { env, id, out }) => {
            let id = id.as_deref().map(cli_id).transpose()?;
            let q = query(&[("env", env.clone()), ("id", id.map(|i| i.to_string()))]);
            let list: ContainmentList = r.call(Method::GET, &format!("/api/containments{q}"), None).await?;
            emit(out, &list, table::containments)
        }
        Command::Code(_) => Err(no_route("code (approvers get codes on the approval page or in Slack)")),
        Command::Sandbox(_) => Err(no_route("sandbox")),
        Command::Approver { .. } => Err(Failure::input("this command runs locally")),
        Command::Audit { .. } => Err(no_route("audit")),
        Command::Outbox { .. } => Err(no_route("outbox")),
        Command::Replay(_) => Err(no_route("replay")),
        Command::Watch(_) => Err(no_route("watch")),
        Command::Serve(_)
        | Command::Config { .. }
        | Command::Score(_)
        | Command::Auth(_)
        | Command::Completions(_)
        | Command::Man => Err(Failure::input("this command runs locally")),
    }
}

/// `--arg NAME=VALUE` flags as a JSON object.
fn script_args(flags: &[String]) -> Result<Value, Failure> {
    let mut m = serde_json::Map::new();
    for f in flags {
        match f.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                m.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            _ => {
                return Err(Failure::input(format!(
                    "--arg {}: expected NAME=VALUE",
                    crate::domain::clip(f, 60)
                )));
            }
        }
    }
    Ok(Value::Object(m))
}

/// `--env` names the incident's environment: checked as the local command checks it.
async fn check_env(r: &Remote, env: Option<&str>, id: crate::domain::IncidentId) -> Result<(), Failure> {
    let Some(env) = env else { return Ok(()) };
    let d: IncidentDetail = r.call(Method::GET, &format!("/api/incident/{id}"), None).await?;
    if d.incident.env != env {
        return Err(Failure::input(format!(
            "--env {env}: {id} belongs to environment {}",
            d.incident.env
        )));
    }
    Ok(())
}

async fn add_hook(r: &Remote, input: &HookInput) -> Result<HookShown, Failure> {
    // The server's default prefix; a server configured otherwise names its own in the refusal.
    let default_secret = crate::notify::NotifyConfig::default().default_hook_secret_env();
    let hook = super::inputs::hook_from(input, &default_secret).map_err(Failure::input)?;
    let b = json!({ "name": hook.name, "url": hook.url, "events": hook.events, "secret_env": hook.secret_env });
    r.call(Method::POST, "/api/hooks", Some(&b)).await
}

async fn hook(r: &Remote, a: &HookArgs, inputs: Option<&Inputs>) -> Result<(), Failure> {
    let out = match (&a.what, &a.url, inputs) {
        (
            Some(HookCommand::Add {
                name,
                url,
                secret_env,
                events,
            }),
            _,
            _,
        ) => {
            let input = HookInput {
                url: url.clone(),
                events: events.clone(),
                name: Some(name.clone()),
                secret_env: Some(secret_env.clone()),
            };
            serde_json::to_value(add_hook(r, &input).await?).unwrap_or_default()
        }
        (Some(HookCommand::List { out }), _, _) => {
            let list: HookListShown = r.call(Method::GET, "/api/hooks", None).await?;
            return emit(out, &list, super::notify::hooks_table);
        }
        (Some(HookCommand::Remove { name }), _, _) => {
            let path = format!("/api/hooks/{}", segment(name));
            r.call::<Value>(Method::DELETE, &path, None).await?;
            removed(name)
        }
        (None, Some(url), _) => {
            let input = HookInput {
                url: url.clone(),
                events: a.events.clone(),
                name: a.name.clone(),
                secret_env: a.secret_env.clone(),
            };
            serde_json::to_value(add_hook(r, &input).await?).unwrap_or_default()
        }
        (None, None, Some(i)) if !i.hooks.is_empty() => {
            let mut saved = Vec::new();
            for h in &i.hooks {
                saved.push(add_hook(r, h).await?);
            }
            serde_json::to_value(HookListShown::from(saved)).unwrap_or_default()
        }
        (None, None, _) => {
            return Err(Failure::input(
                "hook needs --url URL --event EVENT, --config FILE holding `hooks: [{url, events}]`, \
                 or a subcommand: add, list, remove",
            ));
        }
    };
    print_json(&out);
    Ok(())
}
