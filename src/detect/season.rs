//! Time for the default detector: the sampling interval inferred from timestamps, and seasonal
//! profiles measured in time (a day, a week), not in rows.
//!
//! [`Clock`] takes the median of the first [`DELTAS`] positive gaps between timestamps as the
//! series' sampling interval (robust to a few duplicates, gaps and steps back, which real
//! exports contain); until then the gaps seen so far decide. [`Season`] keeps one value per bin
//! of its period (`period / interval` bins, at most [`MAX_BINS`]: memory is bounded whatever the
//! sampling), indexed by the time of period, and is usable once the series spans two periods.

use serde::{Deserialize, Serialize};

use super::{ensemble::bits, hst::f64_bits};

/// Gaps that decide the sampling interval.
pub const DELTAS: usize = 15;
/// Largest number of bins of one seasonal profile.
pub const MAX_BINS: usize = 2016;
/// A season needs at least this many samples per period to be modelled.
const MIN_BINS: f64 = 6.0;
pub const DAY: f64 = 86_400.0;
pub const WEEK: f64 = 7.0 * DAY;

/// The sampling interval of a series, from its first gaps.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Clock {
    #[serde(with = "f64_bits")]
    deltas: Vec<f64>,
    /// Last timestamp (seconds).
    #[serde(with = "bits")]
    last: f64,
    /// Timestamp of the first point.
    #[serde(with = "bits")]
    first: f64,
    seen: u64,
    /// The median of `deltas` (0: none yet).
    #[serde(with = "bits")]
    interval: f64,
}

impl Clock {
    /// Records a timestamp; returns the time to use for it (never before the previous one).
    pub fn tick(&mut self, t: f64) -> f64 {
        let t = if self.seen == 0 { t } else { t.max(self.last) };
        if self.seen == 0 {
            self.first = t;
        } else if t > self.last && self.deltas.len() < DELTAS {
            self.deltas.push(t - self.last);
            let mut d = self.deltas.clone();
            d.sort_by(f64::total_cmp);
            self.interval = d[d.len() / 2];
        }
        self.last = t;
        self.seen += 1;
        t
    }

    /// The inferred sampling interval in seconds (`None` until a positive gap was seen).
    pub fn interval(&self) -> Option<f64> {
        (self.interval > 0.0).then_some(self.interval)
    }

    /// The last timestamp recorded.
    pub fn last(&self) -> f64 {
        self.last
    }

    pub fn deltas_len(&self) -> usize {
        self.deltas.len()
    }

    pub fn settled(&self) -> bool {
        self.deltas.len() >= DELTAS
    }
}

/// A seasonal profile over `period` seconds (additive: value = level + profile[bin]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Season {
    #[serde(with = "bits")]
    pub period: f64,
    #[serde(with = "f64_bits")]
    profile: Vec<f64>,
    /// Visits per bin, capped (the first visit sets the bin, later ones smooth it).
    visits: Vec<u8>,
}

impl Season {
    /// A profile for `period` seconds at sampling `interval`, if that gives enough bins.
    pub fn new(period: f64, interval: f64) -> Option<Self> {
        let bins = period / interval;
        if !(bins.is_finite() && bins >= MIN_BINS) {
            return None;
        }
        let bins = (bins.round() as usize).clamp(1, MAX_BINS);
        Some(Self {
            period,
            profile: vec![0.0; bins],
            visits: vec![0; bins],
        })
    }

    #[cfg(test)]
    fn bins(&self) -> usize {
        self.profile.len()
    }

    pub fn bin(&self, t: f64) -> usize {
        let phase = t.rem_euclid(self.period) / self.period;
        ((phase * self.profile.len() as f64) as usize).min(self.profile.len() - 1)
    }

    /// The profile's value at `t`, if that bin was visited.
    pub fn at(&self, t: f64) -> Option<f64> {
        let b = self.bin(t);
        (self.visits[b] > 0).then(|| self.profile[b])
    }

    /// Learns `deviation` (value minus level) at `t`: averaged over the first visits, then smoothed.
    pub fn learn(&mut self, t: f64, deviation: f64, gamma: f64) {
        let b = self.bin(t);
        self.visits[b] = self.visits[b].saturating_add(1);
        // A running mean over the first visits, then an EWMA.
        let rate = gamma.max(1.0 / f64::from(self.visits[b]));
        self.profile[b] += rate * (deviation - self.profile[b]);
    }

    /// Whether a deserialized profile is consistent.
    pub fn check(&self) -> bool {
        !self.profile.is_empty() && self.profile.len() == self.visits.len() && self.profile.len() <= MAX_BINS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_clock_infers_the_interval_despite_duplicates_and_steps_back() {
        let mut c = Clock::default();
        let mut t = 1_000.0;
        for i in 0..40 {
            c.tick(t);
            t += match i {
                3 => 0.0,
                5 => -3300.0,
                9 => 900.0,
                _ => 300.0,
            };
        }
        assert_eq!(c.interval(), Some(300.0));
        assert!(c.settled());
        assert!(Season::new(DAY, 300.0).is_some_and(|s| s.bins() == 288));
        assert!(Season::new(WEEK, 60.0).is_some_and(|s| s.bins() == MAX_BINS));
        assert!(Season::new(DAY, 6.0 * 3600.0).is_none());
    }
}
