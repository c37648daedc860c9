//! Incidents: identity, classification and the status state machine.

use std::{collections::BTreeMap, fmt, str::FromStr};

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::DomainError;

/// Incident identifier, rendered `INC-000123`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentId(i64);

impl IncidentId {
    /// Wraps a store row id (always positive).
    pub fn from_row(n: i64) -> Self {
        Self(n)
    }
    /// The store row id.
    pub fn row(self) -> i64 {
        self.0
    }
}

impl fmt::Display for IncidentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "INC-{:06}", self.0)
    }
}

impl FromStr for IncidentId {
    type Err = DomainError;
    /// `INC-000123`, `INC-123` or the number alone, `123`: all name incident 123.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            DomainError::invalid(
                "id",
                format!(
                    "`{}` is not an incident id; expected INC- followed by digits, e.g. INC-000001, or the number alone, e.g. 1",
                    super::clip(s, 40)
                ),
            )
        };
        let t = s.trim();
        let digits = t.strip_prefix("INC-").unwrap_or(t);
        // Leading zeros are padding; at most 12 significant digits (the schema says the same).
        let significant = digits.trim_start_matches('0');
        if t.len() > ID_MAX_LEN
            || digits.is_empty()
            || significant.len() > 12
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        let n: i64 = digits.parse().map_err(|_| bad())?;
        if n <= 0 {
            return Err(bad());
        }
        Ok(Self(n))
    }
}

impl Serialize for IncidentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A string (`INC-000123`, `123`) or a whole number (`123`).
impl<'de> Deserialize<'de> for IncidentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct IdVisitor;
        impl serde::de::Visitor<'_> for IdVisitor {
            type Value = IncidentId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an incident id such as INC-000123, or its number 123")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<IncidentId, E> {
                v.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<IncidentId, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<IncidentId, E> {
                self.visit_str(&v.to_string())
            }
        }
        d.deserialize_any(IdVisitor)
    }
}

/// What an incident id may look like: `INC-` optional, zero padding, 1-12 significant digits.
pub const ID_PATTERN: &str = "^(INC-)?0*[1-9][0-9]{0,11}$";
/// Longest incident id text accepted (`INC-` and padding included).
pub const ID_MAX_LEN: usize = 24;

impl JsonSchema for IncidentId {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "IncidentId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        // The number alone is accepted as a JSON number too (MCP clients send bare ids): the
        // schema says so, since tool arguments are validated against it.
        schemars::json_schema!({
            "anyOf": [
                { "type": "string", "pattern": ID_PATTERN, "maxLength": ID_MAX_LEN },
                { "type": "integer", "minimum": 1, "maximum": 999_999_999_999_i64 }
            ],
            "description": "Incident id as detection or the incident list returned it, e.g. INC-000123; the number alone (123) names the same incident."
        })
    }
}

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $var),+ }
        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];
            /// The wire name.
            pub fn as_str(self) -> &'static str { match self { $($name::$var => $s),+ } }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(self.as_str()) }
        }
        impl std::str::FromStr for $name {
            type Err = $crate::domain::DomainError;
            fn from_str(s: &str) -> Result<Self, $crate::domain::DomainError> {
                match s { $($s => Ok($name::$var),)+ _ => Err($crate::domain::DomainError::invalid(
                    stringify!($name),
                    format!("`{}` is not one of: {}", $crate::domain::clip(s, 40), [$($s),+].join(", ")),
                )) }
            }
        }
    };
}
pub(crate) use string_enum;

string_enum! {
    /// What kind of problem an incident is.
    IncidentType {
        /// Traffic anomalies, denied connections, egress spikes.
        Network = "network",
        /// Application vulnerabilities or exploitation attempts.
        AppVuln = "app-vuln",
        /// Authentication abuse: brute force, credential stuffing.
        Auth = "auth",
        /// Resource exhaustion: CPU, memory, disk, saturation.
        Resource = "resource",
        /// Availability: error bursts, failing health checks, latency.
        Availability = "availability",
        /// Model explainability drift (OpenClaw explainability metrics).
        Explainability = "explainability",
        /// Anything else.
        Other = "other",
    }
}

string_enum! {
    /// How bad an incident is, lowest first.
    Severity {
        Info = "info",
        Low = "low",
        Medium = "medium",
        High = "high",
        Critical = "critical",
    }
}

string_enum! {
    /// Lifecycle status. Legal moves: open → acknowledged|contained|resolved;
    /// acknowledged → contained|resolved; contained → recovered|resolved;
    /// recovered → contained|resolved; resolved → open (re-fired).
    Status {
        Open = "open",
        Acknowledged = "acknowledged",
        Contained = "contained",
        Recovered = "recovered",
        Resolved = "resolved",
    }
}

impl Status {
    /// Whether `self → to` is a legal lifecycle move.
    pub fn can_move_to(self, to: Status) -> bool {
        use Status::*;
        matches!(
            (self, to),
            (Open, Acknowledged | Contained | Resolved)
                | (Acknowledged, Contained | Resolved)
                | (Contained, Recovered | Resolved)
                | (Recovered, Contained | Resolved)
                | (Resolved, Open)
        )
    }

    /// Statuses from which `to` can be reached in one move.
    pub fn sources_of(to: Status) -> Vec<Status> {
        Status::ALL.iter().copied().filter(|s| s.can_move_to(to)).collect()
    }

    /// Whether the incident still needs attention.
    pub fn is_active(self) -> bool {
        self != Status::Resolved
    }
}

/// An incident as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Incident {
    /// Incident id, e.g. INC-000001.
    pub id: IncidentId,
    /// One-line summary generated from the rule that fired.
    pub title: String,
    /// Incident type.
    #[serde(rename = "type")]
    pub kind: IncidentType,
    /// Environment the incident was detected in.
    pub env: String,
    /// Severity.
    pub severity: Severity,
    /// Lifecycle status.
    pub status: Status,
    /// Dedup key: same source, rule and entity map to one active incident.
    pub fingerprint: String,
    /// Time of the first signal.
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub first_seen: DateTime<Utc>,
    /// Time of the latest signal.
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub last_seen: DateTime<Utc>,
    /// Number of signals attached.
    pub signal_count: i64,
    /// Labels copied from telemetry (untrusted data).
    pub labels: BTreeMap<String, String>,
    /// When the record was created.
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the record last changed.
    #[serde(serialize_with = "super::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
    /// The earlier incident with the same fingerprint that this one follows: its rule fired
    /// again after that one was resolved and the grouping window had passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_id: Option<IncidentId>,
    /// Who owns the incident (assigned by a person); absent until assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// The incident commander (assigned by a person); absent until assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commander: Option<String>,
    /// When it was first acknowledged; absent until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// Who first acknowledged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
}

impl Incident {
    /// Whether the incident may have alert annotations to read: only alerts carry them, and
    /// every alert has an `alertname` label, copied to its incident (other incidents skip the
    /// read on `incident_get`'s hot path).
    pub fn from_alerts(&self) -> bool {
        self.labels.contains_key("alertname")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_garbage() {
        let id: IncidentId = "INC-000123".parse().unwrap();
        assert_eq!(id.row(), 123);
        assert_eq!(id.to_string(), "INC-000123");
        assert_eq!("INC-7".parse::<IncidentId>().unwrap().to_string(), "INC-000007");
        // The number alone names the same incident, as the OpenClaw manifest writes ids.
        assert_eq!("456".parse::<IncidentId>().unwrap().to_string(), "INC-000456");
        assert_eq!(serde_json::from_str::<IncidentId>("456").unwrap().row(), 456);
        assert_eq!(serde_json::from_str::<IncidentId>("\"0456\"").unwrap().row(), 456);
        for bad in [
            "",
            "INC-",
            "INC-0",
            "0",
            "inc-1",
            "INC--1",
            "-1",
            "INC-1x",
            "1.5",
            "INC-9999999999999",
            "9999999999999",
        ] {
            assert!(bad.parse::<IncidentId>().is_err(), "{bad}");
        }
        for bad in ["-1", "0", "1.5", "null", "true"] {
            assert!(serde_json::from_str::<IncidentId>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transitions_follow_the_lifecycle() {
        use Status::*;
        assert!(Open.can_move_to(Acknowledged));
        assert!(Acknowledged.can_move_to(Resolved));
        assert!(Resolved.can_move_to(Open));
        assert!(!Resolved.can_move_to(Acknowledged));
        assert!(!Open.can_move_to(Recovered));
        assert!(!Open.can_move_to(Open));
        assert_eq!(Status::sources_of(Acknowledged), vec![Open]);
    }
}
