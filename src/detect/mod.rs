//! Detection: read telemetry from sources, evaluate rules, produce findings.
//! `event` parses telemetry, `rules` scores it (pure), `source` does the reading.

mod event;
pub mod hst;
pub mod minmax;
mod rules;
mod source;

pub use event::{Event, EventBody, ParseStats, parse_jsonl};
pub use rules::{Finding, RuleSet, evaluate};
pub use source::{SourceError, SourceRef, read_source};
