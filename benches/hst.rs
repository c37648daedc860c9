//! Throughput of Half-Space Trees, score-then-learn per point: `MinMaxScaler | HalfSpaceTrees`
//! with River's defaults (10 trees, height 8; target >= 2.5 M points/s, 100x River) and with 25
//! trees of height 15 (target >= 74,000 points/s). The zscore and default detectors' speed is
//! printed by `bench/accuracy.sh`. Prints points per second (criterion's `thrpt` line) twice: per
//! second of wall-clock time (`hst/...`) and per second of the benchmark thread's own CPU time
//! (`hst-cpu/...`, `CLOCK_THREAD_CPUTIME_ID`). The CPU-time figure is what one core does while it
//! runs the detector; it stays comparable when other processes share the machine, where the
//! wall-clock figure only says how much of a core the bench got.
//!
//! `cargo bench --bench hst`

mod support;

use criterion::{
    BatchSize, Criterion, Throughput, criterion_group, criterion_main,
    measurement::{Measurement, WallTime},
};
use incident_mcp::detect::{hst::HstParams, hst::Mt19937, minmax::ScaledHst};
use support::ThreadCpu;

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

fn bench_scaled_hst<M: Measurement>(
    c: &mut Criterion<M>,
    group_name: &str,
    rows: &[[f64; 4]],
    name: &str,
    params: HstParams,
) {
    let mut group = c.benchmark_group(group_name);
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

fn big() -> HstParams {
    HstParams {
        n_trees: 25,
        height: 15,
        ..HstParams::with_seed(42)
    }
}

fn bench_hst(c: &mut Criterion) {
    let rows = stream();
    bench_scaled_hst(
        c,
        "hst",
        &rows,
        "scaled_hst_default_score_learn",
        HstParams::with_seed(42),
    );
    bench_scaled_hst(c, "hst", &rows, "scaled_hst_25x15_score_learn", big());
}

fn bench_hst_cpu(c: &mut Criterion<ThreadCpu>) {
    let rows = stream();
    bench_scaled_hst(
        c,
        "hst-cpu",
        &rows,
        "scaled_hst_default_score_learn",
        HstParams::with_seed(42),
    );
    bench_scaled_hst(c, "hst-cpu", &rows, "scaled_hst_25x15_score_learn", big());
}

criterion_group!(benches, bench_hst);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu { wall: WallTime });
    targets = bench_hst_cpu
}
criterion_main!(benches, cpu_benches);
