//! Half-Space Trees, bit-for-bit River 0.26.1's `anomaly.HalfSpaceTrees`. Pure: no I/O.
//!
//! The executable specification is `shared/anomaly/hst_reference.py`; `tests/hst_river.rs`
//! checks the scores against River itself. What makes the port exact:
//! - CPython's `random.Random(seed)` ([`Mt19937`]), drawn in River's order: trees are built
//!   pre-order, two `random()` calls per internal node (`choices` weighted by the limit widths,
//!   then `uniform` inside the range padded by 15 % on each side).
//! - Feature order is River's: the *sorted* feature names (`sorted(x)` of the first point), not
//!   the column order. Trees are built over sorted names and then mapped to column indices.
//! - The score sums `r_mass * 2^depth` per tree in f64 exactly as River does (integer products
//!   converted once, per-tree partial sums added to the total), stopping a walk early when a
//!   node's reference mass is below `0.1 * window_size`.
//!
//! Trees are built eagerly at construction (River builds them on the first `learn_one`; its RNG
//! is used for nothing else, so the draws are identical). Storage is flat and heap-ordered
//! (children of `i` are `2i+1`, `2i+2`), nothing is allocated per point, and a row is a `&[f64]`
//! in the column order given at construction. Rows always carry every feature, so River's
//! missing-feature rule (follow the more visited child) never applies; NaN goes right, as in River.
//!
//! Learning is lazy, with the same results: River adds every point to `l_mass` along its whole
//! root-to-leaf path and swaps `l_mass` into `r_mass` at the end of a window, but a score only
//! reads `r_mass` down to the first node whose mass is below `0.1 * window_size` (masses shrink
//! along a path, so nothing below such a node is ever read). So `learn_one` only buffers the
//! point, and the window's end counts the buffered points per node by partitioning them down each
//! tree, stopping where River's walk stops. The `r_mass` entries that a walk can read are exactly
//! River's; all others are 0. Learning then costs a few levels per tree instead of `height + 1`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Largest accepted tree height (a tree has `2^(height+1) - 1` nodes).
pub const MAX_HEIGHT: u32 = 20;

/// Largest accepted node count over all trees (keeps memory bounded and `max_score` in range).
pub const MAX_NODES: usize = 1 << 26;

/// Largest integer up to which every integer is an f64 (2^53).
const EXACT_INT: u64 = 1 << 53;

/// Trees walked together by [`HalfSpaceTrees::score_one`].
const LANES: usize = 16;

/// River's split padding (`make_padded_tree(padding=0.15)`).
const PADDING: f64 = 0.15;

/// Construction parameters, River's names and defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HstParams {
    /// Number of trees (River default 10).
    pub n_trees: u32,
    /// Height of each tree (River default 8): `height + 1` levels.
    pub height: u32,
    /// Points per mass window (River default 250).
    pub window_size: u32,
    /// RNG seed, as `random.Random(seed)`. River's default is unseeded; ours is 42 so that a
    /// detector is always reproducible.
    pub seed: u64,
    /// `(low, high)` range per feature name; features not listed use River's `(0.0, 1.0)`.
    pub limits: BTreeMap<String, (f64, f64)>,
}

impl Default for HstParams {
    fn default() -> Self {
        Self {
            n_trees: 10,
            height: 8,
            window_size: 250,
            seed: 42,
            limits: BTreeMap::new(),
        }
    }
}

impl HstParams {
    /// River's defaults with the given seed.
    pub fn with_seed(seed: u64) -> Self {
        Self {
            seed,
            ..Self::default()
        }
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HstError {
    #[error("invalid Half-Space Trees parameter: {0}")]
    Param(String),
    #[error("invalid feature set: {0}")]
    Features(String),
    #[error("inconsistent detector snapshot: {0}")]
    Snapshot(String),
}

/// CPython's Mersenne Twister (`_random.Random`) for a non-negative integer seed.
#[derive(Clone)]
pub struct Mt19937 {
    mt: [u32; 624],
    mti: usize,
}

impl Mt19937 {
    const N: usize = 624;
    const M: usize = 397;

    /// `random.Random(seed)`: `init_by_array` over the seed's 32-bit little-endian words.
    pub fn new(seed: u64) -> Self {
        let (lo, hi) = (seed as u32, (seed >> 32) as u32);
        if hi == 0 {
            Self::from_key(&[lo])
        } else {
            Self::from_key(&[lo, hi])
        }
    }

    fn from_key(key: &[u32]) -> Self {
        const N: usize = Mt19937::N;
        let mut mt = [0u32; N];
        mt[0] = 19_650_218;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        let (mut i, mut j) = (1usize, 0usize);
        for _ in 0..N.max(key.len()) {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            let prev = mt[i - 1] ^ (mt[i - 1] >> 30);
            mt[i] = (mt[i] ^ prev.wrapping_mul(1_566_083_941)).wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        Self { mt, mti: N }
    }

    /// `genrand_uint32`.
    pub fn next_u32(&mut self) -> u32 {
        const N: usize = Mt19937::N;
        if self.mti >= N {
            for kk in 0..N {
                let y = (self.mt[kk] & 0x8000_0000) | (self.mt[(kk + 1) % N] & 0x7fff_ffff);
                let mag = if y & 1 == 0 { 0 } else { 0x9908_b0df };
                self.mt[kk] = self.mt[(kk + Self::M) % N] ^ (y >> 1) ^ mag;
            }
            self.mti = 0;
        }
        let mut y = self.mt[self.mti];
        self.mti += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// `random.random()` (`genrand_res53`): a 53-bit float in [0, 1).
    pub fn random(&mut self) -> f64 {
        let a = self.next_u32() >> 5;
        let b = self.next_u32() >> 6;
        (f64::from(a) * 67_108_864.0 + f64::from(b)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `random.uniform(a, b)`.
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// `random.choices(range(n), weights)[0]`: left-to-right cumulative sums, then
    /// `bisect_right(cum, random() * total, 0, n - 1)`. `cum` is scratch space.
    /// `None` where Python raises (no weights, total not positive or not finite).
    pub fn choice_weighted(&mut self, weights: impl IntoIterator<Item = f64>, cum: &mut Vec<f64>) -> Option<usize> {
        cum.clear();
        let mut acc = None;
        for w in weights {
            let s = acc.map_or(w, |a: f64| a + w);
            cum.push(s);
            acc = Some(s);
        }
        let total = acc? + 0.0;
        if total.is_nan() || total <= 0.0 || total.is_infinite() {
            return None;
        }
        let x = self.random() * total;
        let (mut lo, mut hi) = (0, cum.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if x < cum[mid] { hi = mid } else { lo = mid + 1 }
        }
        Some(lo)
    }
}

/// The detector. Serialize it to snapshot it; a restored snapshot continues with identical scores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "HstState")]
pub struct HalfSpaceTrees {
    params: HstParams,
    /// Feature names in row (column) order.
    features: Vec<String>,
    /// Per tree, per internal node (heap order): the column the node splits on.
    split_feature: Vec<u32>,
    /// Per tree, per internal node: the split threshold (left iff `x < threshold`).
    #[serde(with = "f64_bits")]
    threshold: Vec<f64>,
    /// Per tree, per node: mass of the last complete window (`r_mass`) where a walk can read it,
    /// 0 elsewhere.
    r_mass: Vec<u32>,
    /// The rows learnt in the current window (`counter` rows of one value per feature); River's
    /// `l_mass` is counted from them when the window completes.
    #[serde(with = "f64_bits")]
    window: Vec<f64>,
    /// Points learnt in the current window.
    counter: u32,
    first_window: bool,
}

/// The serialized form, checked before it becomes a detector.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HstState {
    params: HstParams,
    features: Vec<String>,
    split_feature: Vec<u32>,
    #[serde(with = "f64_bits")]
    threshold: Vec<f64>,
    r_mass: Vec<u32>,
    #[serde(with = "f64_bits")]
    window: Vec<f64>,
    counter: u32,
    first_window: bool,
}

impl TryFrom<HstState> for HalfSpaceTrees {
    type Error = HstError;

    fn try_from(s: HstState) -> Result<Self, HstError> {
        let bad = |m: &str| Err(HstError::Snapshot(m.to_owned()));
        let (n_trees, n_internal, n_nodes) = check_params(&s.params).map_err(|e| HstError::Snapshot(e.to_string()))?;
        check_features(&s.features, &s.params).map_err(|e| HstError::Snapshot(e.to_string()))?;
        if s.split_feature.len() != n_trees * n_internal || s.threshold.len() != n_trees * n_internal {
            return bad("tree arrays do not match n_trees and height");
        }
        if s.split_feature.iter().any(|&f| f as usize >= s.features.len()) {
            return bad("a split refers to an unknown feature");
        }
        if s.r_mass.len() != n_trees * n_nodes {
            return bad("mass array does not match n_trees and height");
        }
        let w = s.params.window_size;
        if s.counter >= w || s.r_mass.iter().any(|&m| m > w) {
            return bad("window counter or a mass exceeds window_size");
        }
        if s.window.len() != s.counter as usize * s.features.len() {
            return bad("window rows do not match the counter and the feature count");
        }
        Ok(Self {
            params: s.params,
            features: s.features,
            split_feature: s.split_feature,
            threshold: s.threshold,
            r_mass: s.r_mass,
            window: s.window,
            counter: s.counter,
            first_window: s.first_window,
        })
    }
}

/// Returns `(n_trees, internal nodes per tree, nodes per tree)`.
fn check_params(p: &HstParams) -> Result<(usize, usize, usize), HstError> {
    let bad = |m: &str| Err(HstError::Param(m.to_owned()));
    if p.n_trees == 0 || p.window_size == 0 {
        return bad("n_trees and window_size must be at least 1");
    }
    if !(1..=MAX_HEIGHT).contains(&p.height) {
        return bad("height must be between 1 and 20");
    }
    for (name, &(lo, hi)) in &p.limits {
        if !(lo.is_finite() && hi.is_finite() && lo < hi && (hi - lo).is_finite()) {
            return Err(HstError::Param(format!(
                "limits of {name:?} must be finite with low < high"
            )));
        }
    }
    let (n_trees, n_nodes) = (p.n_trees as usize, (2usize << p.height) - 1);
    if n_trees.saturating_mul(n_nodes) > MAX_NODES {
        return bad("n_trees * 2^(height+1) is too large (at most 2^26 nodes in all)");
    }
    Ok((n_trees, (1 << p.height) - 1, n_nodes))
}

fn check_features(features: &[String], p: &HstParams) -> Result<(), HstError> {
    if features.is_empty() || features.len() > u32::MAX as usize {
        return Err(HstError::Features("need between 1 and 2^32 - 1 features".into()));
    }
    let mut sorted: Vec<&String> = features.iter().collect();
    sorted.sort();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(HstError::Features(format!("duplicate feature {:?}", w[0])));
    }
    if let Some(name) = p.limits.keys().find(|k| sorted.binary_search(k).is_err()) {
        return Err(HstError::Features(format!("limits given for unknown feature {name:?}")));
    }
    Ok(())
}

impl HalfSpaceTrees {
    /// Builds the trees for rows whose columns are `features` (names, in row order).
    pub fn new<S: AsRef<str>>(params: HstParams, features: &[S]) -> Result<Self, HstError> {
        let features: Vec<String> = features.iter().map(|s| s.as_ref().to_owned()).collect();
        let (n_trees, n_internal, n_nodes) = check_params(&params)?;
        check_features(&features, &params)?;
        // River: `limits={i: self.limits[i] for i in sorted(x)}`; Python sorts str by code
        // point, which is the byte order of UTF-8 that `Ord for String` uses.
        let mut order: Vec<usize> = (0..features.len()).collect();
        order.sort_by(|&a, &b| features[a].cmp(&features[b]));
        let mut limits: Vec<(f64, f64)> = order
            .iter()
            .map(|&c| params.limits.get(&features[c]).copied().unwrap_or((0.0, 1.0)))
            .collect();

        let mut rng = Mt19937::new(params.seed);
        let mut split_feature = vec![0u32; n_trees * n_internal];
        let mut threshold = vec![0.0; n_trees * n_internal];
        let mut cum = Vec::with_capacity(limits.len());
        for (feat, thr) in split_feature
            .chunks_exact_mut(n_internal)
            .zip(threshold.chunks_exact_mut(n_internal))
        {
            let mut b = TreeBuilder {
                rng: &mut rng,
                limits: &mut limits,
                cum: &mut cum,
                feat,
                thr,
            };
            b.build(0, params.height)?;
            // Sorted-name index -> column index.
            for f in feat.iter_mut() {
                *f = order[*f as usize] as u32;
            }
        }
        Ok(Self {
            params,
            features,
            split_feature,
            threshold,
            r_mass: vec![0; n_trees * n_nodes],
            window: Vec::new(),
            counter: 0,
            first_window: true,
        })
    }

    pub fn params(&self) -> &HstParams {
        &self.params
    }

    /// Feature names in row order.
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// True until the first window is complete; scores are 0.0 until then.
    pub fn is_warming_up(&self) -> bool {
        self.first_window
    }

    /// Tree `t` as `(split column, threshold)` per internal node, heap order.
    pub fn tree(&self, t: usize) -> impl Iterator<Item = (u32, f64)> + '_ {
        let n = self.n_internal();
        self.split_feature[t * n..(t + 1) * n]
            .iter()
            .copied()
            .zip(self.threshold[t * n..(t + 1) * n].iter().copied())
    }

    fn n_internal(&self) -> usize {
        (1 << self.params.height) - 1
    }

    fn n_nodes(&self) -> usize {
        (2 << self.params.height) - 1
    }

    /// River's `score_one`: in [0, 1], high means anomalous; 0.0 during the first window.
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn score_one(&self, x: &[f64]) -> f64 {
        assert_eq!(
            x.len(),
            self.features.len(),
            "row width must equal the number of features"
        );
        if self.first_window {
            return 0.0;
        }
        let height = self.params.height;
        // `_max_score` is a Python int; `float / int` converts it to the nearest f64 first.
        let max_score = u64::from(self.params.n_trees) * u64::from(self.params.window_size) * ((2u64 << height) - 1);
        if max_score <= EXACT_INT {
            // Every term and partial sum is an integer <= max_score <= 2^53, so River's f64 sums
            // are exact and equal to this integer sum, whatever the order of the additions.
            return 1.0 - self.integer_score(x) as f64 / max_score as f64;
        }
        1.0 - self.float_score(x) / max_score as f64
    }

    /// The sum of River's per-tree walk scores in f64, added in River's order.
    fn float_score(&self, x: &[f64]) -> f64 {
        let height = self.params.height;
        let size_limit = 0.1 * f64::from(self.params.window_size);
        let (n_int, n_nodes) = (self.n_internal(), self.n_nodes());
        let trees = self.r_mass.chunks_exact(n_nodes).zip(
            self.split_feature
                .chunks_exact(n_int)
                .zip(self.threshold.chunks_exact(n_int)),
        );
        let mut score = 0.0;
        for (r, (feat, thr)) in trees {
            score += walk_score(r, feat, thr, x, height, size_limit);
        }
        score
    }

    /// The sum of River's per-tree walk scores as an integer. Walks `LANES` trees level by level
    /// without branching on the data, so that their loads overlap; a lane that River would
    /// have stopped keeps walking but adds nothing.
    fn integer_score(&self, x: &[f64]) -> u64 {
        let height = self.params.height;
        let (n_int, n_nodes) = (self.n_internal(), self.n_nodes());
        // `f64::from(m) < 0.1 * window_size` exactly when `m < limit` for an integer `m`.
        let limit = (0.1 * f64::from(self.params.window_size)).ceil() as u64;
        let n_trees = self.params.n_trees as usize;
        let mut total = 0u64;
        for first in (0..n_trees).step_by(LANES) {
            let lanes = (n_trees - first).min(LANES);
            let mut node = [0usize; LANES];
            // 1 while River would still be walking this lane's tree, then 0 for good.
            let mut alive = [0u64; LANES];
            alive[..lanes].fill(1);
            let mut depth = 0;
            while depth < height {
                let mut any = 0;
                for l in 0..lanes {
                    let t = first + l;
                    let m = u64::from(self.r_mass[t * n_nodes + node[l]]);
                    total += (m * alive[l]) << depth;
                    alive[l] &= u64::from(m >= limit);
                    any |= alive[l];
                    let i = t * n_int + node[l];
                    let v = x[self.split_feature[i] as usize];
                    // NaN compares false and goes right, as in River.
                    node[l] = 2 * node[l] + 2 - usize::from(v < self.threshold[i]);
                }
                depth += 1;
                if any == 0 {
                    break;
                }
            }
            if depth == height {
                // Lanes still alive at the leaves add the leaf's mass and stop there.
                for l in 0..lanes {
                    let m = u64::from(self.r_mass[(first + l) * n_nodes + node[l]]);
                    total += (m * alive[l]) << height;
                }
            }
        }
        total
    }

    /// River's `learn_one`: adds `x` to the current window; pivots at window end.
    ///
    /// # Panics
    /// If `x` does not have one value per feature.
    pub fn learn_one(&mut self, x: &[f64]) {
        assert_eq!(
            x.len(),
            self.features.len(),
            "row width must equal the number of features"
        );
        if self.window.capacity() == 0 {
            self.window
                .reserve_exact(self.params.window_size as usize * self.features.len());
        }
        self.window.extend_from_slice(x);
        self.counter += 1;
        if self.counter == self.params.window_size {
            self.pivot();
            self.first_window = false;
            self.counter = 0;
        }
    }

    /// River's window end (`r_mass = l_mass; l_mass = 0`), counting the buffered rows per node.
    fn pivot(&mut self) {
        let (n_int, n_nodes, nf) = (self.n_internal(), self.n_nodes(), self.features.len());
        let size_limit = 0.1 * f64::from(self.params.window_size);
        let mut idx: Vec<u32> = Vec::with_capacity(self.counter as usize);
        let trees = self.r_mass.chunks_exact_mut(n_nodes).zip(
            self.split_feature
                .chunks_exact(n_int)
                .zip(self.threshold.chunks_exact(n_int)),
        );
        for (r, (feat, thr)) in trees {
            let mut m = Masses {
                r,
                feat,
                thr,
                rows: &self.window,
                n_features: nf,
                height: self.params.height,
                size_limit,
            };
            m.clear(0, 0);
            idx.clear();
            idx.extend(0..self.counter);
            m.count(0, 0, &mut idx);
        }
        self.window.clear();
    }
}

/// One tree's `r_mass` and splits, with the rows of a complete window.
struct Masses<'a> {
    r: &'a mut [u32],
    feat: &'a [u32],
    thr: &'a [f64],
    rows: &'a [f64],
    n_features: usize,
    height: u32,
    size_limit: f64,
}

impl Masses<'_> {
    /// Whether a walk that reads `mass` at `depth` goes on to the children.
    fn descends(&self, mass: u32, depth: u32) -> bool {
        depth < self.height && f64::from(mass) >= self.size_limit
    }

    /// Zeroes the entries a walk can read (those `count` wrote for the previous window).
    fn clear(&mut self, node: usize, depth: u32) {
        let m = std::mem::take(&mut self.r[node]);
        if self.descends(m, depth) {
            self.clear(2 * node + 1, depth + 1);
            self.clear(2 * node + 2, depth + 1);
        }
    }

    /// Writes the mass of `node` (the rows in `idx`) and, where a walk would read on, its
    /// children's, partitioning `idx` as River's `_walk` would route the rows.
    fn count(&mut self, node: usize, depth: u32, idx: &mut [u32]) {
        // At most window_size (a u32) rows.
        let m = idx.len() as u32;
        self.r[node] = m;
        if !self.descends(m, depth) {
            return;
        }
        let (f, t) = (self.feat[node] as usize, self.thr[node]);
        let nf = self.n_features;
        let rows = self.rows;
        // Branch-free Lomuto partition: rows within a window are in random order relative to
        // a split, so a data-dependent branch here mispredicts about half the time.
        // Invariant: idx[..left] go left, idx[left..i] go right. NaN compares false: right.
        let mut left = 0;
        for i in 0..idx.len() {
            let row = idx[i];
            let goes_left = rows[row as usize * nf + f] < t;
            idx[i] = idx[left];
            idx[left] = row;
            left += usize::from(goes_left);
        }
        let (l, r) = idx.split_at_mut(left);
        self.count(2 * node + 1, depth + 1, l);
        self.count(2 * node + 2, depth + 1, r);
    }
}

#[inline(always)]
fn child(node: usize, value: f64, threshold: f64) -> usize {
    // NaN compares false and goes right, as in River. Kept as a branch on purpose: metric rows
    // are autocorrelated, so consecutive points take the same paths and the predictor wins
    // (a branch-free select measured 2x slower: it serializes every level on its loads).
    if value < threshold { 2 * node + 1 } else { 2 * node + 2 }
}

/// River's `_walk_score` for one tree.
#[inline(always)]
fn walk_score(r: &[u32], feat: &[u32], thr: &[f64], x: &[f64], height: u32, size_limit: f64) -> f64 {
    let (mut node, mut depth_pow, mut score) = (0usize, 1u64, 0.0f64);
    for _ in 0..height {
        let m = r[node];
        score += (u64::from(m) * depth_pow) as f64;
        if f64::from(m) < size_limit {
            return score;
        }
        node = child(node, x[feat[node] as usize], thr[node]);
        depth_pow <<= 1;
    }
    score + (u64::from(r[node]) * depth_pow) as f64
}

struct TreeBuilder<'a> {
    rng: &'a mut Mt19937,
    /// Current `(low, high)` per feature, sorted-name order.
    limits: &'a mut [(f64, f64)],
    cum: &'a mut Vec<f64>,
    /// Output for one tree; `feat` holds sorted-name indices until the caller maps them.
    feat: &'a mut [u32],
    thr: &'a mut [f64],
}

impl TreeBuilder<'_> {
    /// River's `make_padded_tree`, pre-order, writing internal node `node` and its subtrees.
    fn build(&mut self, node: usize, height: u32) -> Result<(), HstError> {
        if height == 0 {
            return Ok(());
        }
        let widths = self.limits.iter().map(|&(a, b)| b - a);
        let Some(on) = self.rng.choice_weighted(widths, self.cum) else {
            return Err(HstError::Param(
                "feature limits became degenerate while building a tree".into(),
            ));
        };
        let (a, b) = self.limits[on];
        let at = self.rng.uniform(a + PADDING * (b - a), b - PADDING * (b - a));
        self.feat[node] = on as u32;
        self.thr[node] = at;
        self.limits[on] = (a, at);
        self.build(2 * node + 1, height - 1)?;
        self.limits[on] = (at, b);
        self.build(2 * node + 2, height - 1)?;
        self.limits[on] = (a, b);
        Ok(())
    }
}

/// Serde for `Vec<f64>` as the IEEE-754 bit patterns (`Vec<u64>`): exact in any format, and
/// infinities survive JSON. Used by the snapshots here and in `minmax`.
pub(crate) mod f64_bits {
    use serde::{Deserialize, Deserializer, Serializer, ser::SerializeSeq};

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&x.to_bits())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<u64>::deserialize(d)?.into_iter().map(f64::from_bits).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_cpython_random() {
        // python3 -c 'import random; r = random.Random(42); print([r.random() for _ in range(5)])'
        let mut r = Mt19937::new(42);
        let want = [
            0.6394267984578837,
            0.025010755222666936,
            0.27502931836911926,
            0.22321073814882275,
            0.7364712141640124,
        ];
        for w in want {
            assert_eq!(r.random().to_bits(), f64::to_bits(w));
        }
        // random.Random(42).getrandbits(32) x3
        let mut r = Mt19937::new(42);
        assert_eq!(
            [r.next_u32(), r.next_u32(), r.next_u32()],
            [2746317213, 478163327, 107420369]
        );
        let mut r = Mt19937::new(0);
        assert_eq!(r.random(), 0.8444218515250481);
        assert_eq!(r.random(), 0.7579544029403025);
        // A two-word key: random.Random(2**40 + 7).
        let mut r = Mt19937::new((1 << 40) + 7);
        assert_eq!(r.random(), 0.6137037779936511);
        assert_eq!(r.random(), 0.8149162973309487);
        // Past the first 624-word regeneration.
        let mut r = Mt19937::new(42);
        let last = (0..1000).map(|_| r.random()).last();
        assert_eq!(last, Some(0.8554501933059546));
    }

    #[test]
    fn tree_for_seed_42_matches_reference() {
        // `python3 shared/anomaly/hst_reference.py`: seed 42, 4 features, height 3.
        let p = HstParams {
            n_trees: 1,
            height: 3,
            ..HstParams::with_seed(42)
        };
        let hst = HalfSpaceTrees::new(p, &["a", "b", "c", "d"]).unwrap();
        let (feat, thr): (Vec<u32>, Vec<f64>) = hst.tree(0).unzip();
        assert_eq!(feat, [2, 0, 1, 3, 3, 0, 0]);
        let want = [
            0.16750752865586685,
            0.30624751670417594,
            0.17085805360664924,
            0.6236896411960379,
            0.2108571828405913,
            0.5037487016723536,
            0.28918635548065397,
        ];
        assert_eq!(
            thr.iter().map(|t| t.to_bits()).collect::<Vec<_>>(),
            want.map(f64::to_bits)
        );
    }

    #[test]
    fn features_follow_sorted_names_not_columns() {
        // Same sorted names in a different column order: same trees, columns remapped.
        let p = HstParams {
            n_trees: 2,
            height: 4,
            ..HstParams::with_seed(7)
        };
        let a = HalfSpaceTrees::new(p.clone(), &["a", "b", "c"]).unwrap();
        let b = HalfSpaceTrees::new(p, &["c", "a", "b"]).unwrap();
        let col_b_to_a = [2u32, 0, 1];
        for t in 0..2 {
            for ((fa, ta), (fb, tb)) in a.tree(t).zip(b.tree(t)) {
                assert_eq!((fa, ta.to_bits()), (col_b_to_a[fb as usize], tb.to_bits()));
            }
        }
    }

    #[test]
    fn limits_and_feature_set_are_checked() {
        let mut p = HstParams::default();
        p.limits.insert("zz".into(), (0.0, 2.0));
        assert!(matches!(
            HalfSpaceTrees::new(p.clone(), &["a"]),
            Err(HstError::Features(_))
        ));
        p.limits = BTreeMap::from([("a".to_owned(), (1.0, 1.0))]);
        assert!(matches!(HalfSpaceTrees::new(p, &["a"]), Err(HstError::Param(_))));
        assert!(HalfSpaceTrees::new(HstParams::default(), &["a", "a"]).is_err());
        assert!(HalfSpaceTrees::new(HstParams::default(), &[] as &[&str]).is_err());
        let p = HstParams {
            height: 0,
            ..HstParams::default()
        };
        assert!(HalfSpaceTrees::new(p, &["a"]).is_err());
        let p = HstParams {
            n_trees: 1000,
            height: 20,
            ..HstParams::default()
        };
        assert!(matches!(HalfSpaceTrees::new(p, &["a"]), Err(HstError::Param(_))));
    }

    #[test]
    fn river_docstring_example() {
        // River's HalfSpaceTrees docstring: n_trees=5, height=3, window_size=3, seed=42.
        let p = HstParams {
            n_trees: 5,
            height: 3,
            window_size: 3,
            ..HstParams::with_seed(42)
        };
        let mut hst = HalfSpaceTrees::new(p, &["x"]).unwrap();
        let xs = [0.5, 0.45, 0.43, 0.44, 0.445, 0.45, 0.0];
        for &x in &xs[..3] {
            hst.learn_one(&[x]);
        }
        let want = [0.107, 0.071, 0.107, 0.107, 0.107, 0.071, 0.853];
        for (&x, w) in xs.iter().zip(want) {
            hst.learn_one(&[x]);
            let s = hst.score_one(&[x]);
            assert!((s - w).abs() < 5e-4, "x={x}: {s} vs {w}");
        }
    }

    fn stream(n: usize) -> impl Iterator<Item = [f64; 3]> {
        let mut r = Mt19937::new(9);
        (0..n).map(move |i| {
            [
                r.random(),
                r.random() * 0.5,
                if i % 97 == 0 { 0.99 } else { r.random() * 0.2 },
            ]
        })
    }

    #[test]
    fn snapshot_restores_and_continues_identically() {
        let p = HstParams {
            window_size: 50,
            ..HstParams::with_seed(3)
        };
        let mut hst = HalfSpaceTrees::new(p, &["x", "y", "z"]).unwrap();
        let rows: Vec<[f64; 3]> = stream(500).collect();
        for row in &rows[..175] {
            hst.score_one(row);
            hst.learn_one(row);
        }
        let json = serde_json::to_string(&hst).unwrap();
        let mut restored: HalfSpaceTrees = serde_json::from_str(&json).unwrap();
        assert_eq!(restored, hst);
        for row in &rows[175..] {
            assert_eq!(hst.score_one(row).to_bits(), restored.score_one(row).to_bits());
            hst.learn_one(row);
            restored.learn_one(row);
        }
        assert!(!hst.is_warming_up());
    }

    #[test]
    fn integer_walk_equals_river_float_walk() {
        // Lanes not a multiple of LANES, a window whose size limit is not an integer, NaN rows.
        for (n_trees, height, window_size) in [(10, 8, 250), (13, 5, 37), (3, 12, 7), (9, 1, 1)] {
            let p = HstParams {
                n_trees,
                height,
                window_size,
                ..HstParams::with_seed(5)
            };
            let mut hst = HalfSpaceTrees::new(p, &["x", "y", "z"]).unwrap();
            let mut differs = 0;
            for (i, row) in stream(3_000).enumerate() {
                let row = if i % 101 == 0 { [f64::NAN, row[1], row[2]] } else { row };
                let (a, b) = (hst.integer_score(&row), hst.float_score(&row));
                assert_eq!(a as f64, b, "{n_trees}x{height}/{window_size} row {i}");
                differs += usize::from(a != hst.integer_score(&[0.5, 0.1, 0.05]));
                hst.learn_one(&row);
            }
            assert!(differs > 100, "scores vary: {differs}");
        }
    }

    #[test]
    fn inconsistent_snapshot_is_refused() {
        let hst = HalfSpaceTrees::new(HstParams::default(), &["x"]).unwrap();
        let mut v = serde_json::to_value(&hst).unwrap();
        v["split_feature"][0] = 5.into();
        assert!(serde_json::from_value::<HalfSpaceTrees>(v).is_err());
        let mut v = serde_json::to_value(&hst).unwrap();
        v["r_mass"].as_array_mut().unwrap().pop();
        assert!(serde_json::from_value::<HalfSpaceTrees>(v).is_err());
        let mut v = serde_json::to_value(&hst).unwrap();
        v["window"].as_array_mut().unwrap().push(0.into());
        assert!(serde_json::from_value::<HalfSpaceTrees>(v).is_err());
    }
}
