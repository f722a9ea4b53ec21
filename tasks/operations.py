"""Thin Prefect tasks over the operations library: actuals comparison, retraining trigger, batch
inference, registry cleanup and endpoint probes. Tasks that call a service (MLflow, the registry, the
Prefect API, a serving target) retry transient errors (connection, 429, 5xx) with backoff; data errors
and refusals never retry."""

from __future__ import annotations

import copy

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.contract import DataSpec
from forecasting.errors import ConfigError
from forecasting.mlops.champion_forecasts import load_champion_forecasts
from forecasting.mlops.config import RegistryConfig, TrackingConfig
from forecasting.mlops.registry import cleanup, registered_models
from forecasting.mlops.tracking import connect
from forecasting.ops.batch_forecast import champion_forecast
from forecasting.ops.comparison import load_actuals
from forecasting.ops.monitor import MonitorReport, probe, probe_request
from forecasting.serving import make_target
from forecasting.serving.config import DeployConfig
from forecasting.sources import DataSource, read_source
from tasks.credentials import sql_credentials
from tasks.policies import service_retry_options

RETRY_BACKOFF_SECONDS = 2.0  # first retry delay; doubles each retry (four retries, about 30 s in all)
SERVICE = service_retry_options(RETRY_BACKOFF_SECONDS)


@task(name="load-actuals", cache_policy=NO_CACHE)
def read_actuals(path: str | DataSource, spec: DataSpec, delimiter: str = "auto", credentials_block: str | None = None) -> pd.DataFrame:
    """Actuals from a file, a SQL query or table, or a Unity Catalog table (a SQL password from the block
    or the environment)."""
    frame = read_source(path, sql_credentials(credentials_block), [spec.time_col, spec.target_col, *spec.segment_cols], delimiter=delimiter)
    return load_actuals(frame, spec)


@task(name="load-champion-forecasts", cache_policy=NO_CACHE, **SERVICE)
def champion_forecasts(tracking: TrackingConfig, start: str, end: str, segments: list[str]) -> pd.DataFrame:
    client = connect(tracking)
    experiment = client.get_experiment_by_name(tracking.experiment)
    if experiment is None:
        raise ConfigError(f"MLflow experiment {tracking.experiment!r} does not exist at {tracking.resolved_tracking_uri()}: nothing was trained there")
    return load_champion_forecasts(client, [experiment.experiment_id], start, end, set(segments))


@task(name="trigger-retraining", cache_policy=NO_CACHE, **SERVICE)
def trigger_retraining(deployment: str, segments: list[str]) -> dict:
    """Start the training deployment for these segments only: its own parameters, with only_segments set."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            found = client.read_deployment_by_name(deployment)
        except ObjectNotFound:
            raise ConfigError(f"training deployment {deployment!r} not found: deploy it (prefect deploy --all) or use on_drift=flag") from None
    params = copy.deepcopy(found.parameters or {})
    params.setdefault("params", {})["only_segments"] = list(segments)
    run = run_deployment(deployment, parameters=params, timeout=0, tags=["retrain", "drift"], as_subflow=False)
    return {"deployment": deployment, "flow_run_id": str(run.id), "flow_run_name": run.name, "segments": list(segments)}


@task(name="list-registered-models", cache_policy=NO_CACHE, **SERVICE)
def list_models(tracking: TrackingConfig, registry: RegistryConfig, include_router: bool = False) -> list[str]:
    return registered_models(connect(tracking), registry, include_router)


@task(name="forecast-champions", cache_policy=NO_CACHE, **SERVICE)
def forecast_champions(names: list[str], tracking: TrackingConfig, horizon: int | None) -> tuple[list[pd.DataFrame], dict[str, str]]:
    """One task run per chunk of models; a failing segment is reported, the others still forecast."""
    client = connect(tracking)
    frames, failures = [], {}
    for name in names:
        try:
            frames.append(champion_forecast(client, name, horizon))
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
    return frames, failures


@task(name="cleanup-registry", cache_policy=NO_CACHE, **SERVICE)
def cleanup_models(names: list[str], tracking: TrackingConfig, keep: int, dry_run: bool) -> list[dict]:
    client = connect(tracking)
    plan = []
    for name in names:
        plan += cleanup(client, name, keep=keep, dry_run=dry_run)
    return plan


@task(name="probe-endpoint", cache_policy=NO_CACHE, **SERVICE)
def probe_endpoint(deploy: DeployConfig, tracking: TrackingConfig, probes: int, max_latency_ms: float) -> MonitorReport:
    target = make_target(deploy)

    def request_for(status) -> pd.DataFrame:
        extra = status.extra or {}
        served_from = TrackingConfig(tracking_uri=extra["tracking_uri"], registry_uri=extra.get("registry_uri")) if extra.get("tracking_uri") else tracking
        return probe_request(status.model, status.version, served_from)

    return probe(target, request_for, probes, max_latency_ms)
