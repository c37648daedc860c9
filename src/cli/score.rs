//! `incident-mcp score`: runs a streaming anomaly detector over a CSV file and prints one score
//! per row (score then learn, in file order). The CSV has a header; `ts` and `label` are never
//! features, every other column is unless `--columns` picks some. With a `label` column (0/1),
//! ROC-AUC and PR-AUC go to stderr. The whole file is parsed before the first score is printed,
//! so bad input produces no scores, only one `Error: line N: ...`.
//!
//! Hidden flags for `bench/accuracy.sh`: `--eval-events FILE` prints a JSON `eval` line to stderr
//! (all metrics of `detect::eval`, plus points per second of the scoring loop);
//! `--scores-from FILE` evaluates scores computed elsewhere (one per line, e.g. River's) with
//! the same code instead of running a detector.

use std::{
    io::{BufWriter, Write},
    path::{Path, PathBuf},
    time::Instant,
};

use clap::{Args, ValueEnum};

use crate::detect::{
    ensemble::{Ensemble, EnsembleParams},
    eval::{self, EventsFile},
    hst::HstParams,
    minmax::ScaledHst,
    zscore::RollingZScore,
};

const EXIT_INPUT: u8 = 1;
const EXIT_BACKEND: u8 = 2;

/// A failure: exit code and a one-line message.
pub type ScoreFailure = (u8, String);

fn input(message: impl Into<String>) -> ScoreFailure {
    (EXIT_INPUT, message.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectorKind {
    /// River's `MinMaxScaler | HalfSpaceTrees`, bit for bit
    Hst,
    /// Rolling 3-sigma per feature; a row scores its most deviant feature
    Zscore,
    /// The default detector: calibrated tail probabilities of robust residuals, seasons from the
    /// timestamps, an event layer (see detect::ensemble)
    Default,
}

#[derive(Debug, Args)]
pub struct ScoreArgs {
    /// Detector to run
    #[arg(long, value_enum, default_value = "default")]
    pub detector: DetectorKind,
    /// CSV file with a header line (`ts,<features...>[,label]`)
    #[arg(long)]
    pub csv: PathBuf,
    /// hst: random seed
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// hst: number of trees [default: 10]
    #[arg(long)]
    pub n_trees: Option<u32>,
    /// hst: tree height [default: 8]
    #[arg(long)]
    pub height: Option<u32>,
    /// hst: window_size [default: 250]; zscore: rolling window [default: 60]; default: an extra
    /// season of this many sampling intervals [default: none; a day and a week are measured from
    /// the `ts` column]
    #[arg(long)]
    pub window: Option<u32>,
    /// Feature columns to use, comma-separated [default: all but ts and label]
    #[arg(long, value_delimiter = ',')]
    pub columns: Option<Vec<String>>,
    /// default: print each row's own score instead of the event score (an anomaly's onset scores,
    /// the rows after it are held off)
    #[arg(long)]
    pub raw: bool,
    /// Events sidecar (gen_stream.py's events.json): print all metrics as JSON to stderr
    #[arg(long, hide = true)]
    pub eval_events: Option<PathBuf>,
    /// Evaluate these scores (one per line) instead of running a detector
    #[arg(long, hide = true)]
    pub scores_from: Option<PathBuf>,
}

/// A parsed CSV: feature names, row-major values, labels and timestamps if present.
struct Table {
    names: Vec<String>,
    ts: Option<Vec<f64>>,
    values: Vec<f64>,
    labels: Option<Vec<bool>>,
}

impl Table {
    fn rows(&self) -> impl Iterator<Item = &[f64]> {
        self.values.chunks_exact(self.names.len())
    }

    fn n_rows(&self) -> usize {
        self.values.len() / self.names.len()
    }
}

fn read(path: &Path) -> Result<String, ScoreFailure> {
    std::fs::read_to_string(path).map_err(|e| input(format!("cannot read {}: {e}", path.display())))
}

fn parse_csv(text: &str, columns: Option<&[String]>) -> Result<Table, ScoreFailure> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim_end_matches('\r')));
    let (_, header) = lines
        .next()
        .ok_or_else(|| input("line 1: empty file, expected a header"))?;
    let header: Vec<&str> = header.split(',').map(str::trim).collect();
    let label_col = header.iter().position(|&h| h == "label");
    let ts_col = header.iter().position(|&h| h == "ts");
    let cols: Vec<usize> = match columns {
        Some(wanted) => wanted
            .iter()
            .map(|w| match header.iter().position(|h| h == w) {
                Some(i) if !matches!(header[i], "ts" | "label") => Ok(i),
                Some(_) => Err(input(format!("column {w:?} cannot be a feature"))),
                None => Err(input(format!(
                    "line 1: unknown column {w:?} (header: {})",
                    header.join(",")
                ))),
            })
            .collect::<Result<_, _>>()?,
        None => (0..header.len())
            .filter(|&i| !matches!(header[i], "ts" | "label"))
            .collect(),
    };
    if cols.is_empty() {
        return Err(input("line 1: no feature columns"));
    }
    let names: Vec<String> = cols.iter().map(|&i| header[i].to_owned()).collect();
    let mut values = Vec::new();
    let mut labels = label_col.map(|_| Vec::new());
    let mut ts = ts_col.map(|_| Vec::new());
    for (n, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        if fields.len() != header.len() {
            return Err(input(format!(
                "line {n}: expected {} fields, found {}",
                header.len(),
                fields.len()
            )));
        }
        for &c in &cols {
            let v: f64 = fields[c]
                .parse()
                .map_err(|_| input(format!("line {n}: column {}: bad number {:?}", header[c], fields[c])))?;
            if !v.is_finite() {
                return Err(input(format!(
                    "line {n}: column {}: {:?} is not finite",
                    header[c], fields[c]
                )));
            }
            values.push(v);
        }
        if let (Some(c), Some(ts)) = (ts_col, ts.as_mut()) {
            ts.push(parse_ts(fields[c]).ok_or_else(|| {
                input(format!(
                    "line {n}: column ts: {:?} is neither unix seconds nor an RFC 3339 time",
                    fields[c]
                ))
            })?);
        }
        if let (Some(c), Some(labels)) = (label_col, labels.as_mut()) {
            labels.push(match fields[c] {
                "0" | "0.0" => false,
                "1" | "1.0" => true,
                other => return Err(input(format!("line {n}: label must be 0 or 1, found {other:?}"))),
            });
        }
    }
    Ok(Table {
        names,
        ts,
        values,
        labels,
    })
}

/// A `ts` field: unix seconds, or an RFC 3339 time.
fn parse_ts(field: &str) -> Option<f64> {
    match field.parse::<f64>() {
        Ok(t) => t.is_finite().then_some(t),
        Err(_) => chrono::DateTime::parse_from_rfc3339(field)
            .ok()
            .map(|t| t.timestamp_micros() as f64 / 1e6),
    }
}

fn scores_from(path: &Path, n_rows: usize) -> Result<Vec<f64>, ScoreFailure> {
    let text = read(path)?;
    let scores: Vec<f64> = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            l.trim()
                .parse()
                .map_err(|_| input(format!("{}: line {}: bad score {l:?}", path.display(), i + 1)))
        })
        .collect::<Result<_, _>>()?;
    if scores.len() != n_rows {
        return Err(input(format!(
            "{}: {} scores for {n_rows} rows",
            path.display(),
            scores.len()
        )));
    }
    Ok(scores)
}

fn run_detector(args: &ScoreArgs, table: &Table) -> Result<Vec<f64>, ScoreFailure> {
    if args.detector != DetectorKind::Hst && (args.n_trees.is_some() || args.height.is_some()) {
        return Err(input("--n-trees and --height apply to --detector hst only"));
    }
    if args.detector != DetectorKind::Default && args.raw {
        return Err(input("--raw applies to --detector default only"));
    }
    let mut out = Vec::with_capacity(table.n_rows());
    match args.detector {
        DetectorKind::Hst => {
            let defaults = HstParams::with_seed(args.seed);
            let p = HstParams {
                n_trees: args.n_trees.unwrap_or(defaults.n_trees),
                height: args.height.unwrap_or(defaults.height),
                window_size: args.window.unwrap_or(defaults.window_size),
                ..defaults
            };
            let mut m = ScaledHst::new(p, &table.names).map_err(|e| input(e.to_string()))?;
            out.extend(table.rows().map(|r| m.score_learn_one(r)));
        }
        DetectorKind::Zscore => {
            let window = args.window.unwrap_or(60) as usize;
            let mut ms: Vec<RollingZScore> = table.names.iter().map(|_| RollingZScore::new(window, 3.0)).collect();
            out.extend(table.rows().map(|r| {
                r.iter()
                    .zip(&mut ms)
                    .map(|(&v, m)| m.score_learn_one(v))
                    .fold(0.0, f64::max)
            }));
        }
        DetectorKind::Default => {
            let base = EnsembleParams::default();
            let p = EnsembleParams {
                period: args.window.unwrap_or(base.period),
                ..base
            };
            let mut m = Ensemble::new(p, table.names.len()).map_err(input)?;
            let ts = table.ts.as_deref();
            out.extend(table.rows().enumerate().map(|(i, r)| {
                let s = m.score_learn_at(ts.map(|t| t[i]), r);
                if args.raw { s.raw } else { s.event }
            }));
        }
    }
    Ok(out)
}

fn fmt_metric(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.4}"))
}

/// Runs `incident-mcp score`.
pub fn run(args: &ScoreArgs) -> Result<(), ScoreFailure> {
    let table = parse_csv(&read(&args.csv)?, args.columns.as_deref())?;
    let events = match &args.eval_events {
        Some(p) => Some(
            serde_json::from_str::<EventsFile>(&read(p)?)
                .map_err(|e| input(format!("{}: {e}", p.display())))?
                .events,
        ),
        None => None,
    };
    let start = Instant::now();
    let scores = match &args.scores_from {
        Some(p) => scores_from(p, table.n_rows())?,
        None => run_detector(args, &table)?,
    };
    let secs = start.elapsed().as_secs_f64();
    tracing::debug!(rows = scores.len(), secs, "scored");

    let mut stdout = BufWriter::new(std::io::stdout().lock());
    let written: std::io::Result<()> = scores.iter().try_for_each(|s| writeln!(stdout, "{s}"));
    written
        .and_then(|()| stdout.flush())
        .map_err(|e| (EXIT_BACKEND, format!("cannot write scores: {e}")))?;

    if let Some(labels) = &table.labels {
        eprintln!(
            "ROC-AUC {} PR-AUC {}",
            fmt_metric(eval::roc_auc(&scores, labels)),
            fmt_metric(eval::average_precision(&scores, labels))
        );
    }
    if args.scores_from.is_none() {
        eprintln!(
            "throughput {:.0} rows/s ({} rows in {secs:.3} s, scoring loop only, CSV parsing excluded)",
            scores.len() as f64 / secs.max(1e-9),
            scores.len()
        );
    }
    if let Some(events) = events {
        let labels = table
            .labels
            .as_ref()
            .ok_or_else(|| input("--eval-events needs a label column"))?;
        let report = eval::evaluate(&scores, labels, &events, 0.01);
        let line = serde_json::json!({
            "report": report,
            "points_per_s": (args.scores_from.is_none() && secs > 0.0).then(|| scores.len() as f64 / secs),
        });
        eprintln!("eval {line}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_errors_name_the_line() {
        let err = |text: &str, cols: Option<&[String]>| parse_csv(text, cols).err().map(|e| e.1);
        assert_eq!(err("", None).unwrap(), "line 1: empty file, expected a header");
        assert!(
            err("ts,a,label\n1,2,0\n2,x,0\n", None)
                .unwrap()
                .starts_with("line 3: column a: bad number")
        );
        assert!(err("ts,a\n1,NaN\n", None).unwrap().contains("line 2"));
        assert!(
            err("ts,a\n1,2,3\n", None)
                .unwrap()
                .starts_with("line 2: expected 2 fields")
        );
        assert!(err("ts,a,label\n1,2,7\n", None).unwrap().starts_with("line 2: label"));
        let cols = ["b".to_owned()];
        assert!(
            err("ts,a\n1,2\n", Some(&cols))
                .unwrap()
                .contains("unknown column \"b\"")
        );
        let t = parse_csv("ts,b,a,label\r\n1,2,3,1\n\n2,4,5,0\n", Some(&["a".to_owned()])).unwrap();
        assert_eq!(
            (t.names, t.values, t.labels),
            (vec!["a".to_owned()], vec![3.0, 5.0], Some(vec![true, false]))
        );
    }
}
