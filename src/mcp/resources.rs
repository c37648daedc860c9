//! Resources: recent incidents, one incident, recent metric points, the audit log, active
//! containments, undeliverable notifications.

use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

use crate::{
    domain::{IncidentId, UNTRUSTED_NOTE},
    service::{ContainmentsRequest, GetRequest, IncidentService, ListRequest, ServiceError},
};

pub const INCIDENTS_URI: &str = "incident://incidents";
pub const INCIDENT_TEMPLATE: &str = "incident://incidents/{id}";
pub const METRICS_URI: &str = "metrics://recent";
pub const AUDIT_URI: &str = "incident://audit";
pub const OUTBOX_DEAD_URI: &str = "incident://outbox/dead";
pub const CONTAINMENTS_URI: &str = "incident://containments";
/// Longest resource URI accepted by `resources/subscribe`.
pub const MAX_URI_BYTES: usize = 256;
/// The resources with fixed URIs.
pub const FIXED_URIS: [&str; 5] = [INCIDENTS_URI, METRICS_URI, AUDIT_URI, CONTAINMENTS_URI, OUTBOX_DEAD_URI];
/// Audit entries in `incident://audit`.
const AUDIT_ENTRIES: u32 = 100;
const INCIDENT_PREFIX: &str = "incident://incidents/";
/// Incidents also listed one by one in `resources/list`.
const LISTED_INCIDENTS: u32 = 50;

pub fn incident_uri(id: IncidentId) -> String {
    format!("{INCIDENT_PREFIX}{id}")
}

/// True when `uri` names one of this server's resources (a fixed one, or one incident by a
/// well-formed id).
pub fn is_ours(uri: &str) -> bool {
    FIXED_URIS.contains(&uri)
        || uri
            .strip_prefix(INCIDENT_PREFIX)
            .is_some_and(|id| id.parse::<IncidentId>().is_ok())
}

pub async fn list(
    svc: &IncidentService,
    cursor: Option<String>,
) -> Result<(Vec<Resource>, Option<String>), ServiceError> {
    // The fixed resources head the first page; incidents follow, 50 a page.
    let mut out = match cursor {
        Some(_) => Vec::new(),
        None => vec![
        Resource::new(INCIDENTS_URI, "incidents")
            .with_title("Recent incidents")
            .with_description("The 50 most recently active incidents, newest first (JSON)")
            .with_mime_type("application/json"),
        Resource::new(METRICS_URI, "recent-metrics")
            .with_title("Recent metric points")
            .with_description("The latest 200 metric points ingested by detection, newest first (JSON)")
            .with_mime_type("application/json"),
        Resource::new(AUDIT_URI, "audit")
            .with_title("Audit log")
            .with_description(
                "The 100 latest hash-chained audit entries (proposals, approvals, refusals, actions), newest first (JSON)",
            )
            .with_mime_type("application/json"),
        Resource::new(CONTAINMENTS_URI, "containments")
            .with_title("Active containments")
            .with_description(
                "What is isolated, blocked, paused or cordoned now: since when, TTL, who proposed and who approved it (JSON)",
            )
            .with_mime_type("application/json"),
        Resource::new(OUTBOX_DEAD_URI, "outbox-dead")
            .with_title("Undeliverable notifications")
            .with_description("Notifications moved to the dead letters (4xx answers or retries exhausted), newest first (JSON)")
            .with_mime_type("application/json"),
        ],
    };
    let recent = svc
        .list(ListRequest {
            limit: Some(LISTED_INCIDENTS),
            cursor,
            ..Default::default()
        })
        .await?;
    out.extend(recent.incidents.into_iter().map(|i| {
        Resource::new(incident_uri(i.id), i.id.to_string())
            .with_title(format!("{} [{} {}]", i.id, i.severity, i.status))
            .with_description(crate::domain::clip(&i.title, 200))
            .with_mime_type("application/json")
    }));
    Ok((out, recent.next_cursor))
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(INCIDENT_TEMPLATE, "incident")
            .with_title("Incident by id")
            .with_description("One incident with its 10 latest signals (JSON); id like INC-000001")
            .with_mime_type("application/json"),
    ]
}

/// Outcome of reading a URI.
pub enum Read {
    Found(ResourceContents),
    UnknownUri,
}

pub async fn read(svc: &IncidentService, uri: &str) -> Result<Read, ServiceError> {
    let body = if uri == INCIDENTS_URI {
        let list = svc
            .list(ListRequest {
                limit: Some(LISTED_INCIDENTS),
                ..Default::default()
            })
            .await?;
        json!({ "incidents": list.incidents, "count": list.count, "untrusted_data_note": UNTRUSTED_NOTE })
    } else if uri == METRICS_URI {
        let points = svc.recent_metrics(200).await?;
        json!({ "points": points, "count": points.len(), "untrusted_data_note": UNTRUSTED_NOTE })
    } else if uri == AUDIT_URI {
        let list = svc.audit_recent(AUDIT_ENTRIES, None).await?;
        json!({ "entries": list.entries, "count": list.count, "untrusted_data_note": UNTRUSTED_NOTE })
    } else if uri == CONTAINMENTS_URI {
        serde_json::to_value(svc.containments(&ContainmentsRequest::default()).await?).unwrap_or_default()
    } else if uri == OUTBOX_DEAD_URI {
        serde_json::to_value(svc.outbox_list(true, 100, None).await?).unwrap_or_default()
    } else if let Some(raw) = uri.strip_prefix(INCIDENT_PREFIX) {
        let id: IncidentId = raw.parse()?;
        serde_json::to_value(svc.get(GetRequest { id }).await?).unwrap_or_default()
    } else {
        return Ok(Read::UnknownUri);
    };
    let text = serde_json::to_string_pretty(&body).unwrap_or_default();
    Ok(Read::Found(
        ResourceContents::text(text, uri).with_mime_type("application/json"),
    ))
}
