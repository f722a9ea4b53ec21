"""Is the champion really better than a reference method? Paired bootstrap over series, on a saved run.

    python -m benchmarks.paired                                    # champion vs the anchors' mean, every set
    python -m benchmarks.paired --against theta AutoETS --sets m3-monthly m3-finance

For every series of a set in ``benchmarks/results/accuracy.json`` take champion minus reference per
metric (sMAPE, MASE), resample the series with replacement (10,000 times, seed 0) and report the mean
difference with its 95 % percentile interval. Negative: the champion is better. An interval that
contains 0 means "level within noise".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.scoring import ANCHOR_MEAN, paired

RESULTS = Path(__file__).resolve().parent / "results" / "accuracy.json"


def differences(rows: list[dict], reference: str, metric: str) -> np.ndarray:
    return np.array([r[metric]["champion"] - r[metric][reference] for r in rows if reference in r[metric]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS)
    parser.add_argument("--against", nargs="+", default=[ANCHOR_MEAN])
    parser.add_argument("--sets", nargs="+", default=None)
    args = parser.parse_args(argv)
    sets = json.loads(args.results.read_text())["sets"]
    print(f"{'champion minus':24s} {'set':22s} {'sMAPE [95 % interval]':30s} MASE [95 % interval]")
    for name, summary in sets.items():
        if "per_series" not in summary or (args.sets and name not in args.sets):
            continue
        for reference in args.against:
            cells = []
            for metric in ("smape", "mase"):
                d = paired(differences(summary["per_series"], reference, metric))
                digits = 2 if metric == "smape" else 3
                cells.append(f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]")
            label = f"{name} ({len(summary['per_series'])})"
            print(f"{reference:24s} {label:22s} {cells[0]:30s} {cells[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
