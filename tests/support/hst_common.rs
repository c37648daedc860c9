//! Helpers shared by River comparison tests: the shared generator and a venv with River.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

pub const RIVER_VERSION: &str = "0.26.1";

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn shared_anomaly() -> PathBuf {
    let dir = root().parent().expect("checkout has a parent").join("shared/anomaly");
    assert!(
        dir.join("gen_stream.py").is_file(),
        "{} is missing: shared/ must sit beside the checkout",
        dir.display()
    );
    dir
}

pub fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // Throughput lines and the like, shown with --nocapture.
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
}

/// `gen_stream.py --n N --k K --seed SEED` into `dir`; returns the CSV path.
pub fn gen_stream(dir: &Path, n: u32, k: u32, seed: u64) -> PathBuf {
    let csv = dir.join(format!("stream-{n}-{k}-{seed}.csv"));
    run(Command::new("python3")
        .arg(shared_anomaly().join("gen_stream.py"))
        .args([
            "--n",
            &n.to_string(),
            "--k",
            &k.to_string(),
            "--seed",
            &seed.to_string(),
            "--out",
        ])
        .arg(&csv));
    csv
}

/// The python of `.ci-tools/venv-river` with river==0.26.1, installing it on first use.
pub fn river_python() -> PathBuf {
    let venv = root().join(".ci-tools/venv-river");
    let py = venv.join("bin/python");
    let has_river = || {
        py.is_file()
            && Command::new(&py)
                .args([
                    "-c",
                    "import sys, river; sys.exit(river.__version__ != sys.argv[1])",
                    RIVER_VERSION,
                ])
                .output()
                .is_ok_and(|o| o.status.success())
    };
    if !has_river() {
        eprintln!("installing river=={RIVER_VERSION} into {}", venv.display());
        if venv.exists() {
            std::fs::remove_dir_all(&venv).expect("remove stale venv");
        }
        run(Command::new("python3").args(["-m", "venv"]).arg(&venv));
        run(Command::new(&py).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &format!("river=={RIVER_VERSION}"),
        ]));
        assert!(has_river(), "{} does not import river {RIVER_VERSION}", venv.display());
    }
    py
}
