"""Register -> smoke test -> promote each champion, atomically per segment (a Prefect transaction whose
rollback hook tags the version as failed; the ``champion`` alias only moves on success)."""

from __future__ import annotations

from dataclasses import dataclass

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.transactions import transaction

from forecasting.publish import mark_failed, promote, register_challenger
from forecasting.registry import CHAMPION, RegistryConfig, alias_version
from forecasting.router import Route, log_router, smoke_test_router
from forecasting.smoke import SmokeReport, smoke_test
from forecasting.settings import TrackingConfig
from forecasting.tracking import connect
from tasks.train import TrainedSegment


class SmokeTestFailed(Exception):
    def __init__(self, report: SmokeReport):
        super().__init__(report.summary())
        self.report = report


@dataclass
class PublishedModel:
    segment: str
    name: str
    version: str | None
    promoted: bool
    reused: bool = False
    previous_champion: str | None = None
    smoke: str = ""
    load_seconds: float = 0.0
    predict_seconds: float = 0.0


def publish_atomically(client, segment: str, name: str, model_uri: str, run_id: str, tags: dict, check=smoke_test,
                       forecast: list[dict] | None = None) -> PublishedModel:
    previous = alias_version(client, name, CHAMPION)
    version = None
    try:
        with transaction() as txn:
            version = register_challenger(client, name, model_uri, run_id, tags)
            txn.stage(version, on_rollback_hooks=[lambda t: mark_failed(client, version, t.get("smoke"))])
            report = check(version.uri)
            txn.set("smoke", report)
            if not report.passed:
                raise SmokeTestFailed(report)
            promote(client, version, report, run_id, forecast, segment, tags.get("champion_family"))
    except SmokeTestFailed as failed:
        report = failed.report
        return PublishedModel(segment, name, version.version, False, version.reused, previous, report.summary(), report.load_seconds, report.predict_seconds)
    return PublishedModel(segment, name, version.version, True, version.reused, previous, report.summary(), report.load_seconds, report.predict_seconds)


@task(name="publish-champions", cache_policy=NO_CACHE, persist_result=True)
def publish_champions(trained: list[TrainedSegment], registry: RegistryConfig, tracking: TrackingConfig, tags: dict[str, str]) -> list[PublishedModel]:
    """Idempotent: a rerun finds the version already registered from the same MLflow run."""
    client = connect(tracking)
    published = []
    for seg in trained:
        if seg.status != "trained":
            continue
        version_tags = {
            "segment": seg.segment,
            "run_id": seg.run_id,
            "selection_metric": seg.metric,
            "selection_metric_value": f"{seg.metrics.get(seg.metric, float('nan')):.6g}",
            "champion_family": seg.champion,
            "data_hash": seg.fingerprint,
            **tags,
        }
        published.append(publish_atomically(client, seg.segment, registry.name_for(seg.segment), seg.model_uri, seg.run_id, version_tags,
                                             forecast=seg.forecast))
    return published


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
    router = publish_atomically(client, "router", registry.router_name(), info.model_uri, parent_run_id,
                                {"kind": "router", "segments": str(len(routes)), **tags}, check=smoke_test_router)
    return router, size
