//! The approvers: named humans and the credentials each human channel checks (a bearer key
//! for REST and the approval page, an argon2 password hash for the page, a Slack user id for
//! Slack buttons). Every approval, denial and approver-driven apply is recorded as
//! `human:<name>`. The agent's key (`OPENCLAW_API_KEY`) is never an approver's credential.

use std::sync::OnceLock;

use argon2::{
    Argon2, PasswordHash, PasswordHasher, PasswordVerifier,
    password_hash::{SaltString, rand_core::OsRng},
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::config::Config;

/// Prefix of every human identity.
pub const HUMAN_PREFIX: &str = "human:";

/// `human:<name>`: how an approver is recorded.
pub fn human(name: &str) -> String {
    format!("{HUMAN_PREFIX}{name}")
}

/// Whether `identity` names a human (approvals by anything else are refused).
pub fn is_human(identity: &str) -> bool {
    identity.strip_prefix(HUMAN_PREFIX).is_some_and(|n| !n.is_empty())
}

pub use crate::config::password_hash_is_valid;

/// An argon2id PHC string of `password` with a fresh random salt (`approver hash-password`).
pub fn hash_password(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Who a bearer token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOwner {
    /// An approver, by name.
    Approver(String),
    /// The agent (`OPENCLAW_API_KEY`).
    Agent,
    Unknown,
}

struct Entry {
    name: String,
    key: Option<SecretString>,
    password_hash: Option<String>,
    slack_user_id: Option<String>,
    oidc_subject: Option<String>,
    email: Option<String>,
}

/// The configured approvers with their credentials (keys read from their variables once).
pub struct ApproverDirectory {
    entries: Vec<Entry>,
    agent_key: Option<SecretString>,
}

impl ApproverDirectory {
    /// Approvers whose key variable is unset or empty have no key (logged once here).
    pub fn from_config(cfg: &Config) -> Self {
        let entries = cfg
            .approvers
            .iter()
            .map(|a| {
                let key = a.key_env.as_ref().and_then(|var| {
                    let k = std::env::var(var).ok().filter(|k| !k.is_empty());
                    if k.is_none() {
                        tracing::warn!(approver = %a.name, key_env = %var, "approver key variable is unset: this approver has no key");
                    }
                    k.map(SecretString::from)
                });
                Entry {
                    name: a.name.clone(),
                    key,
                    password_hash: a.password_hash.clone(),
                    slack_user_id: a.slack_user_id.clone(),
                    oidc_subject: a.oidc_subject.clone(),
                    email: a.email.clone(),
                }
            })
            .collect();
        Self {
            entries,
            agent_key: cfg.api_key().map(SecretString::from),
        }
    }

    /// Whether the server requires the agent's key.
    pub fn agent_key_set(&self) -> bool {
        self.agent_key.is_some()
    }

    /// The approvers' names, in config order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    pub fn is_approver(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// Who `token` belongs to. Every key is compared, so the time taken does not say which
    /// matched; a key shared by the agent and an approver is the agent's.
    pub fn by_key(&self, token: &str) -> KeyOwner {
        let eq = |k: &SecretString| bool::from(token.as_bytes().ct_eq(k.expose_secret().as_bytes()));
        let mut found = None;
        for e in &self.entries {
            if e.key.as_ref().is_some_and(eq) && found.is_none() {
                found = Some(e.name.clone());
            }
        }
        let agent = self.agent_key.as_ref().is_some_and(eq);
        match (found, agent) {
            (_, true) => KeyOwner::Agent,
            (Some(name), false) => KeyOwner::Approver(name),
            (None, false) => KeyOwner::Unknown,
        }
    }

    /// The approver `name` if `password` matches their hash. An unknown name costs the same
    /// argon2 work as a known one, so timing does not tell which names exist.
    pub fn check_password(&self, name: &str, password: &str) -> Option<String> {
        static DUMMY: OnceLock<String> = OnceLock::new();
        let entry = self.entries.iter().find(|e| e.name == name);
        let hash = match entry.and_then(|e| e.password_hash.as_deref()) {
            Some(h) => h,
            None => DUMMY.get_or_init(|| hash_password("not a password of anyone").unwrap_or_default()),
        };
        let ok =
            PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok());
        match (entry, ok) {
            (Some(e), true) if e.password_hash.is_some() => Some(e.name.clone()),
            _ => None,
        }
    }

    /// Whether approver `name` signs in with a password.
    pub fn has_password(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name && e.password_hash.is_some())
    }

    /// The approver an OpenID Connect identity from `[oauth]`'s issuer maps to: the one whose
    /// `oidc_subject` is `subject`, else the one whose `email` is `email` (case-insensitive),
    /// and only when the issuer says that email is verified.
    pub fn by_oidc(&self, subject: &str, email: Option<&str>, email_verified: bool) -> Option<&str> {
        let by_subject = self.entries.iter().find(|e| e.oidc_subject.as_deref() == Some(subject));
        let by_email = || {
            let email = email.filter(|_| email_verified)?;
            self.entries
                .iter()
                .find(|e| e.email.as_deref().is_some_and(|m| m.eq_ignore_ascii_case(email)))
        };
        by_subject.or_else(by_email).map(|e| e.name.as_str())
    }

    /// The approver a Slack user id maps to.
    pub fn by_slack_user(&self, user_id: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.slack_user_id.as_deref() == Some(user_id))
            .map(|e| e.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(extra: &str) -> ApproverDirectory {
        let cfg = Config::parse_str(&format!("{}\n{extra}", crate::config::EXAMPLE_TOML), "toml", "t").unwrap();
        ApproverDirectory::from_config(&cfg)
    }

    #[test]
    fn passwords_verify_against_their_hash_only() {
        let h = hash_password("correct horse").unwrap();
        assert!(password_hash_is_valid(&h), "{h}");
        assert!(!password_hash_is_valid("correct horse"));
        let d = dir(&format!(
            "[[approvers]]\nname = \"alice\"\npassword_hash = \"{h}\"\n[[approvers]]\nname = \"bob\"\nslack_user_id = \"U0BOB\"\n"
        ));
        assert_eq!(d.check_password("alice", "correct horse").as_deref(), Some("alice"));
        assert_eq!(d.check_password("alice", "wrong"), None);
        assert_eq!(d.check_password("bob", "correct horse"), None, "bob has no password");
        assert_eq!(d.check_password("mallory", "correct horse"), None);
        assert_eq!(d.by_slack_user("U0BOB"), Some("bob"));
        assert_eq!(d.by_slack_user("U0ALICE"), None);
        assert_eq!(d.names().collect::<Vec<_>>(), ["alice", "bob"]);
    }

    #[test]
    fn oidc_identities_map_by_subject_or_verified_email() {
        let oauth = "[oauth]\nissuer = 'https://id.example.com'\nresource = 'https://i.example.com/mcp'\n\
                     [oauth.sign_in]\nclient_id = 'approvals'\nredirect_uri = 'https://i.example.com/ui/oidc/callback'\n";
        let d = dir(&format!(
            "{oauth}[[approvers]]\nname = \"alice\"\noidc_subject = \"248289761001\"\n\
             [[approvers]]\nname = \"bob\"\nemail = \"Bob@Example.com\"\n"
        ));
        assert_eq!(d.by_oidc("248289761001", None, false), Some("alice"));
        assert_eq!(d.by_oidc("x", Some("bob@example.com"), true), Some("bob"));
        assert_eq!(d.by_oidc("x", Some("bob@example.com"), false), None, "unverified email");
        assert_eq!(d.by_oidc("x", Some("carol@example.com"), true), None);
        assert_eq!(d.by_oidc("alice", None, true), None, "a name is not a subject");
        assert_eq!(
            d.by_oidc("248289761001", Some("bob@example.com"), true),
            Some("alice"),
            "the subject wins"
        );
    }

    #[test]
    fn identities() {
        assert_eq!(human("alice"), "human:alice");
        assert!(is_human("human:alice"));
        assert!(!is_human("human:"));
        assert!(!is_human("mcp:human:alice"));
        assert!(!is_human("client:alice"));
    }
}
