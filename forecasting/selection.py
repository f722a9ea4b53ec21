"""Selection: the leaderboard, the champion, an honest estimate of the selection, and the final refit."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.backtest import (
    CROSS_SEGMENT,
    BacktestSpec,
    SegmentBacktest,
    ensemble_members,
    fit_window,
    rank_key,
    series_context,
)
from forecasting.errors import ModelFitError
from forecasting.evidence import champion_reason, strong_evidence
from forecasting.intervals import calibrate, mixed_from_scale, out_of_sample_coverage, standardized_errors
from forecasting.metrics import METRICS
from forecasting.models import Forecaster, ModelSpec, check_forecast, make_forecaster
from forecasting.models.ensemble import EnsembleForecaster
from forecasting.validation import PreparedSegment

BASELINE = "seasonal_naive"
# With no backtest (a history too short to check anything on) the champion is chosen by this rule: the
# last value assumes the least, and nothing could show another family does better.
NO_BACKTEST_CHAMPION = "naive"



@dataclass
class Selection:
    """The outcome for one segment: who won, by how much, and the champion refitted on all history."""

    segment: str
    metric: str
    leaderboard: pd.DataFrame
    champion: str
    champion_model: Forecaster
    forecast: pd.DataFrame
    holdout: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    runner_up: str | None = None  # the next-ranked candidate, when its refit forecast is usable
    runner_up_forecast: pd.DataFrame | None = None
    low_confidence: str = ""  # why this champion rests on thin evidence (empty: it does not)
    why: str = ""  # why this champion, with the backtest evidence behind the choice (champion_reason)
    candidate_forecasts: dict[str, pd.DataFrame] = field(default_factory=dict)  # every candidate's, with all_models
    candidate_models: dict[str, Forecaster] = field(default_factory=dict)  # their fitted models (in memory only)

    @property
    def champion_metrics(self) -> dict[str, float | None]:
        row = self.leaderboard.set_index("model").loc[self.champion]
        return {m: (None if pd.isna(row[m]) else float(row[m])) for m in METRICS}


def leaderboard(backtest: SegmentBacktest) -> pd.DataFrame:
    """One row per candidate, ranked: metrics averaged over folds, status and reason for the rest."""
    ordered = sorted(backtest.candidates.values(), key=lambda c: (c.status != "ok", rank_key(c, backtest.metric)))
    rows = []
    for rank, candidate in enumerate(ordered, start=1):
        metrics = candidate.metrics
        row = {"rank": rank, "model": candidate.name, "status": candidate.status, "reason": candidate.reason}
        for name in METRICS:
            metric = metrics.get(name)
            row[name] = metric.value if metric is not None and metric.defined else None
        # the interval the user receives is the calibrated one: its coverage, out of sample, fold by fold
        row["coverage"] = out_of_sample_coverage(candidate.forecasts, getattr(backtest, "level", 0.9), getattr(backtest, "train_lengths", []))
        spread = [f[backtest.metric].value for f in candidate.fold_metrics if f[backtest.metric].defined]
        row[f"{backtest.metric}_std"] = float(np.std(spread, ddof=1)) if len(spread) > 1 else None  # fold-to-fold spread
        row["folds"] = len(candidate.fold_metrics)
        row["fit_seconds"] = round(candidate.fit_seconds, 4)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame["champion"] = False
    return frame


def choose(backtest: SegmentBacktest, folds: int | None = None) -> list[str]:
    """Usable candidates from best to worst by the selection metric over the first ``folds`` folds,
    except that the ensemble goes first unless the best single family's evidence is strong (see
    ``forecasting.evidence``: it beat the ensemble in every one of those folds, by enough for how many periods
    they scored). All selection metrics are lower-is-better."""
    if not backtest.cutoffs:  # no backtest: the stated rule, then the rest as fallbacks
        others = [c.name for c in backtest.usable() if c.name != NO_BACKTEST_CHAMPION]
        return [NO_BACKTEST_CHAMPION, *sorted(others, key=lambda n: (n == "ensemble", n))] if NO_BACKTEST_CHAMPION in backtest.candidates else others
    through = len(backtest.cutoffs) if folds is None else folds
    usable = [c for c in backtest.candidates.values() if c.usable_through(through)]
    ranked = [c.name for c in sorted(usable, key=lambda c: rank_key(c, backtest.metric, folds))]
    if "ensemble" in ranked and ranked[0] != "ensemble" and not strong_evidence(backtest, ranked[0], through):
        ranked.remove("ensemble")
        ranked.insert(0, "ensemble")
    return ranked


def holdout_estimate(backtest: SegmentBacktest) -> dict:
    """Select with what was known after all folds but the last, then score that choice on the last
    fold: an estimate of the champion's error that no selection decision has seen. When the pick has
    no forecast for the last fold (its fit failed there), the next one is scored, as the refit would
    fall back. Empty when there is only one fold."""
    folds = len(backtest.cutoffs)
    if folds < 2:
        return {}
    ranked = [name for name in choose(backtest, folds - 1) if len(backtest.candidates[name].fold_metrics) >= folds]
    if not ranked:
        return {}
    pick = backtest.candidates[ranked[0]]
    baseline = backtest.candidates.get(BASELINE)
    out = {"model": pick.name, "fold": folds}
    last = pick.fold_metrics[folds - 1]
    if last[backtest.metric].defined:
        out[backtest.metric] = last[backtest.metric].value
    if baseline is not None and len(baseline.fold_metrics) >= folds and baseline.fold_metrics[folds - 1][backtest.metric].defined:
        out[f"{BASELINE}_{backtest.metric}"] = baseline.fold_metrics[folds - 1][backtest.metric].value
    return out


def select_and_refit(segment: PreparedSegment, backtest: SegmentBacktest, models: ModelSpec) -> Selection:
    """Pick the champion and refit it on the full history.

    Args:
        segment: the validated segment (full history and the future covariates of the horizon).
        backtest: the segment's backtest (:func:`forecasting.backtest.run_backtest`).
        models: the model settings the backtest used.

    Returns:
        The leaderboard (champion marked), the champion refitted on all history, its forecast of the
        horizon, the holdout estimate, and notes: when the first-ranked candidate's refit fails or its
        forecast is rejected, the next one is used and a note says so (never silently).

    Raises:
        ModelFitError: no candidate has a usable backtest, or every candidate's refit failed.
    """
    board = leaderboard(backtest)
    ranked = choose(backtest)
    if not ranked:
        reasons = "; ".join(f"{c.name}: {c.reason}" for c in backtest.candidates.values())
        raise ModelFitError(f"segment {segment.key!r}: no candidate produced a usable backtest ({reasons})")
    refits = Refits(segment, backtest, models)
    notes: list[str] = []
    for name in ranked:
        try:
            model, forecast = refits.forecast(name)
        except Exception as exc:
            notes.append(f"{name} was ranked first but its refit failed ({type(exc).__name__}: {exc}); next candidate used")
            continue
        reason = refits.rejection(forecast)
        if reason:
            notes.append(f"{name} was ranked first but its final forecast was rejected ({reason}); next candidate used")
            continue
        board.loc[board["model"] == name, "champion"] = True
        selection = Selection(segment.key, backtest.metric, board, name, model, forecast, holdout_estimate(backtest), notes,
                              low_confidence=backtest.low_confidence, why=champion_reason(backtest, ranked, name))
        if not backtest.cutoffs and name == NO_BACKTEST_CHAMPION:
            notes.append(f"{name} is the champion by rule: {backtest.low_confidence}")
        selection.runner_up, selection.runner_up_forecast = refits.first_usable(ranked[ranked.index(name) + 1:])
        if models.all_models:
            selection.candidate_forecasts = refits.all_usable(ranked, notes)
            selection.candidate_models = {name: refits.model(name) for name in selection.candidate_forecasts}
        return selection
    raise ModelFitError(f"segment {segment.key!r}: every candidate failed its final refit ({'; '.join(notes)})")


class Refits:
    """Candidates refitted on the full history, each at most once: the champion, an ensemble's members,
    the runner-up and (with ``all_models``) every candidate share them."""

    def __init__(self, segment: PreparedSegment, backtest: SegmentBacktest, models: ModelSpec):
        self.segment, self.backtest, self.models = segment, backtest, models
        self.context = series_context(segment, models)
        self.dates = pd.DatetimeIndex(segment.future["ds"])
        self._models: dict[str, Forecaster | Exception] = {}

    def model(self, name: str) -> Forecaster:
        """The fitted candidate (raises what its refit raised, every time it is asked)."""
        if name not in self._models:
            try:
                self._models[name] = self._fit(name)
            except Exception as exc:  # remembered: a failing refit is not retried for the runner-up or all-models
                self._models[name] = exc
        found = self._models[name]
        if isinstance(found, Exception):
            raise found
        return found

    def _fit(self, name: str) -> Forecaster:
        if name == "ensemble":
            members = ensemble_members(self.backtest.candidates, self.backtest.metric, len(self.backtest.cutoffs), self.backtest.season)
            model = EnsembleForecaster(self.context, members=[self.model(member) for member in members],
                                       global_weight=getattr(self.backtest, "global_weight", None))
        elif name in getattr(self.backtest, "prefitted", {}):  # fitted across segments (the global member)
            model = copy.copy(self.backtest.prefitted[name])
        elif name in CROSS_SEGMENT:
            raise ModelFitError(f"{name}: no final fit across segments for segment {self.segment.key!r}")
        else:
            model = make_forecaster(name, self.context)
            model.fit(fit_window(self.segment, len(self.segment.history)))
        points = standardized_errors(self.backtest.candidates[name].forecasts, self.context.level)
        pool = getattr(self.backtest, "pooled", {}).get(name)
        if pool:  # the run's other segments' errors too (forecasting.pooled_calibration)
            model.calibrate(mixed_from_scale(points, pool["scale"], pool["points"], self.context.level, len(self.dates),
                                             len(self.segment.history), self.backtest.calibration_mix))
        else:
            model.calibrate(calibrate(points, self.context.level, len(self.dates), len(self.segment.history)))
        return model

    def forecast(self, name: str) -> tuple[Forecaster, pd.DataFrame]:
        model = self.model(name)
        return model, model.forecast(self.dates, self.segment.future)

    def rejection(self, forecast: pd.DataFrame) -> str | None:
        y = self.segment.history["y"]
        return check_forecast(forecast, float(y.min()), float(y.max()))

    def first_usable(self, names: list[str]) -> tuple[str | None, pd.DataFrame | None]:
        """The first of ``names`` whose refit forecast is usable (the runner-up, shown beside the
        champion in charts); a candidate that cannot refit is simply not shown."""
        for name in names:
            try:
                _, forecast = self.forecast(name)
            except Exception:
                continue
            if self.rejection(forecast) is None:
                return name, forecast
        return None, None

    def all_usable(self, names: list[str], notes: list[str]) -> dict[str, pd.DataFrame]:
        """Every candidate's forecast of the horizon (``all_models``), in ranking order; one that cannot
        refit or is rejected is left out with a note."""
        out = {}
        for name in names:
            try:
                _, forecast = self.forecast(name)
            except Exception as exc:
                notes.append(f"{name}: no forecast of its own ({type(exc).__name__}: {exc})")
                continue
            reason = self.rejection(forecast)
            if reason:
                notes.append(f"{name}: forecast left out ({reason})")
                continue
            out[name] = forecast
        return out


def refit(name: str, segment: PreparedSegment, backtest: SegmentBacktest, models: ModelSpec) -> Forecaster:
    """Fit a family on the full history, its intervals calibrated on all backtest folds."""
    return Refits(segment, backtest, models).model(name)


def run_segment(segment: PreparedSegment, models: ModelSpec, spec: BacktestSpec, cross=None) -> tuple[SegmentBacktest, Selection]:
    """Backtest every candidate on a validated segment, then select and refit its champion (``cross``:
    the segment's share of the run's global fits, see :func:`forecasting.backtest.run_backtest`)."""
    from forecasting.backtest import run_backtest

    backtest = run_backtest(segment, models, spec, cross)
    return backtest, select_and_refit(segment, backtest, models)
