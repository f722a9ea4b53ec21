"""The dynamic optimized Theta method (statsforecast), deseasonalized when its seasonality test finds a
season."""

from __future__ import annotations

from statsforecast.models import DynamicOptimizedTheta

from forecasting.models.base import Forecaster, PathForecast
from forecasting.models.statsforecast_adapter import (
    fit_quietly,
    predict_path,
    usable_season,
)


class ThetaForecaster(Forecaster):
    name = "theta"
    complexity = 2
    removes_long_season = True

    def _fit(self, y, covariates):
        m = usable_season(self.context.season_length, len(y))
        decomposition = "multiplicative" if (y > 0).all() else "additive"
        model = DynamicOptimizedTheta(season_length=m, decomposition_type=decomposition)
        self._model = fit_quietly(self.name, model, y)
        self.params = {"season_length": m, "decomposition": decomposition}

    def _path(self, steps, covariates) -> PathForecast:
        return predict_path(self._model, steps, self.context.level)
