//! The notification several store tests record: one `HighLatency` alert group on the
//! `checkout` service in `prod`, as the webhook adapter would hand it to the store. Tests
//! change what they check (labels, messages, hooks) with struct update syntax.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use incident_mcp::{
    domain::{IncidentType, Severity},
    store::{AlertIncident, AlertIntake, AlertRecord, DetectHooks},
};

/// A firing `HighLatency` occurrence of the checkout group, without labels, message or annotations.
pub fn high_latency(fingerprint: &str, starts_at: DateTime<Utc>) -> AlertRecord {
    AlertRecord {
        fingerprint: fingerprint.into(),
        starts_at,
        ends_at: None,
        firing: true,
        alertname: "HighLatency".into(),
        incident: 0,
        labels: BTreeMap::new(),
        message: None,
        entities: Vec::new(),
        annotations: Vec::new(),
    }
}

/// `alerts` as one notification of the checkout group (incident key
/// `prod/HighLatency/service/checkout`), no hooks.
pub fn checkout_intake(alerts: Vec<AlertRecord>) -> AlertIntake {
    AlertIntake {
        env: "prod".into(),
        actor: "alertmanager".into(),
        source: "alertmanager".into(),
        incidents: vec![AlertIncident {
            fingerprint: "prod/HighLatency/service/checkout".into(),
            title: "HighLatency on checkout".into(),
            kind: IncidentType::Availability,
            severity: Severity::High,
            entity: "service/checkout".into(),
            labels: BTreeMap::new(),
        }],
        alerts,
        hooks: DetectHooks::default(),
    }
}
