//! Throughput of the default detector (`detect::ensemble`), score-then-learn per row (target: at
//! least 1 M rows/s per core): a 1-feature series sampled every 5 minutes (NAB-like, daily and weekly
//! seasons active) and 4-feature rows every minute. Prints criterion's `thrpt` (rows/s) per
//! second of wall-clock time (`ensemble/...`) and per second of the benchmark thread's own CPU
//! time (`ensemble-cpu/...`, `CLOCK_THREAD_CPUTIME_ID`), which stays comparable when other
//! processes share the machine.
//!
//! `cargo bench --bench ensemble`

mod support;

use criterion::{
    BatchSize, Criterion, Throughput, criterion_group, criterion_main,
    measurement::{Measurement, WallTime},
};
use incident_mcp::detect::{
    ensemble::{Ensemble, EnsembleParams},
    hst::Mt19937,
};
use support::ThreadCpu;

const ROWS: usize = 20_000;

/// Timestamps `step` seconds apart and `k` features: a daily cycle, noise, a spike every 997 rows.
fn stream(step: f64, k: usize) -> (Vec<f64>, Vec<f64>) {
    let mut rng = Mt19937::new(7);
    let mut values = Vec::with_capacity(ROWS * k);
    let ts = (0..ROWS).map(|i| 1.7e9 + i as f64 * step).collect::<Vec<_>>();
    for (i, t) in ts.iter().enumerate() {
        let day = (std::f64::consts::TAU * t / 86_400.0).sin();
        let spike = if i % 997 == 0 { 8.0 } else { 0.0 };
        for f in 0..k {
            values.push(10.0 * (f + 1) as f64 + 3.0 * day + rng.random() + spike);
        }
    }
    (ts, values)
}

fn bench_rows<M: Measurement>(c: &mut Criterion<M>, group_name: &str, name: &str, step: f64, k: usize) {
    let (ts, values) = stream(step, k);
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.sample_size(20);
    group.bench_function(name, |b| {
        b.iter_batched(
            || Ensemble::new(EnsembleParams::default(), k).expect("model"),
            |mut model| {
                let mut sum = 0.0;
                for (t, row) in ts.iter().zip(values.chunks_exact(k)) {
                    sum += model.score_learn_at(Some(*t), row).event;
                }
                sum
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
}

fn bench_wall(c: &mut Criterion) {
    bench_rows(c, "ensemble", "default_1_feature_5min_score_learn", 300.0, 1);
    bench_rows(c, "ensemble", "default_4_features_1min_score_learn", 60.0, 4);
}

fn bench_cpu(c: &mut Criterion<ThreadCpu>) {
    bench_rows(c, "ensemble-cpu", "default_1_feature_5min_score_learn", 300.0, 1);
    bench_rows(c, "ensemble-cpu", "default_4_features_1min_score_learn", 60.0, 4);
}

criterion_group!(benches, bench_wall);
criterion_group! {
    name = cpu_benches;
    config = Criterion::default().with_measurement(ThreadCpu { wall: WallTime });
    targets = bench_cpu
}
criterion_main!(benches, cpu_benches);
