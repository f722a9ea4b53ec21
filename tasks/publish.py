"""Register -> smoke test -> promote each champion, per segment: the ``champion`` alias moves only
after that exact version passed its smoke test; a failing version is tagged ``smoke_test=failed``.

No Prefect transaction around it: nested in a task run's transaction, one segment's rollback rolled
back the task's transaction and with it every segment published before it in the same task run (their
promoted versions were tagged failed)."""

from __future__ import annotations

import time

from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.mlops.config import RegistryConfig, TrackingConfig
from forecasting.mlops.promotion import publish
from forecasting.mlops.registry import CHAMPION, alias_version
from forecasting.mlops.router import Route, log_router, smoke_test_router
from forecasting.mlops.smoke import smoke_test
from forecasting.mlops.tracking import connect
from tasks.records import PublishedModel, TrainedSegment


def publish_model(client, segment: str, name: str, model_uri: str, run_id: str, tags: dict, check=smoke_test,
                  forecast: list[dict] | None = None) -> PublishedModel:
    started = time.perf_counter()
    result = publish(client, segment, name, model_uri, run_id, tags, check=check, forecast=forecast)
    report = result.smoke
    return PublishedModel(segment, name, result.version, result.promoted, result.reused, result.previous_champion,
                          report.summary(), report.load_seconds, report.predict_seconds, time.perf_counter() - started)


def publish_trained(client, seg: TrainedSegment, registry: RegistryConfig, tags: dict[str, str]) -> PublishedModel:
    """Publish one trained segment's champion with its lineage tags."""
    version_tags = {
        "segment": seg.segment,
        "run_id": seg.run_id,
        "selection_metric": seg.metric,
        "selection_metric_value": f"{seg.metrics.get(seg.metric, float('nan')):.6g}",
        "champion_family": seg.champion,
        "data_hash": seg.fingerprint,
        **tags,
    }
    return publish_model(client, seg.segment, registry.name_for(seg.segment), seg.model_uri, seg.run_id, version_tags,
                         forecast=seg.forecast)


@task(name="publish-champions", cache_policy=NO_CACHE, persist_result=True)
def publish_champions(trained: list[TrainedSegment], registry: RegistryConfig, tracking: TrackingConfig, tags: dict[str, str]) -> list[PublishedModel]:
    """Idempotent: a rerun finds the version already registered from the same MLflow run."""
    client = connect(tracking)
    return [publish_trained(client, seg, registry, tags) for seg in trained if seg.status == "trained"]


@task(name="publish-router", cache_policy=NO_CACHE, persist_result=True)
def publish_router(segment_values: dict[str, dict], segment_cols: list[str], registry: RegistryConfig, tracking: TrackingConfig,
                   parent_run_id: str, tags: dict[str, str]) -> tuple[PublishedModel, int]:
    """Freeze the current champion of every segment of the data into one router model (a segment whose
    retraining failed or was not asked for keeps its previous champion), register it, smoke-test it."""
    import mlflow

    client = connect(tracking)
    routes = []
    for segment, values in sorted(segment_values.items()):
        name = registry.name_for(segment)
        version = alias_version(client, name, CHAMPION)
        if version is not None:
            routes.append(Route(segment, {k: str(v) for k, v in values.items()}, name, version))
    with mlflow.start_run(run_id=parent_run_id):
        info, size = log_router(routes, segment_cols)
    router = publish_model(client, "router", registry.router_name(), info.model_uri, parent_run_id,
                           {"kind": "router", "segments": str(len(routes)), **tags}, check=smoke_test_router)
    return router, size
