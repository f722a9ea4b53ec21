"""Forecast accuracy metrics. Each is a finite number or an explicit status: never NaN, never a sentinel."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel

METRICS = ("mase", "smape", "wape", "mape", "rmse", "bias", "coverage", "r2")
# For these, smaller is better; bias is best at zero and coverage is judged against the nominal level.
LOWER_IS_BETTER = ("mase", "smape", "wape", "mape", "rmse")


class Metric(BaseModel):
    value: float | None
    status: str = "ok"  # "ok", or why there is no value ("undefined: all actuals are zero")
    note: str = ""

    @property
    def defined(self) -> bool:
        return self.value is not None


def _ok(value: float, note: str = "") -> Metric:
    if not np.isfinite(value):
        return _undefined("not finite (values too close to zero or too large)")
    return Metric(value=float(value), note=note)


def _undefined(reason: str) -> Metric:
    return Metric(value=None, status=f"undefined: {reason}")


def mape(actual: np.ndarray, forecast: np.ndarray) -> Metric:
    """Mean absolute percentage error (%), over non-zero actuals; the zeros skipped are counted."""
    nonzero = actual != 0
    skipped = int((~nonzero).sum())
    if not nonzero.any():
        return _undefined("all actuals are zero")
    value = 100 * np.mean(np.abs((actual[nonzero] - forecast[nonzero]) / actual[nonzero]))
    return _ok(value, f"{skipped} zero actual(s) skipped" if skipped else "")


def smape(actual: np.ndarray, forecast: np.ndarray) -> Metric:
    """Symmetric MAPE as in the M3 competition: 200 |y - f| / (|y| + |f|), from 0 to 200."""
    denom = np.abs(actual) + np.abs(forecast)
    terms = np.where(denom == 0, 0.0, 200 * np.abs(actual - forecast) / np.where(denom == 0, 1, denom))
    return _ok(np.mean(terms))


def wape(actual: np.ndarray, forecast: np.ndarray) -> Metric:
    """Weighted absolute percentage error (%): total absolute error over total absolute actuals."""
    total = np.sum(np.abs(actual))
    if total == 0:
        return _undefined("all actuals are zero")
    return _ok(100 * np.sum(np.abs(actual - forecast)) / total)


def mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray, season: int) -> Metric:
    """Mean absolute scaled error: scaled by the in-sample seasonal-naive MAE (naive when that is zero)."""
    for m in dict.fromkeys([season, 1]):
        if len(insample) > m:
            scale = np.mean(np.abs(insample[m:] - insample[:-m]))
            if scale > 0:
                note = "" if m == season else "scaled by the naive (lag 1) MAE: seasonal scale is zero"
                return _ok(np.mean(np.abs(actual - forecast)) / scale, note)
    return _undefined("the in-sample series does not change, so there is no scale")


def rmse(actual: np.ndarray, forecast: np.ndarray) -> Metric:
    return _ok(np.sqrt(np.mean((actual - forecast) ** 2)))


def bias(actual: np.ndarray, forecast: np.ndarray) -> Metric:
    """Signed total error over total absolute actuals (%); positive means over-forecasting."""
    total = np.sum(np.abs(actual))
    if total == 0:
        return _undefined("all actuals are zero")
    return _ok(100 * np.sum(forecast - actual) / total)


def r2(actual: np.ndarray, forecast: np.ndarray) -> Metric:
    """Share of the window's variance the forecast explains: 1 - SSE / SST (below 0 when the window's
    own mean would have done better)."""
    total = np.sum((actual - np.mean(actual)) ** 2)
    if len(actual) < 2 or total == 0:
        return _undefined("the actuals do not vary in this window")
    return _ok(1 - np.sum((actual - forecast) ** 2) / total)


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> Metric:
    """Share (%) of actuals inside the prediction interval."""
    return _ok(100 * np.mean((actual >= lower) & (actual <= upper)))


def evaluate(actual, yhat, lower, upper, insample, season: int) -> dict[str, Metric]:
    """All metrics for one forecast window."""
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        return _evaluate(actual, yhat, lower, upper, insample, season)


def _evaluate(actual, yhat, lower, upper, insample, season: int) -> dict[str, Metric]:
    actual, yhat, lower, upper, insample = (np.asarray(a, dtype=float) for a in (actual, yhat, lower, upper, insample))
    if len(actual) == 0 or len(actual) != len(yhat):
        raise ValueError("actuals and forecasts must be non-empty and of equal length")
    return {
        "mase": mase(actual, yhat, insample, season),
        "smape": smape(actual, yhat),
        "wape": wape(actual, yhat),
        "mape": mape(actual, yhat),
        "rmse": rmse(actual, yhat),
        "bias": bias(actual, yhat),
        "coverage": coverage(actual, lower, upper),
        "r2": r2(actual, yhat),
    }


def mean_over_folds(per_fold: list[dict[str, Metric]]) -> dict[str, Metric]:
    """Average each metric over the folds where it is defined; undefined in every fold stays undefined."""
    out: dict[str, Metric] = {}
    for name in METRICS:
        values = [fold[name].value for fold in per_fold if fold[name].defined]
        if values:
            skipped = len(per_fold) - len(values)
            out[name] = _ok(float(np.mean(values)), f"undefined in {skipped} fold(s)" if skipped else "")
        else:
            out[name] = Metric(value=None, status=per_fold[0][name].status)
    return out
