//! The approval page's OpenID Connect sign-in (authorization code flow, RFC 6749 §4.1, with
//! PKCE S256, RFC 7636). [`OAuth::begin_sign_in`] keeps a pending login (state, nonce, PKCE
//! verifier) under a random id the browser holds in a cookie, and returns the issuer's
//! authorization URL. [`OAuth::finish_sign_in`] takes the pending login out (once: a callback
//! replayed finds nothing), checks `state` (and the RFC 9207 `iss`), redeems the code with the
//! verifier, and checks the ID token: signature by the issuer's key, `iss`, `aud` = the client
//! id (`azp` too when present), `exp`/`nbf`/`iat`, and the `nonce` it was sent with. An ID
//! token without the email claims (issuers that keep them for the UserInfo endpoint, as OIDC
//! Core §5.4 has it for the code flow) is completed from the issuer's UserInfo endpoint with
//! the access token the code was redeemed for, whose `sub` must be the ID token's (§5.3.2);
//! that token goes to that endpoint only. Who the identity is, is the caller's question (the
//! approver directory).

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

use argon2::password_hash::rand_core::{OsRng, RngCore};
use base64::Engine;
use jsonwebtoken::decode;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{
    FetchError, OAuth,
    access::{TokenError, header_algorithm, key_for, token_error, validation},
    discovery::read_json,
};
use crate::config::SignInConfig;

/// A pending login lives this long (the time a human has at the issuer's login form).
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// Pending logins kept at most; beyond it the oldest is dropped.
const MAX_PENDING: usize = 1024;

/// The approval page's client at the issuer.
pub(super) struct SignIn {
    client_id: String,
    client_secret: Option<SecretString>,
    redirect_uri: String,
    scopes: Vec<String>,
    pub(super) label: String,
    pending: Mutex<HashMap<[u8; 32], Pending>>,
}

struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    created: Instant,
}

/// A started sign-in: the cookie value that names it (64 hex digits) and where to send the
/// browser.
pub struct Started {
    pub cookie: String,
    pub location: String,
}

/// The parameters of the issuer's redirect back to the approval page.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Callback {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub iss: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
}

/// Who signed in, as the ID token says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: bool,
}

/// Why a sign-in did not complete. The `Display` text is for the audit log and the page: it
/// names what failed, never a code, token or secret.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("approval page sign-in with the issuer is not configured")]
    NotConfigured,
    #[error("no sign-in is pending in this browser (it expired, was used already, or was started elsewhere)")]
    NoPending,
    #[error("the state returned by the issuer does not match this browser's sign-in")]
    State,
    #[error("the authorization response names another issuer")]
    Issuer,
    #[error("the issuer refused the sign-in: {0}")]
    Refused(String),
    #[error("the issuer's answer has no authorization code")]
    NoCode,
    #[error("redeeming the authorization code failed: {0}")]
    Exchange(String),
    #[error("the ID token is not acceptable: {0}")]
    IdToken(String),
    #[error("the authorization server is unavailable: {0}")]
    Unavailable(FetchError),
}

impl SignInError {
    /// A short stable name for the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            SignInError::NotConfigured => "not_configured",
            SignInError::NoPending => "no_pending_sign_in",
            SignInError::State => "state_mismatch",
            SignInError::Issuer => "issuer_mismatch",
            SignInError::Refused(_) => "refused_by_issuer",
            SignInError::NoCode => "no_code",
            SignInError::Exchange(_) => "code_exchange_failed",
            SignInError::IdToken(_) => "bad_id_token",
            SignInError::Unavailable(_) => "issuer_unavailable",
        }
    }
}

/// `n` random bytes from the operating system, base64url without padding.
fn random_b64(n: usize) -> String {
    let mut b = vec![0u8; n];
    OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The PKCE S256 challenge of `verifier` (RFC 7636 §4.2).
fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl SignIn {
    pub(super) fn from_config(s: &SignInConfig, redirect_uri: String) -> Result<Self, String> {
        let client_secret = match &s.client_secret_env {
            Some(var) => Some(SecretString::from(
                std::env::var(var)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| format!("oauth.sign_in.client_secret_env: {var} is unset or empty"))?,
            )),
            None => None,
        };
        let mut scopes = vec!["openid".to_owned()];
        scopes.extend(s.scopes.iter().filter(|x| *x != "openid").cloned());
        Ok(Self {
            client_id: s.client_id.clone(),
            client_secret,
            redirect_uri,
            scopes,
            label: s.label.clone(),
            pending: Mutex::new(HashMap::new()),
        })
    }

    fn remember(&self, p: Pending) -> String {
        let mut b = [0u8; 32];
        OsRng.fill_bytes(&mut b);
        let cookie = hex::encode(b);
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        map.retain(|_, v| now.saturating_duration_since(v.created) < PENDING_TTL);
        if map.len() >= MAX_PENDING
            && let Some(oldest) = map.iter().min_by_key(|(_, v)| v.created).map(|(k, _)| *k)
        {
            map.remove(&oldest);
        }
        map.insert(key(&cookie), p);
        cookie
    }

    /// Takes the pending login `cookie` names out of the table, if it is there and young.
    fn take(&self, cookie: &str) -> Option<Pending> {
        let mut map = self.pending.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&key(cookie)).filter(|p| p.created.elapsed() < PENDING_TTL)
    }
}

impl OAuth {
    fn sign_in(&self) -> Result<&SignIn, SignInError> {
        self.sign_in.as_ref().ok_or(SignInError::NotConfigured)
    }

    /// Starts a sign-in: the pending login's cookie value and the issuer's authorization URL.
    pub async fn begin_sign_in(&self) -> Result<Started, SignInError> {
        let s = self.sign_in()?;
        let meta = self.discovery.metadata().await.map_err(SignInError::Unavailable)?;
        let endpoint = meta.authorization_endpoint.ok_or_else(|| {
            SignInError::Unavailable(FetchError::new("the issuer's metadata has no authorization_endpoint"))
        })?;
        let mut url = reqwest::Url::parse(&endpoint)
            .map_err(|_| SignInError::Unavailable(FetchError::new("the authorization_endpoint is not a URL")))?;
        let pending = Pending {
            state: random_b64(32),
            nonce: random_b64(32),
            verifier: random_b64(32),
            created: Instant::now(),
        };
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &s.client_id)
            .append_pair("redirect_uri", &s.redirect_uri)
            .append_pair("scope", &s.scopes.join(" "))
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge(&pending.verifier))
            .append_pair("code_challenge_method", "S256");
        let cookie = s.remember(pending);
        Ok(Started {
            cookie,
            location: url.to_string(),
        })
    }

    /// Completes the sign-in the browser's `cookie` names with the issuer's redirect `cb`.
    pub async fn finish_sign_in(&self, cookie: Option<&str>, cb: &Callback) -> Result<Identity, SignInError> {
        let s = self.sign_in()?;
        let pending = cookie.and_then(|c| s.take(c)).ok_or(SignInError::NoPending)?;
        if !cb.state.as_deref().is_some_and(|st| same(st, &pending.state)) {
            return Err(SignInError::State);
        }
        let meta = self.discovery.metadata().await.map_err(SignInError::Unavailable)?;
        // RFC 9207: an issuer that sends `iss` must send ours (mix-up defence).
        match cb.iss.as_deref() {
            Some(iss) if iss != self.issuer => return Err(SignInError::Issuer),
            None if meta.authorization_response_iss_parameter_supported => return Err(SignInError::Issuer),
            _ => {}
        }
        if let Some(e) = &cb.error {
            let code: String = e
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                .take(40)
                .collect();
            return Err(SignInError::Refused(code));
        }
        let code = cb
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(SignInError::NoCode)?;
        let endpoint = meta
            .token_endpoint
            .ok_or_else(|| SignInError::Unavailable(FetchError::new("the issuer's metadata has no token_endpoint")))?;
        let (id_token, access_token) = self.redeem(s, &endpoint, code, &pending.verifier).await?;
        let mut identity = self.check_id_token(s, &id_token, &pending.nonce).await?;
        if identity.email.is_none()
            && let (Some(url), Some(token)) = (meta.userinfo_endpoint.as_deref(), access_token.as_deref())
        {
            self.complete_from_userinfo(&mut identity, url, token).await?;
        }
        Ok(identity)
    }

    /// Adds the email claims of the UserInfo endpoint's answer, whose `sub` must be the
    /// identity's.
    async fn complete_from_userinfo(&self, identity: &mut Identity, url: &str, token: &str) -> Result<(), SignInError> {
        let resp = self
            .discovery
            .http()
            .get(url)
            .bearer_auth(token)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| SignInError::Exchange(format!("GET {url}: {}", e.without_url())))?;
        let doc = read_json(resp, url)
            .await
            .map_err(|e| SignInError::Exchange(e.to_string()))?;
        if doc.get("sub").and_then(Value::as_str) != Some(identity.subject.as_str()) {
            return Err(SignInError::IdToken(
                "the UserInfo answer is about another subject".into(),
            ));
        }
        identity.email = doc
            .get("email")
            .and_then(Value::as_str)
            .filter(|e| !e.is_empty() && e.len() <= 254)
            .map(str::to_owned);
        identity.email_verified = verified(doc.get("email_verified"));
        Ok(())
    }

    /// The ID token (and the access token, if any) the token endpoint gives for `code`.
    async fn redeem(
        &self,
        s: &SignIn,
        endpoint: &str,
        code: &str,
        verifier: &str,
    ) -> Result<(String, Option<String>), SignInError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", s.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let http = self.discovery.http();
        let mut req = http.post(endpoint).header(reqwest::header::ACCEPT, "application/json");
        match &s.client_secret {
            // RFC 6749 §2.3.1: both form-urlencoded, then HTTP Basic.
            Some(secret) => {
                let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                req = req.basic_auth(enc(&s.client_id), Some(enc(secret.expose_secret())));
            }
            None => form.push(("client_id", s.client_id.as_str())),
        }
        let resp = req
            .form(&form)
            .send()
            .await
            .map_err(|e| SignInError::Exchange(format!("POST {endpoint}: {}", e.without_url())))?;
        let doc = read_json(resp, endpoint)
            .await
            .map_err(|e| SignInError::Exchange(e.to_string()))?;
        let id_token = doc
            .get("id_token")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| SignInError::Exchange("the token endpoint's answer has no id_token".into()))?;
        let access_token = doc.get("access_token").and_then(Value::as_str).map(str::to_owned);
        Ok((id_token, access_token))
    }

    async fn check_id_token(&self, s: &SignIn, token: &str, nonce: &str) -> Result<Identity, SignInError> {
        let bad = |e: TokenError| match e {
            TokenError::KeysUnavailable(f) => SignInError::Unavailable(f),
            other => SignInError::IdToken(other.description().to_owned()),
        };
        let (alg, kid) = header_algorithm(self, token).map_err(bad)?;
        let key = key_for(self, kid.as_deref(), alg).await.map_err(bad)?;
        let mut v = validation(alg, &self.issuer, &s.client_id, self.leeway);
        v.required_spec_claims.insert("iat".into());
        let data = decode::<IdClaims>(token, &key, &v).map_err(|e| bad(token_error(&e)))?;
        let c = data.claims;
        let audiences = match &c.aud {
            Value::String(a) => vec![a.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        // OIDC Core §3.1.3.7: several audiences need an `azp`, and an `azp` must be us.
        if c.azp.as_deref().is_some_and(|a| a != s.client_id) || (audiences.len() > 1 && c.azp.is_none()) {
            return Err(SignInError::IdToken(
                "the ID token was issued to another client (azp)".into(),
            ));
        }
        if !c.nonce.as_deref().is_some_and(|n| same(n, nonce)) {
            return Err(SignInError::IdToken("the nonce does not match this sign-in".into()));
        }
        if c.sub.is_empty() || c.sub.len() > 255 {
            return Err(SignInError::IdToken("the subject is empty or too long".into()));
        }
        Ok(Identity {
            subject: c.sub,
            email: c.email.filter(|e| !e.is_empty() && e.len() <= 254),
            email_verified: verified(c.email_verified.as_ref()),
        })
    }
}

/// `email_verified` as `true` (or the string `"true"`, as some issuers write it).
fn verified(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true))) || matches!(v, Some(Value::String(s)) if s == "true")
}

#[derive(Deserialize)]
struct IdClaims {
    sub: String,
    aud: Value,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    email_verified: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenge_is_rfc_7636s_example() {
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(random_b64(32).len(), 43, "a 43-character verifier");
        assert_ne!(random_b64(32), random_b64(32));
    }

    fn sign_in() -> SignIn {
        let cfg = SignInConfig {
            client_id: "approvals".into(),
            client_secret_env: None,
            redirect_uri: None,
            scopes: vec!["email".into()],
            label: "SSO".into(),
        };
        SignIn::from_config(&cfg, "https://inc.example.com/ui/oidc/callback".into()).unwrap()
    }

    #[test]
    fn a_pending_login_is_taken_once() {
        let s = sign_in();
        assert_eq!(s.scopes, ["openid", "email"]);
        let p = |state: &str| Pending {
            state: state.into(),
            nonce: "n".into(),
            verifier: "v".into(),
            created: Instant::now(),
        };
        let c = s.remember(p("s1"));
        assert!(s.take("other").is_none());
        assert_eq!(s.take(&c).map(|p| p.state).as_deref(), Some("s1"));
        assert!(s.take(&c).is_none(), "a replayed callback finds nothing");
        let old = s.remember(Pending {
            created: Instant::now() - PENDING_TTL,
            ..p("s2")
        });
        assert!(s.take(&old).is_none(), "expired");
    }

    #[test]
    fn the_table_is_bounded() {
        let s = sign_in();
        let first = s.remember(Pending {
            state: "first".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            created: Instant::now() - Duration::from_secs(5),
        });
        for _ in 0..MAX_PENDING {
            s.remember(Pending {
                state: "s".into(),
                nonce: "n".into(),
                verifier: "v".into(),
                created: Instant::now(),
            });
        }
        assert!(s.pending.lock().unwrap().len() <= MAX_PENDING);
        assert!(s.take(&first).is_none(), "the oldest made room");
    }
}
