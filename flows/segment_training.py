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

from flows.chunks import scheduled_chunks
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
        return {"segments": len(self.validated.prepared), "segments_per_task": policy.chunk_size(len(self.validated.prepared), self.workers),
                "task_runner": self.task_runner, "workers": self.workers}


def train_all(run, validated, progress) -> dict[str, TrainedSegment]:
    """Train every validated segment in the `train-segments` subflow, on ``policy.task_runner`` with
    ``policy.workers`` workers (default: the usable cores). Process and Dask workers report to this
    run's Prefect API; when there is none they could reach, the segments train on threads (one log
    line says so)."""
    policy, logger = run.params.policy, get_run_logger()
    kind, workers = policy.task_runner, policy.workers or usable_cores()
    if kind == "dask" and policy.dask_address and not policy.workers:  # the cluster's threads, not this machine's cores
        from flows.dask_cluster import cluster_threads

        workers = cluster_threads(policy.dask_address)
        logger.info("Dask scheduler %s: %d worker thread(s); task runs sized for them", policy.dask_address, workers)
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
    size = policy.chunk_size(len(validated.prepared), work.workers)
    train = train_segments.with_options(result_storage=run.storage.block, **run.service, timeout_seconds=policy.segment_timeout_seconds * size)
    segment_chunks = scheduled_chunks(list(validated.prepared.values()), size, work.workers, shrink=not policy.segments_per_task)
    # each task gets only its chunk's reports: the whole report per task would pickle O(segments²)
    chunk_reports = [{seg.key: validated.report.segments[seg.key] for seg in chunk} for chunk in segment_chunks]
    tracking = run.tracking.for_run(len(validated.prepared))  # forecast plots: auto decided by the run's size
    two_passes = needs_first_pass(run, validated)
    shared, final = fit_global_stage(run, validated, wait_for_final=not two_passes)
    cross = [{seg.key: shared.segments[seg.key] for seg in chunk if seg.key in shared.segments} or None for chunk in segment_chunks]
    backtested, digest = across_segments_stage(run, validated, segment_chunks, chunk_reports, cross, shared, final) if two_passes else (None, "")
    if backtested is not None:  # a chunk whose backtests failed is already reported; the rest go on
        keep = [i for i, outcomes in enumerate(backtested) if outcomes]
        segment_chunks, chunk_reports, backtested = ([items[i] for i in keep] for items in (segment_chunks, chunk_reports, backtested))
    futures = train.map(segment_chunks, reports=chunk_reports, job=unmapped(run.job), tracking=unmapped(tracking),
                        parent_run_id=unmapped(run.parent_run_id), tags=unmapped(run.tags), registry=unmapped(run.params.registry),
                        keep_outcomes=unmapped(validated.hierarchy is not None), cross=cross if backtested is None else unmapped(None),
                        backtested=backtested if backtested is not None else unmapped(None), cross_digest=unmapped(digest))
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


def needs_first_pass(run, validated) -> bool:
    """Whether the segments' backtests come first, for the stages across segments: the global model's
    learned weight (the global family in the ensemble) or pooled interval calibration."""
    from forecasting.global_fit import global_jobs
    from forecasting.pooled_calibration import MIN_OTHER_SEGMENTS

    models = run.job.models
    learn = "global" in models.models and "ensemble" in models.models and bool(global_jobs(list(validated.prepared.values())))
    return learn or (models.calibration != "own" and len(validated.prepared) > MIN_OTHER_SEGMENTS)


def fit_global_stage(run, validated, wait_for_final: bool = True):
    """The global model fitted across segments before the per-segment work: one `fit-global` task per
    fit (each fold position and the final fit, per frequency), run concurrently (each final model is
    registered once by the flow's publish stage, off the training's critical path). Returns the
    :class:`forecasting.global_fit.GlobalFit` every segment's task reads its share of (empty without
    the global family) and, when ``wait_for_final`` is false, the final fits still running: the
    backtests need only the fold fits, so the final fit overlaps them (see
    :func:`across_segments_stage`)."""
    from forecasting.global_fit import GlobalFit, assemble_global, global_jobs
    from tasks.global_fit import fit_global_job

    models = run.job.models
    segments = list(validated.prepared.values())
    if "global" not in models.models:
        return GlobalFit(), None
    jobs = global_jobs(segments)
    folds, finals = [j for j in jobs if j.position], [j for j in jobs if not j.position]
    task = fit_global_job.with_options(result_storage=run.storage.block, **run.service)
    final_futures = task.map(finals, models=unmapped(models))  # the longest fits, submitted first
    results = _global_results(folds, task.map(folds, models=unmapped(models)))
    if wait_for_final:
        results += _global_results(finals, final_futures)
        shared = assemble_global(segments, results)
        run.global_fit = shared
        return shared, None
    return assemble_global(segments, results), (segments, results, finals, final_futures)


def _global_results(jobs, futures) -> list:
    from forecasting.global_fit import GlobalFitRecord, GlobalJobResult

    results = []
    for job, future in zip(jobs, futures):
        try:
            results.append(future.result())
        except Exception as exc:  # a fit that could not run at all: its segments say so, the run goes on
            results.append(GlobalJobResult(job.frequency, job.position, GlobalFitRecord(job.frequency, job.position, 0, {}, 0.0,
                                                                                         f"{type(exc).__name__}: {exc}")))
    return results


def across_segments_stage(run, validated, segment_chunks, chunk_reports, cross, shared, final=None):
    """With the global model in the ensemble or pooled interval calibration, the segments' backtests
    come first (`backtest-chunk` tasks), then the stages across segments — the global model's learned
    weight, the pooled calibration — and the selection reads them. Returns (each chunk's backtested
    outcomes, a digest of what the stages gave). ``final``: the final global fits still running (they
    are awaited after the backtests, and each backtest gets its segment's final member)."""
    from forecasting.fingerprint import config_fingerprint
    from forecasting.global_fit import assemble_global
    from forecasting.learned_combination import learn_and_reweight
    from forecasting.pooled_calibration import MIN_OTHER_SEGMENTS, attach_pools
    from tasks.train import backtest_segments

    models = run.job.models
    learn = bool(shared.fits) and "ensemble" in models.models
    pool = models.calibration != "own" and len(validated.prepared) > MIN_OTHER_SEGMENTS
    global_digest = config_fingerprint(*(f"{f.frequency}:{f.position}:{f.error}:{sorted(f.trained_through.items())}" for f in shared.fits))
    first = backtest_segments.with_options(result_storage=run.storage.block, **run.service,
                                           timeout_seconds=run.params.policy.segment_timeout_seconds * max(len(c) for c in segment_chunks))
    futures = first.map(segment_chunks, reports=chunk_reports, job=unmapped(run.job), cross=cross, cross_digest=unmapped(global_digest))
    outcomes: list[dict] = []
    for future, chunk in zip(futures, segment_chunks):
        try:
            outcomes.append({o.segment: o for o in future.result()})
        except Exception as exc:  # the chunk's segments fail here; the second pass skips them
            for segment in chunk:
                validated.failures[segment.key] = failure_row(segment.key, "training", f"{type(exc).__name__}: {exc}")
            outcomes.append({})
    if final is not None:  # the final global fits ran beside the backtests: their members go to the refits
        segments, results, finals, final_futures = final
        shared = assemble_global(segments, results + _global_results(finals, final_futures))
        for chunk in outcomes:
            for key, outcome in chunk.items():
                share = shared.segments.get(key)
                if outcome.status == "trained" and share is not None:
                    outcome.backtest_cpu_seconds += share.fit_seconds  # its share of the global fits is model work too
                    if share.member is not None and "global" in outcome.backtest.candidates:
                        outcome.backtest.prefitted["global"] = share.member
        global_digest = config_fingerprint(global_digest, *(f"{f.frequency}:{f.position}:{f.error}" for f in shared.fits))
    run.global_fit = shared
    pairs = [(validated.prepared[key], outcome.backtest) for chunk in outcomes for key, outcome in chunk.items() if outcome.status == "trained"]
    weights = learn_and_reweight(pairs) if learn else {}
    pooled = attach_pools(pairs, models.calibration, models.level) if pool else 0
    get_run_logger().info("across segments: %d backtest(s)%s%s", len(pairs),
                          "; the global model's learned weight " + ", ".join(f"{k} {v}" for k, v in weights.items()) if weights else "",
                          f"; pooled interval calibration for {pooled} segment(s)" if pool else "")
    digest = config_fingerprint(global_digest, weights, models.calibration, pooled)
    return [chunk_outcomes or None for chunk_outcomes in outcomes], digest


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
