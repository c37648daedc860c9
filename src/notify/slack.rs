//! Slack: `chat.postMessage` with a bot token (one thread per incident: the first message's
//! `ts` is stored and later events reply in its thread), or an incoming webhook (no threads).

use secrecy::ExposeSecret;
use serde_json::json;

use super::{Delivered, HttpNotifier, IncidentInfo, NotifyError, config::SlackConfig, network, read, row_message};
use crate::store::OutboxRow;

const TARGET: &str = "slack";

pub(super) async fn deliver(
    n: &HttpNotifier,
    cfg: &SlackConfig,
    row: &OutboxRow,
    info: Option<IncidentInfo>,
) -> Result<Delivered, NotifyError> {
    let text = message(row, info.as_ref());
    if let Some(var) = &cfg.webhook_url_env {
        let (url, secret) = n.secret_url(var)?;
        let resp = n
            .client
            .post(url)
            .header("Idempotency-Key", row.id.to_string())
            .json(&json!({ "text": text }))
            .send()
            .await
            .map_err(|e| network("slack webhook", e))?;
        let (status, _) = read("slack webhook", resp, &[&secret]).await?;
        return Ok(Delivered {
            http_status: Some(status),
        });
    }
    let (Some(token_env), Some(channel)) = (&cfg.bot_token_env, &cfg.channel) else {
        return Err(NotifyError::Permanent {
            http_status: None,
            message: "notify.slack: neither webhook_url_env nor bot_token_env is set".into(),
        });
    };
    let token = n.secret(token_env)?;
    let api = n
        .cfg
        .check_url("notify.slack.api_url", &cfg.api_url)
        .map_err(|m| NotifyError::Permanent {
            http_status: None,
            message: m,
        })?;
    let store_err = |e: crate::store::StoreError| NotifyError::Retryable {
        http_status: None,
        retry_after: None,
        message: format!("store: {e}"),
    };
    let incident = info.as_ref().map(|i| i.incident.id);
    let thread = match incident {
        Some(id) => n.store.notify_ref(TARGET, id).await.map_err(store_err)?,
        None => None,
    };
    let mut body = json!({ "channel": channel, "text": text });
    if let Some(ts) = &thread {
        body["thread_ts"] = json!(ts);
    }
    let resp = n
        .client
        .post(format!("{}/chat.postMessage", api.as_str().trim_end_matches('/')))
        .bearer_auth(token.expose_secret())
        .header("Idempotency-Key", row.id.to_string())
        .json(&body)
        .send()
        .await
        .map_err(|e| network("slack chat.postMessage", e))?;
    let (status, answer) = read("slack chat.postMessage", resp, &[&token]).await?;
    // The Web API answers 200 with `ok: false` on errors.
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if v["ok"] != json!(true) {
        let error = v["error"].as_str().unwrap_or("no `ok` in the answer");
        let message = format!("slack chat.postMessage: {}", crate::domain::clip(error, 100));
        return Err(match error {
            "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
                NotifyError::Retryable {
                    http_status: Some(status),
                    retry_after: None,
                    message,
                }
            }
            _ => NotifyError::Permanent {
                http_status: Some(status),
                message,
            },
        });
    }
    if let (Some(id), None, Some(ts)) = (incident, &thread, v["ts"].as_str()) {
        n.store.set_notify_ref(TARGET, id, ts).await.map_err(store_err)?;
    }
    Ok(Delivered {
        http_status: Some(status),
    })
}

fn message(row: &OutboxRow, info: Option<&IncidentInfo>) -> String {
    let mut text = match info {
        Some(info) => {
            let i = &info.incident;
            format!(
                "*{}* {} [{} {}] in {}: {} (status {})",
                row.event, i.id, i.severity, i.kind, i.env, i.title, i.status
            )
        }
        None => format!("*{}*", row.event),
    };
    if let Some(note) = row.payload.get("note").and_then(|v| v.as_str()) {
        text.push_str(&format!("\nNote: {note}"));
    }
    if let Some(m) = row_message(row) {
        text.push_str(&format!("\n{m}"));
    }
    text
}
