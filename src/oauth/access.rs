//! JWT access tokens (RFC 9068) presented at `/mcp`.

use base64::Engine;
use jsonwebtoken::{Algorithm, Validation, decode, decode_header, errors::ErrorKind};
use serde::Deserialize;

use super::{FetchError, OAuth, discovery::KeyError};
use crate::domain::access::{Grant, scopes_of};

/// Longest token looked at; longer is refused unread.
const MAX_TOKEN: usize = 16 * 1024;

/// Why a token is refused. Its [`TokenError::description`] is the challenge's
/// `error_description`; none of them repeats the token or any of its claims.
#[derive(Debug)]
pub enum TokenError {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    MissingClaim,
    /// The issuer's keys cannot be read: the token cannot be checked now (503, not 401).
    KeysUnavailable(FetchError),
}

impl std::fmt::Display for TokenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenError::KeysUnavailable(e) => write!(f, "{}: {e}", self.description()),
            _ => f.write_str(self.description()),
        }
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// The text for `error_description`: fixed, without quotes or backslashes.
    pub fn description(&self) -> &'static str {
        match self {
            TokenError::Malformed => "the token is not a signed JWT",
            TokenError::Algorithm => "the token's signing algorithm is not accepted",
            TokenError::UnknownKey => "the token is not signed by a key of the issuer",
            TokenError::Signature => "the token's signature does not verify",
            TokenError::Expired => "the token expired",
            TokenError::NotYetValid => "the token is not valid yet",
            TokenError::Issuer => "the token was issued by another issuer",
            TokenError::Audience => "the token is for another resource (aud)",
            TokenError::MissingClaim => "the token lacks a required claim (exp, iss, aud, sub)",
            TokenError::KeysUnavailable(_) => "the authorization server's keys are unavailable",
        }
    }

    /// A short stable name for logs and the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            TokenError::Malformed => "malformed",
            TokenError::Algorithm => "algorithm",
            TokenError::UnknownKey => "unknown_key",
            TokenError::Signature => "signature",
            TokenError::Expired => "expired",
            TokenError::NotYetValid => "not_yet_valid",
            TokenError::Issuer => "issuer",
            TokenError::Audience => "audience",
            TokenError::MissingClaim => "missing_claim",
            TokenError::KeysUnavailable(_) => "keys_unavailable",
        }
    }
}

#[derive(Deserialize)]
struct AccessClaims {
    sub: String,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    scp: Option<Vec<String>>,
}

/// Validation of a JWT signed with `alg` for `audience` by `issuer`, with `leeway` seconds.
pub(super) fn validation(alg: Algorithm, issuer: &str, audience: &str, leeway: u64) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = leeway;
    v.validate_exp = true;
    v.validate_nbf = true;
    v.validate_aud = true;
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v
}

/// The accepted algorithm a token's header names, after the header's own sanity checks:
/// `none`, HMAC and anything not configured are refused before any key is looked up.
pub(super) fn header_algorithm(oauth: &OAuth, token: &str) -> Result<(Algorithm, Option<String>), TokenError> {
    if token.len() > MAX_TOKEN || token.split('.').count() != 3 {
        return Err(TokenError::Malformed);
    }
    let header = match decode_header(token) {
        Ok(h) => h,
        // `alg: none` (or any name the library does not know) fails to parse: say which.
        Err(_) if raw_alg(token).is_some() => return Err(TokenError::Algorithm),
        Err(_) => return Err(TokenError::Malformed),
    };
    if header.crit.is_some() {
        // RFC 7515 §4.1.11: extensions this server does not understand.
        return Err(TokenError::Malformed);
    }
    if !oauth.algorithms.contains(&header.alg) {
        return Err(TokenError::Algorithm);
    }
    Ok((header.alg, header.kid))
}

/// The header's `alg` as written, when the header is JSON with a string `alg`.
fn raw_alg(token: &str) -> Option<String> {
    let part = token.split('.').next()?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    v.get("alg")?.as_str().map(str::to_owned)
}

/// Maps the library's validation errors.
pub(super) fn token_error(e: &jsonwebtoken::errors::Error) -> TokenError {
    match e.kind() {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName | ErrorKind::UnsupportedAlgorithm => {
            TokenError::Algorithm
        }
        _ => TokenError::Malformed,
    }
}

/// The key for a token's `kid`/`alg`, mapped to token errors.
pub(super) async fn key_for(
    oauth: &OAuth,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<jsonwebtoken::DecodingKey, TokenError> {
    oauth.discovery.expire_old_keys().await;
    oauth.discovery.key(kid, alg).await.map_err(|e| match e {
        KeyError::Unknown => TokenError::UnknownKey,
        KeyError::Unavailable(f) => TokenError::KeysUnavailable(f),
    })
}

pub(super) async fn verify(oauth: &OAuth, token: &str) -> Result<Grant, TokenError> {
    let (alg, kid) = header_algorithm(oauth, token)?;
    let key = key_for(oauth, kid.as_deref(), alg).await?;
    let v = validation(alg, &oauth.issuer, &oauth.resource, oauth.leeway);
    let data = decode::<AccessClaims>(token, &key, &v).map_err(|e| token_error(&e))?;
    let c = data.claims;
    if c.sub.is_empty() {
        return Err(TokenError::MissingClaim);
    }
    Ok(Grant::new(
        &c.sub,
        scopes_of(c.scope.as_deref(), c.scp.as_deref()),
        &oauth.scopes,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }

    fn oauth() -> std::sync::Arc<OAuth> {
        let text = format!(
            "{}\n[oauth]\nissuer = 'https://id.example.com'\nresource = 'https://inc.example.com/mcp'\n",
            crate::config::EXAMPLE_TOML
        );
        let cfg = crate::config::Config::parse_str(&text, "toml", "t").unwrap();
        OAuth::from_config(&cfg).unwrap().unwrap()
    }

    #[test]
    fn headers_are_judged_before_any_key_is_fetched() {
        let o = oauth();
        let body = b64(r#"{"sub":"x"}"#);
        let tok = |header: &str| format!("{}.{body}.c2ln", b64(header));
        assert!(matches!(header_algorithm(&o, "abc"), Err(TokenError::Malformed)));
        assert!(matches!(
            header_algorithm(&o, &tok(r#"{"alg":"none"}"#)),
            Err(TokenError::Algorithm)
        ));
        assert!(matches!(
            header_algorithm(&o, &tok(r#"{"alg":"HS256","kid":"k"}"#)),
            Err(TokenError::Algorithm)
        ));
        assert!(matches!(
            header_algorithm(&o, &tok(r#"{"alg":"PS256"}"#)),
            Err(TokenError::Algorithm),
        ));
        assert!(matches!(
            header_algorithm(&o, &tok(r#"{"alg":"RS256","crit":["exp"]}"#)),
            Err(TokenError::Malformed)
        ));
        let (alg, kid) = header_algorithm(&o, &tok(r#"{"alg":"ES256","kid":"k1","typ":"at+jwt"}"#)).unwrap();
        assert_eq!((alg, kid.as_deref()), (Algorithm::ES256, Some("k1")));
        assert!(matches!(
            header_algorithm(&o, &"a.b.c".repeat(4000)),
            Err(TokenError::Malformed)
        ));
    }

    #[test]
    fn descriptions_fit_a_quoted_string() {
        for e in [
            TokenError::Malformed,
            TokenError::Algorithm,
            TokenError::UnknownKey,
            TokenError::Signature,
            TokenError::Expired,
            TokenError::NotYetValid,
            TokenError::Issuer,
            TokenError::Audience,
            TokenError::MissingClaim,
            TokenError::KeysUnavailable(FetchError::new("x")),
        ] {
            assert!(!e.description().contains(['"', '\\']), "{e:?}");
            assert!(!e.code().is_empty());
        }
    }
}
