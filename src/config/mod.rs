//! Typed configuration: built-in default → file → environment → flags.
//! Unknown keys are rejected; secrets live in `SecretString` and never print.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{Env, IncidentType, Severity};

pub mod analysis;
pub mod approvers;
pub mod oauth;
pub mod rules;
pub mod sources;
#[cfg(test)]
mod tests;

pub use analysis::{AnalysisConfig, EntityPattern};
pub use approvers::{ApproverConfig, password_hash_is_valid};
pub use oauth::{OAuthConfig, SignInConfig};
pub use rules::{DetectorKind, FieldCondition, LogPattern, RuleConfig, Scalar};
pub use sources::{FileSource, K8sLogsSource, PostgresSource, PromQuery, PrometheusSource, SourceConfig};

/// The documented example without the `dev` environment's sandbox: what configs (and tests)
/// that give `dev` a policy or cluster of their own extend.
pub const EXAMPLE_TOML: &str = include_str!("../../config/example.toml");

/// The `dev` environment's simulated cluster and its policy.
pub const DEV_SANDBOX_TOML: &str = include_str!("../../config/dev-sandbox.toml");

/// The built-in default, printed by `config default`: the example, then the dev sandbox.
pub const DEFAULT_TOML: &str = concat!(
    include_str!("../../config/example.toml"),
    include_str!("../../config/dev-sandbox.toml")
);

/// Sample telemetry embedded so `detect --env dev` works from any directory.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("dev-events.jsonl", include_str!("../../examples/dev-events.jsonl")),
    (
        "staging-events.jsonl",
        include_str!("../../examples/staging-events.jsonl"),
    ),
    ("prod-events.jsonl", include_str!("../../examples/prod-events.jsonl")),
];

/// Environment variable holding the REST/MCP bearer key.
pub const API_KEY_ENV: &str = "OPENCLAW_API_KEY";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("invalid config {path}: {message}")]
    Parse { path: String, message: String },
    #[error("invalid config: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The environment of a request that names none (see [`Config::default_env`]).
    #[serde(default)]
    pub default_env: Option<String>,
    #[serde(default)]
    pub storage: StorageConfig,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub environments: BTreeMap<String, EnvConfig>,
    /// How Alertmanager alerts received at `POST /api/alerts` become incidents.
    #[serde(default)]
    pub alerts: AlertsConfig,
    /// `[notify]`: Jira, PagerDuty, Slack and webhook targets by name, and lifecycle hooks.
    #[serde(default)]
    pub notify: crate::notify::NotifyConfig,
    /// `[[scripts]]`: scripts the script backend may run, by id (policy allowlists them per env).
    #[serde(default)]
    pub scripts: Vec<crate::cluster::script::ScriptConfig>,
    /// `[[approvers]]`: the humans who may approve or deny plans, each with the credentials the
    /// human channels check (approval page, REST, Slack).
    #[serde(default)]
    pub approvers: Vec<ApproverConfig>,
    /// `[respond]`: how expired containments are reverted (retries of a failing undo).
    #[serde(default)]
    pub respond: RespondConfig,
    /// `[oauth]`: `/mcp` accepts the issuer's JWT access tokens (besides the static key), and
    /// approvers may sign in to the approval page with the same issuer.
    #[serde(default)]
    pub oauth: Option<OAuthConfig>,
    /// `[analysis]`: entity extraction and the correlation walk of `analyze`.
    #[serde(default)]
    pub analysis: AnalysisConfig,
    /// Directory relative source paths resolve against (the config file's directory).
    #[serde(skip)]
    pub base_dir: Option<PathBuf>,
    /// Bearer key for REST and /mcp, from `OPENCLAW_API_KEY`.
    #[serde(skip)]
    pub api_key: Option<SecretString>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub db: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub http_addr: String,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub max_body_bytes: usize,
    /// Deepest JSON nesting accepted in an MCP message (HTTP and stdio); deeper is a JSON-RPC error.
    pub max_json_depth: usize,
    /// Concurrent MCP sessions (streamable HTTP, 2025-11-25 clients). Above it the oldest idle
    /// session is closed to admit a new one; when none is idle, `initialize` gets 503 + `Retry-After`.
    pub max_sessions: usize,
    /// `resources/subscribe` URIs one MCP session may hold.
    pub max_subscriptions: usize,
    /// Answer an MCP request with `application/json` when nothing but its result is sent for it
    /// (progress or log notifications first fall back to an SSE stream).
    pub json_response: bool,
    /// Mark the approval page's cookies `Secure` (set it when the page is served over https,
    /// directly or behind a TLS-terminating proxy).
    pub secure_cookies: bool,
    /// Over stdio only: the MCP approval dialog takes the target's typed name instead of a
    /// one-time code, recorded as `client:<name>` (the host app shows the dialog to its user; an
    /// agent that runs its own client could answer it, so this is off by default).
    pub stdio_dialog_confirms_by_name: bool,
    /// The server's public base URL as approvers reach it (e.g. `https://incidents.example.com`),
    /// for links in notifications (the Slack approval message's "Open page" button). Unset: no
    /// links are sent.
    pub public_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_addr: "127.0.0.1:8787".into(),
            allowed_hosts: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            allowed_origins: vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()],
            max_body_bytes: 1024 * 1024,
            max_json_depth: 64,
            max_sessions: 256,
            max_subscriptions: 64,
            json_response: true,
            secure_cookies: false,
            stdio_dialog_confirms_by_name: false,
            public_url: None,
        }
    }
}

/// Mapping of Alertmanager alerts (`POST /api/alerts`) to incident type and severity.
/// The environment comes from the webhook URL (`?env=NAME`), not from labels.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Label whose value is the incident type (`network`, `auth`, `resource`, ...).
    pub type_label: String,
    /// alertname → incident type, for alerts whose type label is missing or unknown.
    pub types: BTreeMap<String, IncidentType>,
    /// Type of alerts with neither a usable label nor an entry in `types`.
    pub default_type: IncidentType,
    /// Label whose value is the severity.
    pub severity_label: String,
    /// Extra severity label values (case-insensitive) beyond our own names
    /// (info, low, medium, high, critical, which always map to themselves).
    pub severities: BTreeMap<String, Severity>,
    /// Severity of alerts without a usable severity label.
    pub default_severity: Severity,
    /// alertname → runbook URL, shown with the alert's incidents besides any `runbook_url`
    /// annotation (data: never fetched).
    pub runbooks: BTreeMap<String, String>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            type_label: "incident_type".into(),
            types: BTreeMap::new(),
            default_type: IncidentType::Other,
            severity_label: "severity".into(),
            severities: BTreeMap::from([
                ("warning".into(), Severity::Medium),
                ("warn".into(), Severity::Medium),
                ("error".into(), Severity::High),
                ("page".into(), Severity::Critical),
                ("none".into(), Severity::Info),
            ]),
            default_severity: Severity::Medium,
            runbooks: BTreeMap::new(),
        }
    }
}

/// A runbook URL of the configuration: kept exactly as written, so it must pass
/// `domain::runbook::sanitize_url` unchanged (http(s), no credentials or secret query values).
pub(crate) fn check_runbook_url(at: &str, url: &str) -> Result<(), String> {
    match crate::domain::runbook::sanitize_url(url) {
        Ok(kept) if kept == url => Ok(()),
        Ok(_) => Err(format!(
            "{at}: write the URL without spaces around it, credentials or secret-looking query values"
        )),
        Err(why) => Err(format!("{at}: {why}")),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvConfig {
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub sources: Vec<SourceConfig>,
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// Grouping window in seconds: new evidence for a resolved incident within this long after
    /// it was resolved reopens it; later evidence opens a new incident linked to it.
    #[serde(default = "default_dedup_window")]
    pub dedup_window_secs: u64,
    /// `watch`: scan interval in seconds per source name, overriding `--interval`.
    #[serde(default)]
    pub watch_interval_secs: BTreeMap<String, u64>,
    /// `[environments.NAME.policy]`: what contain/recover may touch; the default refuses everything.
    #[serde(default)]
    pub policy: crate::domain::policy::Policy,
    /// `[environments.NAME.cluster]`: the Kubernetes cluster contain/recover act on (none: refused).
    #[serde(default)]
    pub cluster: Option<crate::cluster::connect::ClusterConfig>,
    /// `[environments.NAME.verify]`: a PromQL health check a recovery must pass, besides the
    /// workload's own rollout, or it is rolled back.
    #[serde(default)]
    pub verify: Option<VerifyQuery>,
}

/// After a rollback or restore, `query` is evaluated (instant query) every `interval_secs` until
/// every returned series lies within `min..=max`, for at most `within_secs`. A query that
/// returns no series counts as not healthy yet.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyQuery {
    /// Prometheus base URL (`http(s)://host:9090`).
    pub prometheus_url: String,
    pub query: String,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default = "default_verify_within")]
    pub within_secs: u64,
    #[serde(default = "default_verify_interval")]
    pub interval_secs: u64,
}

fn default_verify_within() -> u64 {
    120
}
fn default_verify_interval() -> u64 {
    5
}

impl VerifyQuery {
    fn check(&self) -> Result<(), String> {
        if !(self.prometheus_url.starts_with("http://") || self.prometheus_url.starts_with("https://")) {
            return Err("prometheus_url must start with http:// or https://".into());
        }
        if self.query.trim().is_empty() {
            return Err("query is required".into());
        }
        let finite = |v: Option<f64>| v.is_none_or(f64::is_finite);
        if self.min.is_none() && self.max.is_none() || !finite(self.min) || !finite(self.max) {
            return Err("min or max (finite numbers) is required".into());
        }
        if let (Some(lo), Some(hi)) = (self.min, self.max)
            && lo > hi
        {
            return Err("min exceeds max".into());
        }
        if !(1..=3600).contains(&self.within_secs) || self.interval_secs == 0 || self.interval_secs > self.within_secs {
            return Err("within_secs must be 1-3600 and interval_secs 1..=within_secs".into());
        }
        Ok(())
    }
}

fn default_dedup_window() -> u64 {
    3600
}

impl Config {
    /// The built-in default configuration.
    pub fn builtin() -> Self {
        Self::parse_str(DEFAULT_TOML, "toml", "<built-in>").expect("the built-in config is valid")
    }

    /// Loads a file, choosing the format by extension (.toml, .json, .yaml/.yml).
    pub fn load_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("toml")
            .to_ascii_lowercase();
        let mut cfg = Self::parse_str(&text, &ext, &shown)?;
        cfg.base_dir = path.parent().map(Path::to_path_buf);
        Ok(cfg)
    }

    /// Parses config text in the given format and validates it.
    pub fn parse_str(text: &str, format: &str, shown: &str) -> Result<Self, ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: shown.to_owned(),
            message,
        };
        let cfg: Config = match format {
            "json" => serde_json::from_str(text).map_err(|e| parse_err(e.to_string()))?,
            "yaml" | "yml" => serde_yaml_ng::from_str(text).map_err(|e| parse_err(e.to_string()))?,
            "toml" => toml::from_str(text).map_err(|e| parse_err(toml_located(text, &e)))?,
            other => {
                return Err(parse_err(format!(
                    "unknown config format `.{other}` (use .toml, .json, .yaml)"
                )));
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// Reads `OPENCLAW_API_KEY`; an empty value counts as unset.
    pub fn with_api_key_from_env(mut self) -> Self {
        self.api_key = std::env::var(API_KEY_ENV)
            .ok()
            .filter(|k| !k.is_empty())
            .map(SecretString::from);
        self
    }

    pub fn api_key(&self) -> Option<&str> {
        self.api_key.as_ref().map(|k| k.expose_secret())
    }

    /// `server.public_url` without a trailing `/`, if set.
    pub fn public_url(&self) -> Option<&str> {
        self.server.public_url.as_deref().map(|u| u.trim_end_matches('/'))
    }

    pub fn env(&self, env: &Env) -> Option<&EnvConfig> {
        self.environments.get(env.as_str())
    }

    pub fn env_names(&self) -> Vec<&str> {
        self.environments.keys().map(String::as_str).collect()
    }

    /// `env`, else the default environment; an error names what to do when there is none.
    pub fn resolve_env(&self, env: Option<&Env>) -> Result<Env, crate::domain::DomainError> {
        if let Some(e) = env {
            return Ok(e.clone());
        }
        self.default_env().ok_or_else(|| {
            let names = self.env_names();
            crate::domain::DomainError::invalid(
                "env",
                if names.is_empty() {
                    "no environment is configured".to_owned()
                } else {
                    format!(
                        "name the environment: {} are configured and the configuration sets no default_env",
                        names.join(", ")
                    )
                },
            )
        })
    }

    /// The environment of a request that names none: `default_env`, else the only configured
    /// environment. `None` when several are configured without a `default_env` (or none is).
    pub fn default_env(&self) -> Option<Env> {
        match &self.default_env {
            Some(name) => Env::parse(name).ok(),
            None if self.environments.len() == 1 => self.environments.keys().next().and_then(|n| Env::parse(n).ok()),
            None => None,
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        approvers::validate(&self.approvers).map_err(ConfigError::Invalid)?;
        if let Some(u) = &self.server.public_url {
            check_public_url(u).map_err(|why| ConfigError::Invalid(format!("server.public_url: {why}")))?;
        }
        if let Some(o) = &self.oauth {
            o.check(self.public_url()).map_err(ConfigError::Invalid)?;
        }
        let sign_in = self.oauth.as_ref().is_some_and(|o| o.sign_in.is_some());
        if let Some(a) = self
            .approvers
            .iter()
            .find(|a| !sign_in && (a.oidc_subject.is_some() || a.email.is_some()))
        {
            return bad(format!(
                "approvers.{}: oidc_subject and email are for the OpenID Connect sign-in, which needs [oauth.sign_in]",
                a.name
            ));
        }
        if let Some(d) = &self.default_env
            && !self.environments.contains_key(d)
        {
            return bad(format!(
                "default_env: `{}` is not a configured environment ({})",
                crate::domain::clip(d, 63),
                self.env_names().join(", ")
            ));
        }
        for (alert, url) in &self.alerts.runbooks {
            check_runbook_url(&format!("alerts.runbooks.{alert}"), url).map_err(ConfigError::Invalid)?;
        }
        self.notify.validate().map_err(ConfigError::Invalid)?;
        self.respond.check().map_err(ConfigError::Invalid)?;
        self.analysis.check().map_err(ConfigError::Invalid)?;
        crate::cluster::script::validate_scripts(&self.scripts).map_err(ConfigError::Invalid)?;
        for (name, env) in &self.environments {
            if Env::parse(name).is_err() {
                return bad(format!(
                    "environment name `{name}` must be lowercase letters, digits, - or _"
                ));
            }
            if let Some(c) = &env.cluster {
                c.check()
                    .or_else(|m| bad(format!("environments.{name}.cluster: {m}")))?;
            }
            if let Some(v) = &env.verify {
                v.check().or_else(|m| bad(format!("environments.{name}.verify: {m}")))?;
            }
            let names = sources::validate(name, &env.sources).map_err(ConfigError::Invalid)?;
            for (source, secs) in &env.watch_interval_secs {
                if *secs == 0 || !names.contains(source.as_str()) {
                    return bad(format!(
                        "environments.{name}.watch_interval_secs.{source}: must name a source of the environment, with seconds above 0"
                    ));
                }
            }
            rules::validate(name, &env.rules).map_err(ConfigError::Invalid)?;
        }
        Ok(())
    }
}

/// A TOML error with where it is: `line 12, [environments.dev.rules]: unknown field ...`.
fn toml_located(text: &str, e: &toml::de::Error) -> String {
    let Some(span) = e.span() else {
        return e.message().to_owned();
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let table = before.lines().rev().map(str::trim).find_map(table_header);
    match table {
        Some(t) => format!("line {line}, [{t}]: {}", e.message()),
        None => format!("line {line}: {}", e.message()),
    }
}

/// The table a TOML line opens (`[a.b]` or `[[a.b]]`), or `None` for any other line.
fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix("[[").or_else(|| line.strip_prefix('['))?;
    let (name, rest) = inner.split_once(']')?;
    let rest = rest.trim_start_matches(']').trim();
    let name_ok = !name.trim().is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "_-.\"' ".contains(c));
    (name_ok && (rest.is_empty() || rest.starts_with('#'))).then(|| name.trim().to_owned())
}

/// An `http(s)://host[:port][/path]` base without credentials, query or fragment.
fn check_public_url(raw: &str) -> Result<(), String> {
    let url = reqwest::Url::parse(raw).map_err(|_| "not a valid URL".to_owned())?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err("must be an http(s) URL with a host, e.g. https://incidents.example.com".into());
    }
    if !url.username().is_empty() || url.password().is_some() || url.query().is_some() || url.fragment().is_some() {
        return Err("must not carry credentials, a query or a fragment".into());
    }
    Ok(())
}

/// `[respond]`: a TTL revert whose undo fails is retried after `revert_backoff_secs`, doubling
/// per attempt up to `revert_backoff_max_secs`, at most `revert_max_attempts` times in all; then
/// the action is `revert_failed`, an `action_failed` notification is queued, and nothing more
/// is tried automatically: a human reverts it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RespondConfig {
    pub revert_max_attempts: u32,
    pub revert_backoff_secs: u64,
    pub revert_backoff_max_secs: u64,
}

impl Default for RespondConfig {
    fn default() -> Self {
        Self {
            revert_max_attempts: 5,
            revert_backoff_secs: 5,
            revert_backoff_max_secs: 300,
        }
    }
}

impl RespondConfig {
    fn check(&self) -> Result<(), String> {
        if !(1..=100).contains(&self.revert_max_attempts) {
            return Err("respond.revert_max_attempts: must be in 1..=100".into());
        }
        if !(1..=86_400).contains(&self.revert_backoff_secs)
            || !(self.revert_backoff_secs..=86_400).contains(&self.revert_backoff_max_secs)
        {
            return Err(
                "respond: revert_backoff_secs must be in 1..=86400 and revert_backoff_max_secs in \
                 revert_backoff_secs..=86400"
                    .into(),
            );
        }
        Ok(())
    }

    /// The wait after failed attempt number `attempt` (from 1): the base, doubled per attempt,
    /// at most the maximum.
    pub fn revert_backoff(&self, attempt: u32) -> chrono::TimeDelta {
        let doubled = self
            .revert_backoff_secs
            .saturating_mul(1u64 << attempt.saturating_sub(1).min(30));
        chrono::TimeDelta::seconds(doubled.min(self.revert_backoff_max_secs) as i64)
    }
}
