//! The issuer's metadata (OpenID Connect discovery, else RFC 8414) and its signing keys (the
//! JWKS at the metadata's `jwks_uri`), fetched when first needed and cached. A token signed with
//! a key id the cache lacks refetches the key set, at most once per `jwks_min_refresh_secs`; a
//! failed refetch keeps the keys already known.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use jsonwebtoken::{
    Algorithm, DecodingKey,
    jwk::{Jwk, PublicKeyUse},
};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};

use super::FetchError;

/// Metadata and keys older than this are fetched again when next needed.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest metadata or key-set document read.
const MAX_DOCUMENT: usize = 512 * 1024;

/// What this server uses of the authorization server's metadata.
#[derive(Debug, Clone, Deserialize)]
pub struct IssuerMetadata {
    pub issuer: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub authorization_endpoint: Option<String>,
    #[serde(default)]
    pub token_endpoint: Option<String>,
    #[serde(default)]
    pub userinfo_endpoint: Option<String>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// One usable verification key: the algorithm family it serves and the JWK's own `alg`.
struct Key {
    decoding: DecodingKey,
    alg: Option<String>,
}

#[derive(Default)]
struct KeySet {
    /// By key id; keys without one under "".
    by_kid: HashMap<String, Vec<Key>>,
    fetched: Option<Instant>,
}

/// The issuer's metadata and keys, shared by access-token and ID-token checks.
pub struct Discovery {
    issuer: String,
    http: reqwest::Client,
    min_refresh: Duration,
    metadata: Mutex<Option<(IssuerMetadata, Instant)>>,
    keys: RwLock<KeySet>,
    /// Serialises key-set fetches: concurrent requests with a new key id fetch once.
    refreshing: Mutex<()>,
}

/// Why no key verifies a token.
#[derive(Debug)]
pub enum KeyError {
    /// The key set has no key with the token's id (and algorithm), even after a refetch.
    Unknown,
    /// Neither metadata nor keys could be fetched, and none are cached.
    Unavailable(FetchError),
}

impl Discovery {
    pub fn new(issuer: &str, http: reqwest::Client, min_refresh: Duration) -> Self {
        Self {
            issuer: issuer.to_owned(),
            http,
            min_refresh,
            metadata: Mutex::new(None),
            keys: RwLock::new(KeySet::default()),
            refreshing: Mutex::new(()),
        }
    }

    /// The client every request to the issuer goes through.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The issuer's metadata, from the cache or fetched (the first well-known URL that answers
    /// with metadata naming exactly our issuer).
    pub async fn metadata(&self) -> Result<IssuerMetadata, FetchError> {
        let mut cached = self.metadata.lock().await;
        if let Some((m, at)) = cached.as_ref()
            && at.elapsed() < MAX_AGE
        {
            return Ok(m.clone());
        }
        let mut last = FetchError::new("no metadata URL answered");
        for url in metadata_urls(&self.issuer) {
            match self.fetch_metadata(&url).await {
                Ok(m) => {
                    *cached = Some((m.clone(), Instant::now()));
                    return Ok(m);
                }
                Err(e) => last = e,
            }
        }
        // A stale copy beats none when the issuer is briefly unreachable.
        if let Some((m, _)) = cached.as_ref() {
            tracing::warn!(error = %last, "oauth: cannot refresh the issuer's metadata; using the cached copy");
            return Ok(m.clone());
        }
        Err(last)
    }

    async fn fetch_metadata(&self, url: &str) -> Result<IssuerMetadata, FetchError> {
        let doc = fetch_json(&self.http, url).await?;
        let m: IssuerMetadata =
            serde_json::from_value(doc).map_err(|e| FetchError::new(format!("{url}: not issuer metadata: {e}")))?;
        if m.issuer != self.issuer {
            return Err(FetchError::new(format!(
                "{url}: the metadata names issuer {}, not the configured {}",
                crate::domain::clip(&m.issuer, 100),
                self.issuer
            )));
        }
        for (name, u) in [
            ("jwks_uri", Some(&m.jwks_uri)),
            ("authorization_endpoint", m.authorization_endpoint.as_ref()),
            ("token_endpoint", m.token_endpoint.as_ref()),
            ("userinfo_endpoint", m.userinfo_endpoint.as_ref()),
        ] {
            if let Some(u) = u {
                crate::config::oauth::check_endpoint_url(u)
                    .map_err(|why| FetchError::new(format!("{url}: {name}: {why}")))?;
            }
        }
        Ok(m)
    }

    /// The key that verifies a token with header `kid` and `alg`.
    pub async fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<DecodingKey, KeyError> {
        let fresh = {
            let keys = self.keys.read().await;
            if let Some(k) = keys.find(kid, alg) {
                return Ok(k);
            }
            keys.fetched.is_some_and(|at| at.elapsed() < self.min_refresh)
        };
        if fresh {
            return Err(KeyError::Unknown);
        }
        let _one = self.refreshing.lock().await;
        {
            // Another request may have fetched while this one waited.
            let keys = self.keys.read().await;
            if let Some(k) = keys.find(kid, alg) {
                return Ok(k);
            }
            if keys.fetched.is_some_and(|at| at.elapsed() < self.min_refresh) {
                return Err(KeyError::Unknown);
            }
        }
        match self.fetch_keys().await {
            Ok(set) => {
                let found = set.find(kid, alg);
                *self.keys.write().await = set;
                found.ok_or(KeyError::Unknown)
            }
            Err(e) => {
                let mut keys = self.keys.write().await;
                if keys.fetched.is_none() {
                    return Err(KeyError::Unavailable(e));
                }
                tracing::warn!(error = %e, "oauth: cannot refetch the issuer's keys; keeping the cached ones");
                // Not again before the next interval.
                keys.fetched = Some(Instant::now());
                Err(KeyError::Unknown)
            }
        }
    }

    /// Fetches the key set again when the cached one is older than an hour (called before a
    /// lookup, so rotated-out keys stop verifying).
    pub async fn expire_old_keys(&self) {
        let stale = self.keys.read().await.fetched.is_some_and(|at| at.elapsed() >= MAX_AGE);
        if stale {
            let _one = self.refreshing.lock().await;
            if let Ok(set) = self.fetch_keys().await {
                *self.keys.write().await = set;
            }
        }
    }

    async fn fetch_keys(&self) -> Result<KeySet, FetchError> {
        let m = self.metadata().await?;
        let doc = fetch_json(&self.http, &m.jwks_uri).await?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| FetchError::new("the JWKS has no `keys` array"))?;
        let mut set = KeySet {
            by_kid: HashMap::new(),
            fetched: Some(Instant::now()),
        };
        let mut skipped = 0usize;
        for raw in list {
            match usable_key(raw) {
                Some((kid, key)) => set.by_kid.entry(kid).or_default().push(key),
                None => skipped += 1,
            }
        }
        tracing::info!(
            keys = set.by_kid.values().map(Vec::len).sum::<usize>(),
            skipped,
            "oauth: fetched the issuer's signing keys"
        );
        Ok(set)
    }
}

impl KeySet {
    /// The key with `kid` (any key when the token names none and the set holds exactly one)
    /// that can verify `alg`.
    fn find(&self, kid: Option<&str>, alg: Algorithm) -> Option<DecodingKey> {
        let candidates: Vec<&Key> = match kid {
            Some(k) => self.by_kid.get(k).map(|v| v.iter().collect()).unwrap_or_default(),
            None => {
                let all: Vec<&Key> = self.by_kid.values().flatten().collect();
                if all.len() == 1 { all } else { Vec::new() }
            }
        };
        let name = format!("{alg:?}");
        candidates
            .into_iter()
            .find(|k| k.decoding.family() == alg.family() && k.alg.as_deref().is_none_or(|a| a == name))
            .map(|k| k.decoding.clone())
    }
}

/// A JWK that can verify signatures: a public RSA, EC or OKP key not marked for encryption
/// only. Symmetric (`oct`) keys are never used: a JWKS is public.
fn usable_key(raw: &Value) -> Option<(String, Key)> {
    if !matches!(raw.get("kty").and_then(Value::as_str), Some("RSA" | "EC" | "OKP")) {
        return None;
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).ok()?;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    let decoding = DecodingKey::from_jwk(&jwk).ok()?;
    let alg = raw.get("alg").and_then(Value::as_str).map(str::to_owned);
    let kid = jwk.common.key_id.clone().unwrap_or_default();
    Some((kid, Key { decoding, alg }))
}

/// Where an issuer's metadata may be: OpenID Connect discovery, then RFC 8414 (with the
/// issuer's path after the well-known segment).
fn metadata_urls(issuer: &str) -> Vec<String> {
    let trimmed = issuer.trim_end_matches('/');
    let mut urls = vec![format!("{trimmed}/.well-known/openid-configuration")];
    if let Ok(u) = reqwest::Url::parse(issuer) {
        let path = u.path().trim_end_matches('/');
        let mut base = u.clone();
        base.set_path(&format!("/.well-known/oauth-authorization-server{path}"));
        urls.push(base.to_string());
    }
    urls
}

/// GETs a JSON document of at most [`MAX_DOCUMENT`] bytes (no redirects: the client has none).
pub(super) async fn fetch_json(http: &reqwest::Client, url: &str) -> Result<Value, FetchError> {
    let resp = http
        .get(url)
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| FetchError::new(format!("GET {url}: {}", e.without_url())))?;
    read_json(resp, url).await
}

/// The JSON body of `resp` (status 200), at most [`MAX_DOCUMENT`] bytes.
pub(super) async fn read_json(mut resp: reqwest::Response, url: &str) -> Result<Value, FetchError> {
    let status = resp.status();
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| FetchError::new(format!("{url}: {}", e.without_url())))?
    {
        if body.len() + chunk.len() > MAX_DOCUMENT {
            return Err(FetchError::new(format!(
                "{url}: the answer is over {MAX_DOCUMENT} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let doc: Value = serde_json::from_slice(&body)
        .map_err(|_| FetchError::new(format!("{url}: answered {status} without a JSON body")))?;
    if !status.is_success() {
        let code = doc.get("error").and_then(Value::as_str).unwrap_or("");
        return Err(FetchError::new(format!(
            "{url}: answered {status} {}",
            crate::domain::clip(code, 60)
        )));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_locations() {
        assert_eq!(
            metadata_urls("https://id.example.com"),
            [
                "https://id.example.com/.well-known/openid-configuration",
                "https://id.example.com/.well-known/oauth-authorization-server"
            ]
        );
        assert_eq!(
            metadata_urls("https://id.example.com/realms/ops"),
            [
                "https://id.example.com/realms/ops/.well-known/openid-configuration",
                "https://id.example.com/.well-known/oauth-authorization-server/realms/ops"
            ]
        );
    }

    #[test]
    fn only_public_signing_keys_are_used() {
        let rsa = serde_json::json!({"kty": "RSA", "kid": "r1", "alg": "RS256", "use": "sig",
            "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw",
            "e": "AQAB"});
        let (kid, key) = usable_key(&rsa).expect("an RSA signing key");
        assert_eq!(kid, "r1");
        assert_eq!(key.alg.as_deref(), Some("RS256"));
        let mut enc = rsa.clone();
        enc["use"] = "enc".into();
        assert!(usable_key(&enc).is_none(), "an encryption key");
        let oct = serde_json::json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"});
        assert!(usable_key(&oct).is_none(), "a symmetric key");

        let set = KeySet {
            by_kid: HashMap::from([("r1".to_owned(), vec![usable_key(&rsa).unwrap().1])]),
            fetched: Some(Instant::now()),
        };
        assert!(set.find(Some("r1"), Algorithm::RS256).is_some());
        assert!(set.find(None, Algorithm::RS256).is_some(), "the only key");
        assert!(set.find(Some("r1"), Algorithm::PS256).is_none(), "the JWK says RS256");
        assert!(set.find(Some("r1"), Algorithm::ES256).is_none(), "not an EC key");
        assert!(set.find(Some("r1"), Algorithm::HS256).is_none(), "never HMAC");
        assert!(set.find(Some("r2"), Algorithm::RS256).is_none());
    }
}
