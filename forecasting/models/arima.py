"""Seasonal ARIMA (statsforecast AutoARIMA: Hyndman-Khandakar stepwise search by AICc, unit-root tests
for the differencing) with exogenous covariates."""

from __future__ import annotations

from statsforecast.models import ARIMA, AutoARIMA

from forecasting.errors import ModelFitError
from forecasting.models.base import Forecaster, PathForecast
from forecasting.models.statsforecast_adapter import (
    fit_quietly,
    predict_path,
    usable_season,
)


class ArimaForecaster(Forecaster):
    name = "arima"
    complexity = 3
    removes_long_season = True
    uses_covariates = True
    reuses_search = True

    def _fit(self, y, covariates):
        X = covariates.to_numpy(dtype=float) if covariates is not None else None
        if "order" in self.params:  # the order an earlier fold chose: re-estimate its coefficients only
            p = self.params
            m = p["season_length"]  # the season the order was chosen with, whatever this window's length
            order = dict(order=tuple(p["order"]), seasonal_order=tuple(p["seasonal_order"]), season_length=m,
                         include_mean=p["mean"], include_drift=p["drift"])
            try:
                self._model = fit_quietly(self.name, ARIMA(**order), y, X)
            except ModelFitError:
                # The default CSS-ML starts ML from the conditional-sum-of-squares estimate; when that
                # estimate is non-stationary statsforecast fails (R stops there too). ML alone fits it.
                self._model = fit_quietly(self.name, ARIMA(**order, method="ML"), y, X)
        else:
            m = usable_season(self.context.season_length, len(y))
            # R's auto.arima rule: approximate the likelihood during the search on long or finely seasonal
            # series (a 730-day series: ~0.4-2 s instead of 2.5-10 s), then fit the chosen order exactly.
            model = AutoARIMA(season_length=m, approximation=len(y) > 150 or m > 12)
            self._model = fit_quietly(self.name, model, y, X)
        p, q, P, Q, _, d, D = self._model.model_["arma"]
        coef = self._model.model_["coef"]
        self.params = {"order": [p, d, q], "seasonal_order": [P, D, Q], "season_length": m,
                       "mean": "intercept" in coef, "drift": "drift" in coef}

    def _path(self, steps, covariates) -> PathForecast:
        X = covariates.to_numpy(dtype=float) if covariates is not None else None
        return predict_path(self._model, steps, self.context.level, X)
