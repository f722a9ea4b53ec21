"""Rolling-origin backtesting: every candidate is fitted only on data before each fold's cutoff, with
missing values filled and outliers clipped from that training window alone, and every decision made
at a fold (which candidates are still in, the ensemble's members) uses only earlier folds."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field

from forecasting.folds import fold_cutoffs
from forecasting.frequency import season_length
from forecasting.metrics import LOWER_IS_BETTER, Metric, evaluate, mean_over_folds
from forecasting.models import (
    BASELINES,
    FAMILIES,
    ModelSpec,
    SeriesContext,
    check_forecast,
    make_forecaster,
)
from forecasting.models.ensemble import (
    DEFAULT_MEMBERS,
    ENSEMBLE_SIZE,
    FIXED_MEMBERS,
    MODEL_BASED_MEMBERS,
    YEARLY_MEMBERS,
    combine_forecasts,
    member_weights,
)
from forecasting.preprocess import fold_test, training_window
from forecasting.validation import PreparedSegment

# Families fitted across segments before a segment's task (forecasting.global_fit), not inside it.
CROSS_SEGMENT = ("global",)

SelectionMetric = Literal["mase", "smape", "wape", "mape", "rmse"]


class BacktestSpec(BaseModel):
    """How candidates are compared: the horizon, the rolling-origin folds and the selection metric."""

    horizon: int = Field(30, ge=1, le=10_000, description="periods to forecast")
    folds: int = Field(3, ge=1, le=20, description="rolling-origin folds, one horizon each")
    metric: SelectionMetric = Field(
        "mase", description="selection metric; MASE by default because MAPE explodes near zero"
    )


@dataclass
class CandidateBacktest:
    """One candidate's out-of-sample record over the folds."""

    name: str
    fold_metrics: list[dict[str, Metric]] = field(default_factory=list)
    forecasts: list[pd.DataFrame] = field(default_factory=list)  # ds, y, yhat, yhat_lower, yhat_upper, fold
    params: dict = field(default_factory=dict)
    fit_seconds: float = 0.0
    status: str = "ok"  # ok | rejected | failed
    reason: str = ""
    failed_at: int | None = None  # the fold it failed or was rejected in; usable in every fold before

    @property
    def metrics(self) -> dict[str, Metric]:
        return mean_over_folds(self.fold_metrics) if self.fold_metrics else {}

    def usable_through(self, folds: int) -> bool:
        """Scored in each of the first ``folds`` folds: what a decision made after fold ``folds`` knows."""
        return len(self.fold_metrics) >= folds and (self.failed_at is None or self.failed_at > folds)

    def errors_by_step(self, folds: int | None = None) -> dict[int, list[float]]:
        """Out-of-sample errors (actual - forecast) by step ahead, over the first ``folds`` folds."""
        out: dict[int, list[float]] = {}
        for frame in self.forecasts[:folds]:
            observed = frame["observed"].to_numpy() if "observed" in frame else np.ones(len(frame), bool)
            errors = frame["y"].to_numpy() - frame["yhat"].to_numpy()
            for step, (err, seen) in enumerate(zip(errors, observed), start=1):
                if seen:
                    out.setdefault(step, []).append(float(err))
        return out


@dataclass
class SegmentBacktest:
    segment: str
    cutoffs: list[pd.Timestamp]
    candidates: dict[str, CandidateBacktest]
    metric: str
    season: int
    window: int = 0  # periods each fold scored
    low_confidence: str = ""  # why the evidence is thin (empty: it is not)
    train_lengths: list[int] = field(default_factory=list)  # periods each fold trained on
    level: float = 0.9  # the interval level the candidates forecast with
    # candidates fitted outside this segment's task (the global member), used by the refit as they are
    prefitted: dict = field(default_factory=dict)
    global_weight: float | None = None  # the global model's weight in the refit ensemble (None: equal members)
    pooled: dict = field(default_factory=dict)  # other segments' standardized errors per candidate (forecasting.pooled_calibration)
    calibration_mix: str = "own"

    def usable(self) -> list[CandidateBacktest]:
        return [c for c in self.candidates.values() if c.status == "ok"]

    def forecasts_frame(self) -> pd.DataFrame:
        """Every candidate's fold forecasts beside the actuals (for reports and plots)."""
        columns = ["model", "fold", "ds", "y", "yhat", "yhat_lower", "yhat_upper"]
        frames = [f.assign(model=c.name) for c in self.candidates.values() for f in c.forecasts]
        if not frames:
            return pd.DataFrame(columns=columns)
        return pd.concat(frames, ignore_index=True)[columns]


def series_context(segment: PreparedSegment, spec: ModelSpec) -> SeriesContext:
    return SeriesContext(
        frequency=segment.frequency,
        season_length=season_length(segment.frequency),
        covariates=tuple(segment.covariates),
        level=spec.level,
        holidays_country=spec.holidays_country,
        seed=spec.seed,
        transform=spec.transform,
        non_negative=spec.non_negative,
        options=spec.family_options(),
    )


def fit_window(segment: PreparedSegment, length: int) -> pd.DataFrame:
    """The history a model fitted after ``length`` periods sees (see :func:`training_window`)."""
    return training_window(segment.history, length, segment.filled, segment.fill, segment.winsorize_at,
                           season_length(segment.frequency), getattr(segment, "covariate_fills", None))


def run_backtest(segment: PreparedSegment, models: ModelSpec, spec: BacktestSpec, cross=None) -> SegmentBacktest:
    """Rolling-origin backtest of every candidate of ``models`` on one validated segment.

    Args:
        segment: the validated segment (its ``folds`` and ``window`` say how many folds run and how many
            periods each scores: the horizon, or fewer for a short history).
        models: the families that compete (the baselines always run too) and how forecasts are shaped.
        spec: horizon and selection metric.
        cross: the segment's share of the run's global fits (``forecasting.global_fit.SegmentGlobal``):
            the global candidate's fold forecasts and final member. Without it the global candidate is
            left out (it needs the run's other segments).

    Returns:
        Per candidate: the metrics of each fold (fitted only on data before the fold's cutoff), its
        fold forecasts beside the actuals, the hyper-parameters it chose, CPU time, and its status
        (``ok``, or ``failed``/``rejected`` with the reason and the fold). The ensemble is combined
        fold by fold from members chosen with earlier folds only.
    """
    context = series_context(segment, models)
    history = segment.history
    window = segment.window or spec.horizon
    cutoffs = fold_cutoffs(len(history), window, segment.folds)
    names = [n for n in models.candidates() if n not in CROSS_SEGMENT or cross is not None]
    singles = [n for n in names if n != "ensemble"]
    results = {name: CandidateBacktest(name) for name in names}
    if "global" in results:
        results["global"].fit_seconds = cross.fit_seconds
        results["global"].params = {"global_model": cross.member.global_key} if cross.member is not None else {}
    for fold, train_len in enumerate(cutoffs, start=1):
        train = fit_window(segment, train_len)
        test = fold_test(history, train_len, train_len + window, getattr(segment, "covariate_fills", None))
        observed = ~np.isin(np.arange(train_len, train_len + window), segment.filled)
        insample = train["y"].to_numpy(dtype=float)
        for name in singles:
            result = results[name]
            if result.status != "ok":
                continue
            if name in CROSS_SEGMENT:  # fitted across segments before this task, up to this fold's cutoff
                forecast = cross.folds[fold - 1] if fold - 1 < len(cross.folds) else None
                if forecast is None:
                    result.status, result.reason, result.failed_at = "failed", f"fold {fold}: {cross.reason or 'no global forecast'}", fold
                else:
                    record(result, fold, forecast.reset_index(drop=True), test, observed, insample, context.season_length)
                continue
            started = time.process_time()
            try:
                reuse = fold > 1 and FAMILIES[name].reuses_search and result.params
                model = make_forecaster(name, context, dict(result.params) if reuse else None)
                model.fit(train)  # the family's own interval: calibration comes from these folds' errors
                forecast = model.forecast(pd.DatetimeIndex(test["ds"]), test)
            except Exception as exc:  # a family that cannot fit this segment is reported, not fatal
                result.status, result.reason, result.failed_at = "failed", f"fold {fold}: {type(exc).__name__}: {exc}", fold
                continue
            finally:
                result.fit_seconds += time.process_time() - started
            result.params = model.params
            record(result, fold, forecast, test, observed, insample, context.season_length)
        if "ensemble" in results:
            _ensemble_fold(results, fold, test, observed, insample, context.season_length, spec.metric)
    prefitted = {"global": cross.member} if "global" in results and cross.member is not None else {}
    return SegmentBacktest(segment.key, [history["ds"].iloc[c - 1] for c in cutoffs], results, spec.metric, context.season_length,
                           window if cutoffs else 0, segment.low_confidence, list(cutoffs), context.level, prefitted)


def record(result: CandidateBacktest, fold: int, forecast: pd.DataFrame, test: pd.DataFrame, observed: np.ndarray, insample, season) -> None:
    """Score a fold's forecast on the actuals that were observed (not filled by validation)."""
    reason = check_forecast(forecast, float(np.min(insample)), float(np.max(insample)))
    if reason:
        result.status, result.reason, result.failed_at = "rejected", f"fold {fold}: {reason}", fold
        return
    actual = test["y"].to_numpy(dtype=float)
    seen = observed if observed.any() else np.ones(len(actual), bool)
    result.fold_metrics.append(evaluate(actual[seen], forecast["yhat"].to_numpy()[seen], forecast["yhat_lower"].to_numpy()[seen],
                                        forecast["yhat_upper"].to_numpy()[seen], insample, season))
    result.forecasts.append(forecast.assign(y=actual, fold=fold, observed=observed))


def rank_key(candidate: CandidateBacktest, metric: str, folds: int | None = None):
    """Sort key: defined selection metric first and smaller, then RMSE, then the simpler family, then
    the name. Deterministic whatever order candidates finished in."""
    metrics = mean_over_folds(candidate.fold_metrics[:folds]) if candidate.fold_metrics[:folds] else {}
    primary = metrics.get(metric)
    rmse = metrics.get("rmse")
    sign = 1 if metric in LOWER_IS_BETTER else -1
    return (
        primary is None or not primary.defined,
        round(sign * primary.value, 10) if primary is not None and primary.defined else 0.0,
        round(rmse.value, 10) if rmse is not None and rmse.defined else float("inf"),
        FAMILIES[candidate.name].complexity,
        candidate.name,
    )


def ensemble_members(results: dict[str, CandidateBacktest], metric: str, folds: int, season: int = 0) -> list[str]:
    """The ensemble's members as known after the first ``folds`` folds, equally weighted.

    The statistical families of ``DEFAULT_MEMBERS`` (ETS, ARIMA, Theta, CES) usable through those folds,
    always, and on yearly data (``season`` 1) the drift too (``YEARLY_MEMBERS``); after a fold, a family
    of ``MODEL_BASED_MEMBERS`` (Prophet, XGBoost) too when its backtest MASE over the folds so far is at
    most the best statistical family's. The global model, when it is a candidate, is a fixed member
    (weighted as ``forecasting.learned_combination`` learns, ``member_weights``). Chosen on the Tourism sets and checked on M3 and M1
    (docs/models-and-selection.md): trimming the statistical families by their backtest error did worse
    there than keeping all four."""
    pool = [c for name, c in results.items() if name != "ensemble" and name not in BASELINES and c.usable_through(max(folds, 0))]
    statistical = [c for c in pool if c.name in DEFAULT_MEMBERS]
    if season == 1 and statistical:
        statistical += [results[n] for n in YEARLY_MEMBERS if n in results and results[n].usable_through(max(folds, 0))]
    fixed = [c.name for c in pool if c.name in FIXED_MEMBERS] if statistical else []
    if folds == 0:  # a model set without two statistical families starts from the families it has
        return [c.name for c in statistical] + fixed if len(statistical) >= 2 else [c.name for c in pool][:ENSEMBLE_SIZE]
    best_statistical = min((_membership_error(c, folds) for c in statistical), default=float("inf"))
    return [c.name for c in statistical] + fixed + [c.name for c in pool if c.name in MODEL_BASED_MEMBERS and _membership_error(c, folds) <= best_statistical]


def _membership_error(candidate: CandidateBacktest, folds: int) -> float:
    """Mean MASE over the first ``folds`` folds (RMSE where MASE is undefined); infinite without any."""
    metrics = mean_over_folds(candidate.fold_metrics[:folds]) if candidate.fold_metrics[:folds] else {}
    for name in ("mase", "rmse"):
        metric = metrics.get(name)
        if metric is not None and metric.defined:
            return metric.value
    return float("inf")


def reweight_ensemble(segment: PreparedSegment, backtest: SegmentBacktest, weights: list[float | None], final: float | None) -> None:
    """Score the ensemble again, fold ``k`` with the global model weighted ``weights[k - 1]`` against the
    mean of the other members (None: equal weights), and keep ``final`` for the refit. The members'
    own fold forecasts are reused: nothing is refitted."""
    if "ensemble" not in backtest.candidates:
        return
    results = dict(backtest.candidates)
    results["ensemble"] = CandidateBacktest("ensemble", fit_seconds=backtest.candidates["ensemble"].fit_seconds)
    window = backtest.window
    for fold, train_len in enumerate(backtest.train_lengths, start=1):
        test = fold_test(segment.history, train_len, train_len + window, getattr(segment, "covariate_fills", None))
        observed = ~np.isin(np.arange(train_len, train_len + window), segment.filled)
        insample = fit_window(segment, train_len)["y"].to_numpy(dtype=float)
        _ensemble_fold(results, fold, test, observed, insample, backtest.season, backtest.metric, weights[fold - 1])
        results["ensemble"].params["global_weight"] = weights[fold - 1]
    backtest.candidates["ensemble"] = results["ensemble"]
    backtest.global_weight = final


def _ensemble_fold(results, fold, test, observed, insample, season, metric, global_weight: float | None = None) -> None:
    """Members are chosen from the folds before this one; a member whose fit failed in this fold is left
    out of this fold's mean, as it would be left out of the refit. ``global_weight``: the global model's
    weight against the others' mean (None: every member equal)."""
    ensemble = results["ensemble"]
    if ensemble.status != "ok":
        return
    members = [m for m in ensemble_members(results, metric, fold - 1, season) if len(results[m].forecasts) >= fold]
    if len(members) < (2 if fold == 1 else 1):
        ensemble.status, ensemble.reason, ensemble.failed_at = "failed", f"fold {fold}: too few usable members", fold
        return
    frames = [results[m].forecasts[fold - 1].drop(columns=["y", "fold", "observed"]) for m in members]
    ensemble.params = {"members": members}
    record(ensemble, fold, combine_forecasts(frames, member_weights(members, global_weight)), test, observed, insample, season)
