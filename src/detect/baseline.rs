//! The default detector's per-feature model (see [`super::ensemble`] for the whole design):
//! competing baselines (fast, slow, seasonal in time), their robust scales, level-shift
//! re-basing, and the three statistics (`|z|`, burst, drift) with their running tails.

use serde::{Deserialize, Serialize};

use super::{
    ensemble::{EnsembleParams, bits},
    season::{Clock, DAY, Season, WEEK},
    tail::Tail,
};

/// `sqrt(pi / 2)`: mean absolute deviation to sigma for Gaussian noise.
const MAD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;
/// z-scores are clamped to this magnitude.
const Z_CAP: f64 = 1e15;
/// Cap of `z^2` in the burst statistic.
const BURST_CAP: f64 = 16.0;
/// Cap of `|z|` in the drift statistic.
const DRIFT_CAP: f64 = 4.0;
/// `log10` of the number of statistics combined per feature (Bonferroni: 3).
const LOG10_STATISTICS: f64 = 0.477_121_254_719_662_44;
/// A robust running scale: EWMA of clipped absolute residuals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct Scale {
    #[serde(with = "bits")]
    mad: f64,
    n: u32,
}

impl Scale {
    fn sigma(&self) -> f64 {
        self.mad * MAD_TO_SIGMA
    }

    /// `residual` in sigmas, sigma at least `floor`.
    fn z(&self, residual: f64, floor: f64) -> f64 {
        let sigma = self.sigma().max(floor);
        let z = if sigma > 0.0 {
            residual / sigma
        } else if residual == 0.0 {
            0.0
        } else {
            Z_CAP.copysign(residual)
        };
        z.clamp(-Z_CAP, Z_CAP)
    }

    /// The residual clipped to `clip` sigmas (unclipped for the first points and while the
    /// scale is 0: a series constant so far must be able to learn its first change).
    fn clipped(&self, residual: f64, clip: f64) -> f64 {
        let c = clip * self.sigma();
        if self.n < 10 || c <= 0.0 {
            return residual;
        }
        residual.clamp(-c, c)
    }

    fn learn(&mut self, residual: f64, p: &EnsembleParams) {
        let a = if self.n < 30 {
            1.0 / f64::from(self.n + 1)
        } else {
            p.scale_alpha
        };
        self.mad += a * (self.clipped(residual, p.clip).abs() - self.mad);
        self.n = self.n.saturating_add(1);
    }
}

/// One seasonal baseline: a level plus a profile in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Seasonal {
    season: Season,
    #[serde(with = "bits")]
    level: f64,
    /// Time of the first point learnt.
    #[serde(with = "bits")]
    since: f64,
    scale: Scale,
    run: i32,
}

/// How a point looks to one feature, before it is learnt.
pub(super) struct Look {
    r: Residuals,
    z: f64,
    burst: f64,
    drift: f64,
    /// `|drift|` in its own standard deviations under the null.
    drift_u: f64,
    /// Surprise.
    pub(super) s: f64,
}

/// What one feature's baselines expect of a point.
#[derive(Clone, Copy)]
struct Residuals {
    fast: f64,
    slow: f64,
    /// Per seasonal baseline, if its bin was visited.
    seasonal: [Option<f64>; 3],
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(super) struct Feature {
    #[serde(with = "bits")]
    fast: f64,
    fast_scale: Scale,
    #[serde(with = "bits")]
    slow: f64,
    slow_scale: Scale,
    slow_run: i32,
    seasonal: Vec<Seasonal>,
    #[serde(with = "bits")]
    burst: f64,
    #[serde(with = "bits")]
    drift: f64,
    /// Smallest non-zero step between consecutive values (the series' resolution; 0: none yet).
    #[serde(with = "bits")]
    resolution: f64,
    #[serde(with = "bits")]
    last: f64,
    tail_z: Tail,
    tail_burst: Tail,
    tail_drift: Tail,
    n: u64,
}

impl Feature {
    pub(super) fn new() -> Self {
        Self {
            fast: 0.0,
            fast_scale: Scale::default(),
            slow: 0.0,
            slow_scale: Scale::default(),
            slow_run: 0,
            seasonal: Vec::new(),
            burst: 1.0,
            drift: 0.0,
            resolution: 0.0,
            last: 0.0,
            tail_z: Tail::new(2.0, 0.5),
            tail_burst: Tail::new(1.6, 0.3),
            tail_drift: Tail::new(2.0, 0.5),
            n: 0,
        }
    }

    /// Seasons modelled (seconds).
    pub(super) fn seasons(&self) -> Vec<f64> {
        self.seasonal.iter().map(|s| s.season.period).collect()
    }

    /// The period of the seasonal baseline in use at `t`, `None` if a non-seasonal one is.
    pub(super) fn season_in_use(&self, t: f64) -> Option<f64> {
        let mut best = self.slow_scale.mad.min(self.fast_scale.mad);
        let mut period = None;
        for s in &self.seasonal {
            if s.season.at(t).is_some() && t - s.since >= s.season.period && s.scale.n >= 30 && s.scale.mad < best {
                (best, period) = (s.scale.mad, Some(s.season.period));
            }
        }
        period
    }

    /// Whether a deserialized feature is consistent.
    pub(super) fn is_consistent(&self) -> bool {
        self.seasonal.len() <= 3 && self.seasonal.iter().all(|s| s.season.check())
    }

    /// Sigmas are at least half the resolution: a quantised series that repeats one value is
    /// not infinitely surprised by the next step.
    fn floor(&self) -> f64 {
        0.5 * self.resolution
    }

    fn residuals(&self, t: f64, x: f64) -> Residuals {
        let mut seasonal = [None; 3];
        for (r, s) in seasonal.iter_mut().zip(&self.seasonal) {
            *r = s.season.at(t).map(|v| x - s.level - v);
        }
        Residuals {
            fast: x - self.fast,
            slow: x - self.slow,
            seasonal,
        }
    }

    /// The z-score of the best baseline (smallest scale among those ready).
    fn z(&self, t: f64, r: &Residuals) -> f64 {
        let (mut best, mut z) = (self.slow_scale.mad, self.slow_scale.z(r.slow, self.floor()));
        if self.fast_scale.mad < best {
            (best, z) = (self.fast_scale.mad, self.fast_scale.z(r.fast, self.floor()));
        }
        for (s, res) in self.seasonal.iter().zip(r.seasonal) {
            if let Some(res) = res
                && t - s.since >= s.season.period
                && s.scale.n >= 30
                && s.scale.mad < best
            {
                (best, z) = (s.scale.mad, s.scale.z(res, self.floor()));
            }
        }
        z
    }

    /// How the point looks (before learning it).
    pub(super) fn look(&self, p: &EnsembleParams, t: f64, x: f64) -> Look {
        let r = self.residuals(t, x);
        let z = self.z(t, &r);
        let burst = self.burst + p.burst_alpha * ((z * z).min(BURST_CAP) - self.burst);
        let drift = self.drift + p.drift_alpha * (z.clamp(-DRIFT_CAP, DRIFT_CAP) - self.drift);
        let drift_u = drift.abs() / (p.drift_alpha / (2.0 - p.drift_alpha)).sqrt();
        let s = self
            .tail_z
            .surprise(z.abs())
            .max(self.tail_burst.surprise(burst))
            .max(if p.drift_alpha < 1.0 {
                self.tail_drift.surprise(drift_u)
            } else {
                0.0
            })
            - LOG10_STATISTICS;
        // Young tails are extrapolations: shrink their surprise.
        let young = self.n as f64 / (self.n as f64 + 100.0);
        Look {
            r,
            z,
            burst,
            drift,
            drift_u,
            s: (s * young).max(0.0),
        }
    }

    pub(super) fn learn(&mut self, p: &EnsembleParams, clock: &Clock, t: f64, x: f64, look: &Look) {
        let (r, z) = (&look.r, look.z);
        let warm = 1.0 / (self.n as f64 + 1.0);
        let floor = self.floor();
        let step = (x - self.last).abs();
        if self.n > 0 && step > 0.0 && (self.resolution == 0.0 || step < self.resolution) {
            self.resolution = step;
        }
        self.last = x;
        self.burst = look.burst;
        self.drift = look.drift;
        self.tail_z.learn(z.abs(), p.tail_rate);
        self.tail_burst.learn(look.burst, p.tail_rate);
        self.tail_drift.learn(look.drift_u, p.tail_rate);
        self.fast += p.fast_alpha.max(warm) * r.fast;
        self.fast_scale.learn(r.fast, p);
        self.slow += p.level_alpha.max(warm) * self.slow_scale.clipped(r.slow, p.clip);
        run(&mut self.slow_run, self.slow_scale.z(r.slow, floor), p.clip);
        self.slow_scale.learn(r.slow, p);
        if self.slow_run.unsigned_abs() >= p.persist {
            self.slow = self.fast;
            self.slow_run = 0;
        }
        for (s, res) in self.seasonal.iter_mut().zip(r.seasonal) {
            let Some(res) = res else {
                // First visit of this bin: the deviation from the level sets it.
                s.season.learn(t, x - s.level, 1.0);
                continue;
            };
            let e = s.scale.clipped(res, p.clip);
            s.level += p.level_alpha * e;
            s.season.learn(t, x - s.level - res + e, p.season_gamma);
            run(&mut s.run, s.scale.z(res, floor), p.clip);
            s.scale.learn(res, p);
            if s.run.unsigned_abs() >= p.persist {
                s.level += res;
                s.run = 0;
            }
        }
        self.n += 1;
        if self.seasonal.is_empty() && clock.settled() {
            self.start_seasons(p, clock, t);
        }
    }

    fn start_seasons(&mut self, p: &EnsembleParams, clock: &Clock, t: f64) {
        let Some(interval) = clock.interval() else { return };
        let custom = (p.period > 0).then(|| f64::from(p.period) * interval);
        for period in [Some(DAY), Some(WEEK), custom].into_iter().flatten() {
            if let Some(season) = Season::new(period, interval) {
                self.seasonal.push(Seasonal {
                    season,
                    level: self.slow,
                    since: t,
                    scale: Scale::default(),
                    run: 0,
                });
            }
        }
    }
}

/// Counts points beyond `clip` sigmas on one side in a row (signed).
fn run(run: &mut i32, z: f64, clip: f64) {
    *run = if z > clip {
        (*run).max(0) + 1
    } else if z < -clip {
        (*run).min(0) - 1
    } else {
        0
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_constants_are_what_they_say() {
        assert_eq!(LOG10_STATISTICS, 3f64.log10());
        assert!((MAD_TO_SIGMA - (std::f64::consts::PI / 2.0).sqrt()).abs() < 1e-15);
    }
}
