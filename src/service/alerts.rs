//! Alertmanager intake (`POST /api/alerts`): a webhook notification opens or updates
//! incidents. Dedup: environment + alertname + entity → one incident; an alert occurrence
//! (fingerprint + startsAt) is recorded once, so re-sent notifications add nothing.
//! Resolved alerts are noted on the timeline; they never resolve the incident (a human does,
//! with a note), except that a `contained` incident whose last alert resolves becomes
//! `recovered` (queuing its `recover` hooks in the same transaction). A new occurrence of a
//! resolved incident's alert reopens it.

use std::collections::{BTreeMap, HashMap};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{detect::fingerprint, *};
use crate::{
    config::AlertsConfig,
    domain::{
        Env, IncidentType, Severity, Status,
        entity::{EntityRules, extract},
        runbook::{LinkKind, sanitize_url},
        safe_component, sanitize_untrusted,
    },
    store::{AlertIncident, AlertIntake, AlertOutcome, AlertRecord},
};

pub use super::alert_payload::{AlertStatus, AlertmanagerPayload, WebhookAlert};

/// Source name of alert signals, and part of their incidents' fingerprints.
pub const ALERT_SOURCE: &str = "alertmanager";
/// Timeline actor of alert intake.
pub const ALERT_ACTOR: &str = "alertmanager";
/// Warnings reported per notification, at most.
const MAX_WARNINGS: usize = 20;

/// Labels that name the affected entity, tried in this order.
const ENTITY_LABELS: &[&str] = &["pod", "deployment", "service", "node", "instance", "namespace", "job"];

/// What a notification did to one incident.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AlertIncidentReport {
    /// Incident id.
    pub id: crate::domain::IncidentId,
    /// `created`, `updated`, `reopened` or `unchanged` (only re-sent alerts).
    pub change: ChangeKindWire,
    /// Incident title: alertname and entity.
    pub title: String,
    /// Incident type.
    #[serde(rename = "type")]
    pub kind: IncidentType,
    /// Severity.
    pub severity: Severity,
    /// Affected entity derived from the labels.
    pub entity: String,
    /// Status after this notification.
    pub status: Status,
    /// Alert occurrences seen for the first time.
    pub new_alerts: usize,
    /// Alerts this notification resolved.
    pub resolved_alerts: usize,
    /// Alerts of the incident still firing.
    pub firing_alerts: i64,
}

/// Result of `POST /api/alerts`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct AlertIntakeReport {
    /// Environment the alerts were recorded in.
    pub env: String,
    /// Alerts in the notification.
    pub received: usize,
    /// Alert occurrences (fingerprint + startsAt) seen for the first time.
    pub new_alerts: usize,
    /// Alerts that were firing and are now resolved.
    pub newly_resolved: usize,
    /// Alerts already recorded with the same status (re-sent), including duplicates
    /// within the notification: `received = new_alerts + newly_resolved + repeated`.
    pub repeated: usize,
    /// Incidents opened.
    pub created: usize,
    /// Incidents updated or reopened.
    pub updated: usize,
    /// Every incident the alerts belong to.
    pub incidents: Vec<AlertIncidentReport>,
    /// Problems that did not stop the intake (unknown severity or type labels, truncation).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// `pod/{namespace}/{pod}`, `deployment/{namespace}/{deployment}`, `service/{service}`,
/// `node/{node}`, `instance/{instance}`, `namespace/{namespace}`, `job/{job}`, else
/// `alert/{alertname}`: the first label present wins.
pub fn alert_entity(labels: &BTreeMap<String, String>) -> String {
    let get = |k: &str| labels.get(k).filter(|v| !v.is_empty());
    for key in ENTITY_LABELS {
        if let Some(v) = get(key) {
            return match *key {
                "pod" | "deployment" => format!(
                    "{key}/{}/{}",
                    safe_component(get("namespace").map_or("unknown", String::as_str)),
                    safe_component(v)
                ),
                _ => format!("{key}/{}", safe_component(v)),
            };
        }
    }
    format!(
        "alert/{}",
        safe_component(labels.get("alertname").map_or("", String::as_str))
    )
}

/// Labels as stored: names clipped, values clipped and redacted of secret-looking text.
fn sanitize_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels
        .iter()
        .map(|(k, v)| {
            let key = crate::domain::clip(k, 128);
            let prefix = format!("{key}: ");
            let cleaned = sanitize_untrusted(&format!("{prefix}{v}"));
            let value = cleaned
                .strip_prefix(&prefix)
                .map_or_else(|| "[REDACTED]".to_owned(), str::to_owned);
            (key, value)
        })
        .collect()
}

/// Fingerprint of a label set, for alerts sent without one.
fn label_fingerprint(labels: &BTreeMap<String, String>) -> String {
    let mut h = Sha256::new();
    for (k, v) in labels {
        h.update(k.as_bytes());
        h.update([0xff]);
        h.update(v.as_bytes());
        h.update([0xff]);
    }
    hex::encode(&h.finalize()[..8])
}

fn warn(warnings: &mut Vec<String>, w: String) {
    if warnings.len() < MAX_WARNINGS {
        warnings.push(w);
    }
}

fn severity_of(
    cfg: &AlertsConfig,
    labels: &BTreeMap<String, String>,
    at: &str,
    warnings: &mut Vec<String>,
) -> Severity {
    let Some(raw) = labels.get(&cfg.severity_label) else {
        return cfg.default_severity;
    };
    let v = raw.trim().to_ascii_lowercase();
    if let Ok(s) = v.parse::<Severity>() {
        return s;
    }
    if let Some((_, s)) = cfg.severities.iter().find(|(k, _)| k.to_ascii_lowercase() == v) {
        return *s;
    }
    warn(
        warnings,
        format!(
            "{at}.labels.{}: `{}` is not a known severity; used {}",
            cfg.severity_label,
            crate::domain::clip(raw, 40),
            cfg.default_severity
        ),
    );
    cfg.default_severity
}

fn type_of(
    cfg: &AlertsConfig,
    alertname: &str,
    labels: &BTreeMap<String, String>,
    at: &str,
    warnings: &mut Vec<String>,
) -> IncidentType {
    let fallback = cfg.types.get(alertname).copied().unwrap_or(cfg.default_type);
    let Some(raw) = labels.get(&cfg.type_label) else {
        return fallback;
    };
    raw.trim().to_ascii_lowercase().parse().unwrap_or_else(|_| {
        warn(
            warnings,
            format!(
                "{at}.labels.{}: `{}` is not an incident type; used {fallback}",
                cfg.type_label,
                crate::domain::clip(raw, 40)
            ),
        );
        fallback
    })
}

/// The message of an alert's signal: summary and description annotations, sanitised.
fn alert_message(a: &WebhookAlert) -> Option<String> {
    let parts: Vec<&str> = ["summary", "description", "message"]
        .iter()
        .filter_map(|k| a.annotations.get(*k).map(String::as_str))
        .filter(|s| !s.trim().is_empty())
        .collect();
    (!parts.is_empty()).then(|| sanitize_untrusted(&parts.join(" — ")))
}

/// The annotations of an alert kept for its incident: the runbook and dashboard URLs and the
/// rule's expression link (`generatorURL`), checked as data (a refused one is reported in
/// `warnings`, never kept), and the description, sanitised as telemetry.
fn kept_annotations(a: &WebhookAlert, at: &str, warnings: &mut Vec<String>) -> Vec<(String, String)> {
    let ann = |names: &[&str]| {
        names.iter().find_map(|n| {
            a.annotations
                .get(*n)
                .map(|v| (format!("{at}.annotations.{n}"), v.as_str()))
        })
    };
    let generator = Some((format!("{at}.generatorURL"), a.generator_url.as_str()));
    let urls = [
        (LinkKind::Runbook, ann(&["runbook_url", "runbook"])),
        (LinkKind::Dashboard, ann(&["dashboard", "dashboard_url"])),
        (LinkKind::Generator, generator),
    ];
    let mut out = Vec::new();
    for (kind, found) in urls {
        let Some((path, raw)) = found.filter(|(_, v)| !v.trim().is_empty()) else {
            continue;
        };
        match sanitize_url(raw) {
            Ok(url) => out.push((kind.as_str().to_owned(), url)),
            Err(why) => warn(warnings, format!("{path}: {why}; the link was not kept")),
        }
    }
    if let Some(d) = a.annotations.get("description").filter(|d| !d.trim().is_empty()) {
        out.push(("description".to_owned(), sanitize_untrusted(d)));
    }
    out
}

/// Maps a notification to what the store records (pure CPU work: sanitising, hashing).
fn prepare(
    cfg: &AlertsConfig,
    rules: &EntityRules<'_>,
    env: &Env,
    payload: &AlertmanagerPayload,
) -> (AlertIntake, Vec<String>) {
    let mut warnings = Vec::new();
    if payload.truncated_alerts > 0 {
        warn(
            &mut warnings,
            format!(
                "truncatedAlerts: Alertmanager left out {} alert(s) of this group (receiver max_alerts)",
                payload.truncated_alerts
            ),
        );
    }
    let mut incidents: Vec<AlertIncident> = Vec::new();
    let mut slots: HashMap<String, usize> = HashMap::new();
    let mut alerts: Vec<AlertRecord> = Vec::with_capacity(payload.alerts.len());
    let mut seen: HashMap<(String, i64), usize> = HashMap::new();
    for (i, a) in payload.alerts.iter().enumerate() {
        let at = format!("alerts[{i}]");
        let alertname = a.labels.get("alertname").cloned().unwrap_or_default();
        let fp = a.fingerprint.clone().unwrap_or_else(|| label_fingerprint(&a.labels));
        let firing = a.status == AlertStatus::Firing;
        let key = (fp.clone(), a.starts_at.timestamp_micros());
        if let Some(&j) = seen.get(&key) {
            // The same occurrence twice in one notification: resolved wins.
            let prev: &mut AlertRecord = &mut alerts[j];
            if !firing && prev.firing {
                prev.firing = false;
                prev.ends_at = a.ends_at;
            }
            continue;
        }
        let entity = alert_entity(&a.labels);
        let incident_fp = fingerprint(env, ALERT_SOURCE, &alertname, &entity);
        let slot = match slots.get(&incident_fp) {
            Some(&s) => s,
            None => {
                let severity = severity_of(cfg, &a.labels, &at, &mut warnings);
                let kind = type_of(cfg, &alertname, &a.labels, &at, &mut warnings);
                incidents.push(AlertIncident {
                    fingerprint: incident_fp.clone(),
                    title: format!("{alertname} on {entity}"),
                    kind,
                    severity,
                    entity,
                    labels: sanitize_labels(&a.labels),
                });
                slots.insert(incident_fp, incidents.len() - 1);
                incidents.len() - 1
            }
        };
        seen.insert(key, alerts.len());
        let labels = sanitize_labels(&a.labels);
        let message = alert_message(a);
        let entities = extract(rules, &incidents[slot].entity, message.as_deref(), &labels);
        alerts.push(AlertRecord {
            fingerprint: fp,
            starts_at: a.starts_at,
            ends_at: if firing { None } else { a.ends_at },
            firing,
            alertname,
            incident: slot,
            labels,
            message,
            entities,
            annotations: kept_annotations(a, &at, &mut warnings),
        });
    }
    let intake = AlertIntake {
        env: env.to_string(),
        actor: ALERT_ACTOR.into(),
        source: ALERT_SOURCE.into(),
        incidents,
        alerts,
        hooks: Default::default(),
    };
    (intake, warnings)
}

impl IncidentService {
    /// Records an Alertmanager notification for `env`, all of it or (on error) nothing.
    pub async fn ingest_alerts(
        &self,
        env: &Env,
        payload: AlertmanagerPayload,
    ) -> Result<AlertIntakeReport, ServiceError> {
        if self.config.env(env).is_none() {
            return Err(ServiceError::UnknownEnv {
                env: env.to_string(),
                known: self.config.env_names().join(", "),
            });
        }
        let received = payload.alerts.len();
        // Off the async workers: a large notification takes milliseconds of CPU, and the
        // notification holding the database must not wait behind it.
        let (config, env_owned) = (self.config.clone(), env.clone());
        let (mut intake, warnings) = tokio::task::spawn_blocking(move || {
            let patterns = config.analysis.compiled();
            prepare(&config.alerts, &config.analysis.rules(&patterns), &env_owned, &payload)
        })
        .await
        .map_err(|e| ServiceError::Store(format!("alert intake task failed: {e}")))?;
        intake.hooks = self.detect_hooks().await?;
        let result = if intake.alerts.is_empty() {
            crate::store::AlertIntakeResult {
                alerts: Vec::new(),
                incidents: Vec::new(),
            }
        } else {
            self.store.record_alerts(&intake).await?
        };

        let count = |o: AlertOutcome| result.alerts.iter().filter(|x| **x == o).count();
        let (new_alerts, newly_resolved) = (count(AlertOutcome::New), count(AlertOutcome::Resolved));
        let mut tally = (0, 0);
        let mut reports = Vec::with_capacity(result.incidents.len());
        for ch in &result.incidents {
            self.announce_change(ch.id, ch.change, &mut tally);
            let first = intake
                .alerts
                .iter()
                .filter(|a| a.incident == ch.slot)
                .map(|a| a.starts_at)
                .min();
            super::exposition::record_detection(ALERT_SOURCE, ch.change, first);
            let inc = &intake.incidents[ch.slot];
            reports.push(AlertIncidentReport {
                id: ch.id,
                change: ch.change.into(),
                title: inc.title.clone(),
                kind: inc.kind,
                severity: inc.severity,
                entity: inc.entity.clone(),
                status: ch.status,
                new_alerts: ch.new_alerts,
                resolved_alerts: ch.resolved_alerts,
                firing_alerts: ch.firing_alerts,
            });
        }
        let (created, updated) = tally;
        tracing::info!(env = %env, received, new_alerts, newly_resolved, created, updated, "alerts received");
        Ok(AlertIntakeReport {
            env: env.to_string(),
            received,
            new_alerts,
            newly_resolved,
            repeated: received - new_alerts - newly_resolved,
            created,
            updated,
            incidents: reports,
            warnings,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn entities_come_from_labels_in_a_safe_alphabet() {
        let l = labels(&[
            ("alertname", "A"),
            ("pod", "web-1"),
            ("namespace", "shop"),
            ("instance", "x:9"),
        ]);
        assert_eq!(alert_entity(&l), "pod/shop/web-1");
        assert_eq!(
            alert_entity(&labels(&[("alertname", "A"), ("instance", "10.0.0.1:9100")])),
            "instance/10.0.0.1:9100"
        );
        assert_eq!(
            alert_entity(&labels(&[("alertname", "A"), ("service", "../../etc passwd")])),
            "service/.._.._etc_passwd"
        );
        assert_eq!(alert_entity(&labels(&[("alertname", "Disk")])), "alert/Disk");
    }

    #[test]
    fn label_values_are_redacted() {
        let l = sanitize_labels(&labels(&[
            ("api_key", "abc123"),
            ("note", "password=hunter2 ok"),
            ("pod", "web"),
        ]));
        assert_eq!(l["api_key"], "[REDACTED]");
        assert_eq!(l["note"], "password=[REDACTED] ok");
        assert_eq!(l["pod"], "web");
    }

    #[test]
    fn example_config_documents_the_defaults() {
        let (shipped, d) = (crate::config::Config::builtin().alerts, AlertsConfig::default());
        assert_eq!(
            (
                &shipped.type_label,
                &shipped.severity_label,
                &shipped.severities,
                &shipped.types
            ),
            (&d.type_label, &d.severity_label, &d.severities, &d.types)
        );
        assert_eq!(
            (shipped.default_type, shipped.default_severity),
            (d.default_type, d.default_severity)
        );
    }

    #[test]
    fn severities_and_types_map_with_warnings() {
        let cfg = AlertsConfig::default();
        let mut w = Vec::new();
        assert_eq!(
            severity_of(&cfg, &labels(&[("severity", "Warning")]), "a", &mut w),
            Severity::Medium
        );
        assert_eq!(
            severity_of(&cfg, &labels(&[("severity", "critical")]), "a", &mut w),
            Severity::Critical
        );
        assert!(w.is_empty());
        assert_eq!(
            severity_of(&cfg, &labels(&[("severity", "bad")]), "alerts[2]", &mut w),
            Severity::Medium
        );
        assert_eq!(
            type_of(&cfg, "X", &labels(&[("incident_type", "auth")]), "a", &mut w),
            IncidentType::Auth
        );
        assert_eq!(
            type_of(&cfg, "X", &labels(&[("incident_type", "netwrk")]), "a", &mut w),
            IncidentType::Other
        );
        assert_eq!(w.len(), 2);
        assert!(w[0].starts_with("alerts[2].labels.severity"), "{w:?}");
    }
}
