//! `[oauth]`: the OAuth 2.1 resource server behind `/mcp` (the MCP authorization spec,
//! 2025-11-25) and the approval page's OpenID Connect sign-in, both against one issuer.
//!
//! - [`OAuth::verify_access_token`]: a JWT access token (RFC 9068) is accepted when it is signed
//!   with an asymmetric algorithm of `oauth.algorithms` by a key of the issuer's JWKS (fetched
//!   from the issuer's metadata, cached, refetched for an unknown key id), names the issuer as
//!   `iss` and this server's resource identifier as `aud`, and is within `exp`/`nbf` (with
//!   `oauth.leeway_secs`). Its scopes become a [`Grant`]. The token itself is never stored,
//!   logged or sent anywhere: this server calls no downstream API with it.
//! - [`OAuth::begin_sign_in`] / [`OAuth::finish_sign_in`] (in `oidc.rs`): authorization code
//!   with PKCE, `state` and `nonce`, the ID token checked like an access token (audience: the
//!   client id) plus its nonce.
//!
//! No axum here: `http/` serves the metadata, the challenges and the sign-in routes.

mod access;
mod discovery;
mod oidc;

use std::{sync::Arc, time::Duration};

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

pub use access::TokenError;
pub use oidc::{Callback, Identity, PENDING_TTL, SignInError, Started};

use crate::{
    config::Config,
    domain::access::{Grant, ScopeNames},
};
use discovery::Discovery;

/// Why the issuer's metadata or keys could not be read (names URLs and statuses, never tokens).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(String);

impl FetchError {
    fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// The OAuth side of one server process (one per HTTP app: the key cache is shared by the
/// `/mcp` guard and the approval page's sign-in).
pub struct OAuth {
    issuer: String,
    resource: String,
    metadata_url: String,
    scopes: ScopeNames,
    leeway: u64,
    algorithms: Vec<Algorithm>,
    discovery: Discovery,
    sign_in: Option<oidc::SignIn>,
}

impl std::fmt::Debug for OAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth")
            .field("issuer", &self.issuer)
            .field("resource", &self.resource)
            .finish_non_exhaustive()
    }
}

impl OAuth {
    /// The OAuth side `cfg` describes (`None` without `[oauth]`). Reads the sign-in client's
    /// secret from its environment variable; an unset variable is an error.
    pub fn from_config(cfg: &Config) -> Result<Option<Arc<Self>>, String> {
        let Some(o) = &cfg.oauth else {
            return Ok(None);
        };
        let resource = o
            .resource_uri(cfg.public_url())
            .ok_or("oauth.resource: set it or server.public_url")?;
        let algorithms = o
            .algorithms
            .iter()
            .map(|a| {
                a.parse::<Algorithm>()
                    .map_err(|_| format!("oauth.algorithms: unknown {a}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(10))
            // Metadata, keys and tokens come from the URLs configured or named by the
            // issuer's metadata, never from wherever a redirect points.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("incident-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("oauth: cannot build the HTTP client: {e}"))?;
        let sign_in = match &o.sign_in {
            Some(s) => {
                let redirect = o
                    .redirect_uri(cfg.public_url())
                    .ok_or("oauth.sign_in.redirect_uri: set it or server.public_url")?;
                Some(oidc::SignIn::from_config(s, redirect)?)
            }
            None => None,
        };
        Ok(Some(Arc::new(Self {
            metadata_url: metadata_url_of(&resource),
            issuer: o.issuer.clone(),
            resource,
            scopes: o.scopes.names(),
            leeway: o.leeway_secs,
            algorithms,
            discovery: Discovery::new(&o.issuer, http, Duration::from_secs(o.jwks_min_refresh_secs)),
            sign_in,
        })))
    }

    /// This server's resource identifier (the audience its tokens name).
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The URL of this resource's protected-resource metadata (RFC 9728 §3.1: the well-known
    /// segment between the host and the resource's path).
    pub fn metadata_url(&self) -> &str {
        &self.metadata_url
    }

    pub fn scopes(&self) -> &ScopeNames {
        &self.scopes
    }

    /// The protected-resource metadata document (RFC 9728 §2).
    pub fn protected_resource_metadata(&self) -> Value {
        json!({
            "resource": self.resource,
            "authorization_servers": [self.issuer],
            "scopes_supported": self.scopes.all(),
            "bearer_methods_supported": ["header"],
            "resource_signing_alg_values_supported": self.algorithms.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>(),
            "resource_name": "incident-mcp",
        })
    }

    /// Whether approvers may sign in with the issuer, and the sign-in button's text.
    pub fn sign_in_label(&self) -> Option<&str> {
        self.sign_in.as_ref().map(|s| s.label.as_str())
    }

    /// Checks an access token presented at `/mcp`.
    pub async fn verify_access_token(&self, token: &str) -> Result<Grant, TokenError> {
        access::verify(self, token).await
    }
}

/// `https://host/.well-known/oauth-protected-resource/path` for resource `https://host/path`.
fn metadata_url_of(resource: &str) -> String {
    match reqwest::Url::parse(resource) {
        Ok(mut u) => {
            let path = u.path().trim_end_matches('/').to_owned();
            u.set_path(&format!("/.well-known/oauth-protected-resource{path}"));
            u.set_query(None);
            u.to_string()
        }
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_urls_insert_the_well_known_segment() {
        assert_eq!(
            metadata_url_of("https://inc.example.com/mcp"),
            "https://inc.example.com/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url_of("http://127.0.0.1:8787/mcp"),
            "http://127.0.0.1:8787/.well-known/oauth-protected-resource/mcp"
        );
        assert_eq!(
            metadata_url_of("https://inc.example.com/"),
            "https://inc.example.com/.well-known/oauth-protected-resource"
        );
    }
}
