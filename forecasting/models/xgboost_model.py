"""Gradient-boosted trees on lag and calendar features, forecasting recursively step by step.

The target is the seasonal difference ``y[t] - y[t-m]`` so trees, which cannot extrapolate, still
follow a trend. Each step's features use only observed values and earlier predicted steps (no leakage).
Intervals come from out-of-sample backtest errors when calibrated, else from in-sample residuals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.frequency import future_dates
from forecasting.models.base import Forecaster
from forecasting.models.calendar import holidays_per_period

N_LAGS_MIN = 7


class XGBoostForecaster(Forecaster):
    name = "xgboost"
    complexity = 5
    uses_covariates = True
    removes_long_season = True  # trees cannot learn a 52-week pattern from two years of lags

    def _fit(self, y, covariates):
        import xgboost as xgb

        m = 1 if getattr(self, "_long_season", None) is not None else self.context.season_length  # a removed long season is not differenced again
        self._m = m if len(y) >= 3 * m + N_LAGS_MIN else 1
        self._lags = max(N_LAGS_MIN, min(self._m, 28))
        if len(y) - self._m - self._lags < 10:
            self._m = 1
        self._holiday_counts = holidays_per_period(self._history_dates, self.context.frequency, self._holiday_country())
        self._cov = covariates.to_numpy(dtype=float) if covariates is not None else np.empty((len(y), 0))
        diff = _seasonal_diff(y, self._m)
        start = self._m + self._lags
        features = np.vstack([self._features(diff, self._cov, t, self._history_dates[t], self._holiday_counts[t]) for t in range(start, len(y))])
        target = diff[start:]
        params = {"n_estimators": 300, "max_depth": 4, "learning_rate": 0.05, "subsample": 0.8, "colsample_bytree": 0.8}
        params.update({k: v for k, v in self.params.items() if k in params})
        self._model = xgb.XGBRegressor(**params, random_state=self.context.seed, n_jobs=1, tree_method="hist")
        self._model.fit(features, target)
        self._sigma = float(np.std(target - self._model.predict(features), ddof=1))
        self._y, self._diff = y.astype(float), diff
        self.params = params | {"season_lag": self._m, "lags": self._lags}

    def _holiday_country(self) -> str | None:
        """Days only: on the two real weekly series of the benchmark a holidays-per-week feature made
        the trees worse (two years hold two of each holiday week); Prophet models weekly holidays."""
        return self.context.holidays_country if self.context.frequency in ("D", "B") else None

    def _features(self, diff: np.ndarray, cov: np.ndarray, t: int, when: pd.Timestamp, holidays: float) -> np.ndarray:
        """Features for period t from periods before t only (covariates: at t and one season before,
        since the target is the change over one season; holidays: how many fall in period t)."""
        lags = diff[t - self._lags : t][::-1]
        window = diff[max(0, t - max(self._m, 7)) : t]
        calendar_part = [when.dayofweek, when.day, when.month, when.dayofyear, when.isocalendar().week, holidays]
        return np.concatenate([lags, [window.mean(), window.std()], calendar_part, cov[t], cov[t - self._m]]).astype(float)

    def _path(self, steps, covariates):
        dates = future_dates(self.last_date, steps, self.context.frequency)
        holidays = holidays_per_period(dates, self.context.frequency, self._holiday_country())
        future_cov = covariates.to_numpy(dtype=float) if covariates is not None else np.empty((steps, 0))
        cov = np.vstack([self._cov, future_cov])
        y, diff = list(self._y), list(self._diff)
        out = np.empty(steps)
        for i in range(steps):
            t = len(y)
            row = self._features(np.asarray(diff), cov, t, dates[i], holidays[i])
            d = float(self._model.predict(row.reshape(1, -1))[0])
            diff.append(d)
            y.append(d + y[t - self._m])
            out[i] = y[-1]
        h = np.arange(1, steps + 1)
        return self._empirical_interval(out, self._sigma * np.sqrt(h))


def _seasonal_diff(y: np.ndarray, m: int) -> np.ndarray:
    diff = np.zeros_like(y, dtype=float)
    diff[m:] = y[m:] - y[:-m]
    return diff
