//! Slack: `chat.postMessage` with a bot token (one thread per incident: the first message's
//! `ts` is stored and later events reply in its thread), or an incoming webhook (no threads).
//!
//! Slack has no idempotency key. So that a crash between posting an incident's first message and
//! storing its `ts` does not open a second thread, the first message carries message metadata
//! (`incident_mcp_root`: incident id and outbox row), and before posting a first message the
//! channel's recent history is searched for it (`conversations.history`, which needs a channel
//! ID and the `channels:history` scope; without them the search is skipped and a crash can still
//! post twice).

use secrecy::ExposeSecret;
use serde_json::json;

use super::{
    Delivered, HttpNotifier, IncidentInfo, NotifyError, config::SlackConfig, network, read, row_message, slack_blocks,
};
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
    let api_base = api.as_str().trim_end_matches('/').to_owned();
    let mut thread = thread;
    let mut recorded = thread.is_some();
    if let (Some(id), None) = (incident, &thread)
        && let Some(root) = find_root(n, &api_base, channel, &token, id, row).await?
    {
        n.store.set_notify_ref(TARGET, id, &root.ts).await.map_err(store_err)?;
        if root.outbox_id == Some(row.id) {
            // This very row was posted by an attempt that died before recording it.
            return Ok(Delivered { http_status: Some(200) });
        }
        thread = Some(root.ts);
        recorded = true;
    }
    let mut body = json!({ "channel": channel, "text": text });
    if let Some((text, blocks)) = approval_blocks(n, cfg, row, info.as_ref()).await? {
        body["text"] = json!(text);
        body["blocks"] = blocks;
        // A request for approval in the incident's thread is also shown in the channel.
        if thread.is_some() {
            body["reply_broadcast"] = json!(true);
        }
    }
    match (&thread, incident) {
        (Some(ts), _) => body["thread_ts"] = json!(ts),
        (None, Some(id)) => {
            body["metadata"] = json!({
                "event_type": ROOT_EVENT,
                "event_payload": { "incident": id.to_string(), "outbox_id": row.id },
            })
        }
        (None, None) => {}
    }
    let resp = n
        .client
        .post(format!("{api_base}/chat.postMessage"))
        .bearer_auth(token.expose_secret())
        .header("Idempotency-Key", row.id.to_string())
        .json(&body)
        .send()
        .await
        .map_err(|e| network("slack chat.postMessage", e))?;
    let (status, answer) = read("slack chat.postMessage", resp, &[&token]).await?;
    let v = web_api_answer("chat.postMessage", status, &answer)?;
    if let (Some(id), false, Some(ts)) = (incident, recorded, v["ts"].as_str()) {
        n.store.set_notify_ref(TARGET, id, ts).await.map_err(store_err)?;
    }
    Ok(Delivered {
        http_status: Some(status),
    })
}

/// The Web API answers 200 with `ok: false` on errors: the answer, or the error classified.
pub(super) fn web_api_answer(method: &str, status: u16, answer: &str) -> Result<serde_json::Value, NotifyError> {
    let v: serde_json::Value = serde_json::from_str(answer).unwrap_or_default();
    if v["ok"] == json!(true) {
        return Ok(v);
    }
    let error = v["error"].as_str().unwrap_or("no `ok` in the answer");
    let message = format!("slack {method}: {}", crate::domain::clip(error, 100));
    Err(match error {
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
    })
}

/// Metadata event type of an incident's first message.
const ROOT_EVENT: &str = "incident_mcp_root";

/// An incident's first message, found in the channel history.
struct Root {
    ts: String,
    outbox_id: Option<i64>,
}

/// Looks for the incident's first message among the channel's messages since the row was
/// queued. `None` when there is none, or when the search is impossible (a channel name rather
/// than an ID, a missing scope): the caller then posts a new first message.
async fn find_root(
    n: &HttpNotifier,
    api_base: &str,
    channel: &str,
    token: &secrecy::SecretString,
    id: crate::domain::IncidentId,
    row: &OutboxRow,
) -> Result<Option<Root>, NotifyError> {
    if !is_channel_id(channel) {
        return Ok(None);
    }
    // A minute of slack for clock skew between this host and Slack's.
    let oldest = (row.created_at - chrono::Duration::seconds(60)).timestamp();
    let resp = n
        .client
        .get(format!("{api_base}/conversations.history"))
        .bearer_auth(token.expose_secret())
        .query(&[
            ("channel", channel.to_owned()),
            ("oldest", oldest.to_string()),
            ("limit", "200".to_owned()),
            ("include_all_metadata", "true".to_owned()),
        ])
        .send()
        .await
        .map_err(|e| network("slack conversations.history", e))?;
    let (_, answer) = read("slack conversations.history", resp, &[token]).await?;
    let v: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if v["ok"] != json!(true) {
        let error = crate::domain::clip(v["error"].as_str().unwrap_or("no `ok` in the answer"), 100);
        tracing::warn!(error = %error, "slack conversations.history failed; posting without the duplicate check");
        return Ok(None);
    }
    let wanted = id.to_string();
    let root = v["messages"].as_array().into_iter().flatten().find(|m| {
        m["metadata"]["event_type"] == ROOT_EVENT && m["metadata"]["event_payload"]["incident"] == wanted.as_str()
    });
    Ok(root.and_then(|m| {
        Some(Root {
            ts: m["ts"].as_str()?.to_owned(),
            outbox_id: m["metadata"]["event_payload"]["outbox_id"].as_i64(),
        })
    }))
}

/// The Block Kit message of an `approval` row (the plan's summary, the incident's runbooks and
/// the buttons), rendered from the stored plan at send time; `None` for other rows.
async fn approval_blocks(
    n: &HttpNotifier,
    cfg: &SlackConfig,
    row: &OutboxRow,
    info: Option<&IncidentInfo>,
) -> Result<Option<(String, serde_json::Value)>, NotifyError> {
    let plan_id = row.payload.get("plan_id").and_then(|v| v.as_str());
    let (true, Some(plan_id)) = (row.event == "approval", plan_id) else {
        return Ok(None);
    };
    let Some(stored) = n.store.get_plan(plan_id).await.map_err(super::store_unavailable)? else {
        return Ok(None);
    };
    // The incident's runbooks as the service gave them when it queued the row (checked again
    // when rendered).
    let runbooks = row
        .payload
        .get("runbooks")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    let facts = slack_blocks::PlanFacts::of(&stored, info.map(|i| &i.incident)).with_runbooks(runbooks);
    let page = n.public_url.as_deref().map(|u| slack_blocks::page_url(u, plan_id));
    let note = row.payload.get("note").and_then(|v| v.as_str());
    Ok(Some(slack_blocks::approval_message(
        &facts,
        note,
        cfg.signing_secret_env.is_some(),
        page.as_deref(),
    )))
}

/// A Slack conversation ID (`C…` public, `G…` private, `D…` direct), as opposed to a `#name`.
fn is_channel_id(channel: &str) -> bool {
    channel.len() >= 9
        && channel.starts_with(['C', 'G', 'D'])
        && channel.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
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

#[cfg(test)]
mod tests {
    use super::is_channel_id;

    #[test]
    fn only_conversation_ids_are_searched() {
        assert!(is_channel_id("C024BE91L") && is_channel_id("G0123456789"));
        for name in ["#incidents", "incidents", "C02", "c024be91l", "X024BE91L", "C024BE91L;"] {
            assert!(!is_channel_id(name), "{name}");
        }
    }
}
