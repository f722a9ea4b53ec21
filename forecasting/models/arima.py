"""Seasonal ARIMA (statsmodels SARIMAX) with a small order search by AIC and exogenous covariates."""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tsa.statespace.sarimax import SARIMAX

from forecasting.errors import ModelFitError
from forecasting.models.base import Forecaster, PathForecast

MAX_SEASON = 24  # seasonal SARIMAX state grows with the period: weekly data uses the non-seasonal search
# (order, trend). In SARIMAX the trend term applies to the differenced series: "c" with d = 1 is a
# drift (a straight line), while "t" with d = 1 would be a quadratic path, so drift is "c". With a
# seasonal difference as well (d + D = 2) a drift would again be quadratic-like: no trend term then.
ORDERS = [((0, 1, 1), "n"), ((0, 1, 1), "c"), ((1, 1, 1), "c"), ((1, 0, 0), "c")]
SEASONAL_ORDERS = [((0, 1, 1), "n"), ((1, 1, 1), "n"), ((1, 0, 0), "c")]


class ArimaForecaster(Forecaster):
    name = "arima"
    complexity = 3
    uses_covariates = True
    reuses_search = True

    def _seasonal_order(self, y: np.ndarray) -> tuple[int, int, int, int]:
        m = self.context.season_length
        if not (1 < m <= MAX_SEASON and len(y) >= 3 * m + 2):
            return (0, 0, 0, 0)
        return (0, 1, 1, m) if _seasonal_strength(y, m) >= 0.3 else (0, 0, 0, 0)

    def _fit(self, y, covariates):
        exog = covariates.to_numpy(dtype=float) if covariates is not None else None
        if "order" in self.params:
            candidates = [(tuple(self.params["order"]), self.params["trend"])]
            seasonal = tuple(self.params["seasonal_order"])
        else:
            seasonal = self._seasonal_order(y)
            candidates = SEASONAL_ORDERS if seasonal[1] else ORDERS
        best, best_aic = None, np.inf
        for order, trend in candidates:
            try:
                result = _fit_sarimax(y, exog, order, seasonal, trend)
            except Exception:  # non-invertible or singular: not a candidate
                continue
            if np.isfinite(result.aic) and result.aic < best_aic:
                best, best_aic, chosen = result, result.aic, (order, trend)
        if best is None:
            raise ModelFitError("arima: no order could be fitted")
        self._result = best
        self.params = {"order": list(chosen[0]), "trend": chosen[1], "seasonal_order": list(seasonal)}

    def _path(self, steps, covariates):
        exog = covariates.to_numpy(dtype=float) if covariates is not None else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = self._result.get_forecast(steps=steps, exog=exog)
            bounds = np.asarray(pred.conf_int(alpha=1 - self.context.level), dtype=float)
        return PathForecast(np.asarray(pred.predicted_mean, dtype=float), bounds[:, 0], bounds[:, 1])


def _fit_sarimax(y, exog, order, seasonal, trend):
    model = SARIMAX(
        y,
        exog=exog,
        order=order,
        seasonal_order=seasonal,
        trend=trend,
        enforce_stationarity=False,
        enforce_invertibility=False,
        concentrate_scale=True,  # sigma2 profiled out of the likelihood: one parameter less, ~3x faster
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(disp=False, maxiter=50, method="lbfgs")


def _seasonal_strength(y: np.ndarray, m: int) -> float:
    """1 - Var(remainder)/Var(seasonal + remainder) on the detrended series (Hyndman's F_s)."""
    n = len(y) // m * m
    x = y[-n:]
    trend = np.convolve(x, np.ones(m) / m, mode="same")
    detrended = x - trend
    seasonal = np.array([detrended[i::m].mean() for i in range(m)])
    remainder = detrended - np.tile(seasonal, n // m)
    denom = np.var(detrended)
    return float(max(0.0, 1 - np.var(remainder) / denom)) if denom > 0 else 0.0
