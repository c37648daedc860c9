//! Throughput of the streaming detectors, score-then-learn per point: `MinMaxScaler |
//! HalfSpaceTrees` with River's defaults (10 trees, height 8; target >= 2.5 M points/s, 100x River)
//! and with 25 trees of height 15 (target >= 74,000 points/s); the rolling z-score and the
//! default (ensemble) detector. Prints points per second (criterion's `thrpt` line).
//!
//! `cargo bench --bench hst`

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use incident_mcp::detect::{hst::HstParams, hst::Mt19937, minmax::ScaledHst};

const POINTS: usize = 20_000;

/// A deterministic 4-feature stream: noise around a level, with a spike every 997 points.
fn stream() -> Vec<[f64; 4]> {
    let mut rng = Mt19937::new(7);
    (0..POINTS)
        .map(|i| {
            let spike = if i % 997 == 0 { 5.0 } else { 0.0 };
            [
                1.0 + rng.random() + spike,
                10.0 * rng.random(),
                rng.uniform(-1.0, 1.0),
                100.0 + rng.random() - spike,
            ]
        })
        .collect()
}

fn bench_scaled_hst(c: &mut Criterion, rows: &[[f64; 4]], name: &str, params: HstParams) {
    let mut group = c.benchmark_group("hst");
    group.throughput(Throughput::Elements(rows.len() as u64));
    group.sample_size(20);
    group.bench_function(name, |b| {
        b.iter_batched(
            || ScaledHst::new(params.clone(), &["f1", "f2", "f3", "f4"]).expect("model"),
            |mut model| {
                let mut sum = 0.0;
                for row in rows {
                    sum += model.score_learn_one(row);
                }
                sum
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_hst(c: &mut Criterion) {
    let rows = stream();
    bench_scaled_hst(c, &rows, "scaled_hst_default_score_learn", HstParams::with_seed(42));
    let big = HstParams {
        n_trees: 25,
        height: 15,
        ..HstParams::with_seed(42)
    };
    bench_scaled_hst(c, &rows, "scaled_hst_25x15_score_learn", big);
}

criterion_group!(benches, bench_hst);
criterion_main!(benches);
