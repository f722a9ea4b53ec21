"""Re-score champion-selection rules on saved per-series accuracy results (no model is refitted).

    python -m benchmarks.rescore_selection
    python -m benchmarks.rescore_selection results-a.json results-b.json ...

A full monthly results file is split into all series, FINANCE, and the monthly series outside FINANCE.

Every row of ``per_series`` in a results file of ``benchmarks.accuracy`` holds, per candidate family,
its mean backtest metrics over the rolling-origin folds (``backtest``: what selection sees) and its
sMAPE/MASE on the M3 test part (``smape``/``mase``: what selection must never see). A rule picks one
family per series from the backtest scores (and the fold count) only; it is then scored with that
family's saved test numbers, averaged over series as in the benchmark. Rule "current" reproduces the
saved champion column exactly (checked below), so the other rules are comparable with it.

Per-fold scores are not saved, so rules that need them (e.g. mean rank over folds) cannot be re-scored.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.accuracy import by_domain, load_scored
from forecasting.models import BASELINES, FAMILIES

RESULTS = [Path("benchmarks/results/accuracy.json")]
METRIC = "mase"  # the pipeline's default selection metric (BacktestSpec.metric)
COMPLEXITY = {name: family.complexity for name, family in FAMILIES.items()}  # rank_key's tie-break


def _key(bt: dict, name: str, metric: str = METRIC):
    """forecasting.backtest.rank_key on the saved fold means: metric, then RMSE, then simpler, then name."""
    m = bt[name]
    return (m[metric] is None, m[metric] or 0.0, m["rmse"] if m["rmse"] is not None else float("inf"),
            COMPLEXITY[name], name)


def best(row: dict, exclude=(), metric: str = METRIC) -> str:
    names = [n for n in row["backtest"] if n not in exclude]
    return min(names, key=lambda n: _key(row["backtest"], n, metric))


def lowest(row: dict) -> str:
    return best(row)


def prefer_ensemble(margin: float, exclude=()):
    """The ensemble unless the best other candidate's backtest metric is lower by more than ``margin``."""
    def rule(row: dict) -> str:
        bt = row["backtest"]
        if "ensemble" not in bt:
            return best(row, exclude)
        single = best(row, ("ensemble", *exclude))
        return single if bt[single][METRIC] < (1 - margin) * bt["ensemble"][METRIC] else "ensemble"
    return rule


def ensemble_when_few_folds(min_folds: int):
    """Current rule, but the ensemble when the backtest has fewer than ``min_folds`` folds."""
    def rule(row: dict) -> str:
        return "ensemble" if row["folds"] < min_folds and "ensemble" in row["backtest"] else best(row)
    return rule


def current(row: dict) -> str:
    """What forecasting.selection.choose does: the ensemble unless beaten by more than ENSEMBLE_MARGIN."""
    from forecasting.selection import ENSEMBLE_MARGIN

    return prefer_ensemble(ENSEMBLE_MARGIN)(row)


def always(name: str):
    return lambda row: name


def mean_rank_over_metrics(row: dict) -> str:
    bt = row["backtest"]
    names = list(bt)
    ranks = {n: 0.0 for n in names}
    for metric in ("mase", "smape", "rmse"):
        for i, n in enumerate(sorted(names, key=lambda n: _key(bt, n, metric))):
            ranks[n] += i
    return min(names, key=lambda n: (ranks[n], COMPLEXITY[n], n))


RULES = {
    "current (forecasting.selection)": current,
    "lowest backtest MASE": lowest,
    "prefer ensemble, margin 0%": prefer_ensemble(0.0),
    "prefer ensemble, margin 5%": prefer_ensemble(0.05),
    "prefer ensemble, margin 10%": prefer_ensemble(0.10),
    "prefer ensemble, margin 20%": prefer_ensemble(0.20),
    "prefer ensemble, margin 30%": prefer_ensemble(0.30),
    "prefer ensemble, margin 40%": prefer_ensemble(0.40),
    "prefer ensemble, margin 50%": prefer_ensemble(0.50),
    "no baselines (lowest MASE)": lambda r: best(r, BASELINES),
    "no prophet/xgboost (lowest MASE)": lambda r: best(r, ("prophet", "xgboost")),
    "no baselines/prophet/xgboost": lambda r: best(r, (*BASELINES, "prophet", "xgboost")),
    "lowest backtest sMAPE": lambda r: best(r, metric="smape"),
    "mean rank over MASE/sMAPE/RMSE": mean_rank_over_metrics,
    "ensemble if < 3 folds, else lowest": ensemble_when_few_folds(3),
    "always ensemble": always("ensemble"),
    "always ets": always("ets"),
    "always theta": always("theta"),
}
REFERENCE = ["mean(ets,arima,theta)"]  # a fixed combination, not a candidate: shown for comparison only


def score(rows: list[dict], rule) -> tuple[float, float, dict]:
    picks = [rule(r) for r in rows]
    counts: dict[str, int] = {}
    for p in picks:
        counts[p] = counts.get(p, 0) + 1
    return (float(np.mean([r["smape"][p] for r, p in zip(rows, picks)])),
            float(np.mean([r["mase"][p] for r, p in zip(rows, picks)])), counts)


def main(argv: list[str] | None = None) -> int:
    paths = [Path(p) for p in (argv if argv else RESULTS)]
    sets = {}
    for path in paths:
        rows = load_scored(path)
        mismatched = sum(current(r) != r["champion"] for r in rows)
        assert mismatched == 0, f"{path}: rule 'current' differs from the saved champion on {mismatched} series"
        sets.update(by_domain(rows, path.stem.removeprefix("accuracy-")))
    head = f"{'rule':38s}" + "".join(f"{name + ' (' + str(len(rows)) + ')':>22s}" for name, rows in sets.items())
    print(head + "\n" + f"{'':38s}" + "".join(f"{'sMAPE':>12s}{'MASE':>10s}" for _ in sets))
    for label, rule in RULES.items():
        cells = "".join(f"{s:12.2f}{m:10.3f}" for s, m, _ in (score(rows, rule) for rows in sets.values()))
        print(f"{label:38s}{cells}")
    for name in REFERENCE:
        cells = "".join(f"{score(rows, always(name))[0]:12.2f}{score(rows, always(name))[1]:10.3f}" for rows in sets.values())
        print(f"{name + ' (reference)':38s}{cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
