//! The approval page's signed-in pages: the queue, a plan (and the decisions on it), an incident.

use axum::{
    Form, Router,
    extract::{Path, State, rejection::FormRejection},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use super::ui::{UiState, forged, page, plan_id, to_sign_in, viewer};
use crate::{
    domain::{IncidentId, clip},
    service::{ContainmentsRequest, ErrorClass, PlanListRequest, PlanStatus, ServiceError, human},
    ui::{self, ApproveOutcome, session::SessionInfo, session::tokens_match},
};

pub(super) fn routes() -> Router<UiState> {
    Router::new()
        .route("/ui/plans", get(queue))
        .route("/ui/plans/{plan_id}", get(plan))
        .route("/ui/plans/{plan_id}/approve", post(approve))
        .route("/ui/plans/{plan_id}/approve-and-apply", post(approve_and_apply))
        .route("/ui/plans/{plan_id}/deny", post(deny))
        .route("/ui/plans/{plan_id}/code", post(code))
        .route("/ui/incidents/{id}", get(incident))
        .route("/ui/containments", get(containments))
}

fn status_of(e: &ServiceError) -> StatusCode {
    match e.class() {
        ErrorClass::Input => StatusCode::BAD_REQUEST,
        ErrorClass::NotFound => StatusCode::NOT_FOUND,
        ErrorClass::Conflict => StatusCode::CONFLICT,
        ErrorClass::Forbidden => StatusCode::FORBIDDEN,
        ErrorClass::Backend => StatusCode::SERVICE_UNAVAILABLE,
    }
}

fn failure(s: &SessionInfo, e: &ServiceError) -> Response {
    page(
        status_of(e),
        ui::error_page(Some(&viewer(s)), "Could not load", &e.to_string(), None),
    )
}

async fn queue(State(st): State<UiState>, headers: HeaderMap) -> Response {
    let Some((_, s)) = st.session(&headers) else {
        return to_sign_in();
    };
    let list = |pending| PlanListRequest {
        pending,
        limit: Some(100),
        before: None,
    };
    let (waiting, all) = match (
        st.svc.list_plans(&list(true)).await,
        st.svc.list_plans(&list(false)).await,
    ) {
        (Ok(w), Ok(a)) => (w.plans, a.plans),
        (Err(e), _) | (_, Err(e)) => return failure(&s, &e),
    };
    let mut approved = Vec::new();
    let mut recent = Vec::new();
    for p in all {
        if waiting.iter().any(|w| w.plan_id == p.plan_id) {
            continue;
        }
        if p.status == PlanStatus::Pending && p.approval.as_deref() == Some("valid") {
            match st.svc.plan_view(&p.plan_id).await {
                Ok(v) => {
                    if let Some(a) = v.approval {
                        approved.push((p, a.expires_at));
                    }
                }
                Err(e) => return failure(&s, &e),
            }
        } else if recent.len() < 20 {
            recent.push(p);
        }
    }
    let html = ui::queue_page(&viewer(&s), &waiting, &approved, &recent, chrono::Utc::now());
    page(StatusCode::OK, html)
}

/// The plan page with `error` (a refused decision) and `status`.
async fn plan_answer(st: &UiState, s: &SessionInfo, id: &str, status: StatusCode, error: Option<&str>) -> Response {
    match st.svc.plan_review(id).await {
        Ok(r) => page(status, ui::plan_page(&r, &viewer(s), chrono::Utc::now(), error)),
        Err(e) => failure(s, &e),
    }
}

async fn plan(State(st): State<UiState>, headers: HeaderMap, id: Path<String>) -> Response {
    let Some((_, s)) = st.session(&headers) else {
        return to_sign_in();
    };
    match plan_id(id, &s) {
        Ok(id) => plan_answer(&st, &s, &id, StatusCode::OK, None).await,
        Err(r) => *r,
    }
}

async fn incident(State(st): State<UiState>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let Some((_, s)) = st.session(&headers) else {
        return to_sign_in();
    };
    let Ok(id) = id.parse::<IncidentId>() else {
        let msg = format!("`{}` is not an incident id (INC-000001)", clip(&id, 40));
        return page(
            StatusCode::NOT_FOUND,
            ui::error_page(Some(&viewer(&s)), "Not found", &msg, None),
        );
    };
    match st.svc.incident_history(id).await {
        Ok(h) => page(StatusCode::OK, ui::incident_page(&h, &viewer(&s))),
        Err(e) => failure(&s, &e),
    }
}

async fn containments(State(st): State<UiState>, headers: HeaderMap) -> Response {
    let Some((_, s)) = st.session(&headers) else {
        return to_sign_in();
    };
    let all = ContainmentsRequest { env: None, id: None };
    match st.svc.containments(&all).await {
        Ok(list) => page(
            StatusCode::OK,
            ui::containments_page(&viewer(&s), &list, chrono::Utc::now()),
        ),
        Err(e) => failure(&s, &e),
    }
}

#[derive(Debug, Default, Deserialize)]
struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    confirm_name: String,
    #[serde(default)]
    ttl_secs: Option<String>,
    #[serde(default)]
    reason: String,
}

/// The signed-in approver of a decision POST whose CSRF token checks out, with the plan id;
/// otherwise the audited refusal.
async fn decider(
    st: &UiState,
    headers: &HeaderMap,
    id: Path<String>,
    form: &DecideForm,
    what: &str,
) -> Result<(SessionInfo, String), Response> {
    let session = st.session(headers).map(|(_, s)| s);
    let raw = id.0.clone();
    let (s, id) = match session {
        Some(s) if tokens_match(&form.csrf, &s.csrf) => plan_id(id, &s).map(|id| (s, id)).map_err(|r| *r)?,
        s => return Err(forged(st, s.as_ref(), Some(&raw), what).await),
    };
    let why = match (
        st.policy.read_only,
        st.policy.disable_destructive && what == "approve_and_apply",
    ) {
        (true, _) => ("read_only", "the server runs with --read-only"),
        (_, true) => ("destructive_disabled", "the server runs with --disable-destructive"),
        _ => return Ok((s, id)),
    };
    let payload = json!({"by": super::ui::PAGE_ACTOR, "reason": why.0, "action": what,
                         "message": format!("{what} refused: {}", why.1)});
    if let Some(failed) = st.refuse(&human(&s.approver), None, Some(&id), payload).await {
        return Err(failed);
    }
    let msg = format!("Refused: {}. Nothing was done.", why.1);
    Err(plan_answer(st, &s, &id, StatusCode::FORBIDDEN, Some(&msg)).await)
}

/// Refuses (audited) unless the approver typed the plan's target name.
async fn typed_target(st: &UiState, s: &SessionInfo, id: &str, typed: &str) -> Result<(), Response> {
    let view = match st.svc.plan_view(id).await {
        Ok(v) => v,
        Err(e) => return Err(failure(s, &e)),
    };
    if view.plan.confirmed_by_name(typed) {
        return Ok(());
    }
    let payload = json!({"by": super::ui::PAGE_ACTOR, "reason": "wrong_name", "action": "approve",
                         "message": format!("typed `{}`, the target is {}", clip(typed.trim(), 80), view.plan.target)});
    if let Some(failed) = st
        .refuse(&human(&s.approver), view.plan.incident_id, Some(id), payload)
        .await
    {
        return Err(failed);
    }
    let msg = format!(
        "The name you typed does not match the target ({}). Nothing was approved.",
        view.plan.target
    );
    Err(plan_answer(st, s, id, StatusCode::UNPROCESSABLE_ENTITY, Some(&msg)).await)
}

async fn approve(
    State(st): State<UiState>,
    headers: HeaderMap,
    id: Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (s, id) = match decider(&st, &headers, id, &form, "approve").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let ttl = match form.ttl_secs.as_deref().map(str::parse::<u64>) {
        None => 300,
        Some(Ok(t)) => t,
        Some(Err(_)) => {
            let msg = "The approval's validity must be a whole number of seconds. Nothing was approved.";
            return plan_answer(&st, &s, &id, StatusCode::BAD_REQUEST, Some(msg)).await;
        }
    };
    if let Err(r) = typed_target(&st, &s, &id, &form.confirm_name).await {
        return r;
    }
    match st
        .svc
        .via(crate::metrics::Channel::Page)
        .approve_plan(&id, &human(&s.approver), ttl)
        .await
    {
        Ok(a) => page(
            StatusCode::OK,
            ui::approve_result(&viewer(&s), &id, ApproveOutcome::Approved(&a)),
        ),
        Err(e) => plan_answer(&st, &s, &id, status_of(&e), Some(&e.to_string())).await,
    }
}

async fn approve_and_apply(
    State(st): State<UiState>,
    headers: HeaderMap,
    id: Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (s, id) = match decider(&st, &headers, id, &form, "approve_and_apply").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Err(r) = typed_target(&st, &s, &id, &form.confirm_name).await {
        return r;
    }
    match st
        .svc
        .via(crate::metrics::Channel::Page)
        .approve_and_apply(&id, &human(&s.approver))
        .await
    {
        Ok(report) => page(
            StatusCode::OK,
            ui::approve_result(&viewer(&s), &id, ApproveOutcome::Applied(&report)),
        ),
        Err(e) => plan_answer(&st, &s, &id, status_of(&e), Some(&e.to_string())).await,
    }
}

async fn deny(
    State(st): State<UiState>,
    headers: HeaderMap,
    id: Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (s, id) = match decider(&st, &headers, id, &form, "deny").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match st
        .svc
        .via(crate::metrics::Channel::Page)
        .deny_plan(&id, &human(&s.approver), &form.reason)
        .await
    {
        // Post/redirect/get: the plan page shows the denial.
        Ok(_) => Redirect::to(&format!("/ui/plans/{id}")).into_response(),
        Err(e) => plan_answer(&st, &s, &id, status_of(&e), Some(&e.to_string())).await,
    }
}

/// A one-time code for the agent's MCP dialog, issued to the signed-in approver.
async fn code(
    State(st): State<UiState>,
    headers: HeaderMap,
    id: Path<String>,
    form: Result<Form<DecideForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let (s, id) = match decider(&st, &headers, id, &form, "code").await {
        Ok(v) => v,
        Err(r) => return r,
    };
    match st.svc.issue_code(&id, &human(&s.approver)).await {
        Ok(c) => page(StatusCode::OK, ui::code_page(&viewer(&s), &c)),
        Err(e) => plan_answer(&st, &s, &id, status_of(&e), Some(&e.to_string())).await,
    }
}
