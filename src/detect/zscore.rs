//! Rolling 3-sigma detector: per series, the mean and standard deviation of the last `window`
//! points; a point's score grows with its distance from the mean in standard deviations.
//!
//! Score mapping: with `z = |x - mean| / sd`, `score = 1 - 0.2^((z/k)^2)`, so a point exactly
//! `k` standard deviations away scores 0.8 (the default threshold), the mean scores 0 and the
//! score tends to 1. Score-then-learn per point. Until `min(window, 10)` points were seen the
//! score is 0 (no baseline yet). Mean and variance are kept with Welford's add/remove updates
//! and recomputed from the window every `window` points, so rounding cannot accumulate over
//! long streams. Non-finite inputs score 1 and are not learned.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollingZScore {
    window: usize,
    k: f64,
    buf: VecDeque<f64>,
    mean: f64,
    m2: f64,
    since_exact: usize,
}

impl RollingZScore {
    /// `window` ≥ 2 points, `k` > 0 (clamped otherwise).
    pub fn new(window: usize, k: f64) -> Self {
        Self {
            window: window.max(2),
            k: if k.is_finite() && k > 0.0 { k } else { 3.0 },
            buf: VecDeque::with_capacity(window.max(2)),
            mean: 0.0,
            m2: 0.0,
            since_exact: 0,
        }
    }

    fn warm(&self) -> bool {
        self.buf.len() >= self.window.min(10)
    }

    /// Current mean and standard deviation (population), if warmed up.
    pub fn stats(&self) -> Option<(f64, f64)> {
        self.warm()
            .then(|| (self.mean, (self.m2.max(0.0) / self.buf.len() as f64).sqrt()))
    }

    pub fn score_one(&self, x: f64) -> f64 {
        if !x.is_finite() {
            return 1.0;
        }
        let Some((mean, sd)) = self.stats() else {
            return 0.0;
        };
        let dev = (x - mean).abs();
        if sd <= f64::EPSILON * mean.abs().max(1.0) {
            return if dev <= f64::EPSILON * mean.abs().max(1.0) {
                0.0
            } else {
                1.0
            };
        }
        let r = dev / sd / self.k;
        let score = 1.0 - 0.2f64.powf(r * r);
        if score.is_finite() { score.clamp(0.0, 1.0) } else { 1.0 }
    }

    pub fn learn_one(&mut self, x: f64) {
        if !x.is_finite() {
            return;
        }
        if self.buf.len() == self.window
            && let Some(old) = self.buf.pop_front()
        {
            let n = self.buf.len() as f64;
            if n == 0.0 {
                self.mean = 0.0;
                self.m2 = 0.0;
            } else {
                let d = old - self.mean;
                self.mean -= d / n;
                self.m2 -= d * (old - self.mean);
            }
        }
        self.buf.push_back(x);
        let n = self.buf.len() as f64;
        let d = x - self.mean;
        self.mean += d / n;
        self.m2 += d * (x - self.mean);
        self.since_exact += 1;
        if self.since_exact >= self.window {
            self.recompute();
        }
    }

    pub fn score_learn_one(&mut self, x: f64) -> f64 {
        let s = self.score_one(x);
        self.learn_one(x);
        s
    }

    fn recompute(&mut self) {
        let n = self.buf.len() as f64;
        self.mean = self.buf.iter().sum::<f64>() / n;
        self.m2 = self.buf.iter().map(|v| (v - self.mean).powi(2)).sum();
        self.since_exact = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn k_sigma_scores_the_default_threshold() {
        let mut z = RollingZScore::new(4, 3.0);
        for v in [1.0, -1.0, 1.0, -1.0] {
            assert_eq!(z.score_learn_one(v), 0.0, "warming up");
        }
        // mean 0, population sd 1: 3 sd away scores 0.8, the mean scores 0.
        assert!((z.score_one(3.0) - 0.8).abs() < 1e-12);
        assert!((z.score_one(-3.0) - 0.8).abs() < 1e-12);
        assert_eq!(z.score_one(0.0), 0.0);
        assert!(z.score_one(6.0) > 0.99 && z.score_one(1.5) < 0.5);
        assert_eq!(z.score_one(f64::NAN), 1.0);
    }

    #[test]
    fn window_forgets_and_stays_exact_over_long_streams() {
        let mut z = RollingZScore::new(50, 3.0);
        for i in 0..200_000u32 {
            z.learn_one(1e9 + f64::from(i % 7));
        }
        let (mean, sd) = z.stats().unwrap();
        let tail: Vec<f64> = (200_000u32 - 50..200_000).map(|i| 1e9 + f64::from(i % 7)).collect();
        let m = tail.iter().sum::<f64>() / 50.0;
        let s = (tail.iter().map(|v| (v - m).powi(2)).sum::<f64>() / 50.0).sqrt();
        assert!(
            (mean - m).abs() < 1e-6 && (sd - s).abs() < 1e-6,
            "{mean} {sd} vs {m} {s}"
        );
        let mut flat = RollingZScore::new(10, 3.0);
        for _ in 0..20 {
            flat.learn_one(5.0);
        }
        assert_eq!((flat.score_one(5.0), flat.score_one(5.1)), (0.0, 1.0));
    }
}
