"""The `forecast-training` flow: validate -> train and backtest per segment (mapped) -> register as
challenger -> smoke-test -> promote to champion -> router -> deploy -> smoke-test the endpoint.

Plain Python: ``from flows.training import forecast_training; forecast_training(TrainingParameters(...))``.
"""

from __future__ import annotations

import time


from prefect import flow, get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.context import get_run_context
from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from forecasting.backtest import BacktestSpec
from forecasting.contract import DataSpec, parse_segment_key
from forecasting.errors import ConfigError, DataError
from forecasting.llm_summary import SummaryConfig
from forecasting.fingerprint import code_fingerprint, config_fingerprint, segment_fingerprint
from forecasting.models import ModelSpec
from forecasting.pipeline import ForecastJob
from forecasting.registry import RegistryConfig
from forecasting.serving.config import DeployConfig
from forecasting.settings import TrackingConfig
from forecasting.tracking import end_run, start_training_run
from forecasting.validation import ValidationPolicy
from flows.paths import resolve_input
from tasks.artifacts import Progress, failures_artifact, leaderboard_artifact, summary_artifact, validation_artifact
from tasks.deploy import deploy_router
from tasks.policies import result_storage, service_retry_options
from tasks.publish import publish_champions, publish_router
from tasks.train import TrainedSegment, train_segments
from tasks.validate import validate_data

SAMPLE_DATA = "examples/data/finance_segments.csv"


class RunPolicy(BaseModel):
    """How the run behaves as a whole."""

    max_failed_fraction: float = Field(0.25, ge=0, le=1, description="fail the run when more segments than this fail")
    segments_per_task: int = Field(1, ge=1, le=1000, description="segments per task run (raise for thousands of segments)")
    segment_timeout_seconds: int = Field(600, ge=10, description="timeout per segment (a chunk gets this x its size)")
    retry_backoff_seconds: float = Field(2.0, ge=0, description="first retry delay of service calls; doubles each retry")
    result_storage: str | None = Field(None, description="Prefect storage block for task results (default: local, in the state directory)")


class TrainingParameters(BaseModel):
    """Everything a training run needs; the Prefect UI renders it as a form and validates it before a run."""

    data_path: str = Field(SAMPLE_DATA, description="CSV or Parquet long table (relative paths: working directory, then the project)")
    delimiter: str = "auto"
    data: DataSpec = Field(default_factory=lambda: DataSpec(segment_cols=["region", "product"]))
    validation: ValidationPolicy = Field(default_factory=ValidationPolicy)
    models: ModelSpec = Field(default_factory=ModelSpec)
    backtest: BacktestSpec = Field(default_factory=BacktestSpec)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    registry: RegistryConfig = Field(default_factory=RegistryConfig)
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    only_segments: list[str] = Field(default_factory=list, description="retrain only these segment keys, e.g. region=EU|product=A (empty: all)")
    skip_deploy: bool = Field(False, description="stop after promoting the champions (no router, no endpoint)")
    policy: RunPolicy = Field(default_factory=RunPolicy)
    summary: SummaryConfig = Field(default_factory=SummaryConfig, description="executive summary: template, or an LLM rewrite")

    def job(self) -> ForecastJob:
        return ForecastJob(data=self.data, validation=self.validation, models=self.models, backtest=self.backtest)

    def resolved_data_path(self) -> str:
        return resolve_input(self.data_path)


@task(name="start-mlflow-run", cache_policy=NO_CACHE)
def start_parent_run(tracking: TrackingConfig, tags: dict[str, str], run_name: str) -> str:
    return start_training_run(tracking, tags, run_name)


@task(name="end-mlflow-run", cache_policy=NO_CACHE)
def end_parent_run(tracking: TrackingConfig, run_id: str, failed: bool) -> None:
    end_run(tracking, run_id, failed)


def routable_segments(report, prepared: dict) -> dict[str, dict]:
    """Segment column values of every segment in the data, for the router (a segment failing
    validation today may still have a champion from an earlier run)."""
    values = {}
    for key in report.segments:
        if key in prepared:
            values[key] = dict(prepared[key].values)
            continue
        try:
            values[key] = parse_segment_key(key)
        except DataError:
            continue
    return values


def only_segments(report, prepared: dict, wanted: list[str]):
    """Keep the asked-for segments (the actuals comparison retrains only those that drifted)."""
    unknown = [key for key in wanted if key not in report.segments]
    if unknown:
        raise ConfigError(f"only_segments: unknown segment {unknown[0]!r}; the data has {', '.join(list(report.segments)[:10])}")
    report = report.model_copy(update={"segments": {k: v for k, v in report.segments.items() if k in wanted}})
    return report, {k: v for k, v in prepared.items() if k in wanted}


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]


@flow(name="forecast-training", task_runner=ThreadPoolTaskRunner(max_workers=2), log_prints=True)
def forecast_training(params: TrainingParameters = TrainingParameters()) -> dict:
    """Train, select, register, smoke-test, promote and deploy one champion per segment."""
    logger = get_run_logger()
    clock = StageClock()
    flow_run_id = str(get_run_context().flow_run.id)
    storage = result_storage(params.policy.result_storage)
    service = service_retry_options(params.policy.retry_backoff_seconds)
    job = params.job()
    params.registry.router_name()  # names are validated before anything is uploaded

    report, prepared = validate_data.with_options(result_storage=storage)(params.resolved_data_path(), job, params.delimiter)
    clock.lap("validate")
    segment_values = routable_segments(report, prepared)
    if params.only_segments:
        report, prepared = only_segments(report, prepared, params.only_segments)
    validation_artifact(report)
    rows = {key: {"segment": key, "status": "failed", "stage": "validation", "reason": "; ".join(f.message for f in seg.errors)}
            for key, seg in report.segments.items() if not seg.ok}
    data_hash = config_fingerprint(*(f"{s.key}:{segment_fingerprint(s.history, s.future)}" for s in prepared.values()))
    tags = {"orchestration_run_id": flow_run_id, "data_hash": data_hash,
            "config_hash": config_fingerprint(job), "code_fingerprint": code_fingerprint()}
    parent_run_id = start_parent_run.with_options(**service)(params.tracking, tags, f"training-{flow_run_id[:8]}")

    train = train_segments.with_options(
        result_storage=storage,
        timeout_seconds=params.policy.segment_timeout_seconds * params.policy.segments_per_task,
        **service,
    )
    segment_chunks = chunks(list(prepared.values()), params.policy.segments_per_task)
    # each task gets only its chunk's reports: the whole report per task would pickle O(segments²)
    chunk_reports = [{seg.key: report.segments[seg.key] for seg in chunk} for chunk in segment_chunks]
    futures = train.map(segment_chunks, reports=chunk_reports, job=unmapped(job), tracking=unmapped(params.tracking),
                        parent_run_id=unmapped(parent_run_id), tags=unmapped(tags), registry=unmapped(params.registry))
    chunk_of = {id(future): chunk for future, chunk in zip(futures, segment_chunks)}
    progress = Progress(len(report.segments))
    progress.advance(len(rows))
    trained: dict[str, TrainedSegment] = {}
    for future in as_completed(futures):
        try:
            results = future.result()
        except Exception as exc:  # a chunk that timed out or ran out of retries: its segments failed
            chunk = chunk_of[id(future)]
            logger.error("a training task failed: %s", exc)
            for segment in chunk:
                rows[segment.key] = {"segment": segment.key, "status": "failed", "stage": "training", "reason": f"{type(exc).__name__}: {exc}"}
            progress.advance(len(chunk))
            continue
        for result in results:
            trained[result.segment] = result
        progress.advance(len(results))
    # completion order never matters: everything after this point is in segment-key order
    trained = dict(sorted(trained.items()))
    clock.lap("train")

    good = [t for t in trained.values() if t.status == "trained"]
    # published inside the training task of this run, or still to publish (a cached result from an
    # earlier run is published again: idempotent, and it makes that version the champion once more)
    published_by_segment = {t.segment: t.published for t in good if t.published is not None and t.computed_in == flow_run_id}
    publish_chunks = chunks([t for t in good if t.segment not in published_by_segment], params.policy.segments_per_task)
    publish_futures = publish_champions.with_options(**service).map(
        publish_chunks, registry=unmapped(params.registry), tracking=unmapped(params.tracking), tags=unmapped(tags))
    publish_errors = {}
    for future, chunk in zip(publish_futures, publish_chunks):
        try:
            published_by_segment.update({p.segment: p for p in future.result()})
        except Exception as exc:  # retries exhausted or a registry refusal: these segments are not published
            publish_errors.update({seg.segment: f"{type(exc).__name__}: {exc}" for seg in chunk})

    clock.lap("publish")
    router, endpoint, deploy_error = None, None, None
    if not params.skip_deploy and any(p.promoted for p in published_by_segment.values()):
        try:
            router, size = publish_router.with_options(**service)(
                segment_values, params.data.segment_cols, params.registry, params.tracking, parent_run_id, tags)
            logger.info("router %s version %s: %s (snapshot %.1f MB)", router.name, router.version, router.smoke, size / 1e6)
            if not router.promoted:
                raise RuntimeError(f"the router failed its smoke test: {router.smoke}")
            endpoint = deploy_router.with_options(**service)(router.name, router.version, params.deploy, params.tracking)
        except Exception as exc:  # champions stay registered and promoted; the run fails after its report
            deploy_error = f"{type(exc).__name__}: {exc}"
            logger.error("deployment failed: %s", deploy_error)

    clock.lap("deploy")
    for key, result in trained.items():
        rows[key] = _report_row(result, published_by_segment.get(key), endpoint, params.tracking, job.backtest.metric)
        if key in publish_errors:
            rows[key].update(status="failed", stage="publish", reason=publish_errors[key])
    rows = dict(sorted(rows.items()))
    failed = [r for r in rows.values() if r["status"] == "failed"]
    leaderboard_artifact(good)
    failures_artifact(list(rows.values()))
    links = {"MLflow": params.tracking.resolved_tracking_uri()}
    if endpoint:
        links["Endpoint"] = endpoint.get("url", "")
    summary_artifact(list(rows.values()), job.backtest.metric, links, params.summary)
    failed_fraction = len(failed) / max(len(rows), 1)
    end_parent_run.with_options(**service)(params.tracking, parent_run_id, bool(deploy_error) or failed_fraction > params.policy.max_failed_fraction)
    result = {"segments": list(rows.values()), "router": router.__dict__ if router else None, "endpoint": endpoint,
              "deploy_error": deploy_error, "mlflow_parent_run_id": parent_run_id, "failed_fraction": failed_fraction,
              "stage_seconds": clock.lap("report")}
    # An expected failure (bad segments, a failed deploy) is a Failed state carrying the report, not a
    # raised exception: Prefect logs no traceback for it; callers still get TrainingFailed raised.
    if deploy_error:
        return _failed(TrainingFailed(f"champions are registered and promoted, but deployment failed: {deploy_error}", result))
    if failed_fraction > params.policy.max_failed_fraction:
        return _failed(TrainingFailed(
            f"{len(failed)} of {len(rows)} segments failed ({failed_fraction:.0%} > max_failed_fraction "
            f"{params.policy.max_failed_fraction:.0%}): " + "; ".join(f"{r['segment']}: {r['reason']}" for r in failed[:3]),
            result,
        ))
    return result


class StageClock:
    """Wall seconds per stage of the run, for the report (and the throughput benchmark)."""

    def __init__(self):
        self.last, self.stages = time.perf_counter(), {}

    def lap(self, stage: str) -> dict[str, float]:
        now = time.perf_counter()
        self.stages[stage] = round(now - self.last, 3)
        self.last = now
        return dict(self.stages)


class TrainingFailed(Exception):
    def __init__(self, message: str, report: dict):
        super().__init__(message)
        self.report = report

    def __reduce__(self):  # picklable with its report (results may be persisted)
        return (TrainingFailed, (str(self), self.report))


def _failed(error: TrainingFailed):
    from prefect.states import Failed

    get_run_logger().error("%s", error)
    return Failed(message=str(error), data=error)


def _report_row(result: TrainedSegment, published, endpoint, tracking: TrackingConfig, metric: str) -> dict:
    flow_run_id = str(get_run_context().flow_run.id)
    row = {
        "segment": result.segment,
        "status": result.status,
        "stage": "training" if result.status == "failed" else "",
        "reason": result.reason,
        "champion": result.champion,
        "metric": metric,
        "metric_value": result.metrics.get(metric),
        "baseline_value": result.baseline.get(metric),
        "metrics": result.metrics,
        "holdout": result.holdout,
        "mlflow_run_id": result.run_id,
        "run_url": _run_url(tracking, result.run_id),
        "registered_model": None,
        "version": None,
        "endpoint": endpoint.get("url") if endpoint else None,
        "fit_cpu_seconds": round(result.fit_cpu_seconds, 4),
        "tracking_seconds": round(result.tracking_seconds, 4),
        # register + smoke test + promote inside the training task (0 when the publish stage did it)
        "publish_seconds": round(published.seconds, 4) if published is not None and published is result.published else 0.0,
        "train_seconds": round(result.seconds, 4),
    }
    if result.status == "trained" and result.computed_in and result.computed_in != flow_run_id:
        row["status"] = "cached"
    if published is not None:
        row["registered_model"], row["version"] = published.name, published.version
        if not published.promoted:
            row.update(status="failed", stage="smoke test", reason=published.smoke)
    return row


def _run_url(tracking: TrackingConfig, run_id: str | None) -> str | None:
    uri = tracking.resolved_tracking_uri()
    if not run_id or not uri.startswith("http"):
        return None
    return f"{uri.rstrip('/')}/#/experiments/0/runs/{run_id}"


if __name__ == "__main__":
    forecast_training()
