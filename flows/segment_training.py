"""The `train-segments` subflow: every segment of a training run trained (and published) on the task
runner its run policy picks. Prefect has no per-deployment task runner, so the flow reads it from its
parameters and runs this subflow with ``with_options(task_runner=...)``: the Prefect UI form, schedules,
the CLI and Python calls all choose the same way."""

from __future__ import annotations

import contextlib
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.utilities.annotations import quote
from pydantic import BaseModel, ConfigDict, model_serializer

from flows.chunks import chunks, longest_first
from flows.runners import api_for_workers, make_task_runner
from flows.training_report import failure_row
from forecasting.system.runtime import usable_cores
from tasks.records import TrainedSegment
from tasks.train import train_segments


class SegmentWork(BaseModel):
    """What the subflow trains, handed over in memory: the Prefect UI shows its summary as the subflow's
    parameters; the segments' data never goes to the Prefect API."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    run: Any  # flows.training_stages.TrainingRun
    validated: Any  # flows.training_stages.Validated
    progress: Any  # tasks.artifacts.Progress, created by the parent flow so the artifact is the run's
    task_runner: str
    workers: int

    @model_serializer
    def _summary(self) -> dict:
        policy = self.run.params.policy
        return {"segments": len(self.validated.prepared), "segments_per_task": policy.segments_per_task,
                "task_runner": self.task_runner, "workers": self.workers}


def train_all(run, validated, progress) -> dict[str, TrainedSegment]:
    """Train every validated segment in the `train-segments` subflow, on ``policy.task_runner`` with
    ``policy.workers`` workers (default: the usable cores). Process and Dask workers report to this
    run's Prefect API; when there is none they could reach, the segments train on threads (one log
    line says so)."""
    policy, logger = run.params.policy, get_run_logger()
    kind, workers = policy.task_runner, policy.workers or usable_cores()
    api = api_for_workers() if kind != "threads" else None
    if kind != "threads" and api is None:
        logger.warning("task_runner %r needs a Prefect API its workers can reach and this run has none: training on %d threads "
                       "(set PREFECT_API_URL, or run `forecast-flows server start`)", kind, workers)
        kind = "threads"
    if kind != "processes":  # tasks run in worker threads: Prefect would warn once per task run
        logger.info("task_runner %s: the per-segment timeout takes effect when a blocking call returns "
                    "(only the process runner can interrupt a fit)", kind)
    runner = make_task_runner(kind, workers, policy.dask_address)
    work = SegmentWork(run=run, validated=validated, progress=progress, task_runner=kind, workers=workers)
    with _api_for_workers(api):
        return train_segments_flow.with_options(task_runner=runner)(quote(work))


@flow(name="train-segments", validate_parameters=False)
def train_segments_flow(work: SegmentWork) -> dict[str, TrainedSegment]:
    """One task run per chunk of segments; a chunk that times out or runs out of retries fails its
    segments, the others go on. Results in segment-key order whatever order they finished in."""
    run, validated, progress, logger = work.run, work.validated, work.progress, get_run_logger()
    this_run = str(get_run_context().flow_run.id)
    policy = run.params.policy
    train = train_segments.with_options(result_storage=run.storage.block, **run.service,
                                        timeout_seconds=policy.segment_timeout_seconds * policy.segments_per_task)
    segment_chunks = chunks(longest_first(list(validated.prepared.values())), policy.segments_per_task)
    # each task gets only its chunk's reports: the whole report per task would pickle O(segments²)
    chunk_reports = [{seg.key: validated.report.segments[seg.key] for seg in chunk} for chunk in segment_chunks]
    tracking = run.tracking.for_run(len(validated.prepared))  # forecast plots: auto decided by the run's size
    futures = train.map(segment_chunks, reports=chunk_reports, job=unmapped(run.job), tracking=unmapped(tracking),
                        parent_run_id=unmapped(run.parent_run_id), tags=unmapped(run.tags), registry=unmapped(run.params.registry),
                        keep_outcomes=unmapped(validated.hierarchy is not None))
    chunk_of = {id(future): chunk for future, chunk in zip(futures, segment_chunks)}
    trained: dict[str, TrainedSegment] = {}
    for future in as_completed(futures):
        try:
            results = future.result()
        except Exception as exc:
            chunk = chunk_of[id(future)]
            logger.error("a training task failed: %s", exc)
            for segment in chunk:
                validated.failures[segment.key] = failure_row(segment.key, "training", f"{type(exc).__name__}: {exc}")
            progress.advance(len(chunk))
            continue
        for i, result in enumerate(results, start=1):
            if result.computed_in == this_run:  # trained by this training run (the subflow is part of it), not cached
                result.computed_in = run.flow_run_id
            trained[result.segment] = result
            log_segment(logger, result, f"{progress.done + i}/{progress.total}")
        progress.advance(len(results))
    return dict(sorted(trained.items()))


@contextlib.contextmanager
def _api_for_workers(api: str | None):
    """Hand the API URL to worker processes when it is not in the settings yet (Prefect's temporary
    server of a plain Python call): the process runner passes the settings on to its workers."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    if api is None or PREFECT_API_URL.value():
        yield
        return
    with temporary_settings({PREFECT_API_URL: api}):
        yield


def log_segment(logger, result: TrainedSegment, position: str) -> None:
    """One line per segment as it finishes: the champion, its backtest score and the baseline's."""
    if result.status != "trained":
        logger.warning("[%s] segment %s failed: %s", position, result.segment, result.reason)
        return
    metric = result.metric
    score, baseline = result.metrics.get(metric), result.baseline.get(metric)
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    runner_up = f", runner-up {result.runner_up}" if result.runner_up else ""
    logger.info("[%s] segment %s: champion %s, backtest %s %s (seasonal naive %s)%s; trained in %.1f s by process %d on %s", position,
                result.segment, result.champion, metric.upper(), fmt(score), fmt(baseline), runner_up, result.seconds, result.process_id,
                result.host)
