//! The default detector (`watch` mode, `score --detector default`): robust seasonal residuals per
//! feature, combined over features. Pure: no I/O; O(features) per point; memory bounded by
//! `period * features` values.
//!
//! Per feature, two baselines predict the next value, both learnt online with clipped
//! (Huber-like) updates so that anomalies barely move them:
//! - *seasonal*: additive Holt-Winters at `period` points (default 1,440, one day of minutes):
//!   `level + season[t mod period]`, the season initialised from the first period;
//! - *local*: an exponentially weighted level, for series without that season.
//!
//! Each baseline keeps a robust scale (EWMA of the clipped absolute residual, times
//! `sqrt(pi/2)`, which is sigma for Gaussian noise). A feature uses the seasonal residual once two
//! periods were seen and its scale is the smaller one (the season explains the series), else the
//! local residual. Its z-score `z = residual / sigma` feeds two statistics:
//! - the instant `|z|` (spikes, level shifts);
//! - a burst statistic: an EWMA of `min(z^2, clip^2)` (variance bursts, lasting shifts),
//!   converted to a z-equivalent with the Wilson-Hilferty approximation of a scaled chi-square.
//!
//! The point's statistic `z*` is the largest of these over features, and its score is
//! `1 - 0.2^((z*/k)^2)`, the mapping of [`super::zscore`]: `z* = k` (default 3) scores 0.8, the
//! default threshold. Score then learn; scores are 0 during the first `warmup` points. A
//! non-finite (or absurdly large, |x| > 1e150) value scores 1 and is not learnt.

use serde::{Deserialize, Serialize};

use super::hst::f64_bits;

/// Values beyond this magnitude are treated like NaN (keeps every state finite).
const MAX_ABS: f64 = 1e150;
/// `sqrt(pi / 2)`: mean absolute deviation to sigma for Gaussian noise.
const MAD_TO_SIGMA: f64 = 1.253_314_137_315_500_3;
/// z-scores are clamped to this magnitude.
const Z_CAP: f64 = 1e6;

/// Parameters; the defaults are meant for one point per minute.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnsembleParams {
    /// Season length in points (1,440: a day of one-minute points).
    pub period: u32,
    /// Holt-Winters level smoothing.
    pub level_alpha: f64,
    /// Holt-Winters season smoothing (once per period per phase).
    pub season_gamma: f64,
    /// Smoothing of the local (non-seasonal) level.
    pub local_alpha: f64,
    /// Smoothing of the robust scales.
    pub scale_alpha: f64,
    /// Smoothing of the burst statistic (about `2 / alpha` points).
    pub burst_alpha: f64,
    /// Residuals are clipped to `clip` sigmas when learning.
    pub clip: f64,
    /// Deviation (in sigmas) that scores 0.8.
    pub k: f64,
    /// Learning rates are multiplied by this for a feature whose point looks anomalous (its
    /// `|z|` or burst statistic above `clip`), so that anomalies lasting a while are not learnt
    /// as the new normal within a few points; a lasting change still is, more slowly. Default
    /// 1 (off): 0.1 is much better on streams with rare anomalies (synthetic stream ROC-AUC
    /// 0.85 -> 0.997) but gets stuck when anomalies are frequent (Shuttle 0.98 -> 0.69); see
    /// bench/README.md.
    pub anomaly_rate: f64,
    /// Points before the first non-zero score.
    pub warmup: u32,
}

impl Default for EnsembleParams {
    fn default() -> Self {
        Self {
            period: 1440,
            level_alpha: 0.005,
            season_gamma: 0.2,
            local_alpha: 0.02,
            scale_alpha: 0.01,
            burst_alpha: 0.1,
            clip: 3.0,
            k: 3.0,
            anomaly_rate: 1.0,
            warmup: 60,
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
        rate("level_alpha", self.level_alpha)?;
        rate("season_gamma", self.season_gamma)?;
        rate("local_alpha", self.local_alpha)?;
        rate("scale_alpha", self.scale_alpha)?;
        rate("burst_alpha", self.burst_alpha)?;
        rate("anomaly_rate", self.anomaly_rate)?;
        if !(1..=1 << 20).contains(&self.period) {
            return Err("period must be between 1 and 2^20".into());
        }
        if !(self.clip.is_finite() && self.clip >= 1.0 && self.k.is_finite() && self.k > 0.0) {
            return Err("clip must be >= 1 and k > 0, both finite".into());
        }
        Ok(())
    }
}

/// A robust running scale: EWMA of clipped absolute residuals.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Scale {
    #[serde(with = "bits")]
    mad: f64,
    n: u32,
}

impl Scale {
    fn sigma(&self) -> f64 {
        self.mad * MAD_TO_SIGMA
    }

    fn z(&self, residual: f64) -> f64 {
        let sigma = self.sigma();
        let z = if sigma > 0.0 {
            residual / sigma
        } else if residual == 0.0 {
            0.0
        } else {
            Z_CAP.copysign(residual)
        };
        z.clamp(-Z_CAP, Z_CAP)
    }

    /// The residual clipped to `clip` sigmas (unclipped until the scale has 10 points, and
    /// while the scale is 0: a series constant so far must be able to learn its first change).
    fn clipped(&self, residual: f64, clip: f64) -> f64 {
        let c = clip * self.sigma();
        if self.n < 10 || c <= 0.0 {
            return residual;
        }
        residual.clamp(-c, c)
    }

    fn learn(&mut self, residual: f64, p: &EnsembleParams, rate: f64) {
        let a = if self.n < 30 {
            1.0 / f64::from(self.n + 1)
        } else {
            p.scale_alpha * rate
        };
        self.mad += a * (self.clipped(residual, p.clip).abs() - self.mad);
        self.n = self.n.saturating_add(1);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Feature {
    #[serde(with = "bits")]
    level: f64,
    #[serde(with = "f64_bits")]
    season: Vec<f64>,
    seasonal: Scale,
    #[serde(with = "bits")]
    local_level: f64,
    local: Scale,
    #[serde(with = "bits")]
    burst: f64,
}

impl Feature {
    fn new(period: usize) -> Self {
        Self {
            level: 0.0,
            season: vec![0.0; period],
            seasonal: Scale::default(),
            local_level: 0.0,
            local: Scale::default(),
            burst: 1.0,
        }
    }
}

/// What a point looks like to one feature's models, before learning it.
struct Look {
    seasonal_residual: Option<f64>,
    local_residual: f64,
    z: f64,
    burst: f64,
    /// The burst statistic as a z-equivalent.
    burst_z: f64,
}

/// Wilson-Hilferty: an EWMA (weight `alpha`) of squared standard normals is about
/// `chi2(nu) / nu` with `nu = (2 - alpha) / alpha`; its cube root is about normal.
fn burst_z(burst: f64, alpha: f64) -> f64 {
    let nu = (2.0 - alpha) / alpha;
    let (mean, sd) = (1.0 - 2.0 / (9.0 * nu), (2.0 / (9.0 * nu)).sqrt());
    (burst.max(0.0).cbrt() - mean) / sd
}

/// How the row `n` (0-based) looks to one feature's models.
fn look(p: &EnsembleParams, n: u64, f: &Feature, x: f64) -> Look {
    let period = u64::from(p.period);
    let phase = (n % period) as usize;
    let seasonal_residual = (n >= period).then(|| x - f.level - f.season[phase]);
    let local_residual = x - f.local_level;
    let use_seasonal = n >= 2 * period && f.seasonal.mad < f.local.mad;
    let z = match seasonal_residual {
        Some(r) if use_seasonal => f.seasonal.z(r),
        _ => f.local.z(local_residual),
    };
    let burst = f.burst + p.burst_alpha * ((z * z).min(p.clip * p.clip) - f.burst);
    Look {
        seasonal_residual,
        local_residual,
        z,
        burst,
        burst_z: burst_z(burst, p.burst_alpha),
    }
}

/// The default streaming detector over rows of `n_features` values. Serialize it to snapshot it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "EnsembleState")]
pub struct Ensemble {
    params: EnsembleParams,
    features: Vec<Feature>,
    /// Points learnt.
    n: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnsembleState {
    params: EnsembleParams,
    features: Vec<Feature>,
    n: u64,
}

impl TryFrom<EnsembleState> for Ensemble {
    type Error = String;

    fn try_from(s: EnsembleState) -> Result<Self, String> {
        s.params.check()?;
        if s.features.is_empty() || s.features.iter().any(|f| f.season.len() != s.params.period as usize) {
            return Err("inconsistent ensemble snapshot: feature or season sizes".into());
        }
        Ok(Self {
            params: s.params,
            features: s.features,
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
        let period = params.period as usize;
        Ok(Self {
            params,
            features: (0..n_features).map(|_| Feature::new(period)).collect(),
            n: 0,
        })
    }

    pub fn params(&self) -> &EnsembleParams {
        &self.params
    }

    pub fn n_features(&self) -> usize {
        self.features.len()
    }

    fn phase(&self) -> usize {
        (self.n % u64::from(self.params.period)) as usize
    }

    fn look(&self, f: &Feature, x: f64) -> Look {
        look(&self.params, self.n, f, x)
    }

    /// The point's statistic in sigmas (see the module docs); `None` for a non-finite value.
    fn statistic(&self, x: &[f64]) -> Option<f64> {
        assert_eq!(
            x.len(),
            self.features.len(),
            "row width must equal the number of features"
        );
        let mut stat = 0.0f64;
        for (f, &v) in self.features.iter().zip(x) {
            if !(v.is_finite() && v.abs() <= MAX_ABS) {
                return None;
            }
            let look = self.look(f, v);
            stat = stat.max(look.z.abs()).max(look.burst_z);
        }
        Some(stat)
    }

    /// Score in [0, 1]; 0.8 is the default threshold.
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn score_one(&self, x: &[f64]) -> f64 {
        match self.statistic(x) {
            None => 1.0,
            Some(_) if self.n < u64::from(self.params.warmup) => 0.0,
            Some(z) => {
                let r = z / self.params.k;
                (1.0 - 0.2f64.powf(r * r)).clamp(0.0, 1.0)
            }
        }
    }

    /// Learns the row (ignored if a value is not finite).
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn learn_one(&mut self, x: &[f64]) {
        assert_eq!(
            x.len(),
            self.features.len(),
            "row width must equal the number of features"
        );
        if x.iter().any(|v| !(v.is_finite() && v.abs() <= MAX_ABS)) {
            return;
        }
        let (first_period, phase) = (self.n < u64::from(self.params.period), self.phase());
        let warm = 1.0 / (self.n as f64 + 1.0);
        let (p, n) = (&self.params, self.n);
        for (f, &v) in self.features.iter_mut().zip(x) {
            let look = look(p, n, f, v);
            f.burst = look.burst;
            let rate = if look.z.abs() > p.clip || look.burst_z > p.clip {
                p.anomaly_rate
            } else {
                1.0
            };
            // Local baseline: running mean at first, then an EWMA.
            let e = f.local.clipped(look.local_residual, p.clip);
            f.local_level += (p.local_alpha * rate).max(warm) * e;
            f.local.learn(look.local_residual, p, rate);
            match look.seasonal_residual {
                None if first_period => {
                    // First period: the level is the running mean, the season what remains.
                    f.level += warm * (v - f.level);
                    f.season[phase] = v - f.level;
                }
                None => {}
                Some(r) => {
                    let e = f.seasonal.clipped(r, p.clip);
                    f.level += p.level_alpha * rate * e;
                    f.season[phase] += p.season_gamma * rate * e;
                    f.seasonal.learn(r, p, rate);
                }
            }
        }
        self.n += 1;
    }

    /// Score then learn; returns the score.
    pub fn score_learn_one(&mut self, x: &[f64]) -> f64 {
        let s = self.score_one(x);
        self.learn_one(x);
        s
    }
}

/// Serde for one `f64` as its IEEE-754 bits: exact in JSON, so snapshots continue identically.
mod bits {
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
    use super::*;

    /// A daily sine with deterministic pseudo-noise (period 100 to keep tests small).
    fn value(t: u32) -> f64 {
        let noise = f64::from((t.wrapping_mul(2_654_435_761) >> 16) % 1000) / 1000.0 - 0.5;
        10.0 + 5.0 * (std::f64::consts::TAU * f64::from(t) / 100.0).sin() + noise
    }

    fn params() -> EnsembleParams {
        EnsembleParams {
            period: 100,
            ..EnsembleParams::default()
        }
    }

    #[test]
    fn seasonal_baseline_flags_spikes_and_not_the_season() {
        let mut d = Ensemble::new(params(), 1).unwrap();
        let mut max_normal = 0.0f64;
        for t in 0..2_000 {
            let s = d.score_learn_one(&[value(t)]);
            if t >= 500 {
                max_normal = max_normal.max(s);
            }
        }
        assert!(max_normal < 0.8, "normal points stay below the threshold: {max_normal}");
        // +3 is about 10 noise sigmas but inside the seasonal range (5..15).
        assert!(d.score_one(&[value(2_000) + 3.0]) > 0.99);
        assert!(d.score_one(&[value(2_000)]) < 0.8);
        assert_eq!(d.score_one(&[f64::NAN]), 1.0);
        d.learn_one(&[f64::INFINITY]);
        assert!(d.score_one(&[value(2_000)]) < 0.8, "non-finite values are not learnt");
    }

    #[test]
    fn variance_burst_is_flagged_and_scores_stay_in_range() {
        let mut d = Ensemble::new(params(), 2).unwrap();
        for t in 0..1_000 {
            d.score_learn_one(&[value(t), 1.0]);
        }
        let mut burst_max = 0.0f64;
        for t in 1_000..1_040 {
            // Noise times 5 on the first feature: +-2.5 around the clean signal.
            let wide = value(t) + 4.0 * (value(t) - 10.0 - 5.0 * (std::f64::consts::TAU * f64::from(t) / 100.0).sin());
            let s = d.score_learn_one(&[wide, 1.0]);
            assert!((0.0..=1.0).contains(&s));
            burst_max = burst_max.max(s);
        }
        assert!(burst_max > 0.95, "{burst_max}");
        for x in [f64::MAX, -1e300, 0.0] {
            let s = d.score_learn_one(&[x, x]);
            assert!((0.0..=1.0).contains(&s));
        }
    }

    #[test]
    fn warmup_scores_zero_and_snapshot_continues_identically() {
        let mut d = Ensemble::new(params(), 1).unwrap();
        for t in 0..60 {
            assert_eq!(d.score_learn_one(&[value(t)]), 0.0);
        }
        for t in 60..350 {
            d.score_learn_one(&[value(t)]);
        }
        let json = serde_json::to_string(&d).unwrap();
        let mut back: Ensemble = serde_json::from_str(&json).unwrap();
        assert_eq!(back, d);
        for t in 350..700 {
            let x = [value(t) + if t % 97 == 0 { 4.0 } else { 0.0 }];
            assert_eq!(d.score_learn_one(&x).to_bits(), back.score_learn_one(&x).to_bits());
        }
        let mut v = serde_json::to_value(&d).unwrap();
        v["features"][0]["season"].as_array_mut().unwrap().pop();
        assert!(serde_json::from_value::<Ensemble>(v).is_err());
        assert!(Ensemble::new(params(), 0).is_err());
        let bad = EnsembleParams {
            level_alpha: 0.0,
            ..params()
        };
        assert!(Ensemble::new(bad, 1).is_err());
    }
}
