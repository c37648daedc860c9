//! What a log rule matches: a regex on the message (compiled once, when the config is loaded)
//! and conditions on fields (JSON fields of the line, or labels). Counting per group in a sliding
//! window happens in `rules::evaluate`; the group is the rendered `entity`. For incremental
//! sources (each scan reads only new lines) a group's window is persisted as a `LogWindow`.

use std::collections::VecDeque;

use chrono::{DateTime, Duration, Utc};

use serde::{Deserialize, Serialize};

pub use crate::config::rules::{FieldCondition, LogPattern, MAX_PATTERN_CHARS, Scalar};

/// Line times kept per persisted window (the score saturates at `min_count` anyway).
pub const MAX_WINDOW_TIMES: usize = 10_000;

/// One group's sliding window of a log rule, persisted with a scan's findings so that the next
/// scan of an incremental source continues counting where this one stopped.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LogWindow {
    /// The rule's `window_secs` when counted; a changed window starts afresh.
    pub window_secs: i64,
    /// Times (µs) of the matching lines still inside the window, oldest first.
    pub times: VecDeque<i64>,
}

impl LogWindow {
    /// The window a scan continues from when its first line of the group is at `first`: the stored
    /// one, unless the rule changed or `first` is not newer than every stored line (then the scan
    /// re-reads counted lines and counts afresh).
    pub fn seed(stored: Option<&LogWindow>, window: Duration, first: DateTime<Utc>) -> VecDeque<DateTime<Utc>> {
        let Some(w) = stored.filter(|w| w.window_secs == window.num_seconds()) else {
            return VecDeque::new();
        };
        if w.times.back().is_some_and(|t| *t >= first.timestamp_micros()) {
            return VecDeque::new();
        }
        w.times
            .iter()
            .filter_map(|t| DateTime::from_timestamp_micros(*t))
            .collect()
    }

    /// The newest `MAX_WINDOW_TIMES` times of a window, to persist.
    pub fn keep(times: &VecDeque<DateTime<Utc>>, window: Duration) -> Self {
        let skip = times.len().saturating_sub(MAX_WINDOW_TIMES);
        Self {
            window_secs: window.num_seconds(),
            times: times.iter().skip(skip).map(|t| t.timestamp_micros()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_continues_only_with_newer_lines_and_the_same_width() {
        let t = |s: i64| DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap();
        let w = Duration::seconds(60);
        let kept = LogWindow::keep(&VecDeque::from([t(0), t(10)]), w);
        assert_eq!(LogWindow::seed(Some(&kept), w, t(11)), VecDeque::from([t(0), t(10)]));
        assert!(
            LogWindow::seed(Some(&kept), w, t(10)).is_empty(),
            "re-read lines count afresh"
        );
        assert!(LogWindow::seed(Some(&kept), Duration::seconds(30), t(11)).is_empty());
        assert!(LogWindow::seed(None, w, t(11)).is_empty());
    }
}
