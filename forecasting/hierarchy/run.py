"""The forecast path of a hierarchy: validate the bottom segments, build every aggregate node, train
every node like any segment (the same map over segments), then reconcile."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd

from forecasting.errors import DataError
from forecasting.frequency import season_length
from forecasting.hierarchy.evidence import (
    Evidence,
    FoldBase,
    auto_reason,
    candidate_methods,
    champion_residuals,
    collect_evidence,
    fold_bases,
)
from forecasting.hierarchy.levels import HierarchySpec
from forecasting.hierarchy.nodes import hierarchy_segments
from forecasting.hierarchy.reconcile import (
    NORMALITY,
    Reconciliation,
    ReconciliationError,
    check_method,
    reconcile,
    reconciled_forecasts,
)
from forecasting.hierarchy.structure import Hierarchy
from forecasting.intervals import calibrate, standardized_errors
from forecasting.pipeline import ForecastJob, ForecastRun, prepare, segment_cost, train_segment
from forecasting.system.pool import Progress, ordered_map
from forecasting.validation import PreparedSegment, SegmentReport


@dataclass
class HierarchyRun:
    """Every node trained, and the reconciled forecasts of the horizon (rows in hierarchy order)."""

    run: ForecastRun
    hierarchy: Hierarchy
    method: str  # the method used (auto's choice, or the one asked for)
    asked: str  # what was asked: a method or auto
    reconciliation: Reconciliation
    evidence: Evidence
    dates: pd.DatetimeIndex
    base: np.ndarray
    yhat: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    why: str = ""
    notes: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)  # discontinued bottom segments, not forecast
    metric: str = "mase"
    seconds: dict[str, float] = field(default_factory=dict)  # wall time of each step: validate, train, reconcile
    calibrated_bounds: tuple[np.ndarray, np.ndarray] | None = None  # the per-step calibration's bounds (the alternative to normality)


def run_hierarchy_forecast(frame: pd.DataFrame, job: ForecastJob, spec: HierarchySpec, workers: int = 1,
                           progress: Progress | None = None) -> HierarchyRun:
    """Validate, build the hierarchy, train every node, reconcile.

    Args:
        frame: the long table as read (the bottom segments).
        job: data contract, validation policy, model set and backtest, as for :func:`run_forecast`.
        spec: the method (or auto), the levels, the middle level.
        workers: nodes trained at once, in worker processes (aggregates are just more segments).

    Returns:
        Every node's outcome and the reconciled forecasts; see :class:`HierarchyRun`.

    Raises:
        DataError: a bottom segment failed validation, a node could not be trained, or the data does
            not make a hierarchy (see :func:`forecasting.hierarchy.nodes.hierarchy_segments`).
        ReconciliationError: the method asked for cannot run on these levels or this data.
    """
    clock = [time.perf_counter()]
    dropped = []
    if "global" in job.models.models:  # aggregates would weigh the model shared by the segments: not fitted here
        if job.models.models == ["global"]:
            raise ReconciliationError("model 'global' is not fitted in a reconciled hierarchy run: choose per-segment families with --reconcile")
        job = job.model_copy(update={"models": job.models.model_copy(update={"models": [m for m in job.models.models if m != "global"]})})
        dropped.append("the global model is not fitted in a reconciled hierarchy run; the per-segment families compete")
    report, prepared = prepare(frame, job)
    hierarchy, nodes, stopped = hierarchy_segments(report, prepared, spec, job.data.segment_cols, job.backtest.horizon,
                                                   job.backtest.folds, job.models.non_negative)
    if spec.reconcile != "auto":
        check_method(spec.reconcile, hierarchy, spec.middle_level)  # before the training, not after it
    clock.append(time.perf_counter())
    trained = ordered_map(partial(_train_node, job=job), nodes, workers, progress, cost=lambda pair: segment_cost(pair[0]))
    clock.append(time.perf_counter())
    outcomes = [outcome for outcome, _ in trained]
    failed = [o for o in outcomes if o.status != "trained"]
    if failed:
        raise DataError(f"node {failed[0].segment!r} could not be trained ({failed[0].reason}); the hierarchy cannot be reconciled, "
                        f"nothing written")
    run = ForecastRun({o.segment: o for o in outcomes})
    raw = {outcome.segment: own for outcome, own in trained}
    result = reconcile_run(run, hierarchy, {segment.key: segment for segment, _ in nodes}, spec, job, raw)
    result.stopped = stopped
    clock.append(time.perf_counter())
    result.seconds = {step: round(b - a, 2) for step, a, b in zip(("validate", "train", "reconcile"), clock, clock[1:])}
    result.notes[:0] = [*dropped, *hierarchy.notes, *(f"{key}: stopped before the others' last period; not forecast" for key in stopped)]
    return result


def _train_node(pair: tuple[PreparedSegment, SegmentReport], job: ForecastJob):
    """The node's outcome and its champion's forecast with the family's own (uncalibrated) interval,
    made where the champion was fitted (an ensemble travels back without its members)."""
    outcome = train_segment(*pair, job)
    if outcome.status != "trained":
        return outcome, None
    segment = pair[0]
    return outcome, outcome.selection.champion_model.forecast(pd.DatetimeIndex(segment.future["ds"]), segment.future, calibrated=False)


def reconcile_run(run: ForecastRun, hierarchy: Hierarchy, segments: dict[str, PreparedSegment], spec: HierarchySpec,
                  job: ForecastJob, raw: dict[str, pd.DataFrame]) -> HierarchyRun:
    """Reconcile trained nodes: the backtest evidence, the method (auto's or the one asked for), the
    reconciled forecasts and their intervals (the project's per-step calibration on the reconciled
    backtest errors, around each champion's own interval ``raw``)."""
    backtests = {node: run.outcomes[node].backtest for node in hierarchy.nodes}
    selections = {node: run.outcomes[node].selection for node in hierarchy.nodes}
    folds = fold_bases(hierarchy, segments, backtests)
    methods, skipped = candidate_methods(hierarchy, spec.middle_level)
    season = season_length(segments[hierarchy.nodes[0]].frequency)
    non_negative = job.models.non_negative
    with np.errstate(all="ignore"):
        evidence = collect_evidence(hierarchy, folds, methods, job.backtest.metric, season, non_negative, spec.middle_level)
    dates = pd.DatetimeIndex(selections[hierarchy.nodes[0]].forecast["ds"])
    for node in hierarchy.nodes:
        if not pd.DatetimeIndex(selections[node].forecast["ds"]).equals(dates):
            raise DataError(f"node {node!r} forecasts other dates than {hierarchy.nodes[0]!r}; a hierarchy needs the same dates in every node")
    base = np.vstack([selections[node].forecast["yhat"].to_numpy(float) for node in hierarchy.nodes])
    residuals = champion_residuals(hierarchy, backtests, {n: s.champion for n, s in selections.items()}, evidence.cutoffs)
    notes = [f"{', '.join(m for m in skipped if skipped[m] == why)} not considered: {why}"
             for why in dict.fromkeys(skipped.values()) if spec.reconcile == "auto"]
    notes += [f"{m} skipped by auto: {why}" if spec.reconcile == "auto" else f"{m} could not be scored: {why}"
              for m, why in evidence.failures.items()]
    if spec.reconcile == "auto":
        ranked = [evidence.choices[-1], *sorted((m for m in evidence.scores if m not in ("base", evidence.choices[-1])),
                                               key=lambda m: np.nan_to_num(evidence.total(m), nan=np.inf))]
        values = frozen = None
        for method in ranked:
            try:
                values, frozen = reconcile(method, hierarchy, base, residuals, non_negative, spec.middle_level)
                break
            except ReconciliationError as exc:
                notes.append(f"{method} failed on the final forecasts ({exc}); next best used")
        if frozen is None:
            raise ReconciliationError("no reconciliation method could run on these forecasts: " + "; ".join(notes))
        method = frozen.method
        why = auto_reason(evidence, method) if method == evidence.choices[-1] else f"{method}: the best that could run (see notes)"
    else:
        method = spec.reconcile
        values, frozen = reconcile(method, hierarchy, base, residuals, non_negative, spec.middle_level)
        why = f"{method}: asked for" + (f" (all-level {evidence.metric} {evidence.total(method):.3f} vs base {evidence.total('base'):.3f} "
                                        f"over {len(evidence.scored)} scored fold(s))" if method in evidence.scores and evidence.scored else "")
    calibrations = {}
    for i, node in enumerate(hierarchy.nodes):
        points = _reconciled_points(i, [folds[k] for k in evidence.scored], evidence.reconciled.get(method, []), job.models.level)
        calibrations[node] = (calibrate(points, job.models.level, len(dates), len(segments[node].history)) if points
                              else getattr(selections[node].champion_model, "calibration", None))
    interval_method = "normality" if method in NORMALITY else "calibrated"  # a coherent normal distribution where it exists
    if interval_method == "calibrated" and not evidence.reconciled.get(method):
        notes.append("intervals: no reconciled backtest fold to calibrate on; each node keeps its base interval's width, centred on the reconciled forecast")
    frozen = dataclasses.replace(frozen, calibrations=calibrations, interval_method=interval_method, level=job.models.level)
    steps = np.arange(1, len(dates) + 1)
    bounds = {side: np.vstack([selections[node].forecast[side].to_numpy(float) for node in hierarchy.nodes]) for side in ("yhat_lower", "yhat_upper")}
    own = {side: np.vstack([raw[node][side].to_numpy(float) for node in hierarchy.nodes]) for side in ("yhat_lower", "yhat_upper")}
    values, lower, upper = reconciled_forecasts(frozen, base, bounds["yhat_lower"], bounds["yhat_upper"], own["yhat_lower"], own["yhat_upper"], steps)
    calibrated = reconciled_forecasts(dataclasses.replace(frozen, interval_method="calibrated"), base, bounds["yhat_lower"], bounds["yhat_upper"],
                                      own["yhat_lower"], own["yhat_upper"], steps)[1:]
    result = HierarchyRun(run, hierarchy, method, spec.reconcile, frozen, evidence, dates, base, values, lower, upper, why,
                          [*evidence.notes, *notes], metric=job.backtest.metric)
    result.calibrated_bounds = calibrated
    return result


def _reconciled_points(i: int, folds: list[FoldBase], reconciled: list[np.ndarray], level: float) -> list[tuple[int, float]]:
    """Node ``i``'s reconciled backtest errors in units of its base family's own interval, step by step."""
    frames = []
    for fold, values in zip(folds, reconciled):
        shift = values[i] - fold.base[i]
        frames.append(pd.DataFrame({"y": fold.actual[i], "yhat": values[i], "yhat_lower": fold.lower[i] + shift,
                                    "yhat_upper": fold.upper[i] + shift, "observed": fold.observed[i]}))
    return standardized_errors(frames, level)
