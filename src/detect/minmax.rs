//! River 0.26.1's `preprocessing.MinMaxScaler` (running min/max, no window) and the pipeline
//! `MinMaxScaler() | HalfSpaceTrees(...)` as [`ScaledHst`]. Pure: no I/O.
//!
//! Pipeline semantics (`compose.Pipeline`): `score_one` transforms with the scaler state from
//! *before* the point; `learn_one` first updates the scaler with the point, transforms it with
//! the updated state, then lets the trees learn the transformed point.

use serde::{Deserialize, Serialize};

use super::hst::{HalfSpaceTrees, HstError, HstParams, f64_bits};

/// Rows up to this width are scaled on the stack; wider ones allocate.
const STACK_WIDTH: usize = 16;

/// Running min and max per column; scales a value to `(x - min) / (max - min)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MinMaxScaler {
    /// `stats.Min` per column; `+inf` until a value is seen.
    #[serde(with = "f64_bits")]
    min: Vec<f64>,
    /// `stats.Max` per column; `-inf` until a value is seen.
    #[serde(with = "f64_bits")]
    max: Vec<f64>,
}

impl MinMaxScaler {
    pub fn new(n_features: usize) -> Self {
        Self {
            min: vec![f64::INFINITY; n_features],
            max: vec![f64::NEG_INFINITY; n_features],
        }
    }

    pub fn n_features(&self) -> usize {
        self.min.len()
    }

    /// `learn_one`: NaN never updates (its comparisons are false), as in `stats.Min`/`stats.Max`.
    pub fn learn_one(&mut self, x: &[f64]) {
        assert_eq!(x.len(), self.min.len(), "row width must equal the number of features");
        for ((&v, lo), hi) in x.iter().zip(&mut self.min).zip(&mut self.max) {
            if v < *lo {
                *lo = v;
            }
            if v > *hi {
                *hi = v;
            }
        }
    }

    /// `transform_one` into `out`: `(x - lo) / d if d else 0.0` with `d = hi - lo`. Python's
    /// `if d` is false only for ±0.0, so NaN `d` still divides (and gives NaN).
    pub fn transform_into(&self, x: &[f64], out: &mut [f64]) {
        assert_eq!(x.len(), self.min.len(), "row width must equal the number of features");
        assert_eq!(out.len(), x.len(), "output width must equal the row width");
        for (((o, &v), &lo), &hi) in out.iter_mut().zip(x).zip(&self.min).zip(&self.max) {
            let d = hi - lo;
            *o = if d != 0.0 { (v - lo) / d } else { 0.0 };
        }
    }

    /// `transform_one`, allocating.
    pub fn transform(&self, x: &[f64]) -> Vec<f64> {
        let mut out = vec![0.0; x.len()];
        self.transform_into(x, &mut out);
        out
    }

    /// Runs `f` on the transformed row, on the stack when it is narrow.
    fn with_transformed<R>(&self, x: &[f64], f: impl FnOnce(&[f64]) -> R) -> R {
        if x.len() <= STACK_WIDTH {
            let mut buf = [0.0; STACK_WIDTH];
            let out = &mut buf[..x.len()];
            self.transform_into(x, out);
            f(out)
        } else {
            f(&self.transform(x))
        }
    }
}

/// `compose.Pipeline(MinMaxScaler(), HalfSpaceTrees(...))`, River's usual HST set-up for data
/// that is not in [0, 1]. Serialize it to snapshot it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ScaledHstState")]
pub struct ScaledHst {
    scaler: MinMaxScaler,
    hst: HalfSpaceTrees,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScaledHstState {
    scaler: MinMaxScaler,
    hst: HalfSpaceTrees,
}

impl TryFrom<ScaledHstState> for ScaledHst {
    type Error = HstError;

    fn try_from(s: ScaledHstState) -> Result<Self, HstError> {
        let n = s.hst.features().len();
        if s.scaler.min.len() != n || s.scaler.max.len() != n {
            return Err(HstError::Snapshot(
                "scaler width differs from the trees' feature count".into(),
            ));
        }
        Ok(Self {
            scaler: s.scaler,
            hst: s.hst,
        })
    }
}

impl ScaledHst {
    /// `MinMaxScaler() | HalfSpaceTrees(**params)` for rows whose columns are `features`.
    pub fn new<S: AsRef<str>>(params: HstParams, features: &[S]) -> Result<Self, HstError> {
        let hst = HalfSpaceTrees::new(params, features)?;
        Ok(Self {
            scaler: MinMaxScaler::new(hst.features().len()),
            hst,
        })
    }

    pub fn hst(&self) -> &HalfSpaceTrees {
        &self.hst
    }

    pub fn scaler(&self) -> &MinMaxScaler {
        &self.scaler
    }

    /// Pipeline `score_one`: scale with the current state, then score. In [0, 1].
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn score_one(&self, x: &[f64]) -> f64 {
        self.scaler.with_transformed(x, |z| self.hst.score_one(z))
    }

    /// Pipeline `learn_one`: update the scaler with `x`, scale `x`, learn it.
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn learn_one(&mut self, x: &[f64]) {
        self.scaler.learn_one(x);
        let Self { scaler, hst } = self;
        scaler.with_transformed(x, |z| hst.learn_one(z));
    }

    /// Score then learn, River's usual streaming loop; returns the score.
    pub fn score_learn_one(&mut self, x: &[f64]) -> f64 {
        let score = self.score_one(x);
        self.learn_one(x);
        score
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaler_matches_river_docstring() {
        // River's MinMaxScaler docstring (values are random.Random(42).uniform(8, 12), rounded
        // in the docstring's repr; compare to 6 decimals).
        let xs = [10.557707, 8.100043, 9.100117, 8.892842, 10.945884];
        let want = [0.0, 0.0, 0.406920, 0.322582, 1.0];
        let mut s = MinMaxScaler::new(1);
        for (x, w) in xs.into_iter().zip(want) {
            s.learn_one(&[x]);
            assert!((s.transform(&[x])[0] - w).abs() < 1e-6);
        }
    }

    #[test]
    fn scaler_edge_cases_follow_python() {
        let mut s = MinMaxScaler::new(2);
        // Nothing seen: d = -inf - inf = -inf (truthy), (x - inf) / -inf = NaN.
        assert!(s.transform(&[1.0, 1.0]).iter().all(|v| v.is_nan()));
        s.learn_one(&[f64::NAN, 3.0]);
        assert_eq!(s.min[0], f64::INFINITY, "NaN does not update");
        // d == 0 -> 0.0
        assert_eq!(s.transform(&[5.0, 5.0])[1], 0.0);
    }

    #[test]
    fn wide_rows_scale_on_the_heap_identically() {
        let names: Vec<String> = (0..20).map(|i| format!("f{i:02}")).collect();
        let p = HstParams {
            window_size: 10,
            ..HstParams::with_seed(1)
        };
        let mut m = ScaledHst::new(p, &names).unwrap();
        for i in 0..40 {
            let row: Vec<f64> = (0..20).map(|j| f64::from((i * 7 + j * 3) % 11)).collect();
            let s = m.score_learn_one(&row);
            assert!((0.0..=1.0).contains(&s));
        }
    }

    #[test]
    fn snapshot_restores_and_continues_identically() {
        let p = HstParams {
            window_size: 40,
            ..HstParams::with_seed(42)
        };
        let mut m = ScaledHst::new(p, &["cpu", "latency"]).unwrap();
        let row = |i: u32| {
            [
                f64::from(i % 13) * 1.5 + 40.0,
                if i.is_multiple_of(53) {
                    900.0
                } else {
                    f64::from(i % 7) + 50.0
                },
            ]
        };
        for i in 0..130 {
            m.score_learn_one(&row(i));
        }
        let json = serde_json::to_string(&m).unwrap();
        let mut back: ScaledHst = serde_json::from_str(&json).unwrap();
        assert_eq!(back, m);
        for i in 130..400 {
            assert_eq!(
                m.score_learn_one(&row(i)).to_bits(),
                back.score_learn_one(&row(i)).to_bits()
            );
        }
        // A scaler of the wrong width is refused.
        let mut v = serde_json::to_value(&m).unwrap();
        v["scaler"]["min"].as_array_mut().unwrap().pop();
        assert!(serde_json::from_value::<ScaledHst>(v).is_err());
    }
}
