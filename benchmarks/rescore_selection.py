"""Re-score selection rules on the cached benchmark records (no model is refitted).

    python -m benchmarks.rescore_selection tourism-yearly tourism-quarterly tourism-monthly   # the tuning set
    python -m benchmarks.rescore_selection m3-monthly m3-quarterly m3-yearly                  # checked on

Every record of ``benchmarks.candidates`` (cached by ``python -m benchmarks.accuracy``) holds each
candidate's backtest forecasts fold by fold and its forecast of the test part. A rule picks a forecast
from what the backtest knows only; it is then scored on the test part. "recorded champion" is the
champion of the code that wrote the cache (``forecasting.selection``); "previous" is the rule of the
first wave (the fixed mean of ETS, ARIMA, Theta and CES, a single family only when 50 % better on
backtest MASE); "trimmed 1.5x, evidence 2.0" the one tried in between (members within 1.5x the best
family's backtest error, Prophet/XGBoost only when as good as the best statistical family). The
current rule is "fixed + prophet/xgboost, evidence 3.0" chosen on the Tourism sets by the lowest mean
MASE over the three, with the drift as a fixed member on yearly data, chosen on Tourism yearly
(docs/models-and-selection.md).
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


def _fold_error(record: dict, name: str, through: int | None = None) -> float:
    """Mean absolute backtest error over all folds (or the first ``through``), in the series' MASE scale."""
    scale = mase_scale(record["used"], record["season"])
    folds = record["candidates"][name]["folds"][:through]
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


def _fold_errors(record: dict, forecasts: list[np.ndarray | None]) -> list[float]:
    """Per-fold mean absolute error of given fold forecasts, in the series' MASE scale (nan when none)."""
    scale = mase_scale(record["used"], record["season"])
    errors = []
    for f, yhat in enumerate(forecasts):
        if yhat is None:
            errors.append(float("nan"))
            continue
        fold = next(c["folds"][f] for c in record["candidates"].values() if len(c["folds"]) > f)
        errors.append(float(np.mean(np.abs(fold["actual"][fold["observed"]] - yhat[fold["observed"]]))) / scale)
    return errors


def _members_fixed(record: dict, folds: int) -> list[str]:
    return [n for n in STATISTICAL if _usable(record, n) and len(record["candidates"][n]["folds"]) >= max(folds, 1)]


def _members_fixed_plus_model_based(record: dict, folds: int, yearly_drift: bool = False, model_based=("prophet", "xgboost"),
                                    fixed_extra=()) -> list[str]:
    """The four statistical families, plus Prophet or XGBoost when their error over the folds so far is at
    most the best statistical family's (before any fold: the four alone). With ``yearly_drift``, on
    yearly data (season 1) the drift is a fixed member too."""
    members = _members_fixed(record, folds)
    members += [n for n in fixed_extra if members and _usable(record, n) and len(record["candidates"][n]["folds"]) >= max(folds, 1)]
    if yearly_drift and record["season"] == 1 and members and _usable(record, "drift") and len(record["candidates"]["drift"]["folds"]) >= max(folds, 1):
        members = [*members, "drift"]
    if folds == 0 or not members:
        return members

    def error(name):
        return _fold_error(record, name, folds)

    best = min(error(n) for n in members if n in STATISTICAL or n == "drift")
    extra = [n for n in model_based if n not in members and _usable(record, n) and len(record["candidates"][n]["folds"]) >= folds and error(n) <= best]
    return members + extra


def _ensemble(record: dict, members_after) -> tuple[np.ndarray | None, list[float]]:
    """An equally weighted ensemble whose members for each fold come from the folds before it."""
    forecasts = []
    for f in range(record["folds"]):
        names = [n for n in members_after(record, f) if len(record["candidates"][n]["folds"]) > f]
        forecasts.append(np.mean([record["candidates"][n]["folds"][f]["yhat"] for n in names], axis=0) if names else None)
    final = _mean(record, members_after(record, record["folds"]))
    return final, _fold_errors(record, forecasts)


def _with_evidence(record: dict, final: np.ndarray | None, ensemble_errors: list[float], evidence: float) -> np.ndarray:
    """The ensemble, unless the single family with the lowest backtest error beat it in every fold and
    on average by more than ``evidence / sqrt(periods scored)`` (the pipeline's rule)."""
    if final is None:
        return shipped(record)
    folds = record["folds"]
    singles = [n for n in record["candidates"] if n != "ensemble" and _usable(record, n) and folds
               and len(record["candidates"][n]["folds"]) == folds]
    if not singles or np.isnan(ensemble_errors).any():
        return final
    best = min(singles, key=lambda n: _fold_error(record, n))
    errors = _fold_errors(record, [f["yhat"] for f in record["candidates"][best]["folds"]])
    scored = folds * len(record["candidates"][best]["folds"][0]["yhat"])
    strong = all(b < e for b, e in zip(errors, ensemble_errors)) and np.mean(errors) < (1 - evidence / np.sqrt(scored)) * np.mean(ensemble_errors)
    return np.asarray(record["candidates"][best]["final"]["yhat"], float) if strong else final


def _members_trimmed(record: dict, folds: int) -> list[str]:
    """Within 1.5x the best backtest error of the folds so far; Prophet/XGBoost also as good as the best
    statistical family (before any fold: the four statistical families)."""
    members = _members_fixed(record, folds)
    if folds == 0 or not members:
        return members

    def error(name):
        return _fold_error(record, name, folds)

    pool = members + [n for n in ("prophet", "xgboost") if _usable(record, n) and len(record["candidates"][n]["folds"]) >= folds]
    best, best_statistical = min(error(n) for n in pool), min(error(n) for n in members)
    return [n for n in pool if error(n) <= 1.5 * best and (n in STATISTICAL or error(n) <= best_statistical)]


def trimmed_with_evidence(record: dict) -> np.ndarray:
    return _with_evidence(record, *_ensemble(record, _members_trimmed), 2.0)


def fixed_mean_with_evidence(record: dict) -> np.ndarray:
    return _with_evidence(record, *_ensemble(record, _members_fixed), 2.0)


def fixed_plus_model_based_with_evidence(record: dict) -> np.ndarray:
    return _with_evidence(record, *_ensemble(record, _members_fixed_plus_model_based), 2.0)


def fixed_plus_model_based_with_evidence_3(record: dict) -> np.ndarray:
    return _with_evidence(record, *_ensemble(record, _members_fixed_plus_model_based), 3.0)


def shipped_rule(record: dict) -> np.ndarray:
    """The pipeline's rule: the four (+ drift on yearly data) + Prophet/XGBoost when as good, evidence 3."""
    return _with_evidence(record, *_ensemble(record, lambda r, f: _members_fixed_plus_model_based(r, f, yearly_drift=True)), 3.0)


def shipped_with_global(record: dict) -> np.ndarray:
    """This round's rule: the shipped one with the global model among the model-based members."""
    return _with_evidence(record, *_ensemble(record, lambda r, f: _members_fixed_plus_model_based(
        r, f, yearly_drift=True, model_based=("prophet", "xgboost", "global"))), 3.0)


def global_fixed_member(record: dict) -> np.ndarray:
    """The global model a fixed member beside the four, Prophet/XGBoost when as good, evidence 3."""
    return _with_evidence(record, *_ensemble(record, lambda r, f: _members_fixed_plus_model_based(
        r, f, yearly_drift=True, fixed_extra=("global",))), 3.0)


def global_fixed_member_always(record: dict) -> np.ndarray:
    final, _ = _ensemble(record, lambda r, f: _members_fixed_plus_model_based(r, f, yearly_drift=True, fixed_extra=("global",)))
    return final if final is not None else shipped(record)


def global_alone(record: dict) -> np.ndarray:
    return np.asarray(record["candidates"]["global"]["final"]["yhat"], float) if _usable(record, "global") else shipped(record)


def fixed_plus_model_based(record: dict) -> np.ndarray:
    final, _ = _ensemble(record, _members_fixed_plus_model_based)
    return final if final is not None else shipped(record)


def _weighted_global_when_as_good(record: dict, weight: float) -> np.ndarray:
    """Global weighted ``weight`` when its backtest error over all folds is at most the best statistical
    family's, else the rule before the global model."""
    stat = [n for n in STATISTICAL if _usable(record, n) and len(record["candidates"][n]["folds"]) == record["folds"]]
    if not record["folds"] or not stat or not _usable(record, "global") or len(record["candidates"]["global"]["folds"]) != record["folds"]:
        return shipped_rule(record)
    if _fold_error(record, "global") <= min(_fold_error(record, n) for n in stat):
        return _weighted_global(record, weight)
    return shipped_rule(record)


def _weighted_global(record: dict, weight: float, evidence: float | None = 3.0) -> np.ndarray:
    """The ensemble as the mean of its other members (the four, + drift on yearly data, + Prophet/XGBoost
    when as good) weighted ``1 - weight`` and the global model ``weight``, fold by fold from earlier folds;
    then the evidence rule."""
    def members(r, f):
        return _members_fixed_plus_model_based(r, f, yearly_drift=True)

    def blend(names, pick):
        base = np.mean([pick(n) for n in names], axis=0)
        return (1 - weight) * base + weight * pick("global")

    if not _usable(record, "global") or len(record["candidates"]["global"]["folds"]) != record["folds"]:
        return shipped_rule(record)
    forecasts = []
    for f in range(record["folds"]):
        names = [n for n in members(record, f) if len(record["candidates"][n]["folds"]) > f]
        forecasts.append(blend(names, lambda n: record["candidates"][n]["folds"][f]["yhat"]) if names else None)
    names = [n for n in members(record, record["folds"]) if _usable(record, n)]
    if not names:
        return shipped_rule(record)
    final = blend(names, lambda n: np.asarray(record["candidates"][n]["final"]["yhat"], float))
    return final if evidence is None else _with_evidence(record, final, _fold_errors(record, forecasts), evidence)


class LearnedMix:
    """Item 5 of issue 27, a learned combination: one weight ``a`` per run (the set), the share of the
    global model against the mean of the four statistical families (+ drift on yearly data), chosen on
    every series' backtest folds of the run (the grid 0, 0.1, .., 1; the lowest mean fold MASE), then
    applied to every series' final forecasts. The folds all precede the test part: no look-ahead."""

    GRID = np.round(np.linspace(0, 1, 11), 2)

    def fit(self, records: list[dict]) -> "LearnedMix":
        totals = np.zeros(len(self.GRID))
        for r in records:
            if not _usable(r, "global") or not r["folds"]:
                continue
            stat = [n for n in _members_fixed_plus_model_based(r, 0, yearly_drift=True) if len(r["candidates"][n]["folds"]) == r["folds"]]
            if not stat or len(r["candidates"]["global"]["folds"]) != r["folds"]:
                continue
            for f in range(r["folds"]):
                base = np.mean([r["candidates"][n]["folds"][f]["yhat"] for n in stat], axis=0)
                glob = r["candidates"]["global"]["folds"][f]["yhat"]
                totals += \
                    np.array([_fold_errors(r, [None] * f + [(1 - a) * base + a * glob])[f] for a in self.GRID])
        self.weight = float(self.GRID[int(np.argmin(totals))])
        return self

    def __call__(self, record: dict) -> np.ndarray:
        base = _mean(record, _members_fixed_plus_model_based(record, record["folds"] or 0, yearly_drift=True) or STATISTICAL)
        if base is None:
            return shipped(record)
        if not _usable(record, "global"):
            return base
        return (1 - self.weight) * base + self.weight * np.asarray(record["candidates"]["global"]["final"]["yhat"], float)


RULES = {"recorded champion": shipped, "always the recorded ensemble": always_ensemble, "previous (fixed mean, 50 % margin)": previous,
         "trimmed 1.5x, evidence 2.0": trimmed_with_evidence,
         "fixed mean of ets, arima, theta, ces": fixed_mean, "fixed mean, evidence 2.0": fixed_mean_with_evidence,
         "fixed + prophet/xgboost if as good": fixed_plus_model_based,
         "fixed + prophet/xgboost, evidence 2.0": fixed_plus_model_based_with_evidence,
         "fixed + prophet/xgboost, evidence 3.0": fixed_plus_model_based_with_evidence_3,
         "… and drift on yearly data (before the global model)": shipped_rule,
         "… and global when as good (shipped)": shipped_with_global,
         "… and global a fixed member, evidence 3": global_fixed_member,
         "… and global a fixed member, always": global_fixed_member_always,
         "the global model alone": global_alone,
         "learned: global's share of the mean, per run": LearnedMix(),
         "global weighted 0.5 against the rest, evidence 3": lambda r: _weighted_global(r, 0.5),
         "global weighted 0.4 against the rest, evidence 3": lambda r: _weighted_global(r, 0.4),
         "global weighted 0.5, always": lambda r: _weighted_global(r, 0.5, None),
         "global weighted 0.5 when as good (per series)": lambda r: _weighted_global_when_as_good(r, 0.5),
         "lowest backtest error": lowest_backtest}


def main(argv: list[str] | None = None) -> int:
    names = argv if argv is not None else sys.argv[1:]
    print(f"{'rule':40s}" + "".join(f"{n:>24s}" for n in names))
    records = {n: [r for r in load(cache_path(n)) if "error" not in r] for n in names}
    for label, rule in RULES.items():
        cells = []
        for n in names:
            if hasattr(rule, "fit"):
                rule = rule.fit(records[n])
                label = f"{label.split(' (a =')[0]} (a = {rule.weight:.1f})"
            s = [smape(r["test"], rule(r)) for r in records[n]]
            q = [mase(r["test"], rule(r), r["train"], r["season"]) for r in records[n]]
            cells.append(f"{np.mean(s):7.2f} / {np.mean(q):6.3f}")
        print(f"{label:40s}" + "".join(f"{c:>24s}" for c in cells))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
