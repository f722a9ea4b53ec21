"""Re-score selection rules on the cached benchmark records (no model is refitted).

    python -m benchmarks.rescore_selection tourism-yearly tourism-quarterly tourism-monthly   # the tuning set
    python -m benchmarks.rescore_selection m3-monthly m3-quarterly m3-yearly                  # checked on

Every record of ``benchmarks.candidates`` (cached by ``python -m benchmarks.accuracy``) holds each
candidate's backtest forecasts fold by fold and its forecast of the test part. A rule picks a forecast
from what the backtest knows only; it is then scored on the test part. "shipped" is the pipeline's own
champion (``forecasting.selection`` with the trimmed ensemble of ``forecasting.backtest``); "previous"
is the rule before it (the fixed mean of ETS, ARIMA, Theta and CES, a single family only when 50 %
better on backtest MASE).
"""

from __future__ import annotations

import sys

import numpy as np

from benchmarks.candidates import cache_path, load
from benchmarks.scoring import mase, mase_scale, smape

STATISTICAL = ("ets", "arima", "theta", "ces")
BASELINES = ("naive", "seasonal_naive", "drift", "mean")


def _usable(record: dict, name: str) -> bool:
    candidate = record["candidates"].get(name)
    return candidate is not None and "final" in candidate and np.isfinite(candidate["final"]["yhat"]).all()


def _fold_error(record: dict, name: str) -> float:
    """Mean absolute backtest error over all folds, in the series' MASE scale."""
    scale = mase_scale(record["used"], record["season"])
    folds = record["candidates"][name]["folds"]
    return float(np.mean([np.mean(np.abs(f["actual"][f["observed"]] - f["yhat"][f["observed"]])) for f in folds])) / scale


def _mean(record: dict, names) -> np.ndarray | None:
    names = [n for n in names if _usable(record, n)]
    return np.mean([record["candidates"][n]["final"]["yhat"] for n in names], axis=0) if names else None


def shipped(record: dict) -> np.ndarray:
    return np.asarray(record["champion_final"]["yhat"], float)


def always_ensemble(record: dict) -> np.ndarray:
    return _mean(record, ["ensemble"]) if _usable(record, "ensemble") else shipped(record)


def fixed_mean(record: dict) -> np.ndarray:
    found = _mean(record, STATISTICAL)
    return found if found is not None else shipped(record)


def lowest_backtest(record: dict) -> np.ndarray:
    names = [n for n in record["candidates"] if _usable(record, n) and record["folds"] and len(record["candidates"][n]["folds"]) == record["folds"]]
    if not names:
        return shipped(record)
    return np.asarray(record["candidates"][min(names, key=lambda n: _fold_error(record, n))]["final"]["yhat"], float)


def previous(record: dict) -> np.ndarray:
    """The rule before this round: the fixed mean, unless a single family is 50 % better on backtest."""
    names = [n for n in record["candidates"] if n != "ensemble" and _usable(record, n) and record["folds"]
             and len(record["candidates"][n]["folds"]) == record["folds"]]
    mean = fixed_mean(record)
    if not names or not all(_usable(record, n) for n in STATISTICAL[:2]):
        return mean
    scale = mase_scale(record["used"], record["season"])
    best = min(names, key=lambda n: _fold_error(record, n))
    folds = record["folds"]
    ensemble_error = np.mean([np.mean(np.abs(np.mean([record["candidates"][m]["folds"][f]["yhat"] for m in STATISTICAL if _usable(record, m)], axis=0)
                                             - record["candidates"][best]["folds"][f]["actual"])) for f in range(folds)]) / scale
    return np.asarray(record["candidates"][best]["final"]["yhat"], float) if _fold_error(record, best) < 0.5 * ensemble_error else mean


RULES = {"shipped": shipped, "always the ensemble (trimmed)": always_ensemble, "previous (fixed mean, 50 % margin)": previous,
         "fixed mean of ets, arima, theta, ces": fixed_mean, "lowest backtest error": lowest_backtest}


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    print(f"{'rule':40s}" + "".join(f"{n:>24s}" for n in names))
    records = {n: [r for r in load(cache_path(n)) if "error" not in r] for n in names}
    for label, rule in RULES.items():
        cells = []
        for n in names:
            s = [smape(r["test"], rule(r)) for r in records[n]]
            q = [mase(r["test"], rule(r), r["train"], r["season"]) for r in records[n]]
            cells.append(f"{np.mean(s):7.2f} / {np.mean(q):6.3f}")
        print(f"{label:40s}" + "".join(f"{c:>24s}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
