//! The approval page under `/ui/`: server-rendered HTML for approvers (pages in `src/ui/`).
//! Not behind the agent's bearer key: approvers sign in with their password or their own key
//! and get a server-side session (cookie `HttpOnly; SameSite=Strict; Path=/ui`, `Secure` with
//! `[server] secure_cookies`). Every form carries a CSRF token compared in constant time; sign-in
//! is throttled per (name, client address). Each refused sign-in, lockout and CSRF or session
//! failure is audited as a refusal. The Host/Origin and body-limit guards apply as everywhere.
//! With `[oauth.sign_in]` approvers may also sign in with the issuer (`ui_oidc.rs`), into the
//! same kind of session.

use std::{net::SocketAddr, sync::Arc};

use axum::{
    Extension, Form, Router,
    extract::{ConnectInfo, Path, State, rejection::FormRejection},
    http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header},
    middleware,
    response::{Html, IntoResponse, Redirect, Response},
    routing::{get, post},
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    domain::{IncidentId, clip, sanitize_untrusted},
    mcp::ToolPolicy,
    oauth::OAuth,
    service::{IncidentService, KeyOwner},
    ui::{
        self, SESSION_COOKIE, SIGN_IN_COOKIE, Viewer,
        limiter::{Gate, SignInLimiter},
        session::{self, SessionInfo, Sessions},
    },
};

/// Actor of the page's refusals made before anyone is signed in (and of CSRF failures).
pub(super) const PAGE_ACTOR: &str = "approval_page";

#[derive(Clone)]
pub(super) struct UiState {
    pub svc: IncidentService,
    pub sessions: Arc<Sessions>,
    limiter: Arc<SignInLimiter>,
    pub secure: bool,
    /// `--read-only` refuses every decision; `--disable-destructive` refuses Approve & apply.
    pub policy: ToolPolicy,
    /// `[oauth]` with `[oauth.sign_in]`: single sign-on with the issuer.
    pub oauth: Option<Arc<OAuth>>,
}

pub fn routes(svc: IncidentService, policy: ToolPolicy, oauth: Option<Arc<OAuth>>) -> Router {
    let state = UiState {
        policy,
        secure: svc.config().server.secure_cookies,
        svc,
        sessions: Arc::default(),
        limiter: Arc::default(),
        oauth: oauth.filter(|o| o.sign_in_label().is_some()),
    };
    Router::new()
        .route("/ui", get(|| async { Redirect::to("/ui/plans") }))
        .route("/ui/", get(|| async { Redirect::to("/ui/plans") }))
        .route("/ui/sign-in", get(sign_in_form).post(sign_in))
        .route("/ui/sign-out", post(sign_out))
        .merge(super::ui_oidc::routes())
        .merge(super::ui_pages::routes())
        .layer(middleware::map_response(security_headers))
        .with_state(state)
}

async fn security_headers(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&ui::content_security_policy()) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    for (k, v) in ui::SECURITY_HEADERS {
        h.insert(HeaderName::from_static(k), HeaderValue::from_static(v));
    }
    resp
}

/// `Set-Cookie` for `name`; `max_age` 0 deletes it.
pub(super) fn cookie(name: &str, value: &str, max_age: u64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The value of cookie `name`, if the request carries one made of token characters.
pub(super) fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty() && v.len() <= 128 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl UiState {
    /// Signs `approver` in: a new session, its cookie set on `resp` and the sign-in form's
    /// token cookie cleared. Returns the session's info.
    pub(super) fn start_session(&self, resp: &mut Response, approver: &str) -> SessionInfo {
        let (id, info) = self.sessions.create(approver);
        let h = resp.headers_mut();
        h.append(
            header::SET_COOKIE,
            cookie(SESSION_COOKIE, &id, session::MAX_AGE.as_secs(), self.secure),
        );
        h.append(header::SET_COOKIE, cookie(SIGN_IN_COOKIE, "", 0, self.secure));
        info
    }

    /// The session the request's cookie names, if it is live.
    pub(super) fn session(&self, headers: &HeaderMap) -> Option<(String, SessionInfo)> {
        let id = cookie_value(headers, SESSION_COOKIE)?;
        self.sessions.get(id).map(|s| (id.to_owned(), s))
    }

    /// Audits a refusal by the page; a failing audit write fails the request (503).
    pub(super) async fn refuse(
        &self,
        actor: &str,
        incident: Option<IncidentId>,
        plan: Option<&str>,
        payload: serde_json::Value,
    ) -> Option<Response> {
        let plan = plan.map(|p| clip(p, 40));
        match self.svc.audit_refusal(actor, incident, plan.as_deref(), payload).await {
            Ok(()) => None,
            Err(e) => Some(page(
                StatusCode::SERVICE_UNAVAILABLE,
                ui::error_page(None, "Unavailable", &e.to_string(), None),
            )),
        }
    }
}

pub(super) fn page(status: StatusCode, html: String) -> Response {
    (status, Html(html)).into_response()
}

/// The answer to a POST whose session or CSRF token does not check out: audited, 403.
pub(super) async fn forged(st: &UiState, session: Option<&SessionInfo>, plan: Option<&str>, what: &str) -> Response {
    let reason = if session.is_some() { "csrf" } else { "no_session" };
    let payload = json!({
        "by": PAGE_ACTOR, "reason": reason, "action": what,
        "session_of": session.map(|s| crate::service::human(&s.approver)),
        "message": format!("{what} refused: {}", if session.is_some() { "missing or wrong CSRF token" } else { "not signed in" }),
    });
    if let Some(failed) = st.refuse(PAGE_ACTOR, None, plan, payload).await {
        return failed;
    }
    let msg = if session.is_some() {
        "The form's security token is missing or wrong (an old tab, or a request from another site). Nothing was done."
    } else {
        "You are not signed in (or your session ended). Nothing was done."
    };
    page(StatusCode::FORBIDDEN, ui::error_page(None, "Refused", msg, None))
}

async fn sign_in_form(State(st): State<UiState>, headers: HeaderMap) -> Response {
    if st.session(&headers).is_some() {
        return Redirect::to("/ui/plans").into_response();
    }
    sign_in_answer(&st, StatusCode::OK, "", None)
}

/// The sign-in form with a fresh anti-forgery token (also set as a cookie).
pub(super) fn sign_in_answer(st: &UiState, status: StatusCode, name: &str, error: Option<&str>) -> Response {
    let token = session::random_token();
    let sso = st.oauth.as_ref().and_then(|o| o.sign_in_label());
    let mut resp = page(status, ui::sign_in_page(&token, name, error, sso));
    let c = cookie(SIGN_IN_COOKIE, &token, 1800, st.secure);
    resp.headers_mut().append(header::SET_COOKIE, c);
    resp
}

#[derive(Debug, Default, Deserialize)]
struct SignInForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    secret: String,
}

async fn sign_in(
    State(st): State<UiState>,
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    form: Result<Form<SignInForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let addr = peer.map_or_else(|| "unknown".to_owned(), |Extension(ConnectInfo(a))| a.ip().to_string());
    let name = clip(&sanitize_untrusted(form.name.trim()), 64);
    let expected = cookie_value(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    if !session::tokens_match(&form.csrf, expected) {
        let payload = json!({"by": PAGE_ACTOR, "reason": "csrf", "action": "sign_in", "name": name, "client": addr,
                             "message": "sign-in refused: missing or wrong form token"});
        if let Some(failed) = st.refuse(PAGE_ACTOR, None, None, payload).await {
            return failed;
        }
        let msg = "The sign-in form expired or did not come from this page; nothing was done. Sign in again.";
        return sign_in_answer(&st, StatusCode::FORBIDDEN, &name, Some(msg));
    }
    if let Gate::Locked { secs_left } = st.limiter.check(&name, &addr) {
        let payload = json!({"by": PAGE_ACTOR, "reason": "locked_out", "action": "sign_in", "name": name, "client": addr,
                             "message": format!("sign-in refused: locked out for {secs_left} more seconds")});
        if let Some(failed) = st.refuse(PAGE_ACTOR, None, None, payload).await {
            return failed;
        }
        let msg = format!(
            "Too many failed sign-ins for this name from your address. Try again in {} minute(s).",
            secs_left.div_ceil(60)
        );
        return sign_in_answer(&st, StatusCode::TOO_MANY_REQUESTS, &name, Some(&msg));
    }
    let (verdict, why) = check_credentials(&st.svc, &name, form.secret).await;
    if verdict {
        st.limiter.succeed(&name, &addr);
        tracing::info!(approver = %name, client = %addr, "approval page: signed in");
        let mut resp = Redirect::to("/ui/plans").into_response();
        st.start_session(&mut resp, &name);
        return resp;
    }
    let locked = st.limiter.fail(&name, &addr);
    let payload = json!({"by": PAGE_ACTOR, "reason": "sign_in_failed", "action": "sign_in", "name": name,
                         "client": addr, "message": format!("sign-in refused: {why}")});
    if let Some(failed) = st.refuse(PAGE_ACTOR, None, None, payload).await {
        return failed;
    }
    if locked {
        let payload = json!({"by": PAGE_ACTOR, "reason": "locked_out", "action": "sign_in", "name": name, "client": addr,
                             "message": format!("{} failed sign-ins: locked out for {} minutes",
                                                ui::limiter::MAX_FAILURES, ui::limiter::LOCKOUT.as_secs() / 60)});
        if let Some(failed) = st.refuse(PAGE_ACTOR, None, None, payload).await {
            return failed;
        }
    }
    let msg = "Wrong name, password or key.";
    sign_in_answer(&st, StatusCode::FORBIDDEN, &name, Some(msg))
}

/// Whether `secret` is approver `name`'s password or their own key, and if not, why (for the
/// audit: never the secret itself).
async fn check_credentials(svc: &IncidentService, name: &str, secret: String) -> (bool, &'static str) {
    if name.is_empty() || secret.is_empty() {
        return (false, "name or secret missing");
    }
    let (svc2, n) = (svc.clone(), name.to_owned());
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let checked = tokio::task::spawn_blocking(move || {
        let ok = svc2.approvers().check_password(&n, &secret).is_some();
        (ok, secret)
    })
    .await;
    let secret = match checked {
        Ok((true, _)) => return (true, ""),
        Ok((false, secret)) => secret,
        Err(_) => return (false, "password check failed"),
    };
    match svc.approvers().by_key(&secret) {
        KeyOwner::Approver(owner) if owner == name => (true, ""),
        KeyOwner::Agent => (false, "the agent's API key cannot sign in"),
        _ => (false, "wrong name, password or key"),
    }
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

async fn sign_out(
    State(st): State<UiState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let form = form.map(|Form(f)| f).unwrap_or_default();
    let Some((id, s)) = st.session(&headers) else {
        return Redirect::to("/ui/sign-in").into_response();
    };
    if !session::tokens_match(&form.csrf, &s.csrf) {
        return forged(&st, Some(&s), None, "sign_out").await;
    }
    st.sessions.remove(&id);
    let mut resp = Redirect::to("/ui/sign-in").into_response();
    resp.headers_mut()
        .append(header::SET_COOKIE, cookie(SESSION_COOKIE, "", 0, st.secure));
    resp
}

/// The viewer of a page, borrowed from a session.
pub(super) fn viewer(s: &SessionInfo) -> Viewer<'_> {
    Viewer {
        approver: &s.approver,
        csrf: &s.csrf,
    }
}

/// Where a page that needs a session sends a visitor without one.
pub(super) fn to_sign_in() -> Response {
    Redirect::to("/ui/sign-in").into_response()
}

/// A plan id from the path, or the 404 page.
pub(super) fn plan_id(Path(id): Path<String>, s: &SessionInfo) -> Result<String, Box<Response>> {
    if super::plans::is_plan_id(&id) {
        Ok(id)
    } else {
        Err(Box::new(page(
            StatusCode::NOT_FOUND,
            ui::error_page(Some(&viewer(s)), "Not found", "That is not a plan id (plan-…).", None),
        )))
    }
}
