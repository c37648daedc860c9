#!/usr/bin/env bash
# NAB dev-kit benchmark: scores `incident-mcp score --detector default|hst|zscore` on the NAB dev
# split (../shared/anomaly/nab-dev: 36 files, 69 windows) with the kit's own scorer (nab_score.py,
# which reproduces NAB's official scores), and prints the Standard / Reward low FP / Reward low FN
# table (normalised: 100 perfect, 0 = never alarming), then the per-category table of each run.
# The default detector is scored as `score` prints it (event scores: an anomaly's onset, then a
# hold-off) and, as `default --raw`, per point.
# Usage: bench/nab.sh [WORKDIR]   (env: KIT=path to nab-dev; NO_BUILD=1 BIN=path to score with an
# existing binary: the scores are the same in debug and release builds, only the rows/s differ)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
KIT="${KIT:-$ROOT/../shared/anomaly/nab-dev}"
WORK="${1:-${TMPDIR:-/tmp}/incident-mcp-nab}"
[ -f "$KIT/nab_score.py" ] || { echo "no NAB dev kit at $KIT (set KIT)" >&2; exit 2; }
BIN="${BIN:-$ROOT/target/release/incident-mcp}"
[ -n "${NO_BUILD:-}" ] || (cd "$ROOT" && cargo build --release --quiet --bin incident-mcp)
rm -rf "$WORK"; mkdir -p "$WORK"

run() { # name [score args...]: one score file per data file, one process at a time
  local name=$1; shift
  local f c rows=0 rps
  for f in "$KIT"/data/*/*.csv; do
    c=$(basename "$(dirname "$f")"); mkdir -p "$WORK/$name/$c"
    "$BIN" score --csv "$f" "$@" > "$WORK/$name/$c/$(basename "$f" .csv).scores" 2> "$WORK/$name.stderr.tmp"
    rps=$(sed -n 's/^throughput \([0-9.]*\) rows\/s.*/\1/p' "$WORK/$name.stderr.tmp")
    echo "$rps" >> "$WORK/$name.rps"
  done
  rm -f "$WORK/$name.stderr.tmp"
}

run default --detector default
run default-raw --detector default --raw
run hst --detector hst
run zscore --detector zscore

for d in default default-raw hst zscore; do
  python3 "$KIT/nab_score.py" --kit "$KIT" "$WORK/$d" > "$WORK/$d.txt"
done

python3 - "$WORK" <<'PYEOF'
import sys, statistics
work = sys.argv[1]
names = [("default", "`score --detector default` (event score)"),
         ("default-raw", "`score --detector default --raw` (per point)"),
         ("hst", "`score --detector hst`"), ("zscore", "`score --detector zscore`")]
print("| detector | Standard | Reward low FP | Reward low FN | median loop rows/s per file |")
print("|---|---:|---:|---:|---:|")
for d, label in names:
    txt = open(f"{work}/{d}.txt").read().splitlines()
    all_line = next(l for l in txt if l.startswith("ALL"))
    parts = all_line.split()
    std, lfp, lfn = parts[1], parts[4], parts[7]
    rps = [float(x) for x in open(f"{work}/{d}.rps").read().split() if x]
    med = f"{statistics.median(rps):,.0f}" if rps else "n/a"
    print(f"| {label} | {std} | {lfp} | {lfn} | {med} |")
PYEOF
echo
for d in default hst zscore; do echo "### $d"; sed -n '1,/^ALL/p' "$WORK/$d.txt"; echo; done
