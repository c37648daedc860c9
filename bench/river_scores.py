#!/usr/bin/env python3
"""River baselines for bench/accuracy.sh: score a CSV (`ts,<features...>,label`) with River 0.26.1,
score_one then learn_one per row, and write one score per line (`repr(float)`).

  --model hst    MinMaxScaler() | HalfSpaceTrees(seed=42), River's defaults otherwise
  --model gauss  one GaussianScorer(window_size=250, grace_period=100) per feature; a row's
                 score is the maximum over its features (GaussianScorer is univariate)

`--export-shuttle OUT` writes River's bundled Shuttle data set (shipped inside the river wheel,
no download) as `ts,f1..f9,label` (ts = row number) and exits.
Prints `points_per_s N` (the scoring loop only) to stderr.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

# One CSV reader for the tests and the bench: tests/hst/river_scores.py.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "hst"))
from river_scores import RIVER_VERSION, read_rows  # noqa: E402


class MaxGauss:
    def __init__(self, names):
        from river import anomaly

        self.models = {n: anomaly.GaussianScorer(window_size=250, grace_period=100) for n in names}

    def score_one(self, x):
        return max(m.score_one(None, x[n]) for n, m in self.models.items())

    def learn_one(self, x):
        for n, m in self.models.items():
            m.learn_one(None, x[n])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv")
    ap.add_argument("--out")
    ap.add_argument("--model", choices=["hst", "gauss"], default="hst")
    ap.add_argument("--export-shuttle")
    args = ap.parse_args(argv)
    import river
    from river import anomaly, datasets, preprocessing

    if river.__version__ != RIVER_VERSION:
        sys.exit(f"river {river.__version__} is installed, need {RIVER_VERSION}")
    if args.export_shuttle:
        with open(args.export_shuttle, "w") as fh:
            names = None
            for t, (x, y) in enumerate(datasets.Shuttle()):
                if names is None:
                    names = list(x)
                    fh.write("ts," + ",".join(names) + ",label\n")
                fh.write(f"{t}," + ",".join(repr(float(x[n])) for n in names) + f",{int(y)}\n")
        return 0
    rows = read_rows(args.csv)
    if args.model == "hst":
        model = preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(seed=42)
    else:
        model = MaxGauss(list(rows[0]))
    scores = []
    start = time.perf_counter()
    for x in rows:
        scores.append(model.score_one(x))
        model.learn_one(x)
    elapsed = time.perf_counter() - start
    with open(args.out, "w") as fh:
        fh.writelines(repr(float(s)) + "\n" for s in scores)
    print(f"points_per_s {len(rows) / elapsed:.0f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
