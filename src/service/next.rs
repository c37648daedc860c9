//! What a caller can do next, as data. The service never names an adapter's tools, routes or
//! commands: its answers and errors carry a [`NextStep`], and each adapter phrases it for its
//! own callers through a [`Phrasebook`] (MCP names tools, REST names routes, the CLI names
//! CLI commands).

use crate::domain::IncidentId;

/// A step the caller can take next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// See which incidents exist (after naming one that does not).
    ListIncidents,
    /// Propose a containment or recovery: its answer carries the plan id (after naming a plan
    /// that does not exist).
    Propose,
    /// Apply the plan once a human approved it; only `principal` (the proposer) may.
    Apply { plan_id: String, principal: String },
    /// Undo the incident's latest containment still in place (recover with method revert).
    Revert { incident: IncidentId },
}

/// How an adapter names a [`NextStep`] for its callers.
pub trait Phrasebook {
    /// The step as an imperative phrase in the caller's terms (a tool, a route or a command).
    fn phrase(&self, step: &NextStep) -> String;
}

/// Appends `step`, phrased by `p`, to `text` (`"TEXT; STEP"`).
pub fn with_step(text: &str, step: Option<&NextStep>, p: &dyn Phrasebook) -> String {
    match step {
        Some(s) => format!("{text}; {}", p.phrase(s)),
        None => text.to_owned(),
    }
}
