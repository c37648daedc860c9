#!/usr/bin/env bash
# Accuracy benchmark: our detectors (release binary) vs River 0.26.1 on
#   1. gen_stream.py --n 200000 --k 4 --seed 42 (and a second seed: SEED2, default 7)
#   2. River's bundled Shuttle data set (inside the river wheel; no download)
# Every number comes from the same metric code (src/detect/eval.rs, via the hidden
# `incident-mcp score --eval-events/--scores-from` flags); River's scores are computed by
# bench/river_scores.py. Prints: detector | ROC-AUC | PR-AUC | recall@1%FPR per kind | points/s.
# These are per-point metrics, so the default detector is compared by its per-point (`--raw`)
# score; its event score (what `score` prints by default: one alarm per anomaly onset, the rest
# of a lasting anomaly held off) is shown too, and is judged by bench/nab.sh.
# Usage: bench/accuracy.sh [WORKDIR]   (env: SEED, SEED2, N)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="${1:-${TMPDIR:-/tmp}/incident-mcp-accuracy}"
N="${N:-200000}"; SEED="${SEED:-42}"; SEED2="${SEED2:-7}"
GEN="$ROOT/../shared/anomaly/gen_stream.py"
VENV="$ROOT/.ci-tools/venv-river"
mkdir -p "$WORK"
if ! "$VENV/bin/python" -c 'import sys, river; sys.exit(river.__version__ != "0.26.1")' 2>/dev/null; then
  rm -rf "$VENV"; python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check river==0.26.1
fi
PY="$VENV/bin/python"
(cd "$ROOT" && cargo build --release --quiet)
BIN="$ROOT/target/release/incident-mcp"

row() { # name csv events [score args...]
  local name=$1 csv=$2 events=$3; shift 3
  local line
  line=$("$BIN" score --csv "$csv" --eval-events "$events" "$@" 2>&1 >/dev/null | grep '^eval ' | cut -c6-)
  python3 - "$name" "$line" "${PPS:-}" <<'PYEOF'
import json, sys
name, r, pps = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
rep = r["report"]
rate = pps or (f'{r["points_per_s"]:,.0f}' if r.get("points_per_s") else "n/a")
def rec(k):
    v = rep["recall"].get(k)
    return f'{v["recalled"]}/{v["events"]}' if v else "-"
f = lambda v: "n/a" if v is None else f"{v:.4f}"
print(f'| {name} | {f(rep["roc_auc"])} | {f(rep["pr_auc"])} | {rec("spike")} | {rec("level_shift")} | {rec("variance_burst")} | {rate} |')
PYEOF
}

table() { # title csv events
  local title=$1 csv=$2 events=$3
  echo; echo "### $title"; echo
  echo "| detector | ROC-AUC | PR-AUC | recall@1%FPR spike | level_shift | variance_burst | points/s |"
  echo "|---|---|---|---|---|---|---|"
  PPS= row "ours hst (River defaults, seed 42)" "$csv" "$events" --detector hst
  PPS= row "ours zscore (window 60, k 3, max over features)" "$csv" "$events" --detector zscore
  PPS= row "ours default --raw (per-point score)" "$csv" "$events" --detector default --raw
  PPS= row "ours default (event score: onsets, hold-off)" "$csv" "$events" --detector default
  for m in hst gauss; do
    local pps
    pps=$("$PY" "$ROOT/bench/river_scores.py" --model $m --csv "$csv" --out "$csv.river-$m" 2>&1 | awk '/points_per_s/ {print $2}')
    local label="River MinMaxScaler + HST(seed=42)"
    [ $m = gauss ] && label="River max over per-feature GaussianScorer(window 250)"
    PPS=$(printf "%'d" "$pps") row "$label" "$csv" "$events" --scores-from "$csv.river-$m"
  done
}

for s in "$SEED" "$SEED2"; do
  python3 "$GEN" --n "$N" --k 4 --seed "$s" --out "$WORK/stream-$s.csv" 2>/dev/null
  table "gen_stream --n $N --k 4 --seed $s" "$WORK/stream-$s.csv" "$WORK/stream-$s.csv.events.json"
done
"$PY" "$ROOT/bench/river_scores.py" --export-shuttle "$WORK/shuttle.csv"
echo '{"events": []}' > "$WORK/shuttle.events.json"
table "River Shuttle (49,097 rows, 9 features; no events: recall columns empty)" "$WORK/shuttle.csv" "$WORK/shuttle.events.json"
