//! `incident-mcp auth` and the CLI as a REST client of a running server.
//!
//! `auth --key KEY [--server URL]` stores the key (and the server) in the user's config
//! directory (`$XDG_CONFIG_HOME/incident-mcp/credentials.json`, mode 0600, its directory 0700);
//! the key is never printed or logged. With a server stored, every command that has a REST route
//! calls it with `Authorization: Bearer KEY` and prints what the local command prints, with the
//! same exit codes: an on-call engineer drives a shared server from a laptop without database
//! credentials, and an approver approves with their own key. Commands without a route (audit,
//! outbox, replay, watch) are refused in that mode; `serve`, `config`, `score` stay local.
//! `auth --key KEY` without `--server` (or `auth --remove`) returns to local mode.

use std::{
    io::{BufRead, Write},
    path::PathBuf,
};

use clap::Args;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::{Value, json};

use crate::{
    cli::failure::{Failure, backend},
    domain::clip,
};

#[derive(Debug, Args)]
pub struct AuthArgs {
    /// The bearer key (the agent's OPENCLAW_API_KEY, or an approver's own key); read from
    /// stdin when left out (keeps it out of the process list)
    #[arg(long, hide_env_values = true)]
    pub key: Option<String>,
    /// A running `incident-mcp serve --http` to use for every command with a REST route
    /// (http(s)://host:port); without it the CLI works on the local store
    #[arg(long, value_name = "URL")]
    pub server: Option<String>,
    /// Forget the stored key and server
    #[arg(long, conflicts_with_all = ["key", "server"])]
    pub remove: bool,
}

/// What `auth` stores.
#[derive(Serialize, Deserialize)]
struct Stored {
    key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<String>,
}

/// `$XDG_CONFIG_HOME/incident-mcp/credentials.json` (platform config dir elsewhere).
pub fn credentials_path() -> Option<PathBuf> {
    directories::ProjectDirs::from("", "", "incident-mcp").map(|d| d.config_dir().join("credentials.json"))
}

fn check_server(url: &str) -> Result<reqwest::Url, Failure> {
    let u = reqwest::Url::parse(url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
        .ok_or_else(|| Failure::input(format!("--server {}: expected http(s)://host:port", clip(url, 80))))?;
    if !u.username().is_empty() || u.password().is_some() {
        return Err(Failure::input(
            "--server: the URL must not carry credentials; the key goes in --key",
        ));
    }
    Ok(u)
}

/// `incident-mcp auth`.
pub async fn auth(a: &AuthArgs) -> Result<(), Failure> {
    let path = credentials_path().ok_or_else(|| backend("no config directory for this user (HOME is not set)"))?;
    if a.remove {
        match std::fs::remove_file(&path) {
            Ok(()) => println!("removed {}; the CLI works on the local store", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => println!("no stored key"),
            Err(e) => return Err(backend(format!("cannot remove {}: {e}", path.display()))),
        }
        return Ok(());
    }
    let key = match &a.key {
        Some(k) => k.trim().to_owned(),
        None => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .map_err(|e| Failure::input(format!("cannot read the key from stdin: {e}")))?;
            line.trim().to_owned()
        }
    };
    if key.is_empty() || key.chars().any(|c| c.is_control() || c == ' ') {
        return Err(Failure::input(
            "--key: the key is empty or has spaces or control characters (is the variable set?)",
        ));
    }
    let server = a.server.as_deref().map(check_server).transpose()?;
    if let Some(url) = &server {
        // A key the server refuses is reported now, not at the next command. The plan list is
        // open to the agent's key and to approvers' keys alike.
        let remote = Remote::new(url.clone(), SecretString::from(key.clone()))?;
        remote.call::<Value>(Method::GET, "/api/plans?limit=1", None).await?;
    }
    let stored = Stored {
        key,
        server: server.map(|u| u.as_str().trim_end_matches('/').to_owned()),
    };
    write_private(&path, &serde_json::to_vec_pretty(&stored).map_err(backend)?)?;
    tracing::debug!(path = %path.display(), server = ?stored.server, "credentials stored");
    match &stored.server {
        Some(s) => println!("key stored in {} (mode 0600); commands now call {s}", path.display()),
        None => println!(
            "key stored in {} (mode 0600); commands work on the local store (add --server URL to use a server)",
            path.display()
        ),
    }
    Ok(())
}

/// Writes `bytes` to `path` readable by the user alone: a 0600 temporary file in a 0700
/// directory, renamed over the old one.
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let fail = |e: std::io::Error| backend(format!("cannot write {}: {e}", path.display()));
    let dir = path
        .parent()
        .ok_or_else(|| backend("the credentials path has no directory"))?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let tmp = dir.join(".credentials.json.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    f.write_all(bytes).and_then(|()| f.sync_all()).map_err(fail)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(fail)?;
    std::fs::rename(&tmp, path).map_err(fail)
}

/// A running server the CLI calls, with the user's key.
pub struct Remote {
    base: reqwest::Url,
    key: SecretString,
    http: reqwest::Client,
}

impl Remote {
    fn new(base: reqwest::Url, key: SecretString) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(backend)?;
        Ok(Self { base, key, http })
    }

    /// The stored server and key, when `auth --server` stored one.
    pub fn from_credentials() -> Result<Option<Self>, Failure> {
        let Some(path) = credentials_path() else {
            return Ok(None);
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(backend(format!("cannot read {}: {e}", path.display()))),
        };
        let stored: Stored = serde_json::from_str(&text).map_err(|_| {
            Failure::input(format!(
                "{} is not what `incident-mcp auth` writes; run auth again",
                path.display()
            ))
        })?;
        match stored.server {
            None => Ok(None),
            Some(s) => Ok(Some(Self::new(check_server(&s)?, SecretString::from(stored.key))?)),
        }
    }

    pub fn server(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// Calls `method path` with an optional JSON body; a non-2xx answer becomes the failure
    /// the local command would report (its message, `error_code` and exit code).
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, Failure> {
        let url = format!("{}{path}", self.server());
        let mut rb = self.http.request(method, &url).bearer_auth(self.key.expose_secret());
        if let Some(b) = body {
            rb = rb.json(b);
        }
        let resp = rb.send().await.map_err(|e| {
            backend(format!(
                "cannot reach the server {}: {}",
                self.server(),
                e.without_url()
            ))
        })?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| backend(e.without_url()))?;
        if status.is_success() {
            let text = if text.is_empty() { "null" } else { &text };
            return serde_json::from_str(text)
                .map_err(|e| backend(format!("the server answered something unexpected: {e}")));
        }
        let err: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let message = err["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("the server answered {status}"));
        let code = match status {
            StatusCode::BAD_REQUEST
            | StatusCode::NOT_FOUND
            | StatusCode::CONFLICT
            | StatusCode::PAYLOAD_TOO_LARGE
            | StatusCode::UNSUPPORTED_MEDIA_TYPE => super::failure::EXIT_INPUT,
            _ => super::failure::EXIT_BACKEND,
        };
        let error_code = match err["error_code"].as_str() {
            Some(c) => crate::service::ERROR_CODES
                .iter()
                .find(|(known, _)| *known == c)
                .map_or("backend_failed", |(known, _)| known),
            None if code == super::failure::EXIT_INPUT => "invalid_argument",
            None => "backend_failed",
        };
        let message = match status {
            // Phrased as the local command phrases it, naming the server that was searched.
            StatusCode::NOT_FOUND if message.starts_with("no incident ") || message.starts_with("no plan ") => {
                let head = message.split(';').next().unwrap_or_default();
                super::failure::not_found(&format!("{head} on server {}", self.server()))
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                format!(
                    "{message} (server {}; run `incident-mcp auth --key ... --server ...`)",
                    self.server()
                )
            }
            _ => message,
        };
        let field = err["field"].as_str().map(str::to_owned);
        Err(Failure {
            code,
            error_code,
            message: crate::cli::failure::reworded(message, error_code, field.as_deref()),
            field,
            printed: false,
        })
    }
}

/// `?k=v&...` of the parameters that are set, URL-encoded.
pub fn query(params: &[(&str, Option<String>)]) -> String {
    let mut q = reqwest::Url::parse("http://q/").expect("a valid URL");
    {
        let mut pairs = q.query_pairs_mut();
        for (k, v) in params {
            if let Some(v) = v {
                pairs.append_pair(k, v);
            }
        }
    }
    match q.query() {
        Some(s) if !s.is_empty() => format!("?{s}"),
        _ => String::new(),
    }
}

/// A path segment, percent-encoded.
pub fn segment(s: &str) -> String {
    let mut u = reqwest::Url::parse("http://s/").expect("a valid URL");
    u.path_segments_mut().expect("a base URL").push(s);
    u.path().trim_start_matches('/').to_owned()
}

/// The body of a JSON call, without `null` members (the server's defaults apply).
pub fn body(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(m.into_iter().filter(|(_, v)| !v.is_null()).collect()),
        other => other,
    }
}

/// A JSON `{"removed": name}` as the local `hook remove` prints it.
pub fn removed(name: &str) -> Value {
    json!({ "removed": name })
}
