"""Is the champion really better than a reference method? Paired bootstrap over series, on a saved run.

    python -m benchmarks.paired                                  # champion vs the anchors' combination and theta/ets
    python -m benchmarks.paired --against theta ets               # other references

For every series of ``benchmarks/results/accuracy.json`` (``per_series``) take champion − reference per
metric (sMAPE, MASE), then resample the series with replacement (10,000 times, seed 0) and report the
mean difference with its 95 % percentile interval, for each set of ``benchmarks.accuracy.by_domain`` (all
monthly series, FINANCE, the rest). Negative = the champion is better. An interval that contains 0 means
"level within noise".
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from benchmarks.accuracy import by_domain, load_scored

RESULTS = Path("benchmarks/results/accuracy.json")
REFERENCES = ["mean(ets,arima,theta)", "theta", "ets"]


def paired(rows: list[dict], reference: str, metric: str, draws: int = 10_000, seed: int = 0) -> dict:
    diff = np.array([r[metric]["champion"] - r[metric][reference] for r in rows])
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(diff.mean()), "low": float(low), "high": float(high), "series": len(diff)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.paired", description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=RESULTS)
    parser.add_argument("--against", nargs="+", default=REFERENCES)
    args = parser.parse_args(argv)
    sets = by_domain(load_scored(args.results))
    print(f"{'champion minus':24s} {'set':26s} {'sMAPE [95 % interval]':30s} MASE [95 % interval]")
    for reference in args.against:
        for name, subset in sets.items():
            cells = []
            for metric in ("smape", "mase"):
                d = paired(subset, reference, metric)
                digits = 2 if metric == "smape" else 3
                cells.append(f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]")
            print(f"{reference:24s} {name + f' ({len(subset)})':26s} {cells[0]:30s} {cells[1]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
