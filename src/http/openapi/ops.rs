//! The operations of the REST API: path, method, schemas, status codes, examples.

use serde_json::{Value, json};

use super::{Code, Deployment, Op, Schemas};
use crate::http::manage::{AssignBody, DeclareBody, NoteBody, SeverityBody};
use crate::http::notify::{HOOK_NAME_PATTERN, HookBody, HookList, HookView, NotifyBody};
use crate::http::plans::{ApproveBody, DenyBody, PLAN_ID_PATTERN};
use crate::http::respond::{ContainBody, RecoverBody};
use crate::http::rest::{AckBody, AnalyzeQuery, ResolveBody};
use crate::service::{
    AlertIntakeReport, AlertmanagerPayload, Analysis, ApprovalReport, AuditList, AuditListRequest, ContainmentList,
    ContainmentsRequest, DetectReport, DetectRequest, IncidentDetail, IncidentList, IncidentUpdate, LifecycleResult,
    ListRequest, NotifyReport, OutboxList, OutboxListRequest, OutboxRetry, PlanList, PlanListRequest, PlanReport,
    PlanView, Postmortem,
};

/// Every operation but `/healthz`, in document order.
pub(super) fn operations(s: &mut Schemas, dep: Option<&Deployment>) -> Vec<Op> {
    use Code::*;
    let example_env = dep
        .and_then(|d| d.envs.first())
        .map_or("dev", |(name, _)| name.as_str());

    let example_target = dep
        .and_then(|d| d.targets.first())
        .map_or("pagerduty", String::as_str)
        .to_owned();
    let id = || vec![id_param()];
    let mut analyze_params = id();
    analyze_params.extend(s.query_params::<AnalyzeQuery>());
    vec![
        Op {
            method: "post",
            path: "/api/incident/detect",
            id: "detect",
            summary: "Scan an environment's telemetry and open or update incidents",
            ok: s.resp::<DetectReport>(),
            codes: &[BadRequest, Unavailable],
            params: vec![],
            body: Some((
                s.req::<DetectRequest>(),
                true,
                json!({ "env": example_env, "threshold": 0.8 }),
            )),
        },
        Op {
            method: "get",
            path: "/api/incident/analyze/{id}",
            id: "analyze",
            summary: "Analyze an incident: affected resources, grouped signals, timeline",
            ok: s.resp::<Analysis>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: analyze_params,
            body: None,
        },
        Op {
            method: "get",
            path: "/api/incident/{id}",
            id: "getIncident",
            summary: "Get an incident with its latest signals",
            ok: s.resp::<IncidentDetail>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: id(),
            body: None,
        },
        Op {
            method: "get",
            path: "/api/incidents",
            id: "listIncidents",
            summary: "List incidents, most recently active first",
            ok: s.resp::<IncidentList>(),
            codes: &[BadRequest, Unavailable],
            params: s.query_params::<ListRequest>(),
            body: None,
        },
        Op {
            method: "post",
            path: "/api/incident/ack/{id}",
            id: "ack",
            summary: "Acknowledge an incident at any active status (an open one becomes acknowledged); 409 for a \
                      resolved one (the body is optional: no body means no note)",
            ok: s.resp::<LifecycleResult>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: id(),
            body: Some((s.req::<AckBody>(), false, json!({ "note": "on-call is looking at it" }))),
        },
        Op {
            method: "post",
            path: "/api/incident/declare",
            id: "declare",
            summary: "Declare an incident by hand (title, type, severity, entities, first note); 201 with the new \
                      incident (each call opens a new one)",
            ok: s.resp::<IncidentUpdate>(),
            codes: &[BadRequest, Unavailable],
            params: vec![],
            body: Some((
                s.req::<DeclareBody>(),
                true,
                json!({ "env": example_env, "title": "Checkout returns 502 for some users", "type": "availability",
                        "severity": "high", "entities": ["service/checkout"], "note": "reported by support" }),
            )),
        },
        Op {
            method: "post",
            path: "/api/incident/note/{id}",
            id: "note",
            summary: "Add a note to an incident's timeline (any status)",
            ok: s.resp::<IncidentUpdate>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: id(),
            body: Some((
                s.req::<NoteBody>(),
                true,
                json!({ "note": "rolled back the 10:02 deploy; errors dropping" }),
            )),
        },
        Op {
            method: "post",
            path: "/api/incident/assign/{id}",
            id: "assign",
            summary: "Assign an incident's owner and/or incident commander (repeating it changes nothing)",
            ok: s.resp::<IncidentUpdate>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: id(),
            body: Some((
                s.req::<AssignBody>(),
                true,
                json!({ "owner": "alice", "commander": "bob" }),
            )),
        },
        Op {
            method: "post",
            path: "/api/incident/severity/{id}",
            id: "setSeverity",
            summary: "Change an incident's severity, saying why (repeating it changes nothing)",
            ok: s.resp::<IncidentUpdate>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: id(),
            body: Some((
                s.req::<SeverityBody>(),
                true,
                json!({ "severity": "critical", "reason": "every checkout fails, not some" }),
            )),
        },
        Op {
            method: "get",
            path: "/api/incident/postmortem/{id}",
            id: "postmortem",
            summary: "The post-mortem record of an incident (what the incident-postmortem prompt carries): who \
                      proposed, approved, applied and reverted each plan and when, the phase durations (time to \
                      detect, acknowledge, contain, recover, resolve) and the whole timeline",
            ok: s.resp::<Postmortem>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: id(),
            body: None,
        },
        Op {
            method: "post",
            path: "/api/incident/resolve/{id}",
            id: "resolve",
            summary: "Resolve an incident with a note; 409 naming its containments while any is in place, unless \
                      keep_containments is true",
            ok: s.resp::<LifecycleResult>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: id(),
            body: Some((
                s.req::<ResolveBody>(),
                true,
                json!({ "note": "cause: leaked token; fix: rotated it" }),
            )),
        },
        Op {
            method: "put",
            path: "/api/incident/contain/{id}",
            id: "contain",
            summary: "Plan a containment; 202 with the pending plan (a human approves it out of band: \
                      `incident-mcp approve <plan-id>`; nothing changes before)",
            ok: s.resp::<PlanReport>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: id(),
            body: Some((
                s.req::<ContainBody>(),
                true,
                json!({ "action": "isolate", "resource": "web-1", "namespace": "shop", "ttl_secs": 3600 }),
            )),
        },
        Op {
            method: "post",
            path: "/api/incident/recover/{id}",
            id: "recover",
            summary: "Plan a recovery (rollback, restore, revert); 202 with the pending plan",
            ok: s.resp::<PlanReport>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: id(),
            body: Some((
                s.req::<RecoverBody>(),
                true,
                json!({ "method": "rollback", "resource": "deployment/web", "namespace": "shop", "backup_id": "latest" }),
            )),
        },
        Op {
            method: "post",
            path: "/api/incident/recover",
            id: "recoverCurrent",
            summary: "Plan a recovery of the current incident (the most recently changed contained one, else the most \
                      recently changed one still open); 202 with the pending plan",
            ok: s.resp::<PlanReport>(),
            codes: &[BadRequest, Conflict, Unavailable],
            params: vec![],
            body: Some((
                s.req::<RecoverBody>(),
                true,
                json!({ "resource": "deployment/web", "namespace": "shop", "backup_id": "latest" }),
            )),
        },
        Op {
            method: "get",
            path: "/api/containments",
            id: "listContainments",
            summary: "What is isolated, blocked, paused or cordoned now (applied, not reverted), newest first: since when, \
                      TTL, who proposed and who approved it",
            ok: s.resp::<ContainmentList>(),
            codes: &[BadRequest, Unavailable],
            params: env_enum(s.query_params::<ContainmentsRequest>(), dep),
            body: None,
        },
        Op {
            method: "post",
            path: "/api/incident/notify/{id}",
            id: "notify",
            summary: "Queue a notification about an incident to a named target; 202 with the outbox row \
                      (delivered at least once by the dispatcher)",
            ok: s.resp::<NotifyReport>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: id(),
            body: Some((s.req::<NotifyBody>(), true, json!({ "service": example_target }))),
        },
        Op {
            method: "post",
            path: "/api/hooks",
            id: "addHook",
            summary: "Register (or replace) a signed webhook for lifecycle events; 201 with the hook (origin only)",
            ok: s.resp::<HookView>(),
            codes: &[BadRequest, Unavailable],
            params: vec![],
            body: Some((
                s.req::<HookBody>(),
                true,
                json!({ "name": "ops-hook", "url": "https://hooks.example.com/incidents", "events": ["detect", "resolve"] }),
            )),
        },
        Op {
            method: "get",
            path: "/api/audit",
            id: "listAudit",
            summary: "Hash-chained audit entries newest first, paged by before=next_before",
            ok: s.resp::<AuditList>(),
            codes: &[BadRequest, Unavailable],
            params: s.query_params::<AuditListRequest>(),
            body: None,
        },
        Op {
            method: "get",
            path: "/api/outbox",
            id: "listOutbox",
            summary: "Queued, sent and dead notifications newest first (dead=true: only the dead letters), paged by \
                      before=next_before",
            ok: s.resp::<OutboxList>(),
            codes: &[BadRequest, Unavailable],
            params: s.query_params::<OutboxListRequest>(),
            body: None,
        },
        Op {
            method: "get",
            path: "/api/hooks",
            id: "listHooks",
            summary: "Webhooks registered at run time (config-file webhooks are not listed)",
            ok: s.resp::<HookList>(),
            codes: &[Unavailable],
            params: vec![],
            body: None,
        },
        Op {
            method: "delete",
            path: "/api/hooks/{name}",
            id: "removeHook",
            summary: "Remove a registered webhook; 204, or 404 when there is none of that name",
            ok: json!({}),
            codes: &[BadRequest, NotFound, Unavailable],
            params: vec![json!({ "name": "name", "in": "path", "required": true,
                "schema": { "type": "string", "pattern": HOOK_NAME_PATTERN, "minLength": 1, "maxLength": 64 },
                "description": "Name of a registered webhook", "example": "seed-hook" })],
            body: None,
        },
        Op {
            method: "post",
            path: "/api/outbox/{id}/retry",
            id: "retryOutboxRow",
            summary: "Queue a dead notification again, due now (audited); 404 for an unknown row, 409 for a row \
                      that is not dead",
            ok: s.resp::<OutboxRetry>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: vec![json!({ "name": "id", "in": "path", "required": true,
                "schema": { "type": "string", "pattern": OUTBOX_ID_PATTERN, "minLength": 1, "maxLength": 18 },
                "description": "Outbox row id (`outbox list --dead`, incident://outbox/dead)", "example": "1" })],
            body: None,
        },
        Op {
            method: "post",
            path: "/api/outbox/retry-dead",
            id: "retryDeadOutbox",
            summary: "Queue every dead notification again, due now (audited); none dead: an empty list",
            ok: s.resp::<OutboxRetry>(),
            codes: &[Unavailable],
            params: vec![],
            body: None,
        },
        Op {
            method: "get",
            path: "/api/plans",
            id: "listPlans",
            summary: "Containment/recovery plans newest first, paged by before=next_before, or with pending=true only those waiting for a human \
                      (the agent's key or an approver's key reads them)",
            ok: s.resp::<PlanList>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: s.query_params::<PlanListRequest>(),
            body: None,
        },
        Op {
            method: "get",
            path: "/api/plans/{plan_id}",
            id: "getPlan",
            summary: "A plan as stored (exact changes, inverse, blast radius), its newest approval and its audit \
                      history: what an approver looks at (the agent's key or an approver's key reads it)",
            ok: s.resp::<PlanView>(),
            codes: &[BadRequest, NotFound, Unavailable],
            params: vec![plan_id_param()],
            body: None,
        },
        Op {
            method: "post",
            path: "/api/plans/{plan_id}/approve",
            id: "approvePlan",
            summary: "A human approves a pending plan with their own approver key ([[approvers]]; the agent's \
                      key gets 403): single-use, bound to the plan's exact hash and principal, expiring",
            ok: s.resp::<ApprovalReport>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: vec![plan_id_param()],
            body: Some((s.req::<ApproveBody>(), false, json!({ "ttl_secs": 300 }))),
        },
        Op {
            method: "post",
            path: "/api/plans/{plan_id}/approve-and-apply",
            id: "approveAndApplyPlan",
            summary: "A human approves a pending plan with their own approver key and has the server apply it at \
                      once, as the proposer's plan (the audit names both)",
            ok: s.resp::<PlanReport>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: vec![plan_id_param()],
            body: None,
        },
        Op {
            method: "post",
            path: "/api/plans/{plan_id}/deny",
            id: "denyPlan",
            summary: "A human denies a pending plan with their own approver key, saying why: final; the agent sees \
                      `denied` and the reason",
            ok: s.resp::<PlanView>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: vec![plan_id_param()],
            body: Some((
                s.req::<DenyBody>(),
                true,
                json!({ "reason": "wrong pod: web-2 is the compromised one" }),
            )),
        },
        Op {
            method: "post",
            path: "/api/plans/{plan_id}/apply",
            id: "applyPlan",
            summary: "Apply a plan the REST API proposed once a human approved it: exactly as approved, once",
            ok: s.resp::<PlanReport>(),
            codes: &[BadRequest, NotFound, Conflict, Unavailable],
            params: vec![plan_id_param()],
            body: None,
        },
        Op {
            method: "post",
            path: "/api/alerts",
            id: "receiveAlerts",
            summary: "Alertmanager webhook receiver (payload version 4): firing alerts open or update incidents, resolved alerts are noted",
            ok: s.resp::<AlertIntakeReport>(),
            codes: &[BadRequest, Unavailable],
            params: vec![alerts_env_param(dep)],
            body: Some((s.req::<AlertmanagerPayload>(), true, alerts_example())),
        },
    ]
}

/// `params` with the `env` parameter narrowed to the deployment's environments, when known.
fn env_enum(mut params: Vec<Value>, dep: Option<&Deployment>) -> Vec<Value> {
    if let Some(d) = dep.filter(|d| !d.envs.is_empty()) {
        let names: Vec<Value> = d.envs.iter().map(|(n, _)| json!(n)).collect();
        for p in params.iter_mut().filter(|p| p["name"] == "env") {
            p["schema"] = json!({ "type": "string", "enum": names });
        }
    }
    params
}

/// A plan id as `contain`/`recover` answer it.
fn plan_id_param() -> Value {
    json!({ "name": "plan_id", "in": "path", "required": true,
            "schema": { "type": "string", "pattern": PLAN_ID_PATTERN, "minLength": 21, "maxLength": 21 },
            "description": "Plan id from the 202 answer of contain/recover", "example": "plan-0123456789abcdef" })
}

/// An outbox row id as the handler parses it: a positive integer without sign or leading zero.
const OUTBOX_ID_PATTERN: &str = "^[1-9][0-9]{0,17}$";

/// Exactly what the handlers accept: 1-12 digits, not all zero, after an optional `INC-`.
fn id_param() -> Value {
    json!({ "name": "id", "in": "path", "required": true,
            "schema": { "type": "string", "pattern": crate::domain::incident::ID_PATTERN, "minLength": 1,
                        "maxLength": crate::domain::incident::ID_MAX_LEN },
            "description": "Incident id, e.g. INC-000001, or the number alone, e.g. 1", "example": "INC-000001" })
}

/// `env` of `POST /api/alerts`: required; one of the configured environments when known.
fn alerts_env_param(dep: Option<&Deployment>) -> Value {
    let mut schema = json!({ "type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$" });
    if let Some(d) = dep.filter(|d| !d.envs.is_empty()) {
        schema = json!({ "type": "string", "enum": d.envs.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>() });
    }
    json!({ "name": "env", "in": "query", "required": true, "schema": schema,
            "description": "Environment the alerts belong to, as configured (one Alertmanager webhook URL per environment)" })
}

fn alerts_example() -> Value {
    json!({
        "version": "4", "groupKey": "{}:{alertname=\"HighErrorRate\"}", "truncatedAlerts": 0, "status": "firing",
        "receiver": "incident-mcp", "groupLabels": { "alertname": "HighErrorRate" },
        "commonLabels": { "alertname": "HighErrorRate", "severity": "critical" }, "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": [{
            "status": "firing",
            "labels": { "alertname": "HighErrorRate", "severity": "critical", "namespace": "shop", "pod": "web-7" },
            "annotations": { "summary": "5xx ratio above 5%" },
            "startsAt": "2026-11-01T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus:9090/graph", "fingerprint": "6b0c1d2e3f4a5b6c"
        }]
    })
}
