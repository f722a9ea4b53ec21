"""The stages of the `forecast-training` flow, each a few task calls: validate, open the MLflow run,
train (mapped over chunks of segments), publish what the training tasks did not, deploy the router,
and finish (artifacts, the MLflow run's status, the verdict). The report itself is assembled by the
pure functions of :mod:`flows.training_report`."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from prefect import get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context

from flows.chunks import chunks
from flows.dask_cluster import check_workers_reach
from flows.mlflow_ui import mlflow_ui_url, recorded
from flows.segment_training import train_all
from flows.training_report import (
    Deployment,
    Publication,
    failure_row,
    report_rows,
    skipped_row,
    run_result,
    run_url,
    verdict,
)
from forecasting.contract import parse_segment_key
from forecasting.errors import ConfigError, DataError
from forecasting.fingerprint import config_fingerprint, prepared_fingerprint
from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.tracking import connect, end_run, start_training_run
from forecasting.pipeline import ForecastJob
from forecasting.validation import PreparedSegment, ValidationReport
from tasks.artifacts import (
    Progress,
    bridge_chart_artifacts,
    failures_artifact,
    forecast_chart_artifacts,
    leaderboard_artifact,
    notes_artifact,
    summary_artifact,
    validation_artifact,
)
from tasks.deploy import deploy_router
from tasks.policies import ResultStorage, result_storage, service_retry_options, training_code
from tasks.publish import publish_champions, publish_router
from tasks.records import TrainedSegment
from tasks.validate import validate_data


class StageClock:
    """Wall seconds per stage of the run, for the report (and the throughput benchmark)."""

    def __init__(self):
        self.last, self.stages = time.perf_counter(), {}

    def lap(self, stage: str) -> dict[str, float]:
        now = time.perf_counter()
        self.stages[stage] = round(now - self.last, 3)
        self.last = now
        return dict(self.stages)


@dataclass
class TrainingRun:
    """What every stage of one flow run shares: its parameters, ids, tracking settings (resolved once,
    here), result storage and retry policy."""

    params: object  # flows.training.TrainingParameters
    job: ForecastJob
    flow_run_id: str
    tracking: TrackingConfig
    storage: ResultStorage
    service: dict
    clock: StageClock = field(default_factory=StageClock)
    tags: dict[str, str] = field(default_factory=dict)
    parent_run_id: str = ""
    experiment_id: str | None = None
    vintage: dict | None = None  # the forecast-table write: table, run_id, rows
    global_fit: object | None = None  # forecasting.global_fit.GlobalFit: the global model's fits (with the global family)
    global_models: dict = field(default_factory=dict)  # frequency -> the registered global model (PublishedModel)

    @classmethod
    def begin(cls, params) -> "TrainingRun":
        """The run's shared settings. The tracking and registry URIs and the artifact root are read from
        this process's environment now and handed to every task as values: a worker on another machine
        logs where this run does, never where its own environment points. A Dask scheduler of the run's
        own is asked first whether its workers can use what the run would hand them."""
        params.registry.router_name()  # names are validated before anything is uploaded
        tracking, storage = params.tracking.resolved(), result_storage(params.policy.result_storage)
        if params.policy.task_runner == "dask" and params.policy.dask_address:
            check_workers_reach(params.policy.dask_address, tracking, storage.local_dir)
        return cls(params, params.job(), str(get_run_context().flow_run.id), tracking, storage,
                   service_retry_options(params.policy.retry_backoff_seconds))


@dataclass
class Validated:
    report: ValidationReport
    prepared: dict[str, PreparedSegment]
    segment_values: dict[str, dict]  # every segment of the data, for the router
    failures: dict[str, dict]  # report rows of the segments that failed validation
    hierarchy: object | None = None  # forecasting.hierarchy.Hierarchy when the run reconciles: its aggregates are in ``prepared``


@task(name="start-mlflow-run", cache_policy=NO_CACHE)
def start_parent_run(tracking: TrackingConfig, tags: dict[str, str], run_name: str) -> tuple[str, str]:
    """The parent run's id and its experiment's id (for links to the MLflow UI)."""
    run_id = start_training_run(tracking, tags, run_name)
    return run_id, connect(tracking).get_run(run_id).info.experiment_id


@task(name="end-mlflow-run", cache_policy=NO_CACHE)
def end_parent_run(tracking: TrackingConfig, run_id: str, failed: bool) -> None:
    end_run(tracking, run_id, failed)


def validate_stage(run: TrainingRun) -> Validated:
    """Validate the table, keep the asked-for segments, show the report in the Prefect UI."""
    params = run.params
    source = params.source()
    report, prepared, run.job = validate_data.with_options(result_storage=run.storage.block)(
        source, run.job, params.delimiter, params.sheet, params.resolved_covariates_path(), credentials_block=source.credentials_block)
    hierarchy = None
    run.job = run.job.model_copy(update={"models": models_for_run(run.job.models, prepared, params.hierarchy.active)})
    if params.hierarchy.active:  # the aggregates become segments: validated, trained, registered and routed like any
        if params.only_segments:
            raise ConfigError("only_segments cannot retrain part of a reconciled hierarchy: reconciliation needs every node")
        report, prepared, hierarchy = hierarchy_nodes(report, prepared, params.hierarchy, run.job)
    segment_values = routable_segments(report, prepared)
    if params.only_segments:
        report, prepared = only_segments(report, prepared, params.only_segments)
    validation_artifact(report)
    failures = {key: failure_row(key, "validation", "; ".join(f.message for f in seg.errors))
                for key, seg in report.segments.items() if not seg.ok}
    failures.update({key: skipped_row(key, seg.skipped) for key, seg in report.segments.items() if seg.ok and seg.skipped})
    run.clock.lap("validate")
    return Validated(report, prepared, segment_values, failures, hierarchy)


def models_for_run(models, prepared: dict, hierarchy: bool):
    """The model set this run can fit: the global family needs two segments of a frequency (asked for
    alone without them: one clear line, nothing trained); a reconciled hierarchy leaves it out (its
    aggregates would weigh the model shared by the segments), and says so."""
    from forecasting.global_fit import require_global

    if hierarchy and "global" in models.models:
        if models.models == ["global"]:
            raise ConfigError("model 'global' is not fitted in a reconciled hierarchy run: choose per-segment families with --reconcile")
        from forecasting.models import DEFAULT_MODELS

        log = get_run_logger().info if models.models == DEFAULT_MODELS else get_run_logger().warning  # asked for by name: a warning
        log("the global model is not fitted in a reconciled hierarchy run; the per-segment families compete")
        return models.model_copy(update={"models": [m for m in models.models if m != "global"]})
    return require_global(models, list(prepared.values()))


def hierarchy_nodes(report: ValidationReport, prepared: dict, spec, job: ForecastJob):
    """The report and segments with every aggregate node of the hierarchy added (a bottom segment that
    stopped before the others is reported as skipped: it only adds to its aggregates' history)."""
    from forecasting.hierarchy.nodes import hierarchy_segments

    hierarchy, nodes, stopped = hierarchy_segments(report, prepared, spec, job.data.segment_cols, job.backtest.horizon,
                                                   job.backtest.folds, job.models.non_negative)
    segments = dict(report.segments)
    for key in stopped:
        segments[key] = segments[key].model_copy(update={"skipped": "stopped before the others' last period: not forecast, it adds to "
                                                                    "its aggregates' history"})
    segments.update({segment.key: node_report for segment, node_report in nodes})
    return report.model_copy(update={"segments": dict(sorted(segments.items()))}), {s.key: s for s, _ in nodes}, hierarchy


def open_mlflow_run(run: TrainingRun, validated: Validated) -> None:
    """The parent MLflow run, tagged with what identifies this training: data, configuration, code."""
    data_hash = prepared_fingerprint(validated.prepared)
    run.tags = {"orchestration_run_id": run.flow_run_id, "data_hash": data_hash,
                "config_hash": config_fingerprint(run.job), "code_fingerprint": training_code()}
    run.parent_run_id, run.experiment_id = start_parent_run.with_options(**run.service)(
        run.tracking, run.tags, f"training-{run.flow_run_id[:8]}")


def train_stage(run: TrainingRun, validated: Validated) -> dict[str, TrainedSegment]:
    """Every segment trained and published in the `train-segments` subflow, on the task runner the run's
    policy picks (a process pool on every usable core by default). Results in segment-key order."""
    progress = Progress(len(validated.report.segments))
    progress.advance(len(validated.failures))
    trained = train_all(run, validated, progress)
    run.clock.lap("train")
    return trained


def publish_stage(run: TrainingRun, trained: dict[str, TrainedSegment]) -> Publication:
    """Champions published inside this run's training tasks are kept; the rest (a cached result from an
    earlier run, or a task whose in-task publishing failed) are published here, with the service retry
    policy. Idempotent: a rerun finds the version already registered."""
    params = run.params
    good = [t for t in trained.values() if t.status == "trained"]
    publication = Publication({t.segment: t.published for t in good if t.published is not None and t.computed_in == run.flow_run_id})
    todo = chunks([t for t in good if t.segment not in publication.by_segment], params.policy.chunk_size(len(good), 1))
    futures = publish_champions.with_options(**run.service).map(todo, registry=unmapped(params.registry), tracking=unmapped(run.tracking),
                                                                tags=unmapped(run.tags))
    for future, chunk in zip(futures, todo):
        try:
            publication.by_segment.update({p.segment: p for p in future.result()})
        except Exception as exc:  # retries exhausted or a registry refusal: these segments are not published
            publication.errors.update({seg.segment: f"{type(exc).__name__}: {exc}" for seg in chunk})
    publish_global_models(run)
    run.clock.lap("publish")
    return publication


def publish_global_models(run: TrainingRun) -> None:
    """Each final global model of the run registered once (`publish-global`): the champions that use it
    are frozen with it into the router. A failure is logged; the router then says which segment
    cannot be served without it."""
    from tasks.publish import publish_global

    logger = get_run_logger()
    for frequency, model in (run.global_fit.models if run.global_fit is not None else {}).items():
        try:
            published = publish_global.with_options(**run.service)(model, run.params.registry, run.tracking, run.parent_run_id, run.tags)
            logger.info("global model %s: %s v%s (%s)", frequency, published.name, published.version, published.smoke)
            run.global_models[frequency] = published
        except Exception as exc:
            logger.error("global model %s could not be registered: %s", frequency, exc)


def deploy_stage(run: TrainingRun, validated: Validated, publication: Publication, reconciled=None) -> Deployment:
    """Freeze every segment's champion into the router (with a hierarchy, the reconciliation too: it
    serves every node reconciled), smoke-test it, serve it. A failure keeps the champions registered and
    promoted; the run reports it and fails after its report."""
    params, logger = run.params, get_run_logger()
    deployment = Deployment()
    if params.skip_deploy or not publication.any_promoted or (reconciled is not None and reconciled.error):
        run.clock.lap("deploy")
        return deployment
    try:
        router, size = publish_router.with_options(**run.service)(
            validated.segment_values, params.data.segment_cols, params.registry, run.tracking, run.parent_run_id, run.tags,
            promoted=[segment for segment, published in publication.by_segment.items() if published.promoted],
            reconciliation=reconciled.frozen if reconciled is not None else None)
        deployment.router = router
        logger.info("router %s version %s: %s (snapshot %.1f MB)", router.name, router.version, router.smoke, size / 1e6)
        if not router.promoted:
            raise RuntimeError(f"the router failed its smoke test: {router.smoke}")
        deployment.endpoint = deploy_router.with_options(**run.service)(router.name, router.version, params.deploy, run.tracking)
    except Exception as exc:
        deployment.error = f"{type(exc).__name__}: {exc}"
        logger.error("deployment failed: %s", deployment.error)
    run.clock.lap("deploy")
    return deployment


def finish_stage(run: TrainingRun, validated: Validated, trained: dict[str, TrainedSegment], publication: Publication,
                 deployment: Deployment, reconciled=None, changes: dict | None = None):
    """The report rows, the artifacts (with the waterfalls of the bridges from last year and what changed
    since the last forecast), the MLflow run's final status, and the flow's result: a Failed state
    carrying the report when the run failed (no traceback for an expected failure)."""
    params = run.params
    metric = run.job.backtest.metric
    uri = run.tracking.resolved_tracking_uri()
    # the MLflow UI `forecast-flows server start` runs beside Prefect; it may still be starting up
    browse = mlflow_ui_url(uri, wait=15.0 if recorded() else 0.0)
    urls = {key: run_url(browse or uri, run.experiment_id, result.run_id) for key, result in trained.items()}
    rows = report_rows(validated.failures, trained, publication, deployment.endpoint, run.flow_run_id, urls, metric)
    good = [t for t in trained.values() if t.status == "trained"]
    leaderboard_artifact(good)
    failures_artifact(rows)
    notes_artifact(rows)
    forecast_chart_artifacts(good, metric, urls)
    total = validated.hierarchy.total if validated.hierarchy is not None else None
    bridge_chart_artifacts(good, metric, urls, total_segment=total, reconciled=reconciled is not None and not reconciled.error)
    links = mlflow_links(browse, uri, run.experiment_id, run.parent_run_id)
    if deployment.endpoint:
        links["Endpoint"] = deployment.endpoint.get("url", "")
    summary_artifact(rows, metric, links, params.summary, changes)
    problem = (reconciled.error if reconciled is not None and reconciled.error else None) or verdict(rows, deployment, params.policy.max_failed_fraction)
    end_parent_run.with_options(**run.service)(run.tracking, run.parent_run_id, problem is not None)
    result = run_result(rows, deployment, run.parent_run_id, run.clock.lap("report"))
    if run.vintage:
        result["forecast_table"] = run.vintage
    if reconciled is not None:
        result["reconciliation"] = reconciled.summary or {"error": reconciled.error}
    if changes is not None:
        result["changes"] = changes
    if problem:
        return failed_state(TrainingFailed(problem, result))
    return result


def mlflow_links(browse: str | None, tracking_uri: str, experiment_id: str | None, parent_run_id: str) -> dict[str, str]:
    """The summary's MLflow links: the experiment and this training's run in the MLflow UI when one is
    up, else where the tracking store is and how to browse it."""
    if browse and experiment_id:
        return {"MLflow experiment": f"{browse}/#/experiments/{experiment_id}",
                "MLflow training run": run_url(browse, experiment_id, parent_run_id) or browse}
    return {"MLflow": f"{tracking_uri} (browse it: forecast-flows server start)"}


def routable_segments(report: ValidationReport, prepared: dict) -> dict[str, dict]:
    """Segment column values of every segment in the data, for the router (a segment failing
    validation today may still have a champion from an earlier run)."""
    values = {}
    for key in report.segments:
        if key in prepared and None not in prepared[key].values.values():  # an aggregate node: its key names <all> for the columns it sums over
            values[key] = dict(prepared[key].values)
            continue
        try:
            values[key] = parse_segment_key(key)
        except DataError:
            continue
    return values


def only_segments(report: ValidationReport, prepared: dict, wanted: list[str]):
    """Keep the asked-for segments (the actuals comparison retrains only those that drifted)."""
    unknown = [key for key in wanted if key not in report.segments]
    if unknown:
        raise ConfigError(f"only_segments: unknown segment {unknown[0]!r}; the data has {', '.join(list(report.segments)[:10])}")
    report = report.model_copy(update={"segments": {k: v for k, v in report.segments.items() if k in wanted}})
    return report, {k: v for k, v in prepared.items() if k in wanted}


class TrainingFailed(Exception):
    """The run ended with too many failed segments or a failed deployment; ``report`` is its report."""

    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report

    def __reduce__(self):  # picklable with its report (results may be persisted)
        return (TrainingFailed, (str(self), self.report))


def failed_state(error: TrainingFailed):
    from prefect.states import Failed

    get_run_logger().error("%s", error)
    return Failed(message=str(error), data=error)
