//! `incident-mcp score`, black box: `--detector hst` prints River's scores bit for bit; bad
//! input is exit 1 with one `Error:` line naming the line; the zscore and default detectors
//! find obvious anomalies and report ROC-AUC / PR-AUC on stderr when the CSV has labels.

use crate::hst_common as common;

use std::{path::Path, process::Command};

use assert_cmd::cargo::CommandCargoExt;

fn score(args: &[&str], csv: &Path) -> std::process::Output {
    Command::cargo_bin("incident-mcp")
        .expect("binary")
        .arg("score")
        .args(args)
        .arg("--csv")
        .arg(csv)
        .output()
        .expect("run incident-mcp")
}

fn parse_scores(stdout: &[u8]) -> Vec<f64> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| l.parse::<f64>().unwrap_or_else(|e| panic!("bad score {l:?}: {e}")))
        .collect()
}

#[test]
fn hst_scores_are_rivers_bit_for_bit() {
    let py = common::river_python();
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = common::gen_stream(tmp.path(), 8_000, 4, 99);
    for (params, ours_args) in [
        (vec!["--seed=42"], vec!["--detector", "hst"]),
        (
            vec!["--seed=3", "--n-trees=12", "--height=6", "--window-size=100"],
            vec![
                "--detector",
                "hst",
                "--seed",
                "3",
                "--n-trees",
                "12",
                "--height",
                "6",
                "--window",
                "100",
            ],
        ),
    ] {
        let out_file = tmp.path().join("river.scores");
        common::run(
            Command::new(&py)
                .arg(common::root().join("tests/hst/river_scores.py"))
                .arg("--impl=river")
                .arg("--csv")
                .arg(&csv)
                .arg("--out")
                .arg(&out_file)
                .args(&params),
        );
        let theirs: Vec<f64> = std::fs::read_to_string(&out_file)
            .expect("scores")
            .lines()
            .map(|l| l.parse().expect("river score"))
            .collect();
        let out = score(&ours_args, &csv);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let ours = parse_scores(&out.stdout);
        assert_eq!(ours.len(), theirs.len());
        let first_diff = (0..ours.len()).find(|&i| ours[i].to_bits() != theirs[i].to_bits());
        assert_eq!(first_diff, None, "{params:?}: first differing row");
        assert!(
            theirs.iter().filter(|s| **s > 0.0).count() > 4_000,
            "past the first window"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ROC-AUC 0.") && err.contains("PR-AUC 0."), "{err}");
    }
}

/// 600 rows around 10 with small deterministic noise; rows 300 and 450 jump by +40 and -40.
fn obvious_csv(dir: &Path) -> std::path::PathBuf {
    let mut text = String::from("ts,cpu,latency,label\n");
    for i in 0..600u32 {
        let noise = f64::from((i * 37) % 11) / 10.0;
        let (bump, label) = match i {
            300 => (40.0, 1),
            450 => (-40.0, 1),
            _ => (0.0, 0),
        };
        text += &format!("{i},{},{},{label}\n", 10.0 + noise + bump, 50.0 - noise);
    }
    let path = dir.join("obvious.csv");
    std::fs::write(&path, text).expect("write csv");
    path
}

#[test]
fn zscore_and_default_find_obvious_anomalies() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = obvious_csv(tmp.path());
    for detector in ["zscore", "default"] {
        let out = score(&["--detector", detector], &csv);
        assert!(
            out.status.success(),
            "{detector}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = parse_scores(&out.stdout);
        assert_eq!(s.len(), 600);
        assert!(
            s.iter().all(|v| (0.0..=1.0).contains(v)),
            "{detector}: scores in [0, 1]"
        );
        // zscore saturates towards 1; the default's scores keep ranking (tail probabilities),
        // so both jumps alarm at the default threshold and outrank every normal row.
        let top = if detector == "default" { 0.8 } else { 0.99 };
        assert!(s[300] > top && s[450] > top, "{detector}: {} {}", s[300], s[450]);
        let normal_max = (100..600)
            .filter(|&i| i != 300 && i != 450)
            .map(|i| s[i])
            .fold(0.0, f64::max);
        assert!(normal_max < 0.8, "{detector}: a normal row scores {normal_max}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("ROC-AUC 1.0000 PR-AUC 1.0000"), "{detector}: {err}");
        assert!(
            err.contains("throughput ") && err.contains(" rows/s"),
            "{detector}: {err}"
        );
    }
    // Only one column: the other one's anomalies are invisible.
    let out = score(&["--detector", "zscore", "--columns", "latency"], &csv);
    assert!(out.status.success());
    assert!(parse_scores(&out.stdout)[300] < 0.8);
}

fn assert_input_error(out: &std::process::Output, needle: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty(), "no scores on error");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.starts_with("Error: ") && err.contains(needle),
        "{needle:?} not in {err}"
    );
}

#[test]
fn bad_input_is_exit_1_with_the_line() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let write = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        p
    };
    assert_input_error(&score(&[], &tmp.path().join("missing.csv")), "cannot read");
    let bad = write("bad.csv", "ts,a,b\n1,2,3\n2,4,x5\n");
    assert_input_error(&score(&["--detector", "zscore"], &bad), "line 3: column b: bad number");
    let nan = write("nan.csv", "ts,a,b\n1,2,3\n2,4,5\n3,NaN,1\n");
    assert_input_error(&score(&["--detector", "hst"], &nan), "line 4: column a");
    let ok = write("ok.csv", "ts,a,b\n1,2,3\n");
    assert_input_error(&score(&["--columns", "a,c"], &ok), "unknown column \"c\"");
    assert_input_error(
        &score(&["--detector", "zscore", "--height", "3"], &ok),
        "--detector hst only",
    );
    assert_input_error(&score(&["--detector", "hst", "--height", "0"], &ok), "height");
    assert_input_error(&score(&["--detector", "hst", "--raw"], &ok), "--detector default only");
    let ts = write("ts.csv", "ts,a\n2026-01-01T00:00:00Z,1\nyesterday,2\n");
    assert_input_error(&score(&[], &ts), "line 3: column ts");
}
