//! HST is River, exactly: the Rust `MinMaxScaler | HalfSpaceTrees` must produce bit-for-bit the
//! scores of River 0.26.1's `MinMaxScaler() | HalfSpaceTrees(seed=42)` (score then learn per
//! row) on streams from `shared/anomaly/gen_stream.py`, and those of the executable spec
//! `shared/anomaly/hst_reference.py`. River is installed from PyPI into `.ci-tools/venv-river`
//! (git-ignored, reused when it already has the right version); `shared/` sits beside the
//! checkout, as in CI. Python runs through `tests/hst/river_scores.py`.
//!
//! Throughput lives in `benches/hst.rs` (`cargo bench --bench hst`).

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use crate::hst_common as common;

use common::{gen_stream, river_python, root, run, shared_anomaly};
use incident_mcp::detect::{hst::HstParams, minmax::ScaledHst};

fn params_args(p: &HstParams) -> Vec<String> {
    let mut args = vec![
        format!("--n-trees={}", p.n_trees),
        format!("--height={}", p.height),
        format!("--window-size={}", p.window_size),
        format!("--seed={}", p.seed),
    ];
    if !p.limits.is_empty() {
        args.push(format!(
            "--limits={}",
            serde_json::to_string(&p.limits).expect("limits as JSON")
        ));
    }
    args
}

/// Scores written by `tests/hst/river_scores.py --impl IMPL` (one `repr(float)` per line).
fn python_scores(python: &Path, implementation: &str, csv: &Path, p: &HstParams) -> Vec<f64> {
    let out = csv.with_extension(format!("{implementation}.scores"));
    run(Command::new(python)
        .arg(root().join("tests/hst/river_scores.py"))
        .arg(format!("--impl={implementation}"))
        .arg("--csv")
        .arg(csv)
        .arg("--out")
        .arg(&out)
        .arg("--reference-dir")
        .arg(shared_anomaly())
        .args(params_args(p)));
    let text = std::fs::read_to_string(&out).expect("read scores");
    // Rust's f64 parser is correctly rounded, so repr text gives back the exact bits.
    text.lines()
        .map(|l| l.parse::<f64>().unwrap_or_else(|e| panic!("bad score {l:?}: {e}")))
        .collect()
}

/// Our pipeline over the CSV's feature columns (all but `ts` and `label`), in process.
fn rust_scores(csv: &Path, p: &HstParams) -> Vec<f64> {
    let text = std::fs::read_to_string(csv).expect("read csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().expect("header").split(',').collect();
    let cols: Vec<usize> = (0..header.len())
        .filter(|&i| !matches!(header[i], "ts" | "label"))
        .collect();
    let names: Vec<&str> = cols.iter().map(|&i| header[i]).collect();
    let mut model = ScaledHst::new(p.clone(), &names).expect("valid parameters");
    let mut row = vec![0.0; cols.len()];
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            for (v, &c) in row.iter_mut().zip(&cols) {
                *v = fields[c]
                    .parse()
                    .unwrap_or_else(|e| panic!("bad value {:?}: {e}", fields[c]));
            }
            model.score_learn_one(&row)
        })
        .collect()
}

fn assert_bitwise(ours: &[f64], theirs: &[f64], what: &str) {
    assert_eq!(ours.len(), theirs.len(), "{what}: row counts differ");
    let bad: Vec<usize> = (0..ours.len())
        .filter(|&i| ours[i].to_bits() != theirs[i].to_bits())
        .collect();
    if let Some(&i) = bad.first() {
        panic!(
            "{what}: {} of {} scores differ; first at row {i} (0-based, after the header): \
             ours {:?} ({:#018x}) vs {:?} ({:#018x})",
            bad.len(),
            ours.len(),
            ours[i],
            ours[i].to_bits(),
            theirs[i],
            theirs[i].to_bits()
        );
    }
    let warm = theirs.iter().filter(|s| **s != 0.0).count();
    assert!(
        warm > ours.len() / 2,
        "{what}: too few scored rows ({warm}) to mean anything"
    );
    eprintln!(
        "{what}: {} scores bit-for-bit equal ({warm} past the first window)",
        ours.len()
    );
}

/// Rewrites the header so that column order and sorted-name order differ.
fn rename_columns(csv: &Path, names: &[&str]) -> PathBuf {
    let text = std::fs::read_to_string(csv).expect("read csv");
    let (_, body) = text.split_once('\n').expect("header line");
    let out = csv.with_file_name("renamed.csv");
    std::fs::write(&out, format!("ts,{},label\n{body}", names.join(","))).expect("write csv");
    out
}

#[test]
fn rust_hst_equals_river_bit_for_bit() {
    let py = river_python();
    let tmp = tempfile::tempdir().expect("tempdir");

    // The acceptance case: River's defaults, seed 42, 20,000 rows of 4 features.
    let csv = gen_stream(tmp.path(), 20_000, 4, 20_240_611);
    let p = HstParams::with_seed(42);
    assert_bitwise(
        &rust_scores(&csv, &p),
        &python_scores(&py, "river", &csv, &p),
        "River defaults, seed 42",
    );

    // Other parameters, limits, and feature names whose sorted order is not the column order.
    let csv = gen_stream(tmp.path(), 6_000, 5, 7);
    let csv = rename_columns(&csv, &["zeta", "alpha", "mid", "beta", "omega"]);
    let p = HstParams {
        n_trees: 7,
        height: 6,
        window_size: 100,
        seed: (1 << 40) + 7,
        limits: BTreeMap::from([("alpha".to_owned(), (-0.5, 1.5)), ("omega".to_owned(), (0.25, 1.0))]),
    };
    assert_bitwise(
        &rust_scores(&csv, &p),
        &python_scores(&py, "river", &csv, &p),
        "River, custom parameters",
    );
}

#[test]
fn rust_hst_equals_reference_spec() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = gen_stream(tmp.path(), 5_000, 3, 11);
    let p = HstParams::with_seed(42);
    let py = Path::new("python3");
    assert_bitwise(
        &rust_scores(&csv, &p),
        &python_scores(py, "reference", &csv, &p),
        "hst_reference.py, seed 42",
    );
    let p = HstParams {
        n_trees: 25,
        height: 10,
        window_size: 300,
        ..HstParams::with_seed(0)
    };
    assert_bitwise(
        &rust_scores(&csv, &p),
        &python_scores(py, "reference", &csv, &p),
        "hst_reference.py, seed 0",
    );
}
