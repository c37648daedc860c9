//! The page frame, sign-in, the queue and error pages.

use chrono::{DateTime, Utc};
use maud::{DOCTYPE, Markup, PreEscaped, html};

use super::{CSS, Viewer, format};
use crate::service::{ContainmentList, PlanSummary};

/// A whole page around `body`; the header shows who is signed in and the sign-out button.
pub(crate) fn layout(title: &str, viewer: Option<&Viewer>, body: Markup) -> String {
    layout_with_head(title, viewer, html! {}, body)
}

/// [`layout`] with more in `<head>`.
fn layout_with_head(title: &str, viewer: Option<&Viewer>, head_extra: Markup, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · incident-mcp" }
                style { (PreEscaped(CSS)) }
                (head_extra)
            }
            body {
                header {
                    strong { "incident-mcp approvals" }
                    @if let Some(v) = viewer {
                        a href="/ui/plans" { "Queue" }
                        a href="/ui/containments" { "Active containments" }
                        span.signed-in { "Signed in as " strong { (v.approver) } }
                        form method="post" action="/ui/sign-out" {
                            input type="hidden" name="csrf" value=(v.csrf);
                            button.link type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
    .into_string()
}

/// The sign-in form; `token` is the form's anti-forgery token (also in a cookie); `sso` is the
/// label of the single sign-on link when `[oauth.sign_in]` is configured.
pub fn sign_in_page(token: &str, name: &str, error: Option<&str>, sso: Option<&str>) -> String {
    let body = html! {
        h1 { "Sign in as an approver" }
        @if let Some(e) = error {
            p.error role="alert" { (e) }
        }
        section {
            form.decide method="post" action="/ui/sign-in" {
                input type="hidden" name="csrf" value=(token);
                label for="name" { "Approver name" }
                input #name type="text" name="name" value=(name) required autocomplete="username"
                    autocapitalize="none" spellcheck="false";
                label for="secret" { "Password or your approver API key" }
                input #secret type="password" name="secret" required autocomplete="current-password";
                button type="submit" { "Sign in" }
            }
            p.muted { "Approvers are configured in [[approvers]]. The agent's API key cannot sign in." }
        }
        @if let Some(label) = sso {
            section #sso {
                // A link, not a form: the answer redirects to the issuer, which `form-action
                // 'self'` would block after a form post.
                p { a #sso-sign-in.button href="/ui/oidc/start" { (label) } }
                p.muted { "Signs you in with the organisation's identity provider; your identity must be an approver's oidc_subject or verified email." }
            }
        }
    };
    layout("Sign in", None, body)
}

/// After a single sign-on: the session is set; this page moves on to the queue. A page rather
/// than a redirect: the browser arrived from the identity provider's site, and a redirect in
/// that chain would not yet carry the `SameSite=Strict` session cookie; a refresh from this
/// page is a same-site navigation that does.
pub fn signed_in_page(viewer: &Viewer) -> String {
    let head = html! { meta http-equiv="refresh" content="0;url=/ui/plans"; };
    let body = html! {
        h1 { "Signed in" }
        p.ok { "Signed in as " strong { (viewer.approver) } "." }
        p { a #continue href="/ui/plans" { "Continue to the queue" } }
    };
    layout_with_head("Signed in", Some(viewer), head, body)
}

fn plan_line(p: &PlanSummary, now: DateTime<Utc>, extra: Markup) -> Markup {
    html! {
        li {
            a href={ "/ui/plans/" (p.plan_id) } { code { (p.plan_id) } }
            " " (extra)
            br;
            span { (p.summary) }
            br;
            span.muted {
                "env " (p.env) " · proposed by " (p.principal) " · "
                (format::duration((now - p.created_at).num_seconds())) " ago"
                @if let Some(id) = p.incident_id {
                    " · " a href={ "/ui/incidents/" (id) } { (id) }
                }
            }
        }
    }
}

/// The queue: plans waiting for a human, approved plans not yet applied (with the time their
/// approval has left), and recent decisions.
pub fn queue_page(
    viewer: &Viewer,
    waiting: &[PlanSummary],
    approved: &[(PlanSummary, DateTime<Utc>)],
    recent: &[PlanSummary],
    now: DateTime<Utc>,
) -> String {
    let body = html! {
        h1 { "Plans waiting for a human (" (waiting.len()) ")" }
        section #waiting {
            @if waiting.is_empty() {
                p.muted { "Nothing is waiting for a decision." }
            } @else {
                ul.queue {
                    @for p in waiting {
                        @let badge = html! {
                            @if p.approval.as_deref() == Some("expired") {
                                span.badge.expired { "approval expired" }
                            } @else {
                                span.badge.pending { "pending" }
                            }
                        };
                        (plan_line(p, now, badge))
                    }
                }
            }
        }
        h2 { "Approved, waiting to be applied" }
        section #approved {
            @if approved.is_empty() {
                p.muted { "None." }
            } @else {
                ul.queue {
                    @for (p, until) in approved {
                        @let badge = html! {
                            span.badge.valid {
                                "approved, " (format::duration((*until - now).num_seconds())) " left"
                            }
                        };
                        (plan_line(p, now, badge))
                    }
                }
            }
        }
        h2 { "Recent plans" }
        section #recent {
            ul.queue {
                @for p in recent {
                    @let word = serde_json::to_value(p.status).ok();
                    @let word = word.as_ref().and_then(|w| w.as_str()).unwrap_or("unknown").replace('_', " ");
                    (plan_line(p, now, html! { span.badge.(word.replace(' ', "-")) { (word) } }))
                }
            }
        }
    };
    layout("Queue", Some(viewer), body)
}

/// An error page: what went wrong and where to go from here.
pub fn error_page(viewer: Option<&Viewer>, title: &str, message: &str, back: Option<&str>) -> String {
    let body = html! {
        h1 { (title) }
        p.error role="alert" { (message) }
        p {
            @if let Some(b) = back {
                a href=(b) { "Back" }
            } @else if viewer.is_some() {
                a href="/ui/plans" { "Back to the queue" }
            } @else {
                a href="/ui/sign-in" { "Sign in" }
            }
        }
    };
    layout(title, viewer, body)
}

/// What is isolated, blocked, paused or cordoned now.
pub fn containments_page(viewer: &Viewer, list: &ContainmentList, now: DateTime<Utc>) -> String {
    let body = html! {
        h1 { "Active containments (" (list.count) ")" }
        p.muted { (list.summary) }
        section #containments {
            @if list.containments.is_empty() {
                p.muted { "Nothing is contained right now." }
            } @else {
                ul.queue {
                    @for c in &list.containments {
                        li {
                            strong { (c.action) " " code { (c.target) } }
                            @if let Some(ns) = &c.namespace { " in " code { (ns) } }
                            " "
                            @if c.simulated { span.badge.valid { "simulated (sandbox)" } }
                            br;
                            span.muted {
                                "env " (c.env) " · since " (format::time(c.since))
                                " · proposed by " (c.proposed_by)
                                " · approved by " (c.approved_by.as_deref().unwrap_or("?"))
                            }
                            br;
                            span {
                                @match c.expires_at {
                                    Some(t) => { "reverted automatically in " (format::duration((t - now).num_seconds())) },
                                    None => { "stays until reverted" },
                                }
                                " · undo: " (c.undo)
                            }
                            br;
                            a href={ "/ui/plans/" (c.plan_id) } { code { (c.plan_id) } }
                            @if let Some(id) = c.incident_id { " · " a href={ "/ui/incidents/" (id) } { (id) } }
                        }
                    }
                }
            }
        }
    };
    layout("Active containments", Some(viewer), body)
}
