//! A small client of Slack's Web API with the bot token, for answers to button presses
//! (`chat.update` of the approval message, `chat.postEphemeral` to the user who pressed). The
//! base URL is the configured `notify.slack.api_url` (SSRF guard); no URL from a payload (such
//! as an interaction's `response_url`) is ever fetched. Errors never carry the token or URLs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::{EnvLookup, NotifyConfig, NotifyError, network, read, slack::web_api_answer};

/// The bot's Web API.
pub struct SlackWebApi {
    client: reqwest::Client,
    base: String,
    token: SecretString,
}

impl SlackWebApi {
    /// From `[notify.slack]` with the bot token read from its variable now.
    pub fn from_config(cfg: &NotifyConfig, env: &EnvLookup) -> Result<Self, NotifyError> {
        let permanent = |message: String| NotifyError::Permanent {
            http_status: None,
            message,
        };
        let slack = cfg
            .slack
            .as_ref()
            .ok_or_else(|| permanent("notify.slack is not configured".into()))?;
        let var = slack
            .bot_token_env
            .as_deref()
            .ok_or_else(|| permanent("notify.slack.bot_token_env is not set".into()))?;
        let token = env(var)
            .map(SecretString::from)
            .ok_or_else(|| permanent(format!("environment variable {var} is not set")))?;
        let base = cfg
            .check_url("notify.slack.api_url", &slack.api_url)
            .map_err(permanent)?;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(cfg.timeout_secs))
            .user_agent(concat!("incident-mcp/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| permanent(format!("cannot build the HTTP client: {}", e.without_url())))?;
        Ok(Self {
            client,
            base: base.as_str().trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// POSTs `body` as JSON to `method`; the answer when it is `ok`.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, NotifyError> {
        let what = format!("slack {method}");
        let resp = self
            .client
            .post(format!("{}/{method}", self.base))
            .bearer_auth(self.token.expose_secret())
            .json(body)
            .send()
            .await
            .map_err(|e| network(&what, e))?;
        let (status, answer) = read(&what, resp, &[&self.token]).await?;
        web_api_answer(method, status, &answer)
    }

    /// Replaces a message the bot posted (`chat.update`): new text and blocks.
    pub async fn update(&self, channel: &str, ts: &str, text: &str, blocks: &Value) -> Result<(), NotifyError> {
        let body = json!({ "channel": channel, "ts": ts, "text": text, "blocks": blocks });
        self.call("chat.update", &body).await.map(|_| ())
    }

    /// A message only `user` sees, in `channel` (`chat.postEphemeral`).
    pub async fn ephemeral(&self, channel: &str, user: &str, text: &str) -> Result<(), NotifyError> {
        let body = json!({ "channel": channel, "user": user, "text": text });
        self.call("chat.postEphemeral", &body).await.map(|_| ())
    }
}
