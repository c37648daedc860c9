//! Jira REST API v2 (Cloud, or Server/Data Center with `deployment = "data-center"`): one issue
//! per incident, found again by its label before creating (so a crash between creating and
//! marking the row sent never duplicates it); later events become comments. Cloud's JQL search
//! is eventually consistent; the lookup only matters for a retry after a crash, which waits at
//! least `lease_secs`, by which time a new issue is searchable.

use secrecy::ExposeSecret;
use serde_json::json;

use super::{
    Delivered, HttpNotifier, IncidentInfo, NotifyError, config::JiraConfig, describe, network, read, row_message,
};
use crate::{domain::clip, store::OutboxRow};

const TARGET: &str = "jira";

/// The label that finds the ticket of an incident again.
pub fn incident_label(id: crate::domain::IncidentId) -> String {
    format!("incident-{id}")
}

pub(super) async fn deliver(
    n: &HttpNotifier,
    cfg: &JiraConfig,
    row: &OutboxRow,
    info: Option<IncidentInfo>,
) -> Result<Delivered, NotifyError> {
    let info = info.ok_or_else(|| NotifyError::Permanent {
        http_status: None,
        message: "jira notifications need an incident".into(),
    })?;
    let id = info.incident.id;
    let email = n.secret(&cfg.email_env)?;
    let token = n.secret(&cfg.token_env)?;
    let secrets = [&email, &token];
    let base = n
        .cfg
        .check_url("notify.jira.base_url", &cfg.base_url)
        .map_err(|m| NotifyError::Permanent {
            http_status: None,
            message: m,
        })?;
    let base = base.as_str().trim_end_matches('/').to_owned();
    let auth = |rb: reqwest::RequestBuilder| rb.basic_auth(email.expose_secret(), Some(token.expose_secret()));
    let store_err = |e: crate::store::StoreError| NotifyError::Retryable {
        http_status: None,
        retry_after: None,
        message: format!("store: {e}"),
    };

    let stored = n.store.notify_ref(TARGET, id).await.map_err(store_err)?;
    let (key, known_before) = match stored {
        Some(k) => (Some(k), true),
        None => {
            let label = incident_label(id);
            let resp = auth(n.client.get(format!("{base}{}", cfg.deployment.search_path())))
                .query(&[
                    ("jql", format!("labels=\"{label}\"")),
                    ("fields", "summary".into()),
                    ("maxResults", "1".into()),
                ])
                .header("Accept", "application/json")
                .send()
                .await
                .map_err(|e| network("jira search", e))?;
            let (_, body) = read("jira search", resp, &secrets).await?;
            // Both answer `{"issues": [{"id": "10001", "key": "OPS-1", ...}]}`; the id serves where
            // a key is missing (the issue endpoints take either).
            let found = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| {
                let issue = &v["issues"][0];
                issue["key"]
                    .as_str()
                    .or_else(|| issue["id"].as_str())
                    .map(str::to_owned)
            });
            if let Some(k) = &found {
                n.store.set_notify_ref(TARGET, id, k).await.map_err(store_err)?;
            }
            (found, false)
        }
    };

    let text = event_text(row, &info);
    match key {
        // The ticket exists but was not recorded: an earlier attempt created it and died
        // before marking its row sent. Creating events are then already delivered.
        Some(_) if !known_before && matches!(row.event.as_str(), "detect" | "notify") => {
            Ok(Delivered { http_status: Some(200) })
        }
        Some(key) => {
            let resp = auth(n.client.post(format!("{base}/rest/api/2/issue/{key}/comment")))
                .header("Idempotency-Key", row.id.to_string())
                .json(&json!({ "body": text }))
                .send()
                .await
                .map_err(|e| network("jira comment", e))?;
            let (status, _) = read("jira comment", resp, &secrets).await?;
            Ok(Delivered {
                http_status: Some(status),
            })
        }
        None => {
            let i = &info.incident;
            let summary = clip(&format!("[{}] {} ({})", i.severity, i.title, i.id), 250);
            let mut description = describe(&info);
            if let Some(m) = row_message(row) {
                description = format!("{m}\n\n{description}");
            }
            let body = json!({
                "fields": {
                    "project": { "key": cfg.project_key },
                    "issuetype": { "name": cfg.issue_type },
                    "summary": summary,
                    "description": description,
                    "labels": ["incident-mcp", incident_label(id)],
                }
            });
            let resp = auth(n.client.post(format!("{base}/rest/api/2/issue")))
                .header("Idempotency-Key", row.id.to_string())
                .json(&body)
                .send()
                .await
                .map_err(|e| network("jira create issue", e))?;
            let (status, body) = read("jira create issue", resp, &secrets).await?;
            let key = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["key"].as_str().map(str::to_owned))
                .ok_or_else(|| NotifyError::Permanent {
                    http_status: Some(status),
                    message: "jira create issue: the answer has no issue key".into(),
                })?;
            n.store.set_notify_ref(TARGET, id, &key).await.map_err(store_err)?;
            Ok(Delivered {
                http_status: Some(status),
            })
        }
    }
}

/// A comment for a later lifecycle event.
fn event_text(row: &OutboxRow, info: &IncidentInfo) -> String {
    let i = &info.incident;
    let mut text = format!(
        "incident-mcp: {} on {} — status {}, severity {}, {} signal(s)",
        row.event, i.id, i.status, i.severity, i.signal_count
    );
    if let Some(note) = row.payload.get("note").and_then(|v| v.as_str()) {
        text.push_str(&format!("\nNote: {note}"));
    }
    if let Some(m) = row_message(row) {
        text.push_str(&format!("\n{m}"));
    }
    text
}
