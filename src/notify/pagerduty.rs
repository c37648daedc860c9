//! PagerDuty Events API v2: `trigger` / `acknowledge` / `resolve` with
//! `dedup_key = "incident-mcp-<id>"`, so repeats update one alert instead of opening more.

use secrecy::ExposeSecret;
use serde_json::json;

use super::{Delivered, HttpNotifier, IncidentInfo, NotifyError, config::PagerDutyConfig, network, read, row_message};
use crate::{
    domain::{Severity, audit::AuditAnchor, clip},
    store::OutboxRow,
};

pub fn dedup_key(id: crate::domain::IncidentId) -> String {
    format!("incident-mcp-{id}")
}

/// PagerDuty's four severities.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "critical",
        Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "info",
    }
}

pub(super) async fn deliver(
    n: &HttpNotifier,
    cfg: &PagerDutyConfig,
    row: &OutboxRow,
    info: Option<IncidentInfo>,
    anchor: Option<&AuditAnchor>,
) -> Result<Delivered, NotifyError> {
    let info = info.ok_or_else(|| NotifyError::Permanent {
        http_status: None,
        message: "pagerduty events need an incident".into(),
    })?;
    let key = n.secret(&cfg.routing_key_env)?;
    let url = n
        .cfg
        .check_url("notify.pagerduty.events_url", &cfg.events_url)
        .map_err(|m| NotifyError::Permanent {
            http_status: None,
            message: m,
        })?;
    let i = &info.incident;
    let action = match row.event.as_str() {
        "resolve" => "resolve",
        "acknowledge" => "acknowledge",
        _ => "trigger",
    };
    let mut body = json!({
        "routing_key": key.expose_secret(),
        "event_action": action,
        "dedup_key": dedup_key(i.id),
    });
    if action == "trigger" {
        let mut details = json!({
            "incident": i.id,
            "event": row.event,
            "env": i.env,
            "type": i.kind,
            "status": i.status,
            "signals": i.signal_count,
            "first_seen": i.first_seen,
            "last_seen": i.last_seen,
        });
        if let Some(m) = row_message(row) {
            details["message"] = json!(m);
        }
        // A plan awaiting approval: which plan, and how to approve it.
        for key in ["plan_id", "note"] {
            if let Some(v) = row.payload.get(key).and_then(|v| v.as_str()) {
                details[key] = json!(clip(v, 1000));
            }
        }
        if let Some(a) = anchor {
            details["audit_anchor"] = json!(a.to_string());
        }
        if let Some(g) = info.groups.iter().max_by(|a, b| a.max_score.total_cmp(&b.max_score)) {
            details["anomaly_score"] = json!(g.max_score);
            details["entity"] = json!(g.entity);
        }
        body["payload"] = json!({
            "summary": clip(&match row.payload.get("plan_id").and_then(|v| v.as_str()) {
                Some(plan) if row.event == "approval" => {
                    format!("[{}] approval needed: {plan} for {} ({})", i.severity, i.title, i.id)
                }
                Some(plan) if row.event == "action_failed" => {
                    format!("[{}] action failed, needs a human: {plan} for {} ({})", i.severity, i.title, i.id)
                }
                _ => format!("[{}] {} ({})", i.severity, i.title, i.id),
            }, 1000),
            "source": cfg.source,
            "severity": severity(i.severity),
            "custom_details": details,
        });
    }
    let resp = n
        .client
        .post(url)
        .header("Idempotency-Key", row.id.to_string())
        .json(&body)
        .send()
        .await
        .map_err(|e| network("pagerduty", e))?;
    let (status, _) = read("pagerduty", resp, &[&key]).await?;
    Ok(Delivered {
        http_status: Some(status),
    })
}
