"""Exponential smoothing (statsmodels ETS): small search over trend, damping and seasonality by AICc."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from forecasting.errors import ModelFitError
from forecasting.models.base import Forecaster, PathForecast

MAX_SEASON = 24  # ETS state per season: longer seasons (52 weeks) are left to Prophet/XGBoost


class ETSForecaster(Forecaster):
    name = "ets"
    complexity = 2
    reuses_search = True

    def _configs(self, n: int) -> list[dict]:
        m = self.context.season_length
        seasonal = [None] + (["add"] if 1 < m <= MAX_SEASON and n >= 2 * m + 2 else [])
        trends = [(None, False), ("add", False), ("add", True)]
        return [
            {"trend": t, "damped_trend": d, "seasonal": s}
            for s in seasonal
            for t, d in trends
        ]

    def _fit(self, y, covariates):
        configs = [self.params["config"]] if "config" in self.params else self._configs(len(y))
        best, best_score = None, np.inf
        for config in configs:
            try:
                result = self._fit_one(y, config)
            except Exception:  # a config that does not converge is just not a candidate
                continue
            score = result.aicc if np.isfinite(result.aicc) else result.aic
            if np.isfinite(score) and score < best_score:
                best, best_score, chosen = result, score, config
        if best is None:
            raise ModelFitError("ets: no configuration could be fitted")
        self._result = best
        self._n = len(y)
        self.params = {"config": chosen}

    def _fit_one(self, y, config):
        m = self.context.season_length
        model = ETSModel(
            pd.Series(y),  # statsmodels' prediction intervals need an indexed series
            error="add",
            trend=config["trend"],
            damped_trend=config["damped_trend"],
            seasonal=config["seasonal"],
            seasonal_periods=m if config["seasonal"] else None,
            initialization_method="estimated" if len(y) < 200 else "heuristic",
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(disp=False, maxiter=200)

    def _path(self, steps, covariates):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pred = self._result.get_prediction(start=self._n, end=self._n + steps - 1)
            frame = pred.summary_frame(alpha=1 - self.context.level)
        yhat = frame["mean"].to_numpy(dtype=float)
        return PathForecast(yhat, frame["pi_lower"].to_numpy(dtype=float), frame["pi_upper"].to_numpy(dtype=float))
