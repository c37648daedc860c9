//! `[[approvers]]`: the named humans who may approve or deny plans, and the shape of their
//! credentials (checked at load; the service verifies them).

use argon2::PasswordHash;
use serde::Deserialize;

use super::API_KEY_ENV;

/// A human approver, recorded as `human:NAME` in the audit log, plan views and timelines.
/// Each credential opens one human channel; at least one is required. The agent's key
/// (`OPENCLAW_API_KEY`) never approves on any route.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproverConfig {
    pub name: String,
    /// Environment variable holding this approver's own bearer key (REST, approval page sign-in).
    #[serde(default)]
    pub key_env: Option<String>,
    /// Argon2 password hash in PHC form (`incident-mcp approver hash-password`), for the
    /// approval page's sign-in. A hash, never the password.
    #[serde(default)]
    pub password_hash: Option<String>,
    /// Slack user id (`U…`/`W…`) whose button presses on approval messages count as this approver's.
    #[serde(default)]
    pub slack_user_id: Option<String>,
    /// The subject (`sub`) of this approver's ID tokens from `[oauth]`'s issuer: signing in to
    /// the approval page with OpenID Connect as that subject is signing in as this approver.
    #[serde(default)]
    pub oidc_subject: Option<String>,
    /// This approver's email address: an ID token from `[oauth]`'s issuer carrying it as a
    /// verified email (`email_verified: true`) signs in as this approver (case-insensitive).
    #[serde(default)]
    pub email: Option<String>,
}

/// Unique names of a safe alphabet, a credential each, keys of their own, unique Slack ids.
pub(super) fn validate(approvers: &[ApproverConfig]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    let mut slack = std::collections::HashSet::new();
    let mut subjects = std::collections::HashSet::new();
    let mut emails = std::collections::HashSet::new();
    let env_name_ok = |v: &str| !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    for a in approvers {
        let name_ok =
            (1..=64).contains(&a.name.len()) && a.name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
        if !name_ok || !names.insert(a.name.as_str()) {
            return Err(format!(
                "approvers: `{}` must be a unique name of 1-64 letters, digits, . _ -",
                crate::domain::clip(&a.name, 64)
            ));
        }
        let n = &a.name;
        if a.key_env.is_none()
            && a.password_hash.is_none()
            && a.slack_user_id.is_none()
            && a.oidc_subject.is_none()
            && a.email.is_none()
        {
            return Err(format!(
                "approvers.{n}: give at least one credential: key_env, password_hash, slack_user_id, oidc_subject or email"
            ));
        }
        if let Some(s) = &a.oidc_subject
            && (s.is_empty() || s.len() > 255 || s.chars().any(char::is_control) || !subjects.insert(s.as_str()))
        {
            return Err(format!(
                "approvers.{n}.oidc_subject: must be a unique subject of 1-255 printable characters"
            ));
        }
        if let Some(e) = &a.email {
            let ok = e.len() <= 254
                && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
                && !e.chars().any(|c| c.is_whitespace() || c.is_control());
            if !ok || !emails.insert(e.to_ascii_lowercase()) {
                return Err(format!(
                    "approvers.{n}.email: `{}` must be a unique email address",
                    crate::domain::clip(e, 64)
                ));
            }
        }
        if let Some(k) = &a.key_env {
            if !env_name_ok(k) {
                return Err(format!(
                    "approvers.{n}.key_env: must name an environment variable (letters, digits, _)"
                ));
            }
            if k == API_KEY_ENV {
                return Err(format!(
                    "approvers.{n}.key_env: {API_KEY_ENV} is the agent's key; an approver needs their own"
                ));
            }
        }
        if let Some(h) = &a.password_hash
            && !password_hash_is_valid(h)
        {
            return Err(format!(
                "approvers.{n}.password_hash: not an argon2 PHC string (make one with `incident-mcp approver \
                 hash-password`)"
            ));
        }
        if let Some(u) = &a.slack_user_id {
            let ok = (2..=32).contains(&u.len())
                && (u.starts_with('U') || u.starts_with('W'))
                && u.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
            if !ok || !slack.insert(u.as_str()) {
                return Err(format!(
                    "approvers.{n}.slack_user_id: `{}` must be a unique Slack user id (U… or W…, upper-case letters and digits)",
                    crate::domain::clip(u, 40)
                ));
            }
        }
    }
    Ok(())
}

/// Whether `hash` is a PHC string argon2 can verify against.
pub fn password_hash_is_valid(hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str().starts_with("argon2"))
}
