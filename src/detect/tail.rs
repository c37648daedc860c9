//! Calibrated tail probabilities for the default detector, and the score they map to.
//!
//! [`Tail`] follows the upper tail of a non-negative streaming statistic `u` (a normalised
//! residual): a running quantile `q` at exceedance level `PI` (stochastic approximation) and a
//! peaks-over-threshold fit above it, an exponential tail with a running mean excess `beta`
//! (the generalised Pareto law with shape 0, the usual extreme-value model of light and
//! moderately heavy tails). Its surprise is `s = -log10 P(U >= u)`:
//! - above `q`: `s = -log10(PI) + (u - q) / (beta ln 10)`, unbounded and linear in `u`, so it
//!   keeps ranking however rare a point is;
//! - below `q`: linear from 0 at `u = 0` to `-log10(PI)` at `q` (continuous, monotone; the body
//!   never alarms, it only has to rank).
//!
//! A series whose large residuals are frequent (spiky) grows `beta` and its spikes count less.
//! [`score_of`] maps a surprise `s >= 0` monotonically into `[0, 1)`: `s / (s + c)`, which stays
//! below 1.0 in floating point for every `s` below [`S_CAP`].

use serde::{Deserialize, Serialize};

use super::ensemble::bits;

/// Exceedance level of the running quantile (the tail fit starts at the 95th percentile).
pub const PI: f64 = 0.05;
/// `-log10(PI)`.
const NEG_LOG10_PI: f64 = 1.301_029_995_663_981_2;
/// Surprises are capped here (`p = 10^-1e12`); `score_of(S_CAP) < 1.0`.
pub const S_CAP: f64 = 1e12;
/// A larger excess than this many `beta` counts as this many when learning `beta`.
const EXCESS_CLIP: f64 = 20.0;

/// The running upper tail of one statistic (see the module docs).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tail {
    /// Running `1 - PI` quantile.
    #[serde(with = "bits")]
    q: f64,
    /// Running mean excess over `q`.
    #[serde(with = "bits")]
    beta: f64,
    /// Exceedances seen (with the prior's pseudo-count).
    exceed: u32,
}

impl Tail {
    /// A tail with a prior: quantile `q0`, mean excess `beta0` (worth a few exceedances).
    pub fn new(q0: f64, beta0: f64) -> Self {
        Self {
            q: q0,
            beta: beta0,
            exceed: 4,
        }
    }

    /// `-log10 P(U >= u)` under the current fit (0 for `u <= 0`).
    pub fn surprise(&self, u: f64) -> f64 {
        let l = NEG_LOG10_PI;
        let s = if u <= 0.0 {
            0.0
        } else if u <= self.q {
            l * u / self.q
        } else {
            l + (u - self.q) / (self.beta * std::f64::consts::LN_10)
        };
        s.min(S_CAP)
    }

    /// Learns `u`; `rate` (in (0, 1]) is the quantile step in units of `beta`.
    pub fn learn(&mut self, u: f64, rate: f64) {
        if !u.is_finite() {
            return;
        }
        let above = u > self.q;
        if above {
            self.exceed = self.exceed.saturating_add(1);
            let a = (1.0 / f64::from(self.exceed)).max(rate);
            let excess = (u - self.q).min(EXCESS_CLIP * self.beta);
            self.beta += a * (excess - self.beta);
        }
        let step = rate * self.beta * (if above { 1.0 } else { 0.0 } - PI) / PI;
        self.q = (self.q + step).max(1e-6);
        self.beta = self.beta.max(1e-6);
    }
}

/// The surprise that scores 0.8: as rare as a `k`-sigma deviation of a Gaussian, two-sided.
pub fn surprise_at_k(k: f64) -> f64 {
    -(erfc(k / std::f64::consts::SQRT_2)).max(1e-300).log10()
}

/// Maps a surprise `s` (`-log10 p`) into `[0, 1)`, strictly increasing, `s80` scoring 0.8.
pub fn score_of(s: f64, s80: f64) -> f64 {
    let s = s.clamp(0.0, S_CAP);
    let c = s80 / 4.0;
    s / (s + c)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, relative error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98 + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 { r } else { 2.0 - r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detect_scores_never_saturate_across_twelve_orders_of_magnitude() {
        // Surprise s = -log10 p for p = 1e-1 .. 1e-300: the score strictly increases, stays < 1.
        let s80 = surprise_at_k(4.0);
        let mut last = -1.0;
        for decade in 1..=300 {
            for step in 0..10 {
                let s = f64::from(decade) + f64::from(step) / 10.0;
                let score = score_of(s, s80);
                assert!(score > last && score < 1.0, "s {s}: {score} after {last}");
                last = score;
            }
        }
        assert!(score_of(S_CAP, s80) < 1.0);
        assert!((score_of(s80, s80) - 0.8).abs() < 1e-12);
        // A fitted tail: the residual that is 10^-k rare scores above the 10^-(k-1) one.
        let mut t = Tail::new(2.0, 0.5);
        for i in 0..10_000u32 {
            t.learn(f64::from(i % 100) / 40.0, 0.01);
        }
        let mut prev = 0.0;
        for u in [3.0, 5.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5, 1e6] {
            let s = t.surprise(u);
            assert!(s > prev, "{u}: {s}");
            prev = s;
        }
        assert!(prev > 12.0, "1e6 sigmas is beyond 12 orders of magnitude: {prev}");
    }

    #[test]
    fn detect_tail_calibrates_to_the_data() {
        // Uniform |u| on [0, 2.5): the 95th percentile is 2.375.
        let mut t = Tail::new(2.0, 0.5);
        for i in 0..50_000u32 {
            t.learn(f64::from((i.wrapping_mul(2_654_435_761) >> 8) % 1000) / 400.0, 0.01);
        }
        assert!((t.q - 2.375).abs() < 0.1, "{}", t.q);
        assert!((surprise_at_k(3.0) - 2.568).abs() < 1e-3);
        assert_eq!(NEG_LOG10_PI, -PI.log10());
        assert!((erfc(-1.0) - 1.842_700_79).abs() < 1e-6);
    }
}
