//! The default detector's event layer: report an anomaly's onset, hold off while it lasts,
//! re-arm after it.
//!
//! Works on surprises (`s = -log10 p`, see [`super::tail`]) and is threshold-free: a point at
//! `s >= FLOOR` becomes the *peak* of an event; the peak then decays linearly to 0 over `holdoff`
//! seconds, and each later point is reported as `s - decayed peak` (at least 0). So whatever
//! threshold an operator (or a benchmark) picks, an anomaly alarms once at its onset; the points
//! after it alarm again only if they are far rarer than the onset (escalation), and a new
//! anomaly alarms normally once the hold-off has passed (re-arm). A point that rises above the
//! decayed peak renews it, so an anomaly that persists keeps itself held off.

use serde::{Deserialize, Serialize};

use super::ensemble::bits;

/// Surprises below this never start an event (p > 1%).
pub const FLOOR: f64 = 2.0;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Onset {
    /// Surprise of the current event's peak (0: none).
    #[serde(with = "bits")]
    peak: f64,
    /// Time of the peak (seconds).
    #[serde(with = "bits")]
    at: f64,
}

impl Onset {
    fn held(&self, t: f64, holdoff: f64) -> f64 {
        if self.peak <= 0.0 || holdoff <= 0.0 {
            return 0.0;
        }
        let left = 1.0 - (t - self.at).max(0.0) / holdoff;
        (self.peak * left).max(0.0)
    }

    /// What the point's surprise `s` at time `t` reports as an event, before learning it.
    pub fn report(&self, t: f64, s: f64, holdoff: f64) -> f64 {
        (s - self.held(t, holdoff)).max(0.0)
    }

    /// Records the point.
    pub fn learn(&mut self, t: f64, s: f64, holdoff: f64) {
        if s >= FLOOR && s > self.held(t, holdoff) {
            self.peak = s;
            self.at = t;
        } else if self.held(t, holdoff) <= 0.0 {
            self.peak = 0.0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_onset_holds_off_and_re_arms() {
        let (mut o, h) = (Onset::default(), 100.0);
        let mut run = |t: f64, s: f64| {
            let r = o.report(t, s, h);
            o.learn(t, s, h);
            r
        };
        assert_eq!(run(0.0, 1.0), 1.0, "quiet points report themselves");
        assert_eq!(run(1.0, 8.0), 8.0, "the onset reports in full");
        // The anomaly persists: held off, whatever the threshold.
        for t in 2..60 {
            assert!(run(f64::from(t), 8.0) < 1.0, "{t}");
        }
        // Escalation: far rarer than the held peak.
        assert!(run(60.0, 30.0) > 20.0);
        for t in 61..200 {
            run(f64::from(t), 0.5);
        }
        // Hold-off over: a new anomaly alarms in full (re-armed).
        assert_eq!(run(200.0, 6.0), 6.0);
        assert!(run(201.0, 6.0) < 0.1);
    }
}
