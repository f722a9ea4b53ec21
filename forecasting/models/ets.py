"""Exponential smoothing (statsforecast AutoETS): error, trend (damped or not) and season, additive or
multiplicative, chosen by AICc."""

from __future__ import annotations

import re

from statsforecast.models import AutoETS

from forecasting.models.base import Forecaster, PathForecast
from forecasting.models.statsforecast_adapter import (
    fit_quietly,
    predict_path,
    usable_season,
)


class ETSForecaster(Forecaster):
    name = "ets"
    complexity = 2
    removes_long_season = True
    reuses_search = True

    def _fit(self, y, covariates):
        m = usable_season(self.context.season_length, len(y))
        if "config" in self.params:  # the configuration an earlier fold chose: refit its parameters only
            config = self.params["config"]
            model = AutoETS(season_length=m, model=config["model"], damped=config["damped"])
        else:
            model = AutoETS(season_length=m)
        self._model = fit_quietly(self.name, model, y)
        self.params = {"config": _config(self._model.model_["method"])}

    def _path(self, steps, covariates) -> PathForecast:
        return predict_path(self._model, steps, self.context.level)


def _config(method: str) -> dict:
    """``ETS(M,Ad,M)`` -> ``{"model": "MAM", "damped": True}`` (what AutoETS takes to refit it)."""
    error, trend, season = re.fullmatch(r"ETS\((\w),(\w+),(\w)\)", method).groups()
    return {"model": f"{error}{trend[0]}{season}", "damped": trend.endswith("d")}
