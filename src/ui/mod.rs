//! The approval page's HTML (server-rendered with maud, which escapes every interpolated value),
//! its sessions, CSRF tokens and sign-in throttling. No JavaScript, no external assets: one
//! inline stylesheet, allowed by its hash in the Content-Security-Policy. The HTTP handlers
//! live in `http/ui.rs`; nothing here knows about axum.

mod format;
mod incident_page;
pub mod limiter;
mod plan_page;
mod runbooks;
pub mod session;
mod views;

use std::sync::OnceLock;

use base64::Engine;
use sha2::{Digest, Sha256};

pub use incident_page::incident_page;
pub use plan_page::{ApproveOutcome, approve_result, code_page, plan_page};
pub use views::{containments_page, error_page, queue_page, sign_in_page, signed_in_page};

/// Cookie carrying the session id.
pub const SESSION_COOKIE: &str = "incident_ui";
/// Cookie carrying the sign-in form's anti-forgery token (before there is a session).
pub const SIGN_IN_COOKIE: &str = "incident_ui_signin";
/// Cookie naming a pending single sign-on (`SameSite=Lax`: it must come back on the identity
/// provider's cross-site redirect to the callback).
pub const OIDC_COOKIE: &str = "incident_ui_oidc";

/// Who is signed in, as the pages need it.
#[derive(Debug, Clone)]
pub struct Viewer<'a> {
    pub approver: &'a str,
    pub csrf: &'a str,
}

/// The one stylesheet, inline.
pub(crate) const CSS: &str = "\
*{box-sizing:border-box}\
body{font:16px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#f6f6f4}\
header{display:flex;flex-wrap:wrap;gap:.5rem 1rem;align-items:center;padding:.6rem 1rem;background:#20303c;color:#fff}\
header a{color:#fff}header form{margin:0 0 0 auto}\
main{max-width:60rem;margin:0 auto;padding:1rem}\
h1{font-size:1.35rem;margin:.2rem 0 1rem}h2{font-size:1.1rem;margin:1.4rem 0 .5rem}\
section{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.8rem 1rem;margin:0 0 1rem}\
table{border-collapse:collapse;width:100%}td,th{text-align:left;padding:.3rem .4rem;border-bottom:1px solid #eee;vertical-align:top}\
th{font-weight:600;width:11rem}\
pre,code{font:13px/1.4 ui-monospace,monospace;white-space:pre-wrap;word-break:break-all}\
pre{background:#f3f3f3;padding:.5rem;border-radius:4px;margin:.3rem 0}\
.add{color:#0a5d1a}.del{color:#a01818}.chg{color:#7a4b00}\
.untrusted{border-left:4px solid #c47f00;background:#fff8e6;padding:.4rem .6rem}\
.untrusted-note{font-size:.85rem;color:#6b4b00;margin:.2rem 0}\
.badge{display:inline-block;padding:.05rem .5rem;border-radius:1rem;font-size:.85rem;background:#e4e4e4}\
.pending{background:#fde9b5}.applied{background:#cdeccf}.denied{background:#f6c9c9}.valid{background:#cfe3fa}.expired{background:#e3d6f3}\
.error{background:#fde2e2;border:1px solid #e0a0a0;padding:.6rem .8rem;border-radius:6px}\
.ok{background:#e1f5e3;border:1px solid #9ccfa3;padding:.6rem .8rem;border-radius:6px}\
form.decide{display:grid;gap:.4rem;margin:.6rem 0}\
label{font-weight:600}input,textarea,select,button{font:inherit;padding:.45rem;max-width:100%}\
input[type=text],input[type=password],textarea{width:100%}\
button{border:0;border-radius:4px;padding:.55rem 1rem;cursor:pointer;background:#2c5d8a;color:#fff}\
a.button{display:inline-block;border-radius:4px;padding:.55rem 1rem;background:#2c5d8a;color:#fff;text-decoration:none}\
button.danger{background:#a33}button.apply{background:#1f6b35}button.link{background:none;color:#fff;border:1px solid #fff}\
ul.queue{list-style:none;padding:0;margin:0}ul.queue li{padding:.5rem 0;border-bottom:1px solid #eee}\
.muted{color:#666;font-size:.9rem}\
ul.links{padding-left:1.2rem;margin:.3rem 0}ul.links a{word-break:break-all}\
@media (max-width:40rem){th{width:auto;display:block;border:0;padding-bottom:0}td{display:block}}";

/// `style-src` source of [`CSS`]: its SHA-256, as CSP hashes are written.
fn style_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| {
        let digest = Sha256::digest(CSS.as_bytes());
        format!("'sha256-{}'", base64::engine::general_purpose::STANDARD.encode(digest))
    })
}

/// The Content-Security-Policy of every page: nothing loads or runs except the one inline
/// stylesheet (by hash); forms post only to this origin; no framing.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        style_hash()
    )
}

/// Headers every `/ui` response carries, besides the CSP. `Referrer-Policy: same-origin`
/// rather than `no-referrer`: with `no-referrer` browsers send `Origin: null` on form posts,
/// which the server's Origin check refuses; cross-origin it sends no referrer either (runbook
/// links, the only links to other origins, also carry `rel="noopener noreferrer"`).
pub const SECURITY_HEADERS: [(&str, &str); 5] = [
    ("x-frame-options", "DENY"),
    ("referrer-policy", "same-origin"),
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("cross-origin-opener-policy", "same-origin"),
];
