"""The global family: one gradient-boosted model trained on every segment of a run at once (mlforecast
over LightGBM), and the small per-segment forecaster that refers to it.

A :class:`GlobalModel` is fitted by one call over all segments' training frames (``fit``) and forecasts
any of them (``predict``). Features, all computed by mlforecast from each segment's own past: lags
1..season (at least 1..3) and the season and twice it (none longer than nine segments in ten
have differenced history for), rolling means of the last
season and of the last period, the calendar (month, quarter, day of week, ...), the holidays in each
period (daily and weekly data), the run's covariates, and the segment columns that group segments as
categorical features. Each series is differenced over one season (once when a series is shorter than
two seasons) and standardized by its own mean and standard deviation first (series differ by orders of
magnitude; trees cannot extrapolate a trend), and the forecast is recursive: each step uses only observed values and earlier predicted steps.

A :class:`GlobalMember` is what a segment's champion (or ensemble) holds: the global model's key, the
segment's forecast of the run's horizon, and its own interval's shape; the fitted global model is
attached at load (:meth:`GlobalMember.attach`) so one global model serves every segment.
"""

from __future__ import annotations

import hashlib
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from forecasting.errors import ModelFitError
from forecasting.frequency import future_dates, is_yearly
from forecasting.intervals import apply
from forecasting.models.base import Forecaster
from forecasting.models.calendar import holidays_per_period, uses_holidays

ID, HOLIDAYS = "unique_id", "holidays"
# LightGBM settings: few, shallow-ish trees with row/feature sampling, deterministic on one thread.
LGBM_SETTINGS = {"n_estimators": 300, "learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
                 "subsample": 0.8, "subsample_freq": 1, "colsample_bytree": 0.8, "reg_lambda": 1.0}
MIN_SEGMENTS = 2  # a model "across segments" needs at least two of them


def week_of_year(dates: pd.DatetimeIndex) -> np.ndarray:
    """ISO week number (a date feature of weekly and daily data)."""
    return pd.DatetimeIndex(dates).isocalendar().week.to_numpy(dtype=int)


def lags_for(season: int) -> list[int]:
    """Lags 1..2 x season (at least 1..3, at most 1..24) and the season and twice it when longer: two
    seasons of context (Tourism: quarterly MASE 1.526 -> 1.511, monthly 1.475 -> 1.464 against lags
    1..season; docs/models-and-selection.md)."""
    base = range(1, max(3, min(2 * season, 24)) + 1)
    return sorted({*base, *([season, 2 * season] if 1 < season <= 60 else [])})


def date_features_for(frequency: str) -> list:
    if frequency in ("D", "B"):
        return ["dayofweek", "day", "month", week_of_year]
    if frequency.startswith("W-"):
        return ["month", week_of_year]
    if frequency in ("MS", "ME"):
        return ["month"]
    if is_yearly(frequency):
        return []
    return ["quarter"]


@dataclass
class GlobalModel:
    """One model for every segment of one frequency; ``fit`` once, ``predict`` any segment it was fitted on."""

    frequency: str
    season: int
    covariates: tuple[str, ...] = ()
    holidays_country: str | None = None
    static_columns: tuple[str, ...] = ()  # segment columns used as categorical features
    transform: str = "none"
    seed: int = 0
    trained_through: dict[str, pd.Timestamp] = field(default_factory=dict)  # each segment's last fitted period
    rows: int = 0  # training rows after the lags' warm-up
    key: str = ""  # content hash: what a segment's GlobalMember refers to
    _forecaster: object = None

    # --- fitting -----------------------------------------------------------------------------
    def fit(self, frames: dict[str, pd.DataFrame], statics: dict[str, dict] | None = None) -> "GlobalModel":
        """Fit on every segment's training frame (``ds``, ``y``, covariates), keyed by segment.

        Args:
            frames: each segment's history as its fit at this cutoff may see it (consecutive periods of
                ``frequency``, finite ``y``).
            statics: each segment's segment-column values (only ``static_columns`` are used).

        Returns:
            The fitted model itself. Raises :class:`ModelFitError` with fewer than two segments.
        """
        import lightgbm as lgb
        from mlforecast import MLForecast
        from mlforecast.lag_transforms import RollingMean
        from mlforecast.target_transforms import Differences, LocalStandardScaler

        if len(frames) < MIN_SEGMENTS:
            raise ModelFitError(f"global: needs at least {MIN_SEGMENTS} segments, got {len(frames)}")
        long = self._long_frame(frames, statics or {})
        m, difference = max(self.season, 1), self._difference(frames)
        # nine segments in ten contribute training rows: no lag longer than their differenced histories allow
        reach = max(1, int(np.quantile([len(f) for f in frames.values()], 0.1)) - difference - 3)
        lags = [lag for lag in lags_for(m) if lag <= reach] or [1]
        lag_transforms = {1: [RollingMean(window_size=max(m, 3), min_samples=1)]}
        if 1 < m <= reach:
            lag_transforms[m] = [RollingMean(window_size=m, min_samples=1)]
        model = lgb.LGBMRegressor(**LGBM_SETTINGS, random_state=self.seed, n_jobs=1, deterministic=True,
                                  force_row_wise=True, verbose=-1)
        self._forecaster = MLForecast(models={"global": model}, freq=self.frequency, lags=lags,
                                      lag_transforms=lag_transforms, date_features=date_features_for(self.frequency),
                                      target_transforms=[Differences([difference]), LocalStandardScaler()], num_threads=1)
        self._forecaster.fit(long, static_features=list(self.static_columns), dropna=True)
        self.rows = int(sum(len(f) for f in frames.values()))
        self.trained_through = {k: pd.Timestamp(f["ds"].iloc[-1]) for k, f in frames.items()}
        digest = hashlib.sha256()
        for k in sorted(frames):
            digest.update(k.encode())
            digest.update(np.ascontiguousarray(frames[k]["y"].to_numpy(float)).tobytes())
        self.key = digest.hexdigest()[:16]
        return self

    def _difference(self, frames: dict[str, pd.DataFrame]) -> int:
        """The seasonal difference when every series has two seasons (Tourism quarterly MASE 1.526 against
        1.627 for the first difference, docs/models-and-selection.md), else the first difference."""
        shortest = min(len(f) for f in frames.values())
        return self.season if self.season > 1 and shortest >= 2 * self.season + 1 else 1

    def _long_frame(self, frames: dict[str, pd.DataFrame], statics: dict[str, dict]) -> pd.DataFrame:
        parts = []
        for k, frame in frames.items():
            y = frame["y"].to_numpy(float)
            if len(y) < 3 or not np.isfinite(y).all():
                raise ModelFitError(f"global: segment {k!r} needs at least 3 finite values")
            part = pd.DataFrame({ID: k, "ds": pd.DatetimeIndex(frame["ds"]), "y": self._to_model_scale(y)})
            for column in self.static_columns:
                part[column] = str(statics.get(k, {}).get(column, ""))
            part = self._exogenous(part, frame)
            parts.append(part)
        long = pd.concat(parts, ignore_index=True)
        for column in self.static_columns:
            long[column] = long[column].astype("category")
        return long

    def _exogenous(self, part: pd.DataFrame, frame: pd.DataFrame | None) -> pd.DataFrame:
        for column in self.covariates:
            part[column] = frame[column].to_numpy(float)
        if self._uses_holidays():
            part[HOLIDAYS] = holidays_per_period(pd.DatetimeIndex(part["ds"]), self.frequency, self.holidays_country)
        return part

    def _uses_holidays(self) -> bool:
        return bool(self.holidays_country) and uses_holidays(self.frequency)

    # --- forecasting -------------------------------------------------------------------------
    def predict(self, keys: list[str], steps: int, futures: dict[str, pd.DataFrame] | None = None) -> dict[str, pd.DataFrame]:
        """The next ``steps`` periods of each of ``keys`` after its last fitted period: ``ds, yhat``.

        ``futures``: each segment's covariates for those periods (``ds`` and each covariate column)
        when the run has covariates."""
        if self._forecaster is None:
            raise ModelFitError("global: predict before fit")
        unknown = [k for k in keys if k not in self.trained_through]
        if unknown:
            raise ModelFitError(f"global: segment {unknown[0]!r} was not in the global model's training data")
        exog = None
        if self.covariates or self._uses_holidays():
            parts = []
            for k in keys:
                dates = future_dates(self.trained_through[k], steps, self.frequency)
                part = pd.DataFrame({ID: k, "ds": dates})
                future = None
                if self.covariates:
                    given = (futures or {}).get(k)
                    if given is None:
                        raise ModelFitError(f"global: future values of covariate(s) {', '.join(self.covariates)} are required for {k!r}")
                    table = given.assign(ds=pd.to_datetime(given["ds"])).drop_duplicates("ds", keep="last").set_index("ds")
                    future = table.reindex(dates)[list(self.covariates)].reset_index(drop=True)
                    if future.isna().any().any():
                        raise ModelFitError(f"global: covariates missing for some of the {steps} future periods of {k!r}")
                parts.append(self._exogenous(part, future))
            exog = pd.concat(parts, ignore_index=True)
        out = self._forecaster.predict(steps, ids=list(keys), X_df=exog)
        result = {}
        for k, part in out.groupby(ID, observed=True, sort=False):
            yhat = self._from_model_scale(part["global"].to_numpy(float))
            result[str(k)] = pd.DataFrame({"ds": pd.DatetimeIndex(part["ds"]), "yhat": yhat})
        return result

    def _to_model_scale(self, y: np.ndarray) -> np.ndarray:
        return np.log1p(y) if self.transform == "log" else y

    def _from_model_scale(self, y: np.ndarray) -> np.ndarray:
        if self.transform != "log":
            return y
        with np.errstate(over="ignore"):
            return np.expm1(y)

    # --- persistence -------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted global model to a directory (``global_model.pkl``)."""
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with open(path / "global_model.pkl", "wb") as handle:
            pickle.dump(self, handle, protocol=pickle.HIGHEST_PROTOCOL)
        return path

    @staticmethod
    def load(path: str | Path) -> "GlobalModel":
        with open(Path(path) / "global_model.pkl", "rb") as handle:
            return pickle.load(handle)


class GlobalMember(Forecaster):
    """One segment's view of a :class:`GlobalModel`: forecasts from the attached global model, or, when
    none is attached, from the forecast of the run's horizon it was created with. Its own interval is
    normal with ``sigma x sqrt(h)``, sigma the standard deviation of the segment's one-step changes;
    the backtest calibrates it like every family's."""

    name = "global"
    complexity = 5
    uses_covariates = True

    def __init__(self, context, params=None, segment: str = "", global_key: str = "", path: pd.DataFrame | None = None,
                 sigma: float = 0.0, history: np.ndarray | None = None, last_date: pd.Timestamp | None = None):
        super().__init__(context, params)
        self.segment, self.global_key = segment, global_key
        self.path = path  # ds, yhat of the run's horizon
        self.sigma = float(sigma)
        self.last_date = last_date
        if history is not None and len(history):
            self.history_min, self.history_max = float(np.min(history)), float(np.max(history))
        self.params = {"global_model": global_key, **(params or {})}
        self._global: GlobalModel | None = None

    def attach(self, model: GlobalModel) -> "GlobalMember":
        """Serve from ``model`` (the fitted global model this member refers to, loaded once for all segments)."""
        if model.key != self.global_key:
            raise ModelFitError(f"global: segment {self.segment!r} refers to global model {self.global_key}, not {model.key}")
        self._global = model
        return self

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_global"] = None  # the global model is saved once, beside the segments, not in each
        return state

    def _fit(self, y, covariates):
        raise NotImplementedError("a global member is created from a fitted GlobalModel (forecasting.global_fit)")

    def _path(self, steps, covariates):
        raise NotImplementedError

    def forecast(self, dates, future=None, calibrated: bool = True) -> pd.DataFrame:
        if self.last_date is None:
            raise ModelFitError(f"{self.name}: forecast before fit")
        dates = self._dates(dates)
        steps = self._steps_to(dates.max())
        if getattr(self, "_global", None) is not None:
            futures = {self.segment: future} if future is not None else None
            path = self._global.predict([self.segment], steps, futures)[self.segment]
        elif self.path is not None and len(self.path) >= steps:
            path = self.path
        else:
            raise ModelFitError(f"global: segment {self.segment!r} was forecast {0 if self.path is None else len(self.path)} "
                                f"periods ahead; {steps} need the global model {self.global_key} attached")
        index = future_dates(self.last_date, steps, self.context.frequency)
        yhat_all = path.set_index("ds")["yhat"].reindex(index).to_numpy(float)
        positions = index.get_indexer(dates)
        yhat = yhat_all[positions]
        zl = float(stats.norm.ppf(0.5 + self.context.level / 2))
        half = zl * self.sigma * np.sqrt(positions + 1)
        lower, upper = yhat - half, yhat + half
        if calibrated:
            lower, upper = apply(yhat, lower, upper, getattr(self, "calibration", None), positions + 1)
        if self.context.non_negative:
            yhat, lower, upper = (np.clip(a, 0, None) for a in (yhat, lower, upper))
        return pd.DataFrame({"ds": dates, "yhat": yhat, "yhat_lower": lower, "yhat_upper": upper})


def step_sigma(y: np.ndarray) -> float:
    """The standard deviation of one-step changes (the shape of the global member's own interval)."""
    diffs = np.diff(np.asarray(y, float))
    return float(np.std(diffs, ddof=1)) if len(diffs) > 1 else float(abs(y[-1]) * 0.1 if len(y) else 0.0)
