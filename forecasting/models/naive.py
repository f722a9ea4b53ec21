"""Baselines every segment is measured against: the last value, and the value one season ago."""

from __future__ import annotations

import numpy as np

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
    name = "seasonal_naive"
    complexity = 1

    def _fit(self, y, covariates):
        m = self.context.season_length if len(y) >= self.context.season_length else 1
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
