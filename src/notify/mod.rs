//! Notifications: the `Notifier` port, the HTTP adapters (Jira, PagerDuty, Slack, signed
//! webhooks) and the outbox dispatcher that delivers at least once.
//!
//! Targets are named in config; the model only ever names a target. Secrets are read from
//! the environment variables the config names, held as `SecretString`, and redacted from
//! every error message (response bodies included); errors never carry URLs.

pub mod config;
pub mod dispatcher;
mod jira;
pub mod outbox;
mod pagerduty;
mod slack;
pub mod slack_api;
pub mod slack_blocks;
pub mod webhook;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

pub use config::{HookEvent, JiraDeployment, NotifyConfig};
pub use dispatcher::{Clock, Dispatcher, DrainReport, SystemClock};

use crate::{
    domain::{Incident, audit::AuditAnchor, clip},
    store::{OutboxRow, SignalGroup, Store},
};

/// A successful delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivered {
    pub http_status: Option<u16>,
}

/// When the receiver asked us to come back (`Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RetryAfter {
    Secs(u64),
    At(DateTime<Utc>),
}

/// A failed delivery, classified. Messages are safe to store and show: no secrets, no URLs.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NotifyError {
    /// 429, 5xx or a network failure: try again later.
    #[error("{message}")]
    Retryable {
        http_status: Option<u16>,
        retry_after: Option<RetryAfter>,
        message: String,
    },
    /// Any other failure (4xx, unknown target, a URL the guard refuses): dead letter, no retry.
    #[error("{message}")]
    Permanent { http_status: Option<u16>, message: String },
    /// This process cannot deliver the row (a secret variable it needs is not set here): the
    /// process's problem, not the row's. The row stays queued for a process that can (the
    /// server): retried, never moved to the dead letters for this.
    #[error("{message}")]
    NotHere { message: String },
}

/// Delivers one outbox row. Adapters: `HttpNotifier`; tests may record instead.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn deliver(&self, row: &OutboxRow) -> Result<Delivered, NotifyError>;
}

/// Looks up an environment variable (injectable for tests).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// The process environment.
pub fn process_env() -> EnvLookup {
    Arc::new(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
}

/// The HTTP notifier: routes a row to the adapter of its target.
pub struct HttpNotifier {
    cfg: NotifyConfig,
    client: reqwest::Client,
    store: Arc<dyn Store>,
    env: EnvLookup,
    /// `server.public_url`, for links to the approval page.
    public_url: Option<String>,
}

/// What adapters know about the incident of a row.
pub(crate) struct IncidentInfo {
    pub incident: Incident,
    pub groups: Vec<SignalGroup>,
}

impl HttpNotifier {
    pub fn new(cfg: NotifyConfig, store: Arc<dyn Store>, env: EnvLookup) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .user_agent(concat!("incident-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", e.without_url()))?;
        Ok(Self {
            cfg,
            client,
            store,
            env,
            public_url: None,
        })
    }

    /// Links in messages (the approval page's) start with `public_url`.
    pub fn with_public_url(mut self, public_url: Option<&str>) -> Self {
        self.public_url = public_url.map(|u| u.trim_end_matches('/').to_owned());
        self
    }

    /// A secret from the environment variable `var`.
    pub(crate) fn secret(&self, var: &str) -> Result<SecretString, NotifyError> {
        (self.env)(var)
            .map(SecretString::from)
            .ok_or_else(|| NotifyError::NotHere {
                message: format!("secret variable {var} is not set in this process"),
            })
    }

    /// A URL held in a secret, checked by the SSRF guard (the error never shows it).
    pub(crate) fn secret_url(&self, var: &str) -> Result<(reqwest::Url, SecretString), NotifyError> {
        let s = self.secret(var)?;
        let url = config::check_url(s.expose_secret(), self.cfg.allow_insecure_loopback).map_err(|why| {
            NotifyError::Permanent {
                http_status: None,
                message: format!("the URL in {var}: {why}"),
            }
        })?;
        Ok((url, s))
    }

    /// The audit chain's head as it is when a notification leaves: receivers that keep it hold
    /// an anchor (`audit verify --anchor`) that the database's writers cannot rewrite.
    async fn anchor(&self) -> Result<Option<AuditAnchor>, NotifyError> {
        let head = self.store.audit_head().await.map_err(store_unavailable)?;
        Ok(head.as_ref().map(AuditAnchor::from))
    }

    async fn info(&self, row: &OutboxRow) -> Result<Option<IncidentInfo>, NotifyError> {
        let Some(id) = row.incident else { return Ok(None) };
        let Some(incident) = self.store.get_incident(id).await.map_err(store_unavailable)? else {
            return Err(NotifyError::Permanent {
                http_status: None,
                message: format!("no incident {id}"),
            });
        };
        let groups = self.store.signal_groups(id).await.map_err(store_unavailable)?;
        Ok(Some(IncidentInfo { incident, groups }))
    }
}

#[async_trait]
impl Notifier for HttpNotifier {
    async fn deliver(&self, row: &OutboxRow) -> Result<Delivered, NotifyError> {
        let info = self.info(row).await?;
        let gone = || NotifyError::Permanent {
            http_status: None,
            message: format!("target `{}` is not configured (any more)", row.target),
        };
        match row.target.as_str() {
            "jira" => jira::deliver(self, self.cfg.jira.as_ref().ok_or_else(gone)?, row, info).await,
            "pagerduty" => {
                let cfg = self.cfg.pagerduty.as_ref().ok_or_else(gone)?;
                pagerduty::deliver(self, cfg, row, info, self.anchor().await?.as_ref()).await
            }
            "slack" => slack::deliver(self, self.cfg.slack.as_ref().ok_or_else(gone)?, row, info).await,
            name => {
                if let Some(hook) = self.cfg.webhooks.iter().find(|w| w.name == name) {
                    return webhook::deliver(self, hook, row, info, self.anchor().await?.as_ref()).await;
                }
                let registered = self.store.webhooks().await.map_err(store_unavailable)?;
                let hook = registered.into_iter().find(|w| w.name == name).ok_or_else(gone)?;
                let hook = config::WebhookConfig {
                    name: hook.name,
                    url: hook.url,
                    secret_env: hook.secret_env,
                    events: hook.events.iter().filter_map(|e| e.parse().ok()).collect(),
                };
                webhook::deliver(self, &hook, row, info, self.anchor().await?.as_ref()).await
            }
        }
    }
}

/// The store could not be read: try again later.
fn store_unavailable(e: crate::store::StoreError) -> NotifyError {
    NotifyError::Retryable {
        http_status: None,
        retry_after: None,
        message: format!("store: {e}"),
    }
}

/// Replaces every secret value in `text`.
pub(crate) fn redact(text: &str, secrets: &[&SecretString]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        let v = s.expose_secret();
        if v.len() >= 4 {
            out = out.replace(v, "[redacted]");
        }
    }
    out
}

/// A transport failure: retryable, without the URL.
pub(crate) fn network(what: &str, e: reqwest::Error) -> NotifyError {
    let e = e.without_url();
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    NotifyError::Retryable {
        http_status: None,
        retry_after: None,
        message: format!("{what}: {kind}"),
    }
}

/// Reads a response: 2xx gives the status and body; 429/5xx are retryable (honouring
/// `Retry-After`); other statuses are permanent. Bodies in messages are clipped and redacted.
pub(crate) async fn read(
    what: &str,
    resp: reqwest::Response,
    secrets: &[&SecretString],
) -> Result<(u16, String), NotifyError> {
    let status = resp.status();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(outbox::parse_retry_after);
    let body = resp.text().await.unwrap_or_default();
    let code = status.as_u16();
    if status.is_success() {
        return Ok((code, body));
    }
    let message = format!("{what} answered {code}: {}", clip(&redact(body.trim(), secrets), 300));
    if code == 429 || status.is_server_error() {
        Err(NotifyError::Retryable {
            http_status: Some(code),
            retry_after,
            message,
        })
    } else {
        Err(NotifyError::Permanent {
            http_status: Some(code),
            message,
        })
    }
}

/// Plain-text lines describing an incident, as in the seed pipeline: feature, importance,
/// anomaly score and time for each group of signals.
pub(crate) fn describe(info: &IncidentInfo) -> String {
    let i = &info.incident;
    let mut out = format!(
        "Incident {} [{} {}] in {}: {}\nStatus: {}\nSignals: {} (first {}, last {})\n",
        i.id,
        i.severity,
        i.kind,
        i.env,
        i.title,
        i.status,
        i.signal_count,
        i.first_seen.to_rfc3339(),
        i.last_seen.to_rfc3339()
    );
    for g in info.groups.iter().take(20) {
        let feature = i.labels.get("feature").cloned().unwrap_or_else(|| g.entity.clone());
        out.push_str(&format!(
            "\nFeature: {feature}\nImportance: {}\nAnomaly score: {:.3}\nTime: {}\nRule: {} (series {}, {} signal(s))\n",
            g.max_value,
            g.max_score,
            g.last_at.to_rfc3339(),
            g.rule,
            g.series,
            g.count
        ));
    }
    out
}

/// The `message` of an explicit notification, if any.
pub(crate) fn row_message(row: &OutboxRow) -> Option<&str> {
    row.payload
        .get("message")
        .and_then(|m| m.as_str())
        .filter(|m| !m.is_empty())
}
