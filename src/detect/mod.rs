//! Detection: read telemetry from sources, evaluate rules, produce findings.
//! `event` parses telemetry, `rules` scores it (pure), `source` does the reading.

mod baseline;
pub mod ensemble;
pub mod eval;
mod event;
pub mod hst;
pub mod k8s_logs;
pub mod log_rules;
mod logs;
pub mod minmax;
mod onset;
pub mod postgres;
pub mod prometheus;
mod rules;
mod season;
mod source;
mod tail;
pub mod zscore;

pub use event::{Event, EventBody, ParseStats, parse_jsonl};
pub use rules::{DetectorStates, Finding, RuleSet, StatSpec, evaluate};
pub use source::{Fetched, SourceError, SourceRef, fetch};
