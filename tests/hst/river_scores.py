#!/usr/bin/env python3
"""Scores of `MinMaxScaler() | HalfSpaceTrees(...)` over a CSV, for tests/hst_river.rs.

Reads a CSV with a header (as written by shared/anomaly/gen_stream.py); every column except
`ts` and `label` is a feature, kept in column order as the dict key order. Per row it calls
`score_one` then `learn_one` and writes the score as `repr(float(score))` (the shortest text
that round-trips exactly), one per line.

  --impl river      River itself (`pip install river==0.26.1`; the version is checked)
  --impl reference  shared/anomaly/hst_reference.py (`--reference-dir`, default
                    ../shared/anomaly beside this checkout)

HST parameters default to River's (`--seed` 42); `--limits '{"f1": [0, 2]}'` passes limits.
Prints the throughput to stderr.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time

RIVER_VERSION = "0.26.1"
HERE = os.path.dirname(os.path.abspath(__file__))


def read_rows(path: str) -> list[dict]:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        cols = [(i, name) for i, name in enumerate(header) if name not in ("ts", "label")]
        return [{name: float(row[i]) for i, name in cols} for row in reader]


def make_model(impl: str, hst_kwargs: dict, reference_dir: str):
    if impl == "river":
        import river
        from river import anomaly, preprocessing

        if river.__version__ != RIVER_VERSION:
            sys.exit(f"river {river.__version__} is installed, need {RIVER_VERSION}")
        return preprocessing.MinMaxScaler() | anomaly.HalfSpaceTrees(**hst_kwargs)
    sys.path.insert(0, reference_dir)
    import hst_reference

    return hst_reference.ScaledHST(**hst_kwargs)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--csv", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--impl", choices=["river", "reference"], default="river")
    ap.add_argument("--reference-dir", default=os.path.join(HERE, "..", "..", "..", "shared", "anomaly"))
    ap.add_argument("--n-trees", type=int, default=10)
    ap.add_argument("--height", type=int, default=8)
    ap.add_argument("--window-size", type=int, default=250)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--limits", default=None, help="JSON object: feature -> [low, high]")
    args = ap.parse_args(argv)

    kwargs = dict(n_trees=args.n_trees, height=args.height, window_size=args.window_size, seed=args.seed)
    if args.limits:
        kwargs["limits"] = {k: (float(a), float(b)) for k, (a, b) in json.loads(args.limits).items()}
    rows = read_rows(args.csv)
    model = make_model(args.impl, kwargs, args.reference_dir)
    scores = []
    start = time.perf_counter()
    for x in rows:
        scores.append(model.score_one(x))
        model.learn_one(x)
    elapsed = time.perf_counter() - start
    with open(args.out, "w") as fh:
        fh.writelines(repr(float(s)) + "\n" for s in scores)
    rate = len(rows) / elapsed if elapsed > 0 else float("inf")
    print(f"{args.impl}: {len(rows)} rows in {elapsed:.2f} s ({rate:,.0f} points/s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
