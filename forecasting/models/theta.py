"""The Theta method (statsmodels), deseasonalized when a seasonal pattern is detected."""

from __future__ import annotations

import warnings

import numpy as np
from statsmodels.tsa.forecasting.theta import ThetaModel

from forecasting.models.base import Forecaster, PathForecast


class ThetaForecaster(Forecaster):
    name = "theta"
    complexity = 2

    def _fit(self, y, covariates):
        m = self.context.season_length
        seasonal = 1 < m <= 52 and len(y) >= 2 * m
        method = "multiplicative" if seasonal and (y > 0).all() else "additive"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ThetaModel(y, period=m if seasonal else 1, deseasonalize=seasonal, method=method)
            self._result = model.fit()
        self.params = {"deseasonalize": seasonal, "method": method, "theta": 2}

    def _path(self, steps, covariates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yhat = np.asarray(self._result.forecast(steps, theta=2), dtype=float)
            bounds = np.asarray(self._result.prediction_intervals(steps, alpha=1 - self.context.level), dtype=float)
        return PathForecast(yhat, bounds[:, 0], bounds[:, 1])
