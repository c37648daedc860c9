//! The approval page's single sign-on (`[oauth.sign_in]`): `GET /ui/oidc/start` sends the
//! browser to the issuer with a fresh pending login (PKCE, `state`, `nonce`) named by an
//! `HttpOnly; SameSite=Lax; Path=/ui/oidc` cookie; `GET /ui/oidc/callback` completes it
//! (`oauth::OAuth::finish_sign_in`) and maps the identity to an approver by `oidc_subject` or
//! verified `email`. A mapped approver gets the same session as a password sign-in; an
//! unmapped identity, and every failed callback, is refused and audited.

use axum::{
    Router,
    extract::{Query, State, rejection::QueryRejection},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Redirect, Response},
    routing::get,
};
use serde_json::json;

use super::ui::{PAGE_ACTOR, UiState, cookie_value, page, sign_in_answer, viewer};
use crate::{
    domain::{clip, sanitize_untrusted},
    oauth::{Callback, SignInError},
    ui::{self, OIDC_COOKIE},
};

pub(super) fn routes() -> Router<UiState> {
    Router::new()
        .route("/ui/oidc/start", get(start))
        .route(crate::config::oauth::CALLBACK_PATH, get(callback))
}

/// `Set-Cookie` of the pending login: sent back on the issuer's top-level redirect (Lax), to
/// the callback only.
fn pending_cookie(value: &str, max_age: u64, secure: bool) -> axum::http::HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    axum::http::HeaderValue::from_str(&format!(
        "{OIDC_COOKIE}={value}; Path=/ui/oidc; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| axum::http::HeaderValue::from_static(""))
}

fn not_configured() -> Response {
    page(
        StatusCode::NOT_FOUND,
        ui::error_page(
            None,
            "Not found",
            "Single sign-on is not configured ([oauth.sign_in]).",
            None,
        ),
    )
}

async fn start(State(st): State<UiState>) -> Response {
    let Some(oauth) = st.oauth.clone() else {
        return not_configured();
    };
    match oauth.begin_sign_in().await {
        Ok(started) => {
            let mut resp = Redirect::to(&started.location).into_response();
            let max_age = crate::oauth::PENDING_TTL.as_secs();
            resp.headers_mut()
                .append(header::SET_COOKIE, pending_cookie(&started.cookie, max_age, st.secure));
            resp
        }
        Err(e) => {
            tracing::warn!(error = %e, "approval page: cannot start a single sign-on");
            let msg =
                "The identity provider cannot be reached right now. Try again, or sign in with your password or key.";
            sign_in_answer(&st, StatusCode::SERVICE_UNAVAILABLE, "", Some(msg))
        }
    }
}

async fn callback(
    State(st): State<UiState>,
    headers: HeaderMap,
    query: Result<Query<Callback>, QueryRejection>,
) -> Response {
    let Some(oauth) = st.oauth.clone() else {
        return not_configured();
    };
    let cb = query.map(|Query(q)| q).unwrap_or_default();
    let pending = cookie_value(&headers, OIDC_COOKIE);
    let outcome = oauth.finish_sign_in(pending, &cb).await;
    // The pending login is spent either way.
    let clear = pending_cookie("", 0, st.secure);
    let identity = match outcome {
        Ok(id) => id,
        Err(e) => {
            let mut resp = refused(&st, &e).await;
            resp.headers_mut().append(header::SET_COOKIE, clear);
            return resp;
        }
    };
    let approver = st
        .svc
        .approvers()
        .by_oidc(&identity.subject, identity.email.as_deref(), identity.email_verified)
        .map(str::to_owned);
    let shown = |s: &str| clip(&sanitize_untrusted(s), 120);
    let Some(name) = approver else {
        let payload = json!({"by": PAGE_ACTOR, "reason": "oidc_unmapped", "action": "sign_in",
                             "subject": shown(&identity.subject),
                             "email": identity.email.as_deref().map(shown),
                             "email_verified": identity.email_verified,
                             "message": "single sign-on refused: the identity is no approver's oidc_subject or verified email"});
        if let Some(failed) = st.refuse(PAGE_ACTOR, None, None, payload).await {
            return failed;
        }
        tracing::warn!(subject = %shown(&identity.subject), "approval page: single sign-on by an identity that is not an approver");
        let msg = format!(
            "You signed in at the identity provider as {}, who is not an approver here. Nothing was done.",
            identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified)
                .map_or_else(|| shown(&identity.subject), shown)
        );
        let mut resp = sign_in_answer(&st, StatusCode::FORBIDDEN, "", Some(&msg));
        resp.headers_mut().append(header::SET_COOKIE, clear);
        return resp;
    };
    tracing::info!(approver = %name, subject = %shown(&identity.subject), "approval page: signed in with single sign-on");
    let mut resp = page(StatusCode::OK, String::new());
    let info = st.start_session(&mut resp, &name);
    *resp.body_mut() = axum::body::Body::from(ui::signed_in_page(&viewer(&info)));
    resp.headers_mut().append(header::SET_COOKIE, clear);
    resp
}

/// A callback that did not complete: audited, and the sign-in page says what happened.
async fn refused(st: &UiState, e: &SignInError) -> Response {
    let payload = json!({"by": PAGE_ACTOR, "reason": "oidc_sign_in_failed", "action": "sign_in",
                         "error": e.code(), "message": format!("single sign-on refused: {e}")});
    if let Some(failed) = st.refuse(PAGE_ACTOR, None, None, payload).await {
        return failed;
    }
    tracing::warn!(error = %e, "approval page: single sign-on failed");
    let (status, msg) = match e {
        SignInError::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The identity provider cannot be reached right now. Nothing was done.".to_owned(),
        ),
        SignInError::Refused(code) if code == "access_denied" => (
            StatusCode::FORBIDDEN,
            "The sign-in was cancelled at the identity provider. Nothing was done.".to_owned(),
        ),
        other => (
            StatusCode::FORBIDDEN,
            format!("Single sign-on did not complete: {other}. Nothing was done; start again."),
        ),
    };
    sign_in_answer(st, status, "", Some(&msg))
}
