//! `[notify]`: targets by name. Secrets are named by environment variable only and are read
//! into `SecretString`s at send time; URLs pass the SSRF guard when the config loads.

use std::{fmt, net::IpAddr, str::FromStr};

use serde::Deserialize;

/// Lifecycle events a target can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HookEvent {
    /// An incident was opened or reopened by detection.
    Detect,
    /// An incident was analysed.
    Analyze,
    /// An incident was acknowledged.
    Acknowledge,
    /// An incident was contained.
    Contain,
    /// An incident recovered.
    Recover,
    /// An incident was resolved.
    Resolve,
    /// A containment or recovery plan awaits a human's approval (the payload names the plan).
    Approval,
    /// An approved plan failed to apply, or an expired containment could not be reverted after
    /// every automatic attempt: the change may still be in place and needs a human (the payload
    /// names the plan, `reason` `apply_failed` or `revert_failed`).
    #[serde(rename = "action_failed")]
    ActionFailed,
    /// Someone asked for a notification explicitly (`incident_notify`).
    Notify,
}

impl HookEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            HookEvent::Detect => "detect",
            HookEvent::Analyze => "analyze",
            HookEvent::Acknowledge => "acknowledge",
            HookEvent::Contain => "contain",
            HookEvent::Recover => "recover",
            HookEvent::Resolve => "resolve",
            HookEvent::Approval => "approval",
            HookEvent::ActionFailed => "action_failed",
            HookEvent::Notify => "notify",
        }
    }
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HookEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|_| format!("unknown event `{s}`"))
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Allows `http://` URLs whose host is a loopback address (tests only). Off by default.
    pub allow_insecure_loopback: bool,
    /// Per-request timeout.
    pub timeout_secs: u64,
    /// First retry delay; doubles per attempt (with jitter) up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// Attempts before a retryable failure goes to the dead letters.
    pub max_attempts: u32,
    /// A claimed row whose sender died is retried after this long.
    pub lease_secs: u64,
    /// Webhooks registered at run time (`POST /api/hooks`, `hook add`) may name as their
    /// signing secret only environment variables starting with this prefix, so a caller can
    /// never make the server sign with another secret it holds (an approver's key, a database
    /// password). Webhooks in the config file may name any variable.
    pub hook_secret_env_prefix: String,
    pub jira: Option<JiraConfig>,
    pub pagerduty: Option<PagerDutyConfig>,
    pub slack: Option<SlackConfig>,
    pub webhooks: Vec<WebhookConfig>,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            allow_insecure_loopback: false,
            timeout_secs: 10,
            retry_base_secs: 2,
            retry_max_secs: 600,
            max_attempts: 12,
            lease_secs: 60,
            hook_secret_env_prefix: DEFAULT_HOOK_SECRET_ENV_PREFIX.into(),
            jira: None,
            pagerduty: None,
            slack: None,
            webhooks: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JiraConfig {
    /// e.g. `https://example.atlassian.net`
    pub base_url: String,
    pub project_key: String,
    #[serde(default = "default_issue_type")]
    pub issue_type: String,
    /// Environment variable holding the account email (Basic auth user).
    pub email_env: String,
    /// Environment variable holding the API token.
    pub token_env: String,
    /// `cloud` (default) finds tickets with `GET /rest/api/2/search/jql`; `data-center` (Jira
    /// Server/Data Center) with `GET /rest/api/2/search`, which Jira Cloud has removed (410 Gone).
    #[serde(default)]
    pub deployment: JiraDeployment,
    /// Lifecycle events that reach Jira without an explicit notify.
    #[serde(default)]
    pub events: Vec<HookEvent>,
}

/// Which Jira REST API flavour the instance speaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JiraDeployment {
    #[default]
    Cloud,
    DataCenter,
}

impl JiraDeployment {
    /// Path of the JQL search used to find an incident's ticket again.
    pub fn search_path(self) -> &'static str {
        match self {
            JiraDeployment::Cloud => "/rest/api/2/search/jql",
            JiraDeployment::DataCenter => "/rest/api/2/search",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyConfig {
    #[serde(default = "default_pd_url")]
    pub events_url: String,
    #[serde(default = "default_pd_key_env")]
    pub routing_key_env: String,
    /// `payload.source`.
    #[serde(default = "default_pd_source")]
    pub source: String,
    #[serde(default)]
    pub events: Vec<HookEvent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Incoming webhook: environment variable holding its URL (a secret).
    pub webhook_url_env: Option<String>,
    /// chat.postMessage: environment variable holding the bot token, and the channel.
    pub bot_token_env: Option<String>,
    pub channel: Option<String>,
    /// Environment variable holding the Slack app's signing secret. Set, approval messages carry
    /// Approve/Deny buttons and `POST /api/slack/interactions` accepts their presses (verified by
    /// Slack's request signature); unset, that route refuses everything. Needs `bot_token_env`.
    #[serde(default)]
    pub signing_secret_env: Option<String>,
    /// Web API base (tests point it at a mock).
    #[serde(default = "default_slack_api")]
    pub api_url: String,
    #[serde(default)]
    pub events: Vec<HookEvent>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    pub name: String,
    pub url: String,
    /// Environment variable holding the HMAC-SHA256 signing secret.
    pub secret_env: String,
    #[serde(default)]
    pub events: Vec<HookEvent>,
}

fn default_issue_type() -> String {
    "Task".into()
}
fn default_pd_url() -> String {
    "https://events.pagerduty.com/v2/enqueue".into()
}
fn default_pd_key_env() -> String {
    "PAGERSERVICE_KEY".into()
}
fn default_pd_source() -> String {
    "incident-mcp".into()
}
fn default_slack_api() -> String {
    "https://slack.com/api".into()
}

/// The default of `[notify] hook_secret_env_prefix`.
pub const DEFAULT_HOOK_SECRET_ENV_PREFIX: &str = "INCIDENT_MCP_HOOK_";

/// Longest environment variable name a hook may name.
pub const MAX_SECRET_ENV_LEN: usize = 128;

/// Reserved target names of the vendor adapters.
pub const VENDORS: [&str; 3] = ["jira", "pagerduty", "slack"];

impl NotifyConfig {
    /// Configured target names: vendors first, then webhooks.
    pub fn target_names(&self) -> Vec<&str> {
        let mut out = Vec::new();
        if self.jira.is_some() {
            out.push("jira");
        }
        if self.pagerduty.is_some() {
            out.push("pagerduty");
        }
        if self.slack.is_some() {
            out.push("slack");
        }
        out.extend(self.webhooks.iter().map(|w| w.name.as_str()));
        out
    }

    /// Targets subscribed to `event`.
    pub fn subscribers(&self, event: HookEvent) -> Vec<String> {
        let mut out = Vec::new();
        let mut add = |name: &str, events: &[HookEvent]| {
            if events.contains(&event) {
                out.push(name.to_owned());
            }
        };
        if let Some(j) = &self.jira {
            add("jira", &j.events);
        }
        if let Some(p) = &self.pagerduty {
            add("pagerduty", &p.events);
        }
        if let Some(s) = &self.slack {
            add("slack", &s.events);
        }
        for w in &self.webhooks {
            add(&w.name, &w.events);
        }
        out
    }

    /// Checks names, URLs (SSRF guard) and secret references.
    pub fn validate(&self) -> Result<(), String> {
        if self.timeout_secs == 0 || self.retry_base_secs == 0 || self.max_attempts == 0 || self.lease_secs == 0 {
            return Err("notify: timeout_secs, retry_base_secs, max_attempts and lease_secs must be above 0".into());
        }
        let all_events = [
            self.jira.as_ref().map(|j| &j.events),
            self.pagerduty.as_ref().map(|p| &p.events),
            self.slack.as_ref().map(|s| &s.events),
        ]
        .into_iter()
        .flatten()
        .chain(self.webhooks.iter().map(|w| &w.events));
        for events in all_events {
            if events.contains(&HookEvent::Notify) {
                return Err("notify: `notify` is not a lifecycle event; use detect, analyze, acknowledge, contain, recover, resolve, approval, action_failed".into());
            }
        }
        let prefix = &self.hook_secret_env_prefix;
        if prefix.is_empty()
            || prefix.len() >= MAX_SECRET_ENV_LEN
            || !prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(format!(
                "notify.hook_secret_env_prefix: must be 1-{} letters, digits or _ (default {DEFAULT_HOOK_SECRET_ENV_PREFIX})",
                MAX_SECRET_ENV_LEN - 1
            ));
        }
        if self.lease_secs <= self.timeout_secs {
            return Err("notify: lease_secs must exceed timeout_secs, or a slow delivery could be sent twice".into());
        }
        let env_name = |at: &str, v: &str| -> Result<(), String> {
            if v.is_empty() || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                return Err(format!("{at}: must name an environment variable (letters, digits, _)"));
            }
            Ok(())
        };
        if let Some(j) = &self.jira {
            self.check_url("notify.jira.base_url", &j.base_url)?;
            env_name("notify.jira.email_env", &j.email_env)?;
            env_name("notify.jira.token_env", &j.token_env)?;
            if j.project_key.is_empty() || j.issue_type.is_empty() {
                return Err("notify.jira: project_key and issue_type are required".into());
            }
        }
        if let Some(p) = &self.pagerduty {
            self.check_url("notify.pagerduty.events_url", &p.events_url)?;
            env_name("notify.pagerduty.routing_key_env", &p.routing_key_env)?;
        }
        if let Some(s) = &self.slack {
            match (&s.webhook_url_env, &s.bot_token_env, &s.channel) {
                (Some(w), None, None) => env_name("notify.slack.webhook_url_env", w)?,
                (None, Some(t), Some(c)) if !c.is_empty() => {
                    env_name("notify.slack.bot_token_env", t)?;
                    self.check_url("notify.slack.api_url", &s.api_url)?;
                }
                _ => {
                    return Err(
                        "notify.slack: set either webhook_url_env, or bot_token_env together with channel".into(),
                    );
                }
            }
            if let Some(v) = &s.signing_secret_env {
                env_name("notify.slack.signing_secret_env", v)?;
                if s.bot_token_env.is_none() {
                    return Err(
                        "notify.slack.signing_secret_env: buttons need the bot (bot_token_env and channel): \
                                an incoming webhook's messages cannot be updated with the outcome"
                            .into(),
                    );
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for w in &self.webhooks {
            let at = format!("notify.webhooks.{}", w.name);
            let ok_name = !w.name.is_empty()
                && w.name.len() <= 64
                && w.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !ok_name || VENDORS.contains(&w.name.as_str()) || !seen.insert(&w.name) {
                return Err(format!(
                    "{at}: every webhook needs a unique name of letters, digits, - or _ other than jira, pagerduty, slack"
                ));
            }
            self.check_url(&format!("{at}.url"), &w.url)?;
            env_name(&format!("{at}.secret_env"), &w.secret_env)?;
        }
        Ok(())
    }

    /// The SSRF guard for configured URLs (errors name the key, never the URL).
    pub fn check_url(&self, at: &str, raw: &str) -> Result<reqwest::Url, String> {
        check_url(raw, self.allow_insecure_loopback).map_err(|why| format!("{at}: {why}"))
    }
}

impl NotifyConfig {
    /// Whether a webhook registered at run time may name `name` as its signing secret: the
    /// configured prefix and at least one more letter, digit or `_`. The error names the rule.
    pub fn check_hook_secret_env(&self, name: &str) -> Result<(), String> {
        let prefix = &self.hook_secret_env_prefix;
        let ok = name.len() > prefix.len()
            && name.len() <= MAX_SECRET_ENV_LEN
            && name.starts_with(prefix.as_str())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok {
            return Ok(());
        }
        Err(format!(
            "a webhook registered at run time may only name an environment variable starting with `{prefix}` \
             ([notify] hook_secret_env_prefix) followed by letters, digits or _ (at most {MAX_SECRET_ENV_LEN} \
             characters), e.g. `{prefix}OPS`; `{}` is not allowed. Put the signing secret in such a variable of \
             the server, or configure the webhook in the config file",
            crate::domain::clip(name, 64)
        ))
    }

    /// The signing secret's variable of a run-time webhook that names none: the prefix + `SECRET`.
    pub fn default_hook_secret_env(&self) -> String {
        format!("{}SECRET", self.hook_secret_env_prefix)
    }
}

/// `https://` only; `http://` only for a loopback host when explicitly allowed; no credentials in
/// the URL; written as sent (RFC 3986 characters, no fragment); the host a DNS name or an IP literal.
pub fn check_url(raw: &str, allow_insecure_loopback: bool) -> Result<reqwest::Url, String> {
    // Characters a URL may carry as written (RFC 3986), `%` only before two hex digits; the
    // parser would quietly percent-encode the rest. No fragment: it is never sent.
    if !uri_chars_only(raw) {
        return Err(
            "the URL has characters that must be percent-encoded (or a stray `%`; a non-ASCII host goes in punycode, `xn--...`)"
                .into(),
        );
    }
    if raw.contains('#') {
        return Err("the URL has a fragment (`#...`), which is never sent: remove it".into());
    }
    let url = reqwest::Url::parse(raw).map_err(|_| "not a valid URL".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("credentials in URLs are not allowed; use the *_env settings".into());
    }
    let host = url.host_str().ok_or_else(|| "the URL has no host".to_owned())?;
    // A name no resolver can look up (`*`, `_`, an empty or over-long label) is refused here
    // rather than failing at every delivery; IP literals are not domains and pass.
    if url.domain().is_some_and(|d| !is_dns_name(d)) {
        return Err(
            "the URL's host is not a DNS name (labels of letters, digits and inner hyphens, separated by dots)".into(),
        );
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if allow_insecure_loopback && is_loopback(host) => Ok(url),
        "http" => Err("must be https (http is allowed only for loopback with allow_insecure_loopback = true)".into()),
        _ => Err("must be an https URL".into()),
    }
}

/// Only RFC 3986's unreserved and reserved characters, and `%` followed by two hex digits.
fn uri_chars_only(raw: &str) -> bool {
    let b = raw.as_bytes();
    b.iter().enumerate().all(|(i, &c)| match c {
        b'%' => b.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
        c => c.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=".contains(&c),
    })
}

/// Host name syntax (RFC 1123): 1-63 letters, digits or inner hyphens per label, at most 253 in
/// all, the last label starting with a letter (a top-level domain; never read as IPv4).
fn is_dns_name(host: &str) -> bool {
    host.len() <= 253
        && host
            .rsplit('.')
            .next()
            .is_some_and(|tld| tld.starts_with(|c: char| c.is_ascii_alphabetic()))
        && host.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h == "localhost" || h.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssrf_guard_accepts_https_and_loopback_http_only_when_allowed() {
        assert!(check_url("https://x.atlassian.net", false).is_ok());
        assert!(check_url("http://127.0.0.1:9/x", false).is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_url("http://[::1]:9/x", true).is_ok());
        assert!(check_url("http://10.0.0.1/x", true).is_err());
        assert!(check_url("http://169.254.169.254/latest", true).is_err());
        assert!(check_url("https://u:p@host/x", false).is_err());
        assert!(check_url("file:///etc/passwd", true).is_err());
    }

    #[test]
    fn hosts_must_be_dns_names_or_ip_literals() {
        for ok in [
            "https://a-b.Example.com:8443/x?y=1",
            "https://localhost/x",
            "https://10.0.0.1/x",
            "https://[2001:db8::1]/x",
            "https://xn--bcher-kva.example/",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for bad in [
            "https://f.gz.t*",
            "https://a_b.example.com/",
            "https://-a.example.com/",
            "https://a-.example.com/",
            "https://example.com./",
            &format!("https://{}.com/", "a".repeat(64)),
            "https://example.1com/",
        ] {
            let e = check_url(bad, false).expect_err(bad);
            assert!(e.contains("not a DNS name"), "{bad}: {e}");
        }
    }

    #[test]
    fn urls_are_taken_as_written_or_refused() {
        assert!(check_url("https://h.example/a%20b/~x;y=1?q=a,b&r=$(1)", false).is_ok());
        for (bad, why) in [
            ("https://h.example/a b", "percent-encoded"),
            ("https://h.example/{x}", "percent-encoded"),
            ("https://h.example/\"x\"", "percent-encoded"),
            ("https://h.example/%zz", "percent-encoded"),
            ("https://h.example/%4", "percent-encoded"),
            ("https://h.example/caf\u{e9}", "percent-encoded"),
            ("https://h.example/x#top", "fragment"),
        ] {
            let e = check_url(bad, false).expect_err(bad);
            assert!(e.contains(why), "{bad}: {e}");
        }
    }
}
