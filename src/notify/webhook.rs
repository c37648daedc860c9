//! Generic signed webhooks. The body is JSON; headers:
//!
//! - `Idempotency-Key`: the outbox row id (the same on every retry of one notification);
//! - `X-Incident-MCP-Timestamp`: Unix seconds when the attempt was signed;
//! - `X-Incident-MCP-Signature`: `v1=` + hex(HMAC-SHA256(secret, timestamp + "." + body)).
//!
//! A receiver recomputes the HMAC over the raw body bytes, compares in constant time, and
//! rejects timestamps too far from its clock (replays); see [`verify`].

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use serde_json::json;
use sha2::Sha256;

use super::{Delivered, HttpNotifier, IncidentInfo, NotifyError, config::WebhookConfig, network, read};
use crate::{domain::audit::AuditAnchor, store::OutboxRow};

pub const TIMESTAMP_HEADER: &str = "X-Incident-MCP-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Incident-MCP-Signature";

/// `v1=<hex hmac-sha256(secret, timestamp + "." + body)>`.
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a receiver does: checks the signature in constant time and that `timestamp` is within
/// `tolerance_secs` of `now_secs`.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_secs: i64,
    tolerance_secs: i64,
) -> bool {
    let Ok(ts) = timestamp.parse::<i64>() else { return false };
    if (now_secs - ts).abs() > tolerance_secs {
        return false;
    }
    let Some(Ok(given)) = signature.strip_prefix("v1=").map(hex::decode) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&given).is_ok()
}

pub(super) async fn deliver(
    n: &HttpNotifier,
    cfg: &WebhookConfig,
    row: &OutboxRow,
    info: Option<IncidentInfo>,
    anchor: Option<&AuditAnchor>,
) -> Result<Delivered, NotifyError> {
    let secret = n.secret(&cfg.secret_env)?;
    let url = n
        .cfg
        .check_url(&format!("notify.webhooks.{}.url", cfg.name), &cfg.url)
        .map_err(|m| NotifyError::Permanent {
            http_status: None,
            message: m,
        })?;
    let body = json!({
        "id": row.id,
        "event": row.event,
        "created_at": row.created_at,
        "incident": info.as_ref().map(|i| &i.incident),
        "data": row.payload,
        "audit_anchor": anchor.map(|a| a.to_string()),
    });
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let ts = chrono::Utc::now().timestamp().to_string();
    let signature = sign(secret.expose_secret().as_bytes(), &ts, &bytes);
    let what = format!("webhook {}", cfg.name);
    let resp = n
        .client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("Idempotency-Key", row.id.to_string())
        .header(TIMESTAMP_HEADER, &ts)
        .header(SIGNATURE_HEADER, signature)
        .body(bytes)
        .send()
        .await
        .map_err(|e| network(&what, e))?;
    let (status, _) = read(&what, resp, &[&secret]).await?;
    Ok(Delivered {
        http_status: Some(status),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_detects_tampering() {
        let sig = sign(b"s3cret", "1700000000", br#"{"a":1}"#);
        assert!(verify(b"s3cret", "1700000000", br#"{"a":1}"#, &sig, 1_700_000_010, 300));
        assert!(!verify(
            b"s3cret",
            "1700000000",
            br#"{"a":2}"#,
            &sig,
            1_700_000_010,
            300
        ));
        assert!(!verify(b"other", "1700000000", br#"{"a":1}"#, &sig, 1_700_000_010, 300));
        assert!(!verify(
            b"s3cret",
            "1700000001",
            br#"{"a":1}"#,
            &sig,
            1_700_000_010,
            300
        ));
        assert!(!verify(
            b"s3cret",
            "1700000000",
            br#"{"a":1}"#,
            &sig,
            1_700_009_999,
            300
        ));
    }
}
