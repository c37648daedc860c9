//! `[[environments.NAME.sources]]`: where an environment's telemetry comes from. The
//! detect module reads these types; they live here so configuration never imports detection.

use std::collections::HashSet;

use serde::Deserialize;

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
    K8sLogs(K8sLogsSource),
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

/// Checks an environment's sources; returns their names (unique, non-empty).
pub(super) fn validate<'a>(name: &str, sources: &'a [SourceConfig]) -> Result<HashSet<&'a str>, String> {
    let mut names = HashSet::new();
    for s in sources {
        let at = format!("environments.{name}.sources.{}", s.name());
        if s.name().is_empty() || !names.insert(s.name()) {
            return Err(format!("{at}: every source needs a unique, non-empty name"));
        }
        match s {
            SourceConfig::Jsonl(f) | SourceConfig::Logs(f) if f.path.is_empty() => {
                return Err(format!("{at}: path is required"));
            }
            SourceConfig::K8sLogs(k) => k.check().map_err(|m| format!("{at}: {m}"))?,
            SourceConfig::Prometheus(p) => {
                if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                    return Err(format!("{at}: url must start with http:// or https://"));
                }
                if p.queries.is_empty() || p.queries.iter().any(|q| q.name.is_empty() || q.expr.is_empty()) {
                    return Err(format!("{at}: at least one query, each with a name and an expr"));
                }
                if p.step_secs == 0 || p.timeout_secs == 0 {
                    return Err(format!("{at}: step_secs and timeout_secs must be above 0"));
                }
                if p.lookback_secs / p.step_secs > 11_000 {
                    return Err(format!(
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
                    return Err(format!("{at}: table must be an identifier (schema.table)"));
                }
                if p.url_env.is_empty() || p.max_rows == 0 || p.timeout_secs == 0 {
                    return Err(format!("{at}: url_env, max_rows and timeout_secs are required"));
                }
            }
            SourceConfig::Jsonl(_) | SourceConfig::Logs(_) => {}
        }
    }
    Ok(names)
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct K8sLogsSource {
    pub name: String,
    pub namespace: String,
    /// Label selector of the pods, e.g. `app=web,tier!=cache` (empty: every pod of the namespace).
    #[serde(default)]
    pub label_selector: String,
    /// Container to read (default: the pod's only or default container).
    #[serde(default)]
    pub container: Option<String>,
    /// Kubeconfig file (relative to the config file). Unset: `KUBECONFIG` / `~/.kube/config`, else
    /// the in-cluster service account.
    #[serde(default)]
    pub kubeconfig: Option<String>,
    /// Kubeconfig context (default: the current context).
    #[serde(default)]
    pub context: Option<String>,
    /// Pods read per scan (by name order); the rest are skipped and reported.
    #[serde(default = "default_max_pods")]
    pub max_pods: usize,
    /// `limitBytes` of each log request.
    #[serde(default = "default_limit_bytes")]
    pub limit_bytes: i64,
    /// Lines kept per pod per scan.
    #[serde(default = "default_max_lines")]
    pub max_lines: usize,
    /// A pod without a cursor is read from this many seconds ago.
    #[serde(default = "default_initial_lookback")]
    pub initial_lookback_secs: i64,
    #[serde(default = "default_k8s_timeout")]
    pub timeout_secs: u64,
}

fn default_max_pods() -> usize {
    50
}
fn default_limit_bytes() -> i64 {
    4 * 1024 * 1024
}
fn default_max_lines() -> usize {
    20_000
}
fn default_initial_lookback() -> i64 {
    3600
}
fn default_k8s_timeout() -> u64 {
    10
}

impl K8sLogsSource {
    /// Validation for `Config::validate`.
    pub fn check(&self) -> Result<(), String> {
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 63
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        };
        if !dns(&self.namespace) {
            return Err("namespace must be a DNS label (lowercase letters, digits, -)".into());
        }
        if self.max_pods == 0 || self.max_lines == 0 || self.limit_bytes <= 0 || self.timeout_secs == 0 {
            return Err("max_pods, max_lines, limit_bytes and timeout_secs must be above 0".into());
        }
        if self.initial_lookback_secs <= 0 {
            return Err("initial_lookback_secs must be above 0".into());
        }
        Ok(())
    }
}
