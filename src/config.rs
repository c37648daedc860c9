//! Typed configuration: built-in default → file → environment → flags.
//! Unknown keys are rejected; secrets live in `SecretString` and never print.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::domain::{Env, IncidentType, Severity};

/// The documented example without the `dev` environment's sandbox: what configs (and tests)
/// that give `dev` a policy or cluster of their own extend.
pub const EXAMPLE_TOML: &str = include_str!("../config/example.toml");

/// The `dev` environment's simulated cluster and its policy.
pub const DEV_SANDBOX_TOML: &str = include_str!("../config/dev-sandbox.toml");

/// The built-in default, printed by `config default`: the example, then the dev sandbox.
pub const DEFAULT_TOML: &str = concat!(
    include_str!("../config/example.toml"),
    include_str!("../config/dev-sandbox.toml")
);

/// Sample telemetry embedded so `detect --env dev` works from any directory.
pub const BUILTIN_FILES: &[(&str, &str)] = &[
    ("dev-events.jsonl", include_str!("../examples/dev-events.jsonl")),
    ("staging-events.jsonl", include_str!("../examples/staging-events.jsonl")),
    ("prod-events.jsonl", include_str!("../examples/prod-events.jsonl")),
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
        }
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

/// A telemetry source of an environment; `kind` picks the variant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SourceConfig {
    /// JSON-lines events from a file (or `builtin:NAME`).
    Jsonl(FileSource),
    /// PromQL queries against the Prometheus HTTP API.
    Prometheus(PrometheusSource),
    /// Rows of an OpenClaw `explainability_metrics` table in PostgreSQL, read incrementally.
    Postgres(PostgresSource),
    /// Log lines from a file: JSON lines, other JSON objects or plain text (see README).
    Logs(FileSource),
    /// Kubernetes pod logs, read incrementally per pod.
    K8sLogs(crate::detect::k8s_logs::K8sLogsSource),
}

impl SourceConfig {
    pub fn name(&self) -> &str {
        match self {
            SourceConfig::Jsonl(s) => &s.name,
            SourceConfig::Prometheus(s) => &s.name,
            SourceConfig::Postgres(s) => &s.name,
            SourceConfig::Logs(s) => &s.name,
            SourceConfig::K8sLogs(s) => &s.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            SourceConfig::Jsonl(_) => "jsonl",
            SourceConfig::Prometheus(_) => "prometheus",
            SourceConfig::Postgres(_) => "postgres",
            SourceConfig::Logs(_) => "logs",
            SourceConfig::K8sLogs(_) => "k8s-logs",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSource {
    pub name: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    pub name: String,
    /// Base URL, e.g. `http://127.0.0.1:9090` (the `/api/v1/...` paths are appended).
    pub url: String,
    /// Queries; each result series becomes a metric series named after the query.
    pub queries: Vec<PromQuery>,
    /// Range queries cover the last `lookback_secs` seconds (0 = instant queries).
    #[serde(default = "default_lookback")]
    pub lookback_secs: u64,
    /// Range query resolution.
    #[serde(default = "default_step")]
    pub step_secs: u64,
    /// Whole-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// Environment variable whose value is sent as the `Authorization` header
    /// (e.g. `Bearer ...`); the value is never logged.
    #[serde(default)]
    pub auth_header_env: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromQuery {
    /// Series name the rules refer to (`metric = "..."`).
    pub name: String,
    /// PromQL expression.
    pub expr: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostgresSource {
    pub name: String,
    /// Environment variable holding the connection URL
    /// (`postgres://user:password@host/db`); the password is never logged.
    #[serde(default = "default_pg_url_env")]
    pub url_env: String,
    /// Table with columns `timestamp`, `feature_name`, `importance`.
    #[serde(default = "default_pg_table")]
    pub table: String,
    /// Series name the rules refer to; each feature is a label `feature`.
    #[serde(default = "default_pg_metric")]
    pub metric: String,
    /// Most rows read per scan; the rest are read by the next scan.
    #[serde(default = "default_pg_batch")]
    pub max_rows: u32,
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn default_lookback() -> u64 {
    3600
}
fn default_step() -> u64 {
    15
}
fn default_timeout() -> u64 {
    10
}
fn default_pg_url_env() -> String {
    "INCIDENT_MCP_PG_URL".into()
}
fn default_pg_table() -> String {
    "explainability_metrics".into()
}
fn default_pg_metric() -> String {
    "feature_importance".into()
}
fn default_pg_batch() -> u32 {
    100_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(rename = "type")]
    pub kind: IncidentType,
    pub severity: Severity,
    /// Metric rules: metric name and a limit.
    #[serde(default)]
    pub metric: Option<String>,
    #[serde(default)]
    pub above: Option<f64>,
    #[serde(default)]
    pub below: Option<f64>,
    /// Log rules: regex on the message (compiled at load) and/or field conditions, window and count.
    #[serde(default)]
    pub log_match: Option<crate::detect::log_rules::LogPattern>,
    #[serde(default)]
    pub when: Vec<crate::detect::log_rules::FieldCondition>,
    #[serde(default)]
    pub window_secs: Option<u64>,
    #[serde(default)]
    pub min_count: Option<u64>,
    /// Entity template, `{label}` placeholders.
    pub entity: String,
    /// Metric rules: how a sample is scored. `threshold` (default) uses `above`/`below`;
    /// `zscore` and `hst` learn each series (metric + labels) as it streams.
    #[serde(default)]
    pub detector: DetectorKind,
    /// zscore: points in the rolling window (default 60); hst: window_size (default 250);
    /// default: an extra season of that many sampling intervals (default none: a day and a week
    /// are measured from the timestamps).
    #[serde(default)]
    pub window: Option<usize>,
    /// zscore: deviations of k standard deviations score 0.8 (default 3).
    #[serde(default)]
    pub k: Option<f64>,
    /// hst: random seed (default 42).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Raises the severity with the finding's highest score: severity → minimum score in 0..1,
    /// e.g. `{ high = 0.9, critical = 0.99 }`. `severity` applies below every cut-off.
    #[serde(default)]
    pub severity_by_score: BTreeMap<Severity, f64>,
}

impl RuleConfig {
    /// The severity of a finding whose highest score is `score`: the most severe entry of
    /// `severity_by_score` the score reaches, never below the rule's `severity`.
    pub fn severity_for(&self, score: f64) -> Severity {
        self.severity_by_score
            .iter()
            .filter(|(_, min)| score >= **min)
            .map(|(s, _)| *s)
            .fold(self.severity, Severity::max)
    }
}

/// How a metric rule scores samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DetectorKind {
    /// value/above or below/value, capped at 1.
    #[default]
    Threshold,
    /// Rolling mean and standard deviation per series (3-sigma).
    Zscore,
    /// Half-Space Trees per series (River's algorithm, min-max scaled).
    Hst,
    /// The default detector (what `score --detector default` runs; `detect::ensemble`): tail
    /// probabilities of robust residuals, daily/weekly seasons from the timestamps, one alarm per
    /// anomaly onset; `window` adds a season of that many sampling intervals, `k` (default 4):
    /// a point as rare as a k-sigma Gaussian deviation scores 0.8.
    #[serde(rename = "default", alias = "ensemble")]
    Ensemble,
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
            "toml" => toml::from_str(text).map_err(|e| parse_err(e.message().to_owned()))?,
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
        validate_approvers(&self.approvers).map_err(ConfigError::Invalid)?;
        if let Some(u) = &self.server.public_url {
            check_public_url(u).map_err(|why| ConfigError::Invalid(format!("server.public_url: {why}")))?;
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
        self.notify.validate().map_err(ConfigError::Invalid)?;
        self.respond.check().map_err(ConfigError::Invalid)?;
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
            let mut names = std::collections::HashSet::new();
            for s in &env.sources {
                let at = format!("environments.{name}.sources.{}", s.name());
                if s.name().is_empty() || !names.insert(s.name()) {
                    return bad(format!("{at}: every source needs a unique, non-empty name"));
                }
                match s {
                    SourceConfig::Jsonl(f) | SourceConfig::Logs(f) if f.path.is_empty() => {
                        return bad(format!("{at}: path is required"));
                    }
                    SourceConfig::K8sLogs(k) => k.check().or_else(|m| bad(format!("{at}: {m}")))?,
                    SourceConfig::Prometheus(p) => {
                        if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                            return bad(format!("{at}: url must start with http:// or https://"));
                        }
                        if p.queries.is_empty() || p.queries.iter().any(|q| q.name.is_empty() || q.expr.is_empty()) {
                            return bad(format!("{at}: at least one query, each with a name and an expr"));
                        }
                        if p.step_secs == 0 || p.timeout_secs == 0 {
                            return bad(format!("{at}: step_secs and timeout_secs must be above 0"));
                        }
                        if p.lookback_secs / p.step_secs > 11_000 {
                            return bad(format!(
                                "{at}: lookback_secs / step_secs exceeds Prometheus' 11000 points"
                            ));
                        }
                    }
                    SourceConfig::Postgres(p) => {
                        let ident = |t: &str| {
                            !t.is_empty()
                                && t.split('.').all(|part| {
                                    !part.is_empty()
                                        && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                                        && !part.starts_with(|c: char| c.is_ascii_digit())
                                })
                        };
                        if !ident(&p.table) {
                            return bad(format!("{at}: table must be an identifier (schema.table)"));
                        }
                        if p.url_env.is_empty() || p.max_rows == 0 || p.timeout_secs == 0 {
                            return bad(format!("{at}: url_env, max_rows and timeout_secs are required"));
                        }
                    }
                    SourceConfig::Jsonl(_) | SourceConfig::Logs(_) => {}
                }
            }
            for (source, secs) in &env.watch_interval_secs {
                if *secs == 0 || !names.contains(source.as_str()) {
                    return bad(format!(
                        "environments.{name}.watch_interval_secs.{source}: must name a source of the environment, with seconds above 0"
                    ));
                }
            }
            let mut seen = std::collections::HashSet::new();
            for r in &env.rules {
                let at = format!("environments.{name}.rules.{}", r.name);
                if !seen.insert(&r.name) {
                    return bad(format!("{at}: duplicate rule name"));
                }
                if r.severity_by_score.values().any(|v| !(0.0..=1.0).contains(v)) {
                    return bad(format!("{at}: severity_by_score values must be scores in 0..1"));
                }
                match (&r.metric, r.log_match.is_some() || !r.when.is_empty()) {
                    (Some(_), false) if r.detector != DetectorKind::Threshold => {
                        if r.above.is_some() || r.below.is_some() {
                            return bad(format!(
                                "{at}: `above`/`below` apply to detector = \"threshold\" only; the threshold argument sets the cut-off"
                            ));
                        }
                        let max_window = if r.detector == DetectorKind::Ensemble {
                            1 << 20
                        } else {
                            100_000
                        };
                        if r.window.is_some_and(|w| !(2..=max_window).contains(&w)) {
                            return bad(format!("{at}: window must be in 2..={max_window}"));
                        }
                        if r.k.is_some_and(|k| !(k.is_finite() && k > 0.0)) {
                            return bad(format!("{at}: k must be a positive number"));
                        }
                    }
                    (Some(_), false) => {
                        let limit = r.above.or(r.below);
                        if r.above.is_some() == r.below.is_some() || !limit.is_some_and(|l| l.is_finite() && l > 0.0) {
                            return bad(format!(
                                "{at}: a metric rule needs exactly one of `above` or `below`, a positive number"
                            ));
                        }
                    }
                    (None, true) => crate::detect::log_rules::validate(r).or_else(|m| bad(format!("{at}: {m}")))?,
                    _ => return bad(format!("{at}: set exactly one of `metric` or `log_match`/`when`")),
                }
            }
        }
        Ok(())
    }
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

/// Unique names of a safe alphabet, a credential each, keys of their own, unique Slack ids.
fn validate_approvers(approvers: &[ApproverConfig]) -> Result<(), String> {
    let mut names = std::collections::HashSet::new();
    let mut slack = std::collections::HashSet::new();
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
        if a.key_env.is_none() && a.password_hash.is_none() && a.slack_user_id.is_none() {
            return Err(format!(
                "approvers.{n}: give at least one credential: key_env, password_hash or slack_user_id"
            ));
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
            && !crate::service::password_hash_is_valid(h)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_buttons_need_the_bot_and_links_need_a_plain_public_url() {
        let parse = |extra: &str| Config::parse_str(&format!("{EXAMPLE_TOML}\n{extra}"), "toml", "t");
        let bot =
            "[notify.slack]\nbot_token_env = \"T\"\nchannel = \"C024BE91L\"\nsigning_secret_env = \"SLACK_SIGNING\"\n";
        let ok = parse(bot).unwrap();
        assert_eq!(
            ok.notify.slack.unwrap().signing_secret_env.as_deref(),
            Some("SLACK_SIGNING")
        );
        for (extra, needle) in [
            (
                "[notify.slack]\nwebhook_url_env = \"W\"\nsigning_secret_env = \"S\"\n",
                "buttons need the bot",
            ),
            (
                "[notify.slack]\nbot_token_env = \"T\"\nchannel = \"#x\"\nsigning_secret_env = \"S-1\"\n",
                "signing_secret_env",
            ),
        ] {
            let e = parse(extra).unwrap_err().to_string();
            assert!(e.contains(needle), "{extra}: {e}");
        }
        let mut cfg = Config::builtin();
        assert_eq!(cfg.public_url(), None);
        cfg.server.public_url = Some("https://incidents.example.com/".into());
        assert_eq!(cfg.public_url(), Some("https://incidents.example.com"));
        assert!(check_public_url("https://incidents.example.com/base").is_ok());
        for bad in [
            "incidents.example.com",
            "ftp://x.example",
            "https://u:p@x.example",
            "https://x.example/?a=1",
        ] {
            assert!(check_public_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn approvers_need_unique_names_and_their_own_key_variable() {
        let parse = |extra: &str| Config::parse_str(&format!("{EXAMPLE_TOML}\n{extra}"), "toml", "t");
        let ok = parse("[[approvers]]\nname = \"alice\"\nkey_env = \"APPROVER_ALICE\"\n").unwrap();
        assert_eq!(ok.approvers[0].name, "alice");
        for (extra, needle) in [
            (
                "[[approvers]]\nname = \"bob\"\nkey_env = \"OPENCLAW_API_KEY\"\n",
                "agent's key",
            ),
            (
                "[[approvers]]\nname = \"bob\"\nkey_env = \"A-B\"\n",
                "environment variable",
            ),
            ("[[approvers]]\nname = \"b b\"\nkey_env = \"K\"\n", "unique name"),
            (
                "[[approvers]]\nname = \"a\"\nkey_env = \"K1\"\n[[approvers]]\nname = \"a\"\nkey_env = \"K2\"\n",
                "unique name",
            ),
            ("[[approvers]]\nname = \"carol\"\n", "at least one credential"),
            (
                "[[approvers]]\nname = \"carol\"\npassword_hash = \"hunter2\"\n",
                "argon2 PHC",
            ),
            (
                "[[approvers]]\nname = \"carol\"\nslack_user_id = \"alice\"\n",
                "Slack user id",
            ),
            (
                "[[approvers]]\nname = \"a\"\nslack_user_id = \"U1\"\n[[approvers]]\nname = \"b\"\nslack_user_id = \"U1\"\n",
                "unique Slack user id",
            ),
        ] {
            let e = parse(extra).unwrap_err().to_string();
            assert!(e.contains(needle), "{extra}: {e}");
        }
    }

    #[test]
    fn the_default_environment_is_default_env_else_the_only_one() {
        let builtin = Config::builtin();
        assert_eq!(builtin.env_names(), ["dev", "prod", "staging"]);
        assert_eq!(builtin.resolve_env(None).unwrap().as_str(), "dev");
        let staging = Env::parse("staging").unwrap();
        assert_eq!(builtin.resolve_env(Some(&staging)).unwrap(), staging);
        let one = Config::parse_str("[environments.lab]\n", "toml", "t").unwrap();
        assert_eq!(one.resolve_env(None).unwrap().as_str(), "lab");
        let two = Config::parse_str("[environments.a]\n[environments.b]\n", "toml", "t").unwrap();
        let e = two.resolve_env(None).unwrap_err();
        assert!(e.message.contains("a, b are configured") && e.field == "env", "{e}");
        let e = Config::parse_str("default_env = \"c\"\n[environments.a]\n", "toml", "t").unwrap_err();
        assert!(
            e.to_string()
                .contains("default_env: `c` is not a configured environment (a)"),
            "{e}"
        );
    }

    #[test]
    fn builtin_defines_dev() {
        let cfg = Config::builtin();
        assert!(cfg.env(&Env::parse("dev").unwrap()).is_some());
        assert_eq!(cfg.server.http_addr, "127.0.0.1:8787");
    }

    #[test]
    fn unknown_keys_and_bad_rules_are_rejected() {
        let e = Config::parse_str("[storage]\ndbb = 'x'\n", "toml", "t").unwrap_err();
        assert!(e.to_string().contains("dbb"), "{e}");
        let rule = r#"{"environments":{"x":{"rules":[{"name":"r","type":"network","severity":"low","metric":"m","entity":"e"}]}}}"#;
        let e = Config::parse_str(rule, "json", "t").unwrap_err();
        assert!(e.to_string().contains("above"), "{e}");
        let yaml = "environments:\n  y:\n    rules:\n      - {name: r, type: auth, severity: low, log_match: '(', window_secs: 1, min_count: 1, entity: e}\n";
        assert!(
            Config::parse_str(yaml, "yaml", "t")
                .unwrap_err()
                .to_string()
                .contains("regex")
        );
    }

    #[test]
    fn environment_policy_is_parsed_and_validated_at_load() {
        use crate::domain::policy::{Action, ActionRequest, Usage};
        let toml = "[environments.prod.policy]\nallowed_actions = ['isolate']\nallowed_namespaces = ['shop']\n\
                    resource_patterns = ['web-*']\n";
        let cfg = Config::parse_str(toml, "toml", "t").unwrap();
        let req = |ns: &str| ActionRequest {
            action: Action::Isolate,
            namespace: Some(ns.into()),
            name: "web-1".into(),
            labels: BTreeMap::new(),
            script: None,
            pods: 1,
            nodes: 0,
            healthy_replicas_after: Some(2),
        };
        let policy = &cfg.environments["prod"].policy;
        assert!(policy.evaluate("prod", &req("shop"), Usage::default()).is_allowed());
        assert!(!policy.evaluate("prod", &req("payments"), Usage::default()).is_allowed());
        let example = Config::parse_str(EXAMPLE_TOML, "toml", "t").unwrap();
        assert!(
            !example.environments["dev"]
                .policy
                .evaluate("dev", &req("shop"), Usage::default())
                .is_allowed(),
            "deny by default"
        );
        // The built-in dev environment acts on its sandbox, within its own policy.
        let builtin = Config::builtin();
        let dev = &builtin.environments["dev"];
        assert_eq!(
            dev.cluster.as_ref().map(|c| c.kind),
            Some(crate::cluster::connect::ClusterKind::Sandbox)
        );
        assert!(dev.policy.evaluate("dev", &req("shop"), Usage::default()).is_allowed());
        assert!(
            !dev.policy
                .evaluate("dev", &req("payments"), Usage::default())
                .is_allowed()
        );
        for (bad, why) in [
            ("allowed_namespaces = ['kube-system']", "protected"),
            ("allowed_namespaces = ['Shop']", "DNS-1123"),
            ("allowed_actions = ['nuke']", "nuke"),
            ("max_pods = 3", "max_pods"),
        ] {
            let e = Config::parse_str(&format!("[environments.prod.policy]\n{bad}\n"), "toml", "t").unwrap_err();
            assert!(e.to_string().contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn api_key_is_redacted_in_debug() {
        let mut cfg = Config::builtin();
        cfg.api_key = Some(SecretString::from("canary-7f3a"));
        assert!(!format!("{cfg:?}").contains("canary-7f3a"));
    }
}
