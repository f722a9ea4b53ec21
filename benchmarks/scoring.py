"""Scores of the benchmark records (``benchmarks.candidates``): the M3 metrics per series, tables per
set, interval coverage per step, and the paired bootstrap of the champion against a reference.

Metrics are the M3 ones, per series then averaged: sMAPE = 200|y-f|/(|y|+|f|) (0-200) and MASE = MAE
over the in-sample seasonal-naive MAE (lag = the set's season; lag 1 without one)."""

from __future__ import annotations

import numpy as np

ANCHORS = ("AutoETS", "AutoARIMA", "DynamicOptimizedTheta")
ANCHOR_MEAN = "anchors' mean"


def smape(actual, forecast) -> float:
    actual, forecast = np.asarray(actual, float), np.asarray(forecast, float)
    denom = np.abs(actual) + np.abs(forecast)
    terms = np.where(denom == 0, 0.0, 200 * np.abs(actual - forecast) / np.where(denom == 0, 1, denom))
    return float(np.mean(terms))


def mase_scale(insample, m: int) -> float:
    insample = np.asarray(insample, float)
    lag = m if len(insample) > m else 1
    scale = float(np.mean(np.abs(insample[lag:] - insample[:-lag])))
    if scale == 0:
        scale = float(np.mean(np.abs(np.diff(insample)))) or 1.0
    return scale


def mase(actual, forecast, insample, m: int) -> float:
    return float(np.mean(np.abs(np.asarray(actual, float) - np.asarray(forecast, float))) / mase_scale(insample, m))


def point_forecasts(record: dict) -> dict[str, np.ndarray]:
    """Every method's forecast of the test part: the champion, each candidate refitted, each anchor and
    the anchors' mean. A candidate without a usable refit is left out (counted by ``coverage_of``)."""
    out = {"champion": np.asarray(record["champion_final"]["yhat"], float)}
    for name, candidate in record["candidates"].items():
        if "final" in candidate and np.isfinite(candidate["final"]["yhat"]).all():
            out[name] = np.asarray(candidate["final"]["yhat"], float)
    anchors = [np.asarray(record["anchors"][a]["yhat"], float) for a in ANCHORS if "yhat" in record["anchors"].get(a, {})]
    for a in ANCHORS:
        if "yhat" in record["anchors"].get(a, {}):
            out[a] = np.asarray(record["anchors"][a]["yhat"], float)
    if anchors:
        out[ANCHOR_MEAN] = np.mean(anchors, axis=0)
    return out


def score(record: dict, forecasts: dict[str, np.ndarray] | None = None) -> dict:
    """sMAPE and MASE of every method of one record (``forecasts`` overrides or adds methods)."""
    forecasts = {**point_forecasts(record), **(forecasts or {})}
    test, train, m = record["test"], record["train"], record["season"]
    return {"smape": {k: smape(test, f) for k, f in forecasts.items()},
            "mase": {k: mase(test, f, train, m) for k, f in forecasts.items()}}


def table(scores: list[dict], methods: list[str] | None = None) -> dict[str, dict[str, float]]:
    """Mean sMAPE and MASE per method over the series that have it (every method scored on the same
    series: a series missing a method is left out of that method's mean only when it lacks it)."""
    methods = methods or sorted({m for s in scores for m in s["smape"]})
    out = {}
    for method in methods:
        rows = [s for s in scores if method in s["smape"]]
        if rows:
            out[method] = {"smape": float(np.mean([s["smape"][method] for s in rows])),
                           "mase": float(np.mean([s["mase"][method] for s in rows])), "series": len(rows)}
    return out


def oracle(scores: list[dict], candidates: list[str]) -> dict[str, float]:
    """The best candidate per series in hindsight, per metric."""
    return {metric: float(np.mean([min(s[metric][c] for c in candidates if c in s[metric]) for s in scores])) for metric in ("smape", "mase")}


def coverage(actual, lower, upper) -> np.ndarray:
    """1 where the actual lies inside [lower, upper], per step."""
    actual, lower, upper = (np.asarray(a, float) for a in (actual, lower, upper))
    return ((actual >= lower) & (actual <= upper)).astype(float)


def champion_points(record: dict) -> list[tuple[int, float]]:
    """(step, |error| / sigma) of the champion's backtest folds, sigma read off its own interval
    (``forecasting.intervals.standardized_errors`` on the cached fold arrays)."""
    from forecasting.intervals import z

    fitted_level, points = record.get("level", 0.9), []
    for fold in record["candidates"][record["champion"]]["folds"]:
        sigma = (fold["upper"] - fold["lower"]) / (2 * z(fitted_level))
        for step, (e, s, seen) in enumerate(zip(np.abs(fold["actual"] - fold["yhat"]), sigma, fold["observed"]), start=1):
            if seen and s > 0:
                points.append((step, float(e / s)))
    return points


def champion_bounds(record: dict, level: float):
    """The champion's interval at ``level`` as the pipeline would calibrate it (``forecasting.intervals``)
    from the same backtest errors: its own interval (recorded at the run's level) rescaled to ``level``,
    then calibrated. At the run's level this reproduces the recorded interval."""
    from forecasting.intervals import apply, calibrate, z

    final, fitted_level = record["champion_final"], record.get("level", 0.9)
    if "own_lower" not in final:
        return None
    yhat = np.asarray(final["yhat"], float)
    ratio = z(level) / z(fitted_level)
    lower = yhat - (yhat - np.asarray(final["own_lower"], float)) * ratio
    upper = yhat + (np.asarray(final["own_upper"], float) - yhat) * ratio
    calibration = calibrate(champion_points(record), level, len(yhat), len(record["used"]))
    return apply(yhat, lower, upper, calibration, np.arange(1, len(yhat) + 1))


def champion_bounds_with(record: dict, level: float, factor) -> tuple[np.ndarray, np.ndarray] | None:
    """The champion's own interval (recorded at the run's level) rescaled to ``level`` and widened by
    ``factor`` (per step)."""
    from forecasting.intervals import z

    final = record["champion_final"]
    if "own_lower" not in final:
        return None
    yhat = np.asarray(final["yhat"], float)
    ratio = z(level) / z(record.get("level", 0.9))
    lower = yhat - (yhat - np.asarray(final["own_lower"], float)) * ratio
    upper = yhat + (np.asarray(final["own_upper"], float) - yhat) * ratio
    return yhat - (yhat - lower) * factor, yhat + (upper - yhat) * factor


def candidate_points(record: dict, name: str) -> list[tuple[int, float]]:
    """(step, |error| / sigma) of one candidate's backtest folds."""
    return champion_points({**record, "champion": name}) if name in record["candidates"] else []


def pooled_bounds(records: list[dict], mix: str):
    """``bounds(record, level)``: the champion's interval calibrated as ``forecasting.pooled_calibration``
    does for a run made of ``records`` (one set = one run): its own backtest errors with those of the
    same candidate on every other series of similar history length, ``mix`` own, pooled or shrunk."""
    from forecasting.intervals import length_bucket, mixed_calibration
    from forecasting.pooled_calibration import MIN_OTHER_SEGMENTS

    pools: dict[tuple, list[tuple[str, list]]] = {}
    for r in records:
        for name in r["candidates"]:
            points = candidate_points(r, name)
            if points:
                pools.setdefault((length_bucket(len(r["used"])), name), []).append((r["series"], points))

    def bounds(record: dict, level: float):
        horizon = len(record["champion_final"]["yhat"])
        mine = champion_points(record)
        others = [p for key, p in pools.get((length_bucket(len(record["used"])), record["champion"]), []) if key != record["series"]]
        if len(others) < MIN_OTHER_SEGMENTS:
            return champion_bounds(record, level)
        pool = [p for points in others for p in points] + mine
        calibration = mixed_calibration(mine, pool, level, horizon, len(record["used"]), mix)
        return champion_bounds_with(record, level, calibration.factor(horizon))

    return bounds


def coverage_by_step(records: list[dict], bounds) -> dict:
    """Share of actuals inside the interval ``bounds(record) -> (lower, upper) | None``: overall and per
    step ahead (steps beyond a series' horizon are not counted)."""
    hits: dict[int, list[float]] = {}
    for record in records:
        found = bounds(record)
        if found is None:
            continue
        for step, hit in enumerate(coverage(record["test"], *found), start=1):
            hits.setdefault(step, []).append(hit)
    all_hits = [h for values in hits.values() for h in values]
    return {"overall": float(np.mean(all_hits)) if all_hits else None,
            "by_step": {step: float(np.mean(values)) for step, values in sorted(hits.items())}}


def paired(diff: np.ndarray, draws: int = 10_000, seed: int = 0) -> dict:
    """Mean of per-series differences with its 95 % bootstrap interval (resampling series)."""
    diff = np.asarray(diff, float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return {"mean": float(diff.mean()), "low": float(low), "high": float(high), "series": len(diff)}
