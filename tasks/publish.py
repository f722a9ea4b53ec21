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
from forecasting.mlops.registry import CHAMPION, TRAINING_KEY, alias_version
from forecasting.mlops.router import Route, log_router, smoke_test_router
from forecasting.mlops.smoke import smoke_test
from forecasting.mlops.tracking import connect
from forecasting.system.transient import is_transient
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
    if seg.training_key:  # a retry or a rerun with another chunk size finds this version instead of adding one
        version_tags[TRAINING_KEY] = seg.training_key
    return publish_model(client, seg.segment, registry.name_for(seg.segment), seg.model_uri, seg.run_id, version_tags,
                         forecast=seg.forecast)


@task(name="publish-champions", cache_policy=NO_CACHE, persist_result=True)
def publish_champions(trained: list[TrainedSegment], registry: RegistryConfig, tracking: TrackingConfig, tags: dict[str, str]) -> list[PublishedModel]:
    """Idempotent: a rerun finds the version already registered from the same MLflow run."""
    client = connect(tracking)
    return [publish_trained(client, seg, registry, tags) for seg in trained if seg.status == "trained"]


class RouterIncomplete(RuntimeError):
    """The router would leave out segments that have a champion; the message names them and why.
    Raised from the registry error behind it, so a transient one is retried by the task's policy."""


def champion_routes(client, segment_values: dict[str, dict], registry: RegistryConfig, promoted: list[str] = ()) -> list[Route]:
    """A route for every segment whose registered model has a ``champion``; a segment without one (never
    promoted) is left out. Raises :class:`RouterIncomplete` naming every segment whose champion could not
    be read, or that was promoted in this run and has no champion alias now."""
    routes, missing, cause = [], {}, None
    for segment, values in sorted(segment_values.items()):
        name = registry.name_for(segment)
        try:
            version = alias_version(client, name, CHAMPION)
        except Exception as exc:  # anything but "does not exist": the segment may have a champion
            missing[segment] = f"reading the champion of {name} failed: {type(exc).__name__}: {str(exc)[:300]}"
            cause = cause if cause is not None and is_transient(cause) else exc
            continue
        if version is not None:
            routes.append(Route(segment, {k: str(v) for k, v in values.items()}, name, version))
        elif segment in promoted:
            missing[segment] = f"promoted in this run, but {name} has no {CHAMPION} alias now"
    if missing:
        listed = "; ".join(f"{segment} ({why})" for segment, why in list(missing.items())[:10])
        raise RouterIncomplete(f"the router would leave out {len(missing)} segment(s) that have a champion, so it was not "
                               f"registered or promoted: {listed}") from cause
    return routes


def carried_over(client, segment_values: dict[str, dict], segment_cols: list[str], registry: RegistryConfig) -> tuple[dict[str, dict], dict[str, str]]:
    """Segments with a champion under the registry's prefix that are not in today's data (a product not
    in this month's extract, a retraining of some segments only): they stay routed with their current
    champion. Returns ({segment key: values} to route, {segment key: why not} for champions of another
    table: segment columns other than ``segment_cols`` cannot be routed by this router)."""
    from forecasting.contract import parse_segment_key
    from forecasting.mlops.registry import champion_segments

    keep, other = {}, {}
    today = {registry.name_for(segment) for segment in segment_values}  # their champions are read by champion_routes
    try:
        found = champion_segments(client, registry, skip=today)
    except Exception as exc:  # the router must not silently drop champions it could not read
        raise RouterIncomplete(f"the router would leave out segments that have a champion, so it was not registered or promoted: "
                               f"reading the champions under the prefix {registry.model_prefix!r} failed: {type(exc).__name__}: "
                               f"{str(exc)[:300]}") from exc
    for segment, name in found.items():
        if segment in segment_values:
            continue
        try:
            values = parse_segment_key(segment)
        except Exception:
            other[segment] = f"{name}: its segment tag is not a segment key"
            continue
        if sorted(values) != sorted(segment_cols):
            other[segment] = f"{name}: segment columns {sorted(values)} are not this run's {sorted(segment_cols)}"
            continue
        keep[segment] = values
    return keep, other


@task(name="publish-router", cache_policy=NO_CACHE, persist_result=True)
def publish_router(segment_values: dict[str, dict], segment_cols: list[str], registry: RegistryConfig, tracking: TrackingConfig,
                   parent_run_id: str, tags: dict[str, str], promoted: list[str] = (), reconciliation=None) -> tuple[PublishedModel, int]:
    """Freeze the current champion of every segment into one router model — the segments of the data (a
    segment whose retraining failed or was not asked for keeps its previous champion) and every other
    segment with a champion under the prefix (absent from today's data: see :func:`carried_over`) —
    register it, smoke-test it. Every segment with a champion is routed, or nothing is registered
    (:class:`RouterIncomplete`)."""
    import mlflow

    client = connect(tracking)
    earlier, foreign = carried_over(client, segment_values, segment_cols, registry)
    routes = champion_routes(client, {**segment_values, **earlier}, registry, list(promoted))
    unrouted = sorted(set(segment_values) - {r.segment for r in routes})
    logger = _logger()
    logger.info("router: %d segment(s) routed; %d without a champion%s", len(routes), len(unrouted),
                f" (never promoted: {', '.join(unrouted[:10])})" if unrouted else "")
    if earlier:
        logger.info("router: %d segment(s) not in today's data keep their current champion: %s", len(earlier), ", ".join(sorted(earlier)[:10]))
    if foreign:
        logger.warning("router: %d champion(s) under the prefix %r are left out: %s", len(foreign), registry.model_prefix,
                       "; ".join(f"{k} ({why})" for k, why in list(foreign.items())[:10]))
    if reconciliation is not None:  # a reconciled router needs every node of the hierarchy
        unrouted_nodes = [node for node in reconciliation.nodes if node not in {r.segment for r in routes}]
        if unrouted_nodes:
            raise RouterIncomplete(f"the router cannot serve the reconciled hierarchy: node(s) {', '.join(unrouted_nodes[:5])} have no champion")
    def resolve_global(frequency: str, key: str):
        from forecasting.mlops.global_model import global_name, registered_global

        version = registered_global(client, registry, frequency, key)
        return (global_name(registry, frequency), version) if version is not None else None

    with mlflow.start_run(run_id=parent_run_id):
        info, size = log_router(routes, segment_cols, reconciliation=reconciliation, resolve_global=resolve_global)
    router = publish_model(client, "router", registry.router_name(), info.model_uri, parent_run_id,
                           {"kind": "router", "segments": str(len(routes)), **tags}, check=smoke_test_router)
    return router, size


def _logger():
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:  # called outside a run (tests, scripts)
        import logging

        return logging.getLogger(__name__)


@task(name="publish-global", cache_policy=NO_CACHE, persist_result=True)
def publish_global(model, registry: RegistryConfig, tracking: TrackingConfig, parent_run_id: str, tags: dict[str, str]) -> PublishedModel:
    """The run's global model (one per frequency) logged in the parent MLflow run, registered as
    ``{prefix}_global_{frequency}``, smoke-tested and promoted, once per run: a retry finds the version
    of the same model (its key) instead of adding one."""
    import mlflow

    from forecasting.mlops.global_model import GLOBAL_KEY, log_global, smoke_test_global

    client = connect(tracking)
    frequency = model.frequency.lower().replace("-", "_")
    with mlflow.start_run(run_id=parent_run_id):
        info = log_global(model, name=f"global_{frequency}")
    version_tags = {"kind": "global", GLOBAL_KEY: model.key, TRAINING_KEY: f"global-{model.key}", "segments": str(len(model.trained_through)), **tags}
    return publish_model(client, f"global:{model.frequency}", registry.global_name(model.frequency), info.model_uri, parent_run_id,
                         version_tags, check=smoke_test_global)
