//! `[oauth]`: `/mcp` as an OAuth 2.1 resource server (the MCP authorization spec): the
//! authorization server whose JWT access tokens it accepts, its own resource identifier (the
//! audience those tokens must name) and the scope names of its three capabilities; and,
//! in `[oauth.sign_in]`, the approval page's OpenID Connect sign-in against the same issuer.
//! Secrets are never here: the sign-in client's secret is named by its environment variable.

use serde::Deserialize;

use crate::domain::access::ScopeNames;

/// JWS algorithms a token may be signed with: asymmetric only (never `none`, never HMAC,
/// whose "key" would be the public key everyone can read).
pub const ASYMMETRIC_ALGORITHMS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    /// The authorization server's issuer identifier, exactly as its metadata states it
    /// (`https://id.example.com/realms/ops`). Its metadata is read from
    /// `{issuer}/.well-known/openid-configuration` (else RFC 8414's well-known URL).
    pub issuer: String,
    /// This server's resource identifier: the URL of its MCP endpoint, which access tokens must
    /// name as their audience (`aud`). Default: `{server.public_url}/mcp`.
    #[serde(default)]
    pub resource: Option<String>,
    /// The scope names of the three capabilities.
    #[serde(default)]
    pub scopes: ScopesConfig,
    /// Clock skew allowed when checking `exp` and `nbf`, in seconds (0-300).
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Signature algorithms accepted, from RS256/384/512, PS256/384/512, ES256/384, EdDSA.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
    /// A token signed by a key id the cached key set lacks refetches the issuer's JWKS, at most
    /// once per this many seconds (1-3600).
    #[serde(default = "default_jwks_refresh")]
    pub jwks_min_refresh_secs: u64,
    /// `[oauth.sign_in]`: approvers sign in to the approval page with this issuer.
    #[serde(default)]
    pub sign_in: Option<SignInConfig>,
}

/// `[oauth.scopes]`: which scope grants what at `/mcp`. `respond` and `notify` include `read`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScopesConfig {
    /// Read-only tools, resources and prompts.
    pub read: String,
    /// Tools that change incidents or act on the cluster (detect, ack, resolve, contain, recover, apply).
    pub respond: String,
    /// Notification tools (notify, outbox retry).
    pub notify: String,
}

impl Default for ScopesConfig {
    fn default() -> Self {
        let d = ScopeNames::default();
        Self {
            read: d.read,
            respond: d.respond,
            notify: d.notify,
        }
    }
}

impl ScopesConfig {
    pub fn names(&self) -> ScopeNames {
        ScopeNames {
            read: self.read.clone(),
            respond: self.respond.clone(),
            notify: self.notify.clone(),
        }
    }
}

/// `[oauth.sign_in]`: the approval page as an OpenID Connect client of the issuer
/// (authorization code flow with PKCE, `state` and `nonce`). The ID token's subject or
/// verified email must be an approver's `oidc_subject` or `email`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInConfig {
    /// The client id registered at the issuer for the approval page.
    pub client_id: String,
    /// Environment variable holding the client's secret (sent with HTTP Basic to the token
    /// endpoint). Unset: a public client, authenticated by PKCE alone.
    #[serde(default)]
    pub client_secret_env: Option<String>,
    /// The redirect URI registered for the client. Default: `{server.public_url}/ui/oidc/callback`.
    #[serde(default)]
    pub redirect_uri: Option<String>,
    /// Scopes asked for; `openid` is always sent.
    #[serde(default = "default_sign_in_scopes")]
    pub scopes: Vec<String>,
    /// The sign-in button's text.
    #[serde(default = "default_label")]
    pub label: String,
}

fn default_leeway() -> u64 {
    30
}
fn default_algorithms() -> Vec<String> {
    vec!["RS256".into(), "ES256".into()]
}
fn default_jwks_refresh() -> u64 {
    30
}
fn default_sign_in_scopes() -> Vec<String> {
    vec!["openid".into(), "email".into()]
}
fn default_label() -> String {
    "Sign in with single sign-on".into()
}

/// The path of the approval page's OIDC redirect URI.
pub const CALLBACK_PATH: &str = "/ui/oidc/callback";

impl OAuthConfig {
    /// The resource identifier: `resource`, else `{public_url}/mcp`.
    pub fn resource_uri(&self, public_url: Option<&str>) -> Option<String> {
        self.resource
            .clone()
            .or_else(|| public_url.map(|u| format!("{}/mcp", u.trim_end_matches('/'))))
    }

    /// The sign-in's redirect URI: `redirect_uri`, else `{public_url}/ui/oidc/callback`.
    pub fn redirect_uri(&self, public_url: Option<&str>) -> Option<String> {
        let s = self.sign_in.as_ref()?;
        s.redirect_uri
            .clone()
            .or_else(|| public_url.map(|u| format!("{}{CALLBACK_PATH}", u.trim_end_matches('/'))))
    }

    pub(super) fn check(&self, public_url: Option<&str>) -> Result<(), String> {
        check_url(&self.issuer, true).map_err(|why| format!("oauth.issuer: {why}"))?;
        let resource = self
            .resource_uri(public_url)
            .ok_or("oauth.resource: set it (the URL of this server's /mcp) or server.public_url")?;
        check_url(&resource, false).map_err(|why| format!("oauth.resource: {why}"))?;
        let names = self.scopes.names();
        let all = names.all();
        if !all.iter().all(|s| ScopeNames::is_valid_scope(s))
            || all[0] == all[1]
            || all[1] == all[2]
            || all[0] == all[2]
        {
            return Err(
                "oauth.scopes: read, respond and notify must be three different scope names (printable ASCII, no \
                 spaces, quotes or backslashes)"
                    .into(),
            );
        }
        if self.leeway_secs > 300 {
            return Err("oauth.leeway_secs: must be at most 300".into());
        }
        if !(1..=3600).contains(&self.jwks_min_refresh_secs) {
            return Err("oauth.jwks_min_refresh_secs: must be in 1..=3600".into());
        }
        if self.algorithms.is_empty()
            || !self
                .algorithms
                .iter()
                .all(|a| ASYMMETRIC_ALGORITHMS.contains(&a.as_str()))
        {
            return Err(format!(
                "oauth.algorithms: give one or more of {}",
                ASYMMETRIC_ALGORITHMS.join(", ")
            ));
        }
        if let Some(s) = &self.sign_in {
            if s.client_id.is_empty() || s.client_id.len() > 255 || s.client_id.chars().any(char::is_control) {
                return Err("oauth.sign_in.client_id: must be 1-255 printable characters".into());
            }
            if let Some(v) = &s.client_secret_env
                && (v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
            {
                return Err(
                    "oauth.sign_in.client_secret_env: must name an environment variable (letters, digits, _)".into(),
                );
            }
            if s.client_secret_env.as_deref() == Some(super::API_KEY_ENV) {
                return Err(format!(
                    "oauth.sign_in.client_secret_env: {} is the agent's key",
                    super::API_KEY_ENV
                ));
            }
            let redirect = self
                .redirect_uri(public_url)
                .ok_or("oauth.sign_in.redirect_uri: set it (https://HOST/ui/oidc/callback) or server.public_url")?;
            check_url(&redirect, false).map_err(|why| format!("oauth.sign_in.redirect_uri: {why}"))?;
            let path_ok = reqwest::Url::parse(&redirect).is_ok_and(|u| u.path() == CALLBACK_PATH);
            if !path_ok {
                return Err(format!("oauth.sign_in.redirect_uri: its path must be {CALLBACK_PATH}"));
            }
            if !s.scopes.iter().all(|x| ScopeNames::is_valid_scope(x)) {
                return Err("oauth.sign_in.scopes: scope names are printable ASCII without spaces or quotes".into());
            }
            if s.label.trim().is_empty() || s.label.len() > 80 {
                return Err("oauth.sign_in.label: 1-80 characters".into());
            }
        }
        Ok(())
    }
}

/// An endpoint the issuer's metadata names (JWKS, authorization, token): https, or http on a
/// loopback host, without credentials or fragment.
pub fn check_endpoint_url(raw: &str) -> Result<(), String> {
    check_url(raw, false)
}

/// An https URL (http only on a loopback host), without credentials or fragment; an issuer
/// has no query either (RFC 8414 §2).
fn check_url(raw: &str, issuer: bool) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|_| "not a valid URL".to_owned())?;
    let host = url.host_str().unwrap_or("");
    let loopback = host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback());
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => return Err("must be an https URL (http only on a loopback address)".into()),
    }
    if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
        return Err("must not carry credentials or a fragment".into());
    }
    if issuer && url.query().is_some() {
        return Err("an issuer has no query".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(extra: &str) -> Result<OAuthConfig, String> {
        let cfg: OAuthConfig = toml::from_str(extra).map_err(|e| e.to_string())?;
        cfg.check(None).map(|()| cfg)
    }

    #[test]
    fn defaults_and_checks() {
        let ok = parse("issuer = 'https://id.example.com'\nresource = 'https://inc.example.com/mcp'").unwrap();
        assert_eq!(ok.scopes.names(), ScopeNames::default());
        assert_eq!(ok.algorithms, ["RS256", "ES256"]);
        assert_eq!(ok.leeway_secs, 30);
        let cases = [
            (
                "issuer = 'http://id.example.com'\nresource = 'https://a/mcp'",
                "oauth.issuer",
            ),
            (
                "issuer = 'https://id.example.com?x=1'\nresource = 'https://a/mcp'",
                "oauth.issuer",
            ),
            ("issuer = 'https://id.example.com'", "oauth.resource"),
            (
                "issuer = 'https://i'\nresource = 'https://a/mcp'\nalgorithms = ['HS256']",
                "oauth.algorithms",
            ),
            (
                "issuer = 'https://i'\nresource = 'https://a/mcp'\nalgorithms = ['none']",
                "oauth.algorithms",
            ),
            (
                "issuer = 'https://i'\nresource = 'https://a/mcp'\n[scopes]\nread = 'x'\nrespond = 'x'",
                "oauth.scopes",
            ),
            (
                "issuer = 'https://i'\nresource = 'https://a/mcp'\n[sign_in]\nclient_id = 'c'",
                "oauth.sign_in.redirect_uri",
            ),
            (
                "issuer = 'https://i'\nresource = 'https://a/mcp'\n[sign_in]\nclient_id = 'c'\nredirect_uri = 'https://a/elsewhere'",
                "its path must be",
            ),
            (
                "issuer = 'https://i'\nresource = 'https://a/mcp'\n[sign_in]\nclient_id = 'c'\nredirect_uri = 'https://a/ui/oidc/callback'\nclient_secret_env = 'OPENCLAW_API_KEY'",
                "agent's key",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        let local = parse("issuer = 'http://127.0.0.1:9000'\nresource = 'http://localhost:8787/mcp'");
        assert!(local.is_ok(), "{local:?}");
    }

    #[test]
    fn public_url_gives_the_defaults() {
        let cfg: OAuthConfig =
            toml::from_str("issuer = 'https://id.example.com'\n[sign_in]\nclient_id = 'approvals'").unwrap();
        let base = Some("https://inc.example.com/");
        cfg.check(base).unwrap();
        assert_eq!(cfg.resource_uri(base).as_deref(), Some("https://inc.example.com/mcp"));
        assert_eq!(
            cfg.redirect_uri(base).as_deref(),
            Some("https://inc.example.com/ui/oidc/callback")
        );
    }
}
