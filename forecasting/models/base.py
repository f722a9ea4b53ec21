"""The one interface every model family implements, and the transforms every family shares."""

from __future__ import annotations

import pickle
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from scipy import stats

from forecasting.errors import ModelFitError
from forecasting.frequency import future_dates, periods_per_year
from forecasting.intervals import IntervalCalibration, apply
from forecasting.models.seasonality import FourierSeason

# Longest season the state-space families (ETS, ARIMA, Theta, CES) model themselves; longer ones (52
# weeks) are removed as Fourier terms first (``Forecaster.removes_long_season``).
MAX_SEASON = 24

FORECAST_COLUMNS = ["ds", "yhat", "yhat_lower", "yhat_upper"]


@dataclass(frozen=True)
class SeriesContext:
    """What a family needs to know about a segment besides its values."""

    frequency: str
    season_length: int
    covariates: tuple[str, ...] = ()
    level: float = 0.9
    holidays_country: str | None = None
    seed: int = 0
    transform: Literal["none", "log"] = "none"
    non_negative: bool = False
    # each family's options as plain data ({"prophet": {...}}); models pickled before options existed
    # have no such attribute and read the class default, None: every family's defaults
    options: dict | None = field(default=None, hash=False)

    def family_options(self, family: str) -> dict:
        """The options given for ``family`` (empty: the family's defaults)."""
        return dict((getattr(self, "options", None) or {}).get(family) or {})


@dataclass
class PathForecast:
    """Point forecast and interval for steps 1..n after the last fitted period."""

    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray


class Forecaster(ABC):
    """Fit on a history (``ds``, ``y``, covariates), forecast any future dates on the calendar.

    Subclasses implement ``_fit(y, covariates)`` and ``_path(steps, future_covariates)``; this class owns
    the calendar, the transforms (log, clipping) and the checks, so serving equals training.
    """

    name: ClassVar[str]
    complexity: ClassVar[int]  # tie-break between equal scores: the simpler model wins
    uses_covariates: ClassVar[bool] = False
    # Families with a hyper-parameter search (ETS configuration, ARIMA order) set this: in backtest
    # folds after the first they refit with the first fold's choice instead of searching again. The
    # first fold's choice saw only data before its cutoff, so no later fold leaks into it.
    reuses_search: ClassVar[bool] = False
    # Families whose own seasonal state cannot hold a yearly season of weekly data (ETS, ARIMA, Theta,
    # CES above MAX_SEASON) set this: the season is estimated as Fourier terms and removed before they
    # fit, and added back to their forecast (forecasting.models.seasonality).
    removes_long_season: ClassVar[bool] = False

    def __init__(self, context: SeriesContext, params: dict[str, Any] | None = None):
        self.context = context
        self.params: dict[str, Any] = dict(params or {})
        self.last_date: pd.Timestamp | None = None
        self.history_min: float = 0.0
        self.history_max: float = 0.0
        self.residual_quantiles: dict[str, list[float]] | None = None  # read only by models pickled before interval calibration
        self.calibration: IntervalCalibration | None = None

    # --- public surface ------------------------------------------------------------------------
    def fit(self, history: pd.DataFrame) -> "Forecaster":
        """Fit on a regular history.

        Args:
            history: ``ds`` (consecutive periods of the context's frequency), ``y`` (finite), and the
                context's covariates as columns when the family uses them.

        Returns:
            The fitted forecaster itself (``fit`` then ``forecast`` chain).
        """
        y = history["y"].to_numpy(dtype=float)
        if len(y) == 0 or not np.isfinite(y).all():
            raise ModelFitError(f"{self.name}: history must be non-empty and finite")
        self.last_date = pd.Timestamp(history["ds"].iloc[-1])
        self.history_min, self.history_max = float(np.min(y)), float(np.max(y))
        covariates = history[list(self.context.covariates)] if self.uses_covariates and self.context.covariates else None
        self._history_dates = pd.DatetimeIndex(history["ds"])
        scaled = self._to_model_scale(y)
        self._long_season = None
        if self.removes_long_season and self.context.season_length > MAX_SEASON:
            self._long_season = FourierSeason.fit(scaled, periods_per_year(self.context.frequency))
            if self._long_season is not None:
                scaled = self._long_season.remove(scaled)
                self.params = {**self.params, "fourier_harmonics": self._long_season.harmonics}
        self._fitted_periods = len(y)
        self._fit(scaled, covariates)
        if self._long_season is not None:
            self.params["fourier_harmonics"] = self._long_season.harmonics
        return self

    def forecast(self, dates: pd.DatetimeIndex | int, future: pd.DataFrame | None = None, calibrated: bool = True) -> pd.DataFrame:
        """Forecast future dates with the context's interval level.

        Args:
            dates: dates after the last fitted period, on the frequency's calendar (any subset, any
                order), or an int ``n`` for the next ``n`` periods.
            future: the future covariates (``ds`` plus each covariate column) when the family uses
                them; every step up to the last date asked must be covered.
            calibrated: the interval calibrated on the backtest (:meth:`calibrate`), or the family's own.

        Returns:
            ``ds, yhat, yhat_lower, yhat_upper``, one row per date asked, transforms undone and clipped
            at zero when the context says so; ``yhat_lower <= yhat <= yhat_upper``.
        """
        if self.last_date is None:
            raise ModelFitError(f"{self.name}: forecast before fit")
        dates = self._dates(dates)
        steps_index = future_dates(self.last_date, self._steps_to(dates.max()), self.context.frequency)
        positions = steps_index.get_indexer(dates)
        exog = self._future_covariates(steps_index, future)
        path = self._path(len(steps_index), exog)
        season = getattr(self, "_long_season", None)  # models pickled before long seasons have none
        if season is not None:
            ahead = self._fitted_periods + np.arange(len(steps_index))
            path = PathForecast(*(season.restore(a, ahead) for a in (path.yhat, path.lower, path.upper)))
        yhat, lower, upper = (self._from_model_scale(a[positions]) for a in (path.yhat, path.lower, path.upper))
        lower, upper = np.minimum(lower, yhat), np.maximum(upper, yhat)
        if calibrated:  # older pickles have no calibration
            lower, upper = apply(yhat, lower, upper, getattr(self, "calibration", None), positions + 1)
        if self.context.non_negative:
            yhat, lower, upper = (np.clip(a, 0, None) for a in (yhat, lower, upper))
        return pd.DataFrame({"ds": dates, "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper})

    def calibrate(self, calibration: IntervalCalibration | None) -> None:
        """Set how this family's own interval is widened or narrowed, step by step, to match its
        backtest errors (:mod:`forecasting.intervals`); None keeps the family's own."""
        self.calibration = calibration

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a directory (``forecaster.pkl`` plus any family-specific files)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self._save_extra(path)
        with open(path / "forecaster.pkl", "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def load(path: str | Path) -> "Forecaster":
        path = Path(path)
        with open(path / "forecaster.pkl", "rb") as handle:
            model = pickle.load(handle)
        model._load_extra(path)
        return model

    # --- for subclasses -----------------------------------------------------------------------
    def _save_extra(self, path: Path) -> None:
        """Families whose model is not pickled write it here (and drop it from ``__getstate__``)."""

    def _load_extra(self, path: Path) -> None:
        """Inverse of :meth:`_save_extra`."""

    @abstractmethod
    def _fit(self, y: np.ndarray, covariates: pd.DataFrame | None) -> None: ...

    @abstractmethod
    def _path(self, steps: int, covariates: pd.DataFrame | None) -> PathForecast: ...

    def _normal_interval(self, yhat: np.ndarray, sd: np.ndarray) -> PathForecast:
        z = float(stats.norm.ppf(0.5 + self.context.level / 2))
        return PathForecast(yhat, yhat - z * sd, yhat + z * sd)

    def _empirical_interval(self, yhat: np.ndarray, fallback_sd: np.ndarray) -> PathForecast:
        """A normal interval; models pickled before interval calibration carry quantiles of their
        backtest errors per step instead, and keep answering with them."""
        errors = getattr(self, "residual_quantiles", None)
        if not errors:
            return self._normal_interval(yhat, fallback_sd)
        alpha = (1 - self.context.level) / 2
        lower, upper = np.empty_like(yhat), np.empty_like(yhat)
        pooled = np.concatenate([np.asarray(v, dtype=float) for v in errors.values()])
        for i in range(len(yhat)):
            e = np.asarray(errors.get(str(i + 1), pooled), dtype=float)
            e = e if len(e) >= 5 else pooled
            lower[i] = yhat[i] + np.quantile(e, alpha)
            upper[i] = yhat[i] + np.quantile(e, 1 - alpha)
        return PathForecast(yhat, lower, upper)

    # --- internals ----------------------------------------------------------------------------
    def _to_model_scale(self, y: np.ndarray) -> np.ndarray:
        return np.log1p(y) if self.context.transform == "log" else y

    def _from_model_scale(self, y: np.ndarray) -> np.ndarray:
        if self.context.transform != "log":
            return y
        with np.errstate(over="ignore"):  # an exploding bound becomes inf, which check_forecast rejects by name
            return np.expm1(y)

    def _dates(self, dates: pd.DatetimeIndex | int) -> pd.DatetimeIndex:
        if isinstance(dates, (int, np.integer)):
            if dates <= 0:
                raise ModelFitError(f"{self.name}: horizon must be positive, got {dates}")
            return future_dates(self.last_date, int(dates), self.context.frequency)
        dates = pd.DatetimeIndex(dates)
        if len(dates) == 0:
            raise ModelFitError(f"{self.name}: no dates to forecast")
        if (dates <= self.last_date).any():
            bad = dates[dates <= self.last_date][0]
            raise ModelFitError(f"{self.name}: date {bad.date()} is not after the last observed period {self.last_date.date()}")
        return dates

    def _steps_to(self, last: pd.Timestamp) -> int:
        offset = pd.tseries.frequencies.to_offset(self.context.frequency)
        steps = len(pd.date_range(self.last_date + offset, last, freq=self.context.frequency))
        grid = future_dates(self.last_date, max(steps, 1), self.context.frequency)
        if steps == 0 or grid[-1] != last:
            raise ModelFitError(f"{self.name}: date {last.date()} is not on the {self.context.frequency} calendar")
        return steps

    def _future_covariates(self, steps_index: pd.DatetimeIndex, future: pd.DataFrame | None) -> pd.DataFrame | None:
        if not (self.uses_covariates and self.context.covariates):
            return None
        names = list(self.context.covariates)
        if future is None or not set(names) <= set(future.columns):
            missing = sorted(set(names) - set(future.columns if future is not None else []))
            raise ModelFitError(f"{self.name}: future values of covariate(s) {', '.join(missing)} are required")
        table = future.assign(ds=pd.to_datetime(future["ds"])).drop_duplicates("ds", keep="last").set_index("ds")[names]
        table = table.reindex(steps_index)
        if table.isna().any().any():
            gap = steps_index[table.isna().any(axis=1).to_numpy()]
            raise ModelFitError(f"{self.name}: covariates missing for {len(gap)} future period(s) from {gap[0].date()}")
        return table.reset_index(drop=True)


def check_forecast(forecast: pd.DataFrame, history_min: float, history_max: float, factor: float = 3.0) -> str | None:
    """Reason to reject a forecast (non-finite, or far outside the history's range), else None."""
    values = forecast[["yhat", "yhat_lower", "yhat_upper"]].to_numpy(dtype=float)
    if not np.isfinite(values).all():
        return "forecast has non-finite values"
    span = max(history_max - history_min, abs(history_max) * 0.1, 1e-9)
    low, high = history_min - factor * span, history_max + factor * span
    yhat = forecast["yhat"].to_numpy(dtype=float)
    if yhat.min() < low or yhat.max() > high:
        worst = yhat.max() if yhat.max() > high else yhat.min()
        return f"forecast exploded: {worst:,.6g} is far outside the history's range [{history_min:,.6g}, {history_max:,.6g}]"
    return None
