"""Gradient-boosted trees on lag and calendar features, forecasting recursively step by step.

The target is the seasonal difference ``y[t] - y[t-m]`` so trees, which cannot extrapolate, still
follow a trend. Each step's features use only observed values and earlier predicted steps (no leakage).
Intervals come from out-of-sample backtest errors when calibrated, else from in-sample residuals.
Settings come from :class:`forecasting.models.options.XGBoostOptions`, optionally searched on an inner
split of the window it is fitted on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecasting.frequency import future_dates
from forecasting.models.base import Forecaster
from forecasting.models.calendar import holidays_per_period
from forecasting.models.options import XGBOOST_GRID, XGBoostOptions, search

N_LAGS_MIN = 7
SAMPLING = {"subsample": 0.8, "colsample_bytree": 0.8}


class XGBoostForecaster(Forecaster):
    name = "xgboost"
    complexity = 5
    uses_covariates = True
    # with options.search, fold 1 searches and later folds refit its choice (see Forecaster)
    reuses_search = True
    removes_long_season = True  # trees cannot learn a 52-week pattern from two years of lags

    def options(self) -> XGBoostOptions:
        return XGBoostOptions.model_validate(self.context.family_options("xgboost"))

    def _fit(self, y, covariates):
        options = self.options()
        settings, record = options.settings(), None
        if "search" in self.params:  # an earlier fold's search: refit its choice, never search again
            record = self.params["search"]
            settings.update(record.get("chosen") or {})
        elif options.search:
            frame = pd.DataFrame({"ds": self._history_dates, "y": y})
            cov = covariates.reset_index(drop=True) if covariates is not None else None
            chosen, record = search(lambda setting, train, test: self._fit_predict(options, {**settings, **setting}, train, test, cov),
                                    XGBOOST_GRID, frame, self.context.season_length, min_train=2 * self.context.season_length + 30)
            settings.update(chosen or {})
        self._train(y, covariates, self._history_dates, settings, options.lags)
        self.params = settings | SAMPLING | {"season_lag": self._m, "lags": self._lags}
        if record is not None:
            self.params["search"] = record

    def _train(self, y, covariates, dates, settings: dict, lags: int | None) -> None:
        import xgboost as xgb

        m = 1 if getattr(self, "_long_season", None) is not None else self.context.season_length  # a removed long season is not differenced again
        self._m = m if len(y) >= 3 * m + N_LAGS_MIN else 1
        self._lags = lags or max(N_LAGS_MIN, min(self._m, 28))
        if len(y) - self._m - self._lags < 10:
            self._m = 1
        holiday_counts = holidays_per_period(dates, self.context.frequency, self._holiday_country())
        self._cov = covariates.to_numpy(dtype=float) if covariates is not None else np.empty((len(y), 0))
        diff = _seasonal_diff(y, self._m)
        start = self._m + self._lags
        if len(y) - start < 2:
            raise ValueError(f"xgboost: {len(y)} periods are too few for {self._lags} lags")
        features = np.vstack([self._features(diff, self._cov, t, dates[t], holiday_counts[t]) for t in range(start, len(y))])
        target = diff[start:]
        self._model = xgb.XGBRegressor(**settings, **SAMPLING, random_state=self.context.seed, n_jobs=1, tree_method="hist")
        self._model.fit(features, target)
        self._sigma = float(np.std(target - self._model.predict(features), ddof=1))
        self._y, self._diff = y.astype(float), diff

    def _fit_predict(self, options: XGBoostOptions, settings: dict, train: pd.DataFrame, test: pd.DataFrame, cov: pd.DataFrame | None):
        """One setting fitted on the inner split's start, forecasting its held-out end (a scratch copy)."""
        scratch = XGBoostForecaster(self.context)
        n = len(train)
        scratch._train(train["y"].to_numpy(float), cov.iloc[:n] if cov is not None else None, pd.DatetimeIndex(train["ds"]), settings, options.lags)
        scratch.last_date = pd.Timestamp(train["ds"].iloc[-1])
        future = cov.iloc[n : n + len(test)].reset_index(drop=True) if cov is not None else None
        return scratch._path(len(test), future).yhat

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

    def feature_components(self) -> list[str]:
        """The component each feature of :meth:`_features` explains (forecasting.explain): recent
        changes and their window -> trend, the calendar -> season, the holiday count -> holidays, each
        covariate (now and one season before) -> its own."""
        covariates = list(self.context.covariates) if self._cov.shape[1] else []
        return ["trend"] * (self._lags + 2) + ["season"] * 5 + ["holidays"] + covariates + covariates

    def recursive(self, steps, covariates) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The point path of ``steps`` periods, the change over one season predicted at each step, and
        each step's feature row (the trees' input)."""
        dates = future_dates(self.last_date, steps, self.context.frequency)
        holidays = holidays_per_period(dates, self.context.frequency, self._holiday_country())
        future_cov = covariates.to_numpy(dtype=float) if covariates is not None else np.empty((steps, 0))
        cov = np.vstack([self._cov, future_cov])
        y, diff = list(self._y), list(self._diff)
        out, rows = np.empty(steps), []
        for i in range(steps):
            t = len(y)
            row = self._features(np.asarray(diff), cov, t, dates[i], holidays[i])
            d = float(self._model.predict(row.reshape(1, -1))[0])
            diff.append(d)
            y.append(d + y[t - self._m])
            out[i] = y[-1]
            rows.append(row)
        return out, np.asarray(diff[len(self._diff):]), np.vstack(rows)

    def _path(self, steps, covariates):
        out, _, _ = self.recursive(steps, covariates)
        h = np.arange(1, steps + 1)
        return self._empirical_interval(out, self._sigma * np.sqrt(h))


def _seasonal_diff(y: np.ndarray, m: int) -> np.ndarray:
    diff = np.zeros_like(y, dtype=float)
    diff[m:] = y[m:] - y[:-m]
    return diff
