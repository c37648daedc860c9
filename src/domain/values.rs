//! Validated scalar arguments, parsed once at the boundary.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{DomainError, clip};

/// Environment name: lowercase letters, digits, `-` or `_`, 1-63 characters, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Env(String);

impl Env {
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::invalid(
                "env",
                format!(
                    "`{}` is not a valid environment name (lowercase letters, digits, - and _, at most 63)",
                    clip(s, 40)
                ),
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Env {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Env {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Env::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Env {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Env".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[a-z0-9][a-z0-9_-]{0,62}$",
            "description": "Environment name as configured, e.g. dev, staging, prod."
        })
    }
}

/// Anomaly score cut-off in [0, 1]: a point whose score is at or above it is anomalous.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize)]
pub struct Threshold(f64);

impl Threshold {
    /// The manifest default.
    pub const DEFAULT: Threshold = Threshold(0.8);

    pub fn new(v: f64) -> Result<Self, DomainError> {
        if v.is_finite() && (0.0..=1.0).contains(&v) {
            Ok(Self(v))
        } else {
            Err(DomainError::invalid(
                "threshold",
                format!("{v} is outside 0..1; pass a number between 0 and 1, e.g. 0.7"),
            ))
        }
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

impl Default for Threshold {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Threshold::new(f64::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Threshold {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Threshold".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "number",
            "minimum": 0.0,
            "maximum": 1.0,
            "description": "Score cut-off in 0..1 (default 0.8): a point whose anomaly score is at or above it counts as anomalous. Lower finds more."
        })
    }
}

/// How much detail an analysis returns, 0 (summary) to 3 (raw signals and related incidents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Depth(u8);

impl Depth {
    pub const MAX: u8 = 3;
    pub fn new(v: i64) -> Result<Self, DomainError> {
        if (0..=i64::from(Self::MAX)).contains(&v) {
            Ok(Self(v as u8))
        } else {
            Err(DomainError::invalid("depth", format!("{v} is outside 0..3")))
        }
    }
    pub fn get(self) -> u8 {
        self.0
    }
}

impl Default for Depth {
    fn default() -> Self {
        Self(1)
    }
}

impl<'de> Deserialize<'de> for Depth {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // JSON Schema counts 2.0 as an integer: so does this. Query strings give text.
        struct Whole;
        impl serde::de::Visitor<'_> for Whole {
            type Value = i64;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number 0-3")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| E::custom(format!("{v} is outside 0..3")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<i64, E> {
                match v.fract() == 0.0 && v.abs() < 1e9 {
                    true => Ok(v as i64),
                    false => Err(E::custom(format!("{v} is not a whole number"))),
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<i64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::custom(format!("`{}` is not a whole number", super::clip(v, 20))))
            }
        }
        let v = d.deserialize_any(Whole)?;
        Depth::new(v).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Depth {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Depth".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "integer",
            "minimum": 0,
            "maximum": 3,
            "description": "Detail level 0-3 (default 1): 0 summary and affected resources; 1 adds signals grouped by rule and series; 2 adds the timeline; 3 adds raw signal samples and related incidents."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names() {
        assert!(Env::parse("dev").is_ok());
        assert!(Env::parse("prod-eu_1").is_ok());
        for bad in ["", "Dev", "-x", "a b", "../etc", &"x".repeat(64)] {
            assert!(Env::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn thresholds_and_depths() {
        assert!(Threshold::new(0.0).is_ok() && Threshold::new(1.0).is_ok());
        assert!(Threshold::new(1.01).is_err() && Threshold::new(-0.1).is_err() && Threshold::new(f64::NAN).is_err());
        assert!(serde_json::from_str::<Threshold>("2").is_err());
        assert!(Depth::new(3).is_ok() && Depth::new(4).is_err() && Depth::new(-1).is_err());
    }
}
