"""Train a chunk of segments: backtest, select, refit, explain the champion (components and the bridge
from last year), log each to its MLflow child run, and publish its champion right there (register,
smoke-test, promote), so publishing runs in parallel with the other segments' training instead of in a
stage of its own after all of them."""

from __future__ import annotations

import os
import socket
import time
import traceback

import pandas as pd
from prefect import get_run_logger, task
from prefect.context import get_run_context

from forecasting.errors import ForecastingError
from forecasting.fingerprint import config_fingerprint, segment_fingerprint
from forecasting.mlops.config import RegistryConfig, TrackingConfig
from forecasting.mlops.pyfunc import with_iso_dates
from forecasting.mlops.registry import TRAINING_KEY
from forecasting.mlops.segment_run import record_segment
from forecasting.mlops.tracking import connect, reaching
from forecasting.mlops.training_key import finished_segment_run, training_key
from forecasting.pipeline import ForecastJob, select_segment, train_segment
from forecasting.selection import BASELINE
from forecasting.system.runtime import pin_native_threads, work_seconds
from forecasting.system.transient import is_transient
from forecasting.validation import PreparedSegment, SegmentReport
from tasks.policies import cache_key, training_code
from tasks.publish import publish_trained
from tasks.records import TrainedSegment

HISTORY_TAIL = 366  # periods of history kept in the task result for charts (a year of days)


def chunk_cache_key(context, parameters) -> str:
    """Segment data, training configuration, tracking destination and code: change any, retrain."""
    chunk: list[PreparedSegment] = parameters["chunk"]
    job: ForecastJob = parameters["job"]
    tracking: TrackingConfig = parameters["tracking"]
    fingerprints = [f"{s.key}:{segment_fingerprint(s.history, s.future)}" for s in chunk]
    destination = f"{tracking.resolved_tracking_uri()}|{tracking.experiment}"
    keep = "keep-outcomes" if parameters.get("keep_outcomes") else ""  # a cached result without them cannot be reconciled
    # what the run's stages across segments gave this chunk: the global fits, the learned weight, the pools
    cross = parameters.get("cross_digest") or ""
    return "train-" + cache_key(*fingerprints, config_fingerprint(job), destination, training_code(), keep, cross)


def backtest_cache_key(context, parameters) -> str:
    """Segment data, training configuration, the global fits it reads, and code."""
    chunk: list[PreparedSegment] = parameters["chunk"]
    fingerprints = [f"{s.key}:{segment_fingerprint(s.history, s.future)}" for s in chunk]
    return "backtest-" + cache_key(*fingerprints, config_fingerprint(parameters["job"]), parameters.get("cross_digest") or "", training_code())


@task(name="backtest-chunk", persist_result=True, cache_key_fn=backtest_cache_key, timeout_seconds=600)
def backtest_segments(chunk: list[PreparedSegment], reports: dict[str, SegmentReport], job: ForecastJob, cross: dict | None = None,
                      cross_digest: str = "") -> list:
    """The first pass of a run with stages across segments (the global model's learned weight, pooled
    interval calibration): each segment's backtest alone (:func:`forecasting.pipeline.backtest_segment`),
    reading its share of the global fits (``cross``)."""
    from forecasting.pipeline import backtest_segment

    pin_native_threads()
    get_run_logger().info("backtesting %s in process %d on %s", ", ".join(s.key for s in chunk), os.getpid(), socket.gethostname())
    outcomes = []
    for segment in chunk:
        started = work_seconds()
        share = (cross or {}).get(segment.key)
        outcome = backtest_segment(segment, reports[segment.key], job, share)
        # its share of the global model's fits counts as this segment's model work too
        outcome.backtest_cpu_seconds = work_seconds() - started + (share.fit_seconds if share is not None else 0.0)
        outcomes.append(outcome)
    return outcomes


@task(name="train-chunk", persist_result=True, cache_key_fn=chunk_cache_key, timeout_seconds=600)
def train_segments(
    chunk: list[PreparedSegment],
    reports: dict[str, SegmentReport],
    job: ForecastJob,
    tracking: TrackingConfig,
    parent_run_id: str,
    tags: dict[str, str],
    registry: RegistryConfig | None = None,
    keep_outcomes: bool = False,
    cross: dict | None = None,
    backtested: dict | None = None,
    cross_digest: str = "",
) -> list[TrainedSegment]:
    """One task run per chunk of segments (one segment by default), never one per model. With a
    ``registry``, each trained champion is published as soon as it is logged. ``keep_outcomes``: each
    result also carries the segment's backtest and selection (a hierarchy's reconcile stage needs them).
    ``cross``: each segment's share of the run's global fits; ``backtested``: each segment's backtest
    from the first pass (then only selection, refit, logging and publishing happen here)."""
    flow_run = getattr(get_run_context(), "task_run", None)
    computed_in = str(flow_run.flow_run_id) if flow_run is not None else None
    pin_native_threads()  # a Dask worker elsewhere has no thread variables of ours: one BLAS thread per task, as in the process pool
    host, pid = socket.gethostname(), os.getpid()
    get_run_logger().info("training %s in process %d on %s", ", ".join(s.key for s in chunk), pid, host)
    with reaching(tracking):  # where finished runs of the same training are looked up (a retry reuses them)
        experiment_id = connect(tracking).get_run(parent_run_id).info.experiment_id
    results = []
    for segment in chunk:
        result = _train_one(segment, reports[segment.key], job, tracking, parent_run_id, tags, computed_in, experiment_id, keep_outcomes,
                            (cross or {}).get(segment.key), (backtested or {}).get(segment.key))
        if registry is not None and result.status == "trained":
            _publish(result, registry, tracking, tags)
        result.process_id, result.host = pid, host  # which worker trained it (the flow logs it with the segment's line)
        results.append(result)
    return results


def _publish(result: TrainedSegment, registry: RegistryConfig, tracking: TrackingConfig, tags: dict[str, str]) -> None:
    """Publish here when possible; any error leaves it to the flow's publish stage, which has the
    service retry policy and reports what failed (retrying this task would train again)."""
    try:
        result.published = publish_trained(connect(tracking), result, registry, tags)
    except Exception as exc:
        result.notes.append(f"published by the publish stage: {type(exc).__name__}: {exc}")


def explanation_tags(explanation) -> dict[str, str]:
    """How the champion's forecast was split, and its bridge in one line (the run's list shows them)."""
    tags = {"decomposition": explanation.components.decomposition[:4000]}
    bridge = explanation.bridge
    if bridge.available:
        start, end = float(bridge.table["value"].iloc[0]), float(bridge.table["value"].iloc[-1])
        change = f" ({end / start - 1:+.1%})" if start else ""
        tags["bridge"] = f"last year {start:,.6g} -> forecast {end:,.6g}{change}; {bridge.window}"
    else:
        tags["bridge"] = f"no bridge: {bridge.note}"[:4000]
    return tags


def _logged_before(tracking: TrackingConfig, experiment_id: str, key: str):
    with reaching(tracking):
        return finished_segment_run(connect(tracking), experiment_id, key)


def _train_one(segment, report, job, tracking, parent_run_id, tags, computed_in, experiment_id, keep_outcome=False, cross=None,
               backtested=None) -> TrainedSegment:
    started = time.perf_counter()
    fingerprint = segment_fingerprint(segment.history, segment.future)
    key = training_key(segment.key, fingerprint, config_fingerprint(job), training_code())
    base = TrainedSegment(segment.key, dict(segment.values), "failed", metric=job.backtest.metric, computed_in=computed_in,
                          fingerprint=fingerprint, training_key=key)
    work_started = work_seconds()
    try:
        if backtested is not None:  # the second pass: the backtest was made (and reweighted, pooled) before
            outcome = select_segment(segment, backtested, job, explain=True)
        else:  # a failure to explain is a note of the selection
            outcome = train_segment(segment, report, job, explain=True, cross=cross)
    except Exception as exc:  # a bug in one family must not stop the other segments
        base.reason = f"{type(exc).__name__}: {exc}"
        base.notes.append(traceback.format_exc(limit=3))
        return base
    base.seconds = time.perf_counter() - started
    if outcome.status != "trained":
        base.reason = outcome.reason
        return base
    selection, backtest = outcome.selection, outcome.backtest
    earlier = backtested.backtest_cpu_seconds if backtested is not None else (cross.fit_seconds if cross is not None else 0.0)
    base.fit_cpu_seconds = work_seconds() - work_started + earlier  # with the first pass's and the global fits' share
    if keep_outcome:  # the champion's own (uncalibrated) interval too: the reconciled interval is built on it
        own = selection.champion_model.forecast(pd.DatetimeIndex(segment.future["ds"]), segment.future, calibrated=False)
        base.outcome = (outcome, own)
    tracking_started = time.perf_counter()
    notes = list(selection.notes)
    try:
        record = _logged_before(tracking, experiment_id, key)
        if record is not None:  # a retried chunk or another chunk size: the same training, logged once
            notes.append(f"same data, configuration and code as MLflow run {record.run_id}: reused, not logged again")
        else:
            confidence = {"confidence": "low", "low_confidence_reason": selection.low_confidence[:500]} if selection.low_confidence else {"confidence": "normal"}
            run_tags = {**tags, "segment_fingerprint": fingerprint, TRAINING_KEY: key, **confidence, "champion_reason": selection.why[:4000]}
            if selection.notes:
                run_tags["selection_notes"] = " | ".join(selection.notes)[:4000]
            if outcome.explanation is not None:
                run_tags.update(explanation_tags(outcome.explanation))
            record = record_segment(tracking, parent_run_id, segment, report, backtest, selection, len(segment.future), run_tags,
                                    outcome.explanation)
    except Exception as exc:
        if is_transient(exc) and not isinstance(exc, ForecastingError):
            raise  # the task's retry policy handles it
        base.reason = f"could not log to MLflow: {type(exc).__name__}: {exc}"
        return base
    base.tracking_seconds = time.perf_counter() - tracking_started
    board = selection.leaderboard.set_index("model")
    base.status = "trained"
    base.champion = selection.champion
    base.metrics = {k: v for k, v in selection.champion_metrics.items() if v is not None}
    if BASELINE in board.index:
        baseline = board.loc[BASELINE]
        base.baseline = {k: float(baseline[k]) for k in ("mase", "smape", "wape", "mape", "rmse") if pd.notna(baseline[k])}
    base.holdout = dict(selection.holdout)
    base.leaderboard = selection.leaderboard.to_dict("records")
    base.forecast = with_iso_dates(selection.forecast).to_dict("records")
    if selection.runner_up_forecast is not None:
        base.runner_up, base.runner_up_forecast = selection.runner_up, with_iso_dates(selection.runner_up_forecast).to_dict("records")
    base.history_tail = with_iso_dates(segment.history[["ds", "y"]].iloc[-HISTORY_TAIL:]).to_dict("records")
    if outcome.explanation is not None:
        base.bridge = {**outcome.explanation.bridge.as_record(), "frequency": segment.frequency}
    base.explain_seconds = outcome.explain_seconds
    base.notes = notes
    base.low_confidence = selection.low_confidence
    base.why = selection.why
    base.run_id, base.model_uri = record.run_id, record.model_uri
    base.seconds = time.perf_counter() - started
    return base
