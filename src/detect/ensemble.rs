//! The default detector (`watch` mode, `score --detector default`): per feature, competing
//! robust baselines measured in time, calibrated tail probabilities of their residuals, and an
//! event layer. Pure: no I/O; O(features) per point; memory bounded (at most three seasonal
//! profiles of [`super::season::MAX_BINS`] values per feature, whatever the sampling);
//! deterministic (no randomness: the same rows give the same scores, bit for bit).
//!
//! Per feature, several baselines predict the next value; all learn from every point, each keeps
//! a robust scale (EWMA of its clipped absolute residual, times `sqrt(pi/2)`), and the one with
//! the smallest scale is used (it explains the series best):
//! - *fast*: an EWMA that follows random-walk-like series (unclipped, weight `fast_alpha`);
//! - *slow*: a clipped (Huber-like) EWMA that anomalies barely move;
//! - *seasonal*: for a day and a week (and `period` sampling intervals if set), a level plus a
//!   profile indexed by the time of period ([`super::season`]), once the series has spanned one
//!   period; the sampling interval is inferred from the timestamps ([`super::season::Clock`]).
//!
//! A baseline whose residual stays beyond `clip` sigmas, on one side, for `persist` points has
//! seen a level shift persist: it is re-based on the new level (learned as the new normal); a
//! changed variance is learned by the scales within about `1 / scale_alpha` points.
//!
//! The chosen baseline's `|z|`, a burst statistic (EWMA of `min(z^2, 16)`: variance bursts,
//! lasting shifts) and a drift statistic (EWMA of the signed, capped `z`: small lasting shifts)
//! each have a running tail ([`super::tail::Tail`]); the point's surprise `s = -log10 p` is the
//! largest of the three, with Bonferroni corrections over statistics and features; early
//! surprises are shrunk by `n / (n + 100)` (a young tail is an extrapolation). The raw
//! score maps `s` into `[0, 1)` without saturating ([`super::tail::score_of`]; a point as rare
//! as a `k`-sigma Gaussian deviation scores 0.8). The event score is the raw surprise after the
//! event layer ([`super::onset`]): an anomaly reports its onset, then holds off for `holdoff`
//! sampling intervals. Score then learn; both scores are 0 during the first `warmup` points. A
//! non-finite (or absurdly large, |x| > 1e150) value scores 1 and is not learnt. Sigmas are at
//! least half the series' resolution (its smallest step), so quantised series that repeat a
//! value do not make the next step infinitely rare. Without timestamps rows are one minute apart.

use serde::{Deserialize, Serialize};

use super::{
    baseline::Feature,
    onset::Onset,
    season::{Clock, DELTAS},
    tail::{score_of, surprise_at_k},
};

/// Values beyond this magnitude are treated like NaN (keeps every state finite).
const MAX_ABS: f64 = 1e150;
/// Without timestamps, rows are taken as this many seconds apart.
pub const ROW_SECONDS: f64 = 60.0;

/// Parameters. Nothing depends on the sampling rate: seasons and hold-off are measured in time
/// or in inferred sampling intervals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleParams {
    /// An extra season of this many sampling intervals (0: only a day and a week, from time).
    pub period: u32,
    /// Smoothing of the fast baseline.
    pub fast_alpha: f64,
    /// Smoothing of the slow and seasonal levels.
    pub level_alpha: f64,
    /// Smoothing of a seasonal profile (per visit of its bin).
    pub season_gamma: f64,
    /// Smoothing of the robust scales.
    pub scale_alpha: f64,
    /// Smoothing of the burst statistic.
    pub burst_alpha: f64,
    /// Smoothing of the drift statistic (EWMA of the signed z: small lasting shifts); 1: off.
    pub drift_alpha: f64,
    /// Quantile step of the tails.
    pub tail_rate: f64,
    /// Residuals are clipped to `clip` sigmas when learning.
    pub clip: f64,
    /// A point as rare as a `k`-sigma Gaussian deviation (two-sided) scores 0.8.
    pub k: f64,
    /// Points beyond `clip` on one side, in a row, after which a baseline re-bases.
    pub persist: u32,
    /// Hold-off after an alarm, in sampling intervals.
    pub holdoff: u32,
    /// Points before the first non-zero score.
    pub warmup: u32,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            period: 0,
            fast_alpha: 0.3,
            level_alpha: 0.02,
            season_gamma: 0.1,
            scale_alpha: 0.01,
            burst_alpha: 0.1,
            drift_alpha: 0.05,
            tail_rate: 0.001,
            clip: 3.0,
            k: 4.0,
            persist: 12,
            holdoff: 200,
            warmup: 30,
        }
    }
}

impl EnsembleParams {
    fn check(&self) -> Result<(), String> {
        let rate = |name: &str, v: f64| {
            if v > 0.0 && v <= 1.0 {
                Ok(())
            } else {
                Err(format!("{name} must be in (0, 1]"))
            }
        };
        rate("fast_alpha", self.fast_alpha)?;
        rate("level_alpha", self.level_alpha)?;
        rate("season_gamma", self.season_gamma)?;
        rate("scale_alpha", self.scale_alpha)?;
        rate("burst_alpha", self.burst_alpha)?;
        rate("drift_alpha", self.drift_alpha)?;
        rate("tail_rate", self.tail_rate)?;
        if self.period > 1 << 20 {
            return Err("period must be at most 2^20".into());
        }
        if !(self.clip.is_finite() && self.clip >= 1.0 && self.k.is_finite() && self.k > 0.0 && self.k <= 30.0) {
            return Err("clip must be >= 1 and k in (0, 30]".into());
        }
        if self.persist == 0 {
            return Err("persist must be at least 1".into());
        }
        Ok(())
    }
}

/// The two scores of a point, both in `[0, 1)` (1 only for a non-finite value).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scored {
    /// Rarity of the point itself.
    pub raw: f64,
    /// After the event layer: an anomaly's onset scores like `raw`, the rest of it is held off.
    pub event: f64,
}

/// The default streaming detector over rows of `n_features` values. Serialize it to snapshot it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EnsembleState")]
pub struct Ensemble {
    params: EnsembleParams,
    features: Vec<Feature>,
    clock: Clock,
    onset: Onset,
    /// Surprise that scores 0.8 (derived from `params.k`).
    #[serde(skip_serializing)]
    s80: f64,
    /// Points learnt.
    n: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsembleState {
    params: EnsembleParams,
    features: Vec<Feature>,
    clock: Clock,
    onset: Onset,
    n: u64,
}

impl TryFrom<EnsembleState> for Ensemble {
    type Error = String;

    fn try_from(s: EnsembleState) -> Result<Self, String> {
        s.params.check()?;
        let bad =
            s.features.is_empty() || s.clock.deltas_len() > DELTAS || s.features.iter().any(|f| !f.is_consistent());
        if bad {
            return Err("inconsistent ensemble snapshot: feature, clock or season sizes".into());
        }
        Ok(Self {
            s80: surprise_at_k(s.params.k),
            params: s.params,
            features: s.features,
            clock: s.clock,
            onset: s.onset,
            n: s.n,
        })
    }
}

impl Ensemble {
    /// A detector for rows of `n_features` (at least 1) values.
    pub fn new(params: EnsembleParams, n_features: usize) -> Result<Self, String> {
        params.check()?;
        if n_features == 0 {
            return Err("need at least one feature".into());
        }
        Ok(Self {
            s80: surprise_at_k(params.k),
            params,
            features: (0..n_features).map(|_| Feature::new()).collect(),
            clock: Clock::default(),
            onset: Onset::default(),
            n: 0,
        })
    }

    pub fn params(&self) -> &EnsembleParams {
        &self.params
    }

    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    /// The sampling interval inferred so far (seconds).
    pub fn interval(&self) -> Option<f64> {
        self.clock.interval()
    }

    /// The seasons (in seconds) this detector models per feature, once known.
    pub fn seasons(&self) -> Vec<f64> {
        self.features[0].seasons()
    }

    /// The period (seconds) of the seasonal baseline that explains feature 0 best at time `t`,
    /// `None` if a non-seasonal one does.
    pub fn season_in_use(&self, t: f64) -> Option<f64> {
        self.features[0].season_in_use(t)
    }

    fn time(&self, t: Option<f64>) -> f64 {
        match t {
            Some(t) if t.is_finite() => t,
            _ => self.n as f64 * ROW_SECONDS,
        }
    }

    fn holdoff(&self) -> f64 {
        f64::from(self.params.holdoff) * self.clock.interval().unwrap_or(ROW_SECONDS)
    }

    fn check_width(&self, x: &[f64]) {
        assert_eq!(
            x.len(),
            self.features.len(),
            "row width must equal the number of features"
        );
    }

    /// The row's surprise (`-log10 p`), `None` for a non-finite value.
    fn surprise(&self, t: f64, x: &[f64]) -> Option<f64> {
        let mut s = 0.0f64;
        for (f, &v) in self.features.iter().zip(x) {
            if !(v.is_finite() && v.abs() <= MAX_ABS) {
                return None;
            }
            s = s.max(f.look(&self.params, t, v).s);
        }
        Some((s - (self.features.len() as f64).log10()).max(0.0))
    }

    fn scored(&self, t: f64, s: Option<f64>) -> Scored {
        match s {
            None => Scored { raw: 1.0, event: 1.0 },
            Some(_) if self.n < u64::from(self.params.warmup) => Scored { raw: 0.0, event: 0.0 },
            Some(s) => Scored {
                raw: score_of(s, self.s80),
                event: score_of(self.onset.report(t, s, self.holdoff()), self.s80),
            },
        }
    }

    /// Scores a row at time `t` (unix seconds; `None`: rows one minute apart) without learning.
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn score_at(&self, t: Option<f64>, x: &[f64]) -> Scored {
        self.check_width(x);
        let t = self.time(t).max(self.clock.last());
        self.scored(t, self.surprise(t, x))
    }

    /// Score then learn a row at time `t` (see [`Ensemble::score_at`]).
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn score_learn_at(&mut self, t: Option<f64>, x: &[f64]) -> Scored {
        self.check_width(x);
        let t = self.time(t);
        if x.iter().any(|v| !(v.is_finite() && v.abs() <= MAX_ABS)) {
            return self.scored(t, None);
        }
        let t = self.clock.tick(t);
        let mut s = 0.0f64;
        let (p, clock) = (&self.params, &self.clock);
        for (f, &v) in self.features.iter_mut().zip(x) {
            let look = f.look(p, t, v);
            s = s.max(look.s);
            f.learn(p, clock, t, v, &look);
        }
        let s = (s - (self.features.len() as f64).log10()).max(0.0);
        // Scored as of before this point was learnt (n, onset).
        let scored = self.scored(t, Some(s));
        if self.n >= u64::from(self.params.warmup) {
            self.onset.learn(t, s, self.holdoff());
        }
        self.n += 1;
        scored
    }

    /// Score then learn, rows one minute apart; returns the event score.
    pub fn score_learn_one(&mut self, x: &[f64]) -> f64 {
        self.score_learn_at(None, x).event
    }
}

/// Serde for one `f64` as its IEEE-754 bits: exact in JSON, so snapshots continue identically.
pub(super) mod bits {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(v.to_bits())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        Ok(f64::from_bits(u64::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::super::season::{DAY, WEEK};
    use super::*;

    /// Deterministic noise, roughly normal with sd 0.5.
    fn noise(i: u64) -> f64 {
        let u = |k: u64| {
            ((i.wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(k * 1_442_695_040_888_963_407)
                >> 33)
                % 10_000) as f64
                / 10_000.0
        };
        u(1) + u(2) + u(3) - 1.5
    }

    /// A daily cycle of amplitude 10 around 50, sampled every `step` seconds.
    fn daily(i: u64, step: f64) -> (f64, f64) {
        let t = 1.7e9 + i as f64 * step;
        (t, 50.0 + 10.0 * (std::f64::consts::TAU * t / DAY).sin() + noise(i))
    }

    #[test]
    fn detect_season_is_found_from_timestamps_at_1m_5m_and_hourly_sampling() {
        for step in [60.0, 300.0, 3600.0] {
            let mut d = Ensemble::new(EnsembleParams::default(), 1).unwrap();
            let n = ((4.0 * DAY / step) as u64).max(400);
            for i in 0..n {
                let (t, x) = daily(i, step);
                d.score_learn_at(Some(t), &[x]);
            }
            assert_eq!(d.interval(), Some(step));
            assert_eq!(d.seasons()[..2], [DAY, WEEK]);
            let (t, x) = daily(n, step);
            assert_eq!(d.season_in_use(t), Some(DAY), "sampling every {step} s");
            // A value normal at another time of day is anomalous now.
            let (_, opposite) = daily(n + (DAY / 2.0 / step) as u64, step);
            let (normal, odd) = (d.score_at(Some(t), &[x]).raw, d.score_at(Some(t), &[opposite]).raw);
            assert!(normal < 0.8 && odd > 0.8, "every {step} s: normal {normal}, odd {odd}");
        }
        // Rows without timestamps are one minute apart: 1,440 rows are a day.
        let mut d = Ensemble::new(EnsembleParams::default(), 1).unwrap();
        for i in 0..4 * 1440 {
            d.score_learn_one(&[daily(i, 60.0).1]);
        }
        assert_eq!(d.interval(), Some(ROW_SECONDS));
    }

    #[test]
    fn detect_persisting_level_shift_stops_alarming() {
        let mut d = Ensemble::new(EnsembleParams::default(), 1).unwrap();
        let at = |i: u64| Some(1.7e9 + i as f64 * 300.0);
        for i in 0..2_000 {
            d.score_learn_at(at(i), &[10.0 + noise(i)]);
        }
        let mut raw = Vec::new();
        let mut events = 0;
        for i in 2_000..2_600 {
            let s = d.score_learn_at(at(i), &[30.0 + noise(i)]);
            raw.push(s.raw);
            events += usize::from(s.event >= 0.8);
        }
        assert!(raw[0] > 0.9, "the shift is found: {}", raw[0]);
        assert_eq!(events, 1, "one alarm for the whole shift");
        let late = raw[50..].iter().copied().fold(0.0, f64::max);
        assert!(late < 0.8, "the new level is normal after it persisted: {late}");
    }

    #[test]
    fn detect_event_holds_off_then_re_arms() {
        let p = EnsembleParams::default();
        let mut d = Ensemble::new(p.clone(), 1).unwrap();
        let at = |i: u64| Some(1.7e9 + i as f64 * 60.0);
        let spikes = [3_000, 3_010, 3_000 + u64::from(p.holdoff) + 50];
        let mut got = Vec::new();
        for i in 0..4_000 {
            let x = 10.0 + noise(i) + if spikes.contains(&i) { 15.0 } else { 0.0 };
            let s = d.score_learn_at(at(i), &[x]);
            if spikes.contains(&i) {
                got.push(s);
            } else if i > 1_000 {
                assert!(s.event < 0.8, "row {i}: {s:?}");
            }
        }
        assert!(got.iter().all(|s| s.raw > 0.8), "{got:?}");
        assert!(got[0].event > 0.8, "the onset alarms: {got:?}");
        assert!(got[1].event < 0.5, "held off: {got:?}");
        assert!(got[2].event > 0.8, "re-armed after the hold-off: {got:?}");
    }

    #[test]
    fn detect_default_scores_rank_without_saturating() {
        let mut d = Ensemble::new(EnsembleParams::default(), 2).unwrap();
        for i in 0..3_000 {
            d.score_learn_one(&[10.0 + noise(i), 5.0 + noise(i + 7)]);
        }
        let mut last = 0.0;
        for k in 0..=10 {
            let spike = 3.0 * 10f64.powi(k);
            let s = d.score_at(None, &[10.0 + spike, 5.0]).raw;
            assert!(s > last && s < 1.0, "spike 1e{k}: {s} after {last}");
            last = s;
        }
        assert_eq!(d.score_at(None, &[f64::NAN, 5.0]).raw, 1.0);
        let before = d.clone();
        d.score_learn_at(None, &[f64::INFINITY, 5.0]);
        assert_eq!(d, before, "non-finite values are not learnt");
    }

    #[test]
    fn detect_warmup_scores_zero_and_snapshot_continues_identically() {
        let mut d = Ensemble::new(EnsembleParams::default(), 1).unwrap();
        for i in 0..30 {
            assert_eq!(d.score_learn_one(&[daily(i, 300.0).1]), 0.0);
        }
        for i in 30..900 {
            let (t, x) = daily(i, 300.0);
            d.score_learn_at(Some(t), &[x]);
        }
        let json = serde_json::to_string(&d).unwrap();
        let mut back: Ensemble = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        for i in 900..1_500 {
            let (t, x) = daily(i, 300.0);
            let x = [x + if i % 97 == 0 { 8.0 } else { 0.0 }];
            let (a, b) = (d.score_learn_at(Some(t), &x), back.score_learn_at(Some(t), &x));
            assert_eq!(
                (a.raw.to_bits(), a.event.to_bits()),
                (b.raw.to_bits(), b.event.to_bits())
            );
        }
        let mut v = serde_json::to_value(&d).unwrap();
        v["features"][0]["seasonal"][0]["season"]["visits"]
            .as_array_mut()
            .unwrap()
            .pop();
        assert!(serde_json::from_value::<Ensemble>(v).is_err());
        assert!(Ensemble::new(EnsembleParams::default(), 0).is_err());
        let bad = EnsembleParams {
            level_alpha: 0.0,
            ..EnsembleParams::default()
        };
        assert!(Ensemble::new(bad, 1).is_err());
    }
}
