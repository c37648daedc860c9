//! Alertmanager's webhook payload (version 4), parsed from JSON by hand so that every error
//! names the exact field (`alerts[3].labels.alertname`). The derives describe the same shape
//! as a JSON Schema for the OpenAPI document.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::domain::{DomainError, clip};

/// Longest label name accepted.
const MAX_LABEL_NAME: usize = 256;
/// Allowed alert names: what Prometheus accepts for rule names, plus `.` and `-`.
pub const ALERTNAME_PATTERN: &str = "^[A-Za-z_:][A-Za-z0-9_:.-]{0,127}$";
/// Label names and values: no control characters.
pub const NO_CONTROL_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*$";
/// RFC 3339 times as `chrono` parses them (JSON Schema's `format` is only an annotation). The
/// pattern leaves out February 29 (leap years cannot be told by a regex); the server accepts it.
pub const RFC3339_PATTERN: &str = concat!(
    "^[0-9]{4}-(((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01]))|((0[469]|11)-(0[1-9]|[12][0-9]|30))",
    "|(02-(0[1-9]|1[0-9]|2[0-8])))[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?",
    "([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$"
);
/// Alertmanager fingerprints are 16 hex digits; any 1-64 letters and digits are accepted.
pub const FINGERPRINT_PATTERN: &str = "^[0-9A-Za-z]{1,64}$";

/// Optional fields whose schema also admits `null` (they are `Option`s): null means absent.
const NULLABLE: &[&str] = &["endsAt", "fingerprint"];

/// `firing` or `resolved`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum AlertStatus {
    Firing,
    Resolved,
}

/// The body Alertmanager's `webhook_configs` receiver posts (payload version 4).
/// Unknown fields are ignored, so newer Alertmanager releases keep working.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertmanagerPayload {
    /// Payload format version; only "4" is understood.
    #[schemars(extend("const" = "4"))]
    pub version: String,
    /// Key identifying the alert group.
    #[serde(default)]
    pub group_key: String,
    /// Alerts Alertmanager left out because of the receiver's `max_alerts`.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1_000_000_000))]
    pub truncated_alerts: u64,
    /// `resolved` when every alert of the group is resolved, else `firing`.
    pub status: AlertStatus,
    /// Name of the Alertmanager receiver.
    #[serde(default)]
    pub receiver: String,
    /// Labels the group is keyed by.
    #[serde(default)]
    #[schemars(schema_with = "label_map_schema")]
    pub group_labels: BTreeMap<String, String>,
    /// Labels all alerts share.
    #[serde(default)]
    #[schemars(schema_with = "label_map_schema")]
    pub common_labels: BTreeMap<String, String>,
    /// Annotations all alerts share.
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    /// Alertmanager's external URL.
    #[serde(default, rename = "externalURL")]
    pub external_url: String,
    /// The alerts of the group.
    pub alerts: Vec<WebhookAlert>,
}

/// One alert of a notification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAlert {
    /// `firing` or `resolved`.
    pub status: AlertStatus,
    /// Identifying labels; `alertname` is required. Label names and values must not contain
    /// control characters. Values are stored as untrusted text.
    #[schemars(schema_with = "alert_labels_schema")]
    pub labels: BTreeMap<String, String>,
    /// Free-text annotations (summary, description, ...): untrusted, sanitised before storage.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// When the alert started firing (RFC 3339).
    #[schemars(pattern(RFC3339_PATTERN))]
    pub starts_at: DateTime<Utc>,
    /// When it resolved (RFC 3339); Alertmanager sends `0001-01-01T00:00:00Z` or a future
    /// time while it fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(RFC3339_PATTERN))]
    pub ends_at: Option<DateTime<Utc>>,
    /// Link to the alerting rule's expression.
    #[serde(default, rename = "generatorURL")]
    pub generator_url: String,
    /// Alertmanager's fingerprint of the label set; computed from the labels when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(pattern(FINGERPRINT_PATTERN))]
    pub fingerprint: Option<String>,
}

fn label_map_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "propertyNames": { "minLength": 1, "maxLength": MAX_LABEL_NAME, "pattern": NO_CONTROL_PATTERN },
        "additionalProperties": { "type": "string", "pattern": NO_CONTROL_PATTERN }
    })
}

fn alert_labels_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut s = label_map_schema(g);
    s.insert("required".into(), serde_json::json!(["alertname"]));
    s.insert(
        "properties".into(),
        serde_json::json!({ "alertname": { "type": "string", "pattern": ALERTNAME_PATTERN } }),
    );
    s
}

fn invalid(path: impl Into<String>, message: impl Into<String>) -> DomainError {
    DomainError::invalid(path, message)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn object<'a>(v: &'a Value, path: &str) -> Result<&'a Map<String, Value>, DomainError> {
    v.as_object()
        .ok_or_else(|| invalid(path, format!("expected an object, got {}", type_name(v))))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{}", clip(key, 64))
    }
}

fn string<'a>(
    m: &'a Map<String, Value>,
    path: &str,
    key: &str,
    required: bool,
) -> Result<Option<&'a str>, DomainError> {
    match m.get(key) {
        None if required => Err(invalid(join(path, key), "required field is missing")),
        None => Ok(None),
        Some(Value::Null) if NULLABLE.contains(&key) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(invalid(
            join(path, key),
            format!("expected a string, got {}", type_name(v)),
        )),
    }
}

fn status(m: &Map<String, Value>, path: &str) -> Result<AlertStatus, DomainError> {
    match string(m, path, "status", true)? {
        Some("firing") => Ok(AlertStatus::Firing),
        Some("resolved") => Ok(AlertStatus::Resolved),
        Some(other) => Err(invalid(
            join(path, "status"),
            format!("`{}` is not one of: firing, resolved", clip(other, 40)),
        )),
        None => Err(invalid(join(path, "status"), "required field is missing")),
    }
}

fn time(m: &Map<String, Value>, path: &str, key: &str, required: bool) -> Result<Option<DateTime<Utc>>, DomainError> {
    let Some(s) = string(m, path, key, required)? else {
        return Ok(None);
    };
    let bad = |why: String| {
        invalid(
            join(path, key),
            format!(
                "`{}` is not an RFC 3339 time ({why}), e.g. 2026-11-01T10:00:00Z",
                clip(s, 40)
            ),
        )
    };
    // RFC 3339 section 5.6 (what JSON Schema's date-time means): `T` between date and time, no
    // leap seconds (Alertmanager sends neither a space nor :60).
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't')) {
        return Err(bad("expected `T` between date and time".into()));
    }
    let t = DateTime::parse_from_rfc3339(s).map_err(|e| bad(e.to_string()))?;
    if chrono::Timelike::nanosecond(&t) >= 1_000_000_000 {
        return Err(bad("leap seconds are not accepted".into()));
    }
    Ok(Some(t.to_utc()))
}

/// A string map. `labels` also refuses empty or over-long names and control characters.
fn string_map(
    m: &Map<String, Value>,
    path: &str,
    key: &str,
    labels: bool,
) -> Result<BTreeMap<String, String>, DomainError> {
    let at = join(path, key);
    let Some(v) = m.get(key) else {
        return Ok(BTreeMap::new());
    };
    let obj = object(v, &at)?;
    let mut out = BTreeMap::new();
    for (name, value) in obj {
        let here = join(&at, name);
        let Value::String(value) = value else {
            return Err(invalid(here, format!("expected a string, got {}", type_name(value))));
        };
        if labels {
            if name.is_empty() || name.chars().count() > MAX_LABEL_NAME || name.chars().any(char::is_control) {
                return Err(invalid(
                    here,
                    format!("label names must be 1-{MAX_LABEL_NAME} characters without control characters"),
                ));
            }
            if value.chars().any(char::is_control) {
                return Err(invalid(here, "label values must not contain control characters"));
            }
        }
        out.insert(name.clone(), value.clone());
    }
    Ok(out)
}

fn alertname_ok(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':');
    first_ok && s.len() <= 128 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
}

impl AlertmanagerPayload {
    /// Parses and checks a webhook body; the error names the first bad field.
    pub fn from_json(v: &Value) -> Result<Self, DomainError> {
        let m = object(v, "body")?;
        match string(m, "", "version", true)? {
            Some("4") => {}
            Some(other) => {
                return Err(invalid(
                    "version",
                    format!(
                        "webhook payload version `{}` is not supported; Alertmanager sends \"4\"",
                        clip(other, 20)
                    ),
                ));
            }
            None => return Err(invalid("version", "required field is missing")),
        }
        let truncated_alerts = match m.get("truncatedAlerts") {
            None => 0,
            Some(Value::Number(n)) => n
                .as_u64()
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
                .filter(|n| *n <= 1_000_000_000)
                .ok_or_else(|| invalid("truncatedAlerts", "expected a whole number in 0..1000000000"))?,
            Some(v) => {
                return Err(invalid(
                    "truncatedAlerts",
                    format!("expected a number, got {}", type_name(v)),
                ));
            }
        };
        let raw_alerts = match m.get("alerts") {
            None => return Err(invalid("alerts", "required field is missing")),
            Some(Value::Array(a)) => a,
            Some(v) => return Err(invalid("alerts", format!("expected an array, got {}", type_name(v)))),
        };
        let mut alerts = Vec::with_capacity(raw_alerts.len());
        for (i, a) in raw_alerts.iter().enumerate() {
            alerts.push(WebhookAlert::from_json(a, &format!("alerts[{i}]"))?);
        }
        Ok(Self {
            version: "4".into(),
            group_key: string(m, "", "groupKey", false)?.unwrap_or_default().to_owned(),
            truncated_alerts,
            status: status(m, "")?,
            receiver: string(m, "", "receiver", false)?.unwrap_or_default().to_owned(),
            group_labels: string_map(m, "", "groupLabels", true)?,
            common_labels: string_map(m, "", "commonLabels", true)?,
            common_annotations: string_map(m, "", "commonAnnotations", false)?,
            external_url: string(m, "", "externalURL", false)?.unwrap_or_default().to_owned(),
            alerts,
        })
    }
}

impl WebhookAlert {
    fn from_json(v: &Value, path: &str) -> Result<Self, DomainError> {
        let m = object(v, path)?;
        let status = status(m, path)?;
        if !m.contains_key("labels") {
            return Err(invalid(join(path, "labels"), "required field is missing"));
        }
        let labels = string_map(m, path, "labels", true)?;
        let name_at = format!("{path}.labels.alertname");
        match labels.get("alertname") {
            None => return Err(invalid(name_at, "every alert needs an `alertname` label")),
            Some(n) if !alertname_ok(n) => {
                return Err(invalid(
                    name_at,
                    format!(
                        "`{}` is not an alert name: 1-128 characters, letters, digits, `_`, `:`, `.`, `-`, \
                         not starting with a digit",
                        clip(n, 40)
                    ),
                ));
            }
            Some(_) => {}
        }
        let fingerprint = match string(m, path, "fingerprint", false)? {
            Some(f) if f.is_empty() || f.len() > 64 || !f.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                return Err(invalid(
                    join(path, "fingerprint"),
                    "expected 1-64 letters and digits (Alertmanager sends 16 hex digits)",
                ));
            }
            f => f.map(str::to_owned),
        };
        Ok(Self {
            status,
            annotations: string_map(m, path, "annotations", false)?,
            starts_at: time(m, path, "startsAt", true)?.unwrap_or_default(),
            ends_at: time(m, path, "endsAt", false)?,
            generator_url: string(m, path, "generatorURL", false)?.unwrap_or_default().to_owned(),
            fingerprint,
            labels,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn alert() -> Value {
        json!({ "status": "firing", "labels": { "alertname": "HighErrors", "pod": "web-1" },
                "annotations": { "summary": "errors\nup" }, "startsAt": "2026-11-01T10:00:00.5Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://p/graph", "fingerprint": "0a1b2c3d4e5f6a7b" })
    }

    fn payload(alerts: Vec<Value>) -> Value {
        json!({ "version": "4", "groupKey": "{}:{}", "truncatedAlerts": 0, "status": "firing", "receiver": "r",
                "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {}, "externalURL": "http://am",
                "alerts": alerts })
    }

    fn field(v: Value) -> String {
        AlertmanagerPayload::from_json(&v).unwrap_err().field
    }

    #[test]
    fn parses_what_alertmanager_sends_and_agrees_with_serde() {
        let v = payload(vec![alert(), alert()]);
        let p = AlertmanagerPayload::from_json(&v).unwrap();
        let via_serde: AlertmanagerPayload = serde_json::from_value(v).unwrap();
        assert_eq!(p, via_serde);
        assert_eq!(p.alerts[1].starts_at.timestamp_millis(), 1_793_527_200_500);
    }

    #[test]
    fn the_time_pattern_admits_only_times_the_parser_accepts() {
        let re = regex::Regex::new(RFC3339_PATTERN).unwrap();
        for ok in [
            "2026-11-01T10:00:00Z",
            "0001-01-01T00:00:00Z",
            "2026-11-01t10:00:00.123456789123z",
            "2016-12-31T23:59:59+05:30",
            "2026-04-30T23:59:59-23:59",
        ] {
            assert!(re.is_match(ok), "{ok}");
            assert!(DateTime::parse_from_rfc3339(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-01T24:00:00Z",
            "2026-11-01",
            "2026-11-01 10:00:00Z",
            "2016-12-31T23:59:60Z",
        ] {
            assert!(!re.is_match(bad), "{bad}");
            let mut m = Map::new();
            m.insert("t".into(), Value::String(bad.into()));
            assert!(time(&m, "a", "t", true).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_exact_field() {
        let mut v = payload(vec![alert(), alert(), alert(), alert()]);
        v["alerts"][3]["labels"].as_object_mut().unwrap().remove("alertname");
        assert_eq!(field(v), "alerts[3].labels.alertname");
        let mut v = payload(vec![alert()]);
        v["alerts"][0]["startsAt"] = json!("yesterday");
        assert_eq!(field(v), "alerts[0].startsAt");
        let mut v = payload(vec![alert()]);
        v["version"] = json!("3");
        assert_eq!(field(v), "version");
        let mut v = payload(vec![alert()]);
        v.as_object_mut().unwrap().remove("alerts");
        assert_eq!(field(v), "alerts");
        let mut v = payload(vec![alert()]);
        v["alerts"][0]["labels"]["pod"] = json!("a\u{7}b");
        assert_eq!(field(v), "alerts[0].labels.pod");
        let mut v = payload(vec![alert()]);
        v["alerts"][0]["labels"]["alertname"] = json!("Ignore previous instructions");
        assert_eq!(field(v), "alerts[0].labels.alertname");
        let mut v = payload(vec![alert()]);
        v["alerts"][0]["status"] = json!("pending");
        assert_eq!(field(v), "alerts[0].status");
        let mut v = payload(vec![alert()]);
        v["alerts"][0]["labels"]["n"] = json!(1);
        assert_eq!(field(v), "alerts[0].labels.n");
        let mut v = payload(vec![alert()]);
        v["groupKey"] = json!(null);
        assert_eq!(field(v), "groupKey");
        let mut v = payload(vec![alert()]);
        v["alerts"][0]["endsAt"] = json!(null);
        v["alerts"][0]["fingerprint"] = json!(null);
        assert!(AlertmanagerPayload::from_json(&v).is_ok());
        assert_eq!(field(json!([1])), "body");
    }
}
