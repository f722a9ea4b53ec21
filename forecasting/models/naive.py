"""Baselines every segment is measured against: the last value, the value one season ago, the line
through the first and last values (drift), and the historical mean."""

from __future__ import annotations

import numpy as np

from forecasting.errors import ModelFitError
from forecasting.models.base import Forecaster


class NaiveForecaster(Forecaster):
    name = "naive"
    complexity = 0

    def _fit(self, y, covariates):
        self._last = float(y[-1])
        diffs = np.diff(y)
        self._sigma = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0

    def _path(self, steps, covariates):
        h = np.arange(1, steps + 1)
        return self._normal_interval(np.full(steps, self._last), self._sigma * np.sqrt(h))


class SeasonalNaiveForecaster(Forecaster):
    """The value one season ago; needs one full season of history (without a season: the last value)."""

    name = "seasonal_naive"
    complexity = 1

    def _fit(self, y, covariates):
        m = self.context.season_length
        if m > 1 and len(y) < m:
            raise ModelFitError(f"{self.name}: needs one full season ({m} periods), the history has {len(y)}")
        self.params = {"season_length": m}
        self._season = y[-m:].astype(float)
        diffs = y[m:] - y[:-m]
        self._sigma = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0

    def _path(self, steps, covariates):
        m = len(self._season)
        h = np.arange(steps)
        yhat = self._season[h % m]
        seasons_ahead = h // m + 1
        return self._normal_interval(yhat, self._sigma * np.sqrt(seasons_ahead))


class DriftForecaster(Forecaster):
    """The last value plus the average change per period (the line through the first and last values)."""

    name = "drift"
    complexity = 1

    def _fit(self, y, covariates):
        n = len(y)
        self._last = float(y[-1])
        self._slope = float((y[-1] - y[0]) / (n - 1)) if n > 1 else 0.0
        residuals = np.diff(y) - self._slope
        self._sigma = float(np.std(residuals, ddof=1)) if len(residuals) > 1 else 0.0
        self._n = n

    def _path(self, steps, covariates):
        h = np.arange(1, steps + 1)
        sd = self._sigma * np.sqrt(h * (1 + h / max(self._n - 1, 1)))
        return self._normal_interval(self._last + self._slope * h, sd)


class MeanForecaster(Forecaster):
    """The historical mean: the baseline for series that revert to a level."""

    name = "mean"
    complexity = 0

    def _fit(self, y, covariates):
        self._mean = float(np.mean(y))
        self._sigma = float(np.std(y, ddof=1)) if len(y) > 1 else 0.0
        self._n = len(y)

    def _path(self, steps, covariates):
        sd = np.full(steps, self._sigma * np.sqrt(1 + 1 / self._n))
        return self._normal_interval(np.full(steps, self._mean), sd)
