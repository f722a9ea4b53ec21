"""Re-score interval rules on the cached benchmark records (no model is refitted).

    python -m benchmarks.rescore_intervals tourism-yearly tourism-quarterly tourism-monthly   # the tuning set
    python -m benchmarks.rescore_intervals m3-monthly m3-quarterly m3-yearly                  # checked on

For the champion each record holds its own (uncalibrated) interval of the test part and its backtest
errors fold by fold. A rule turns those into the final interval; the table gives the share of test
actuals inside it at 0.9 and 0.8, overall and at the worst step.
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.candidates import cache_path, load
from benchmarks.scoring import champion_bounds_with, champion_points, coverage_by_step, pooled_bounds
from forecasting.intervals import calibrate


def _bounds(record: dict, level: float, factor_of):
    if isinstance(factor_of, Pooled):
        return factor_of.bounds(record, level)
    final = record["champion_final"]
    if "own_lower" not in final:
        return None
    return champion_bounds_with(record, level, factor_of(record, level, len(final["yhat"])))


def own(record, level, steps):
    return np.ones(steps)


def shipped(record, level, steps):
    return calibrate(champion_points(record), level, steps, len(record["used"])).factor(steps)


def never_narrower(record, level, steps):
    """The backtest may widen the family's own interval, never narrow it."""
    return np.maximum(shipped(record, level, steps), 1.0)


def widest_of_steps_so_far(record, level, steps):
    """Never narrower than the family's own interval, and never narrower than at an earlier step."""
    return np.maximum.accumulate(never_narrower(record, level, steps))


class Pooled:
    """Pooled calibration (issue 27, item 4), as ``forecasting.pooled_calibration`` does it for a run made
    of the set's series (``benchmarks.scoring.pooled_bounds``); ``mix`` own, pooled or shrunk."""

    def __init__(self, mix: str):
        self.mix = mix

    def fit(self, records: list[dict]) -> "Pooled":
        self.bounds = pooled_bounds(records, self.mix)
        return self

    def __call__(self, record, level, steps):
        return None  # not a factor rule: _bounds asks self.bounds


RULES = {"family's own interval": own, "shipped (backtest per step)": shipped,
         "never narrower than its own": never_narrower, "never narrower, non-decreasing": widest_of_steps_so_far,
         "pooled over the set (same candidate, similar length)": Pooled("pooled"), "shrunk towards the pool": Pooled("shrunk")}


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    print(f"{'rule':34s}" + "".join(f"{n:>30s}" for n in names))
    print(f"{'':34s}" + "".join(f"{'90 % (worst step) | 80 %':>30s}" for _ in names))
    records = {n: [r for r in load(cache_path(n)) if "error" not in r] for n in names}
    for label, rule in RULES.items():
        cells = []
        for n in names:
            if hasattr(rule, "fit"):
                rule = rule.fit(records[n])
            c90 = coverage_by_step(records[n], lambda r, rule=rule: _bounds(r, 0.9, rule))
            c80 = coverage_by_step(records[n], lambda r, rule=rule: _bounds(r, 0.8, rule))
            cells.append(f"{c90['overall']:.3f} ({min(c90['by_step'].values()):.3f}) | {c80['overall']:.3f}")
        print(f"{label:34s}" + "".join(f"{c:>30s}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
