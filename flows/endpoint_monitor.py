"""The `endpoint-monitor` flow: probe the serving target for health and latency; fail loudly, with an
artifact saying what is wrong, when it is down or slow."""

from __future__ import annotations

from prefect import flow
from pydantic import BaseModel, Field

from forecasting.serving.config import DeployConfig
from forecasting.settings import TrackingConfig
from tasks.artifacts import monitor_artifact
from tasks.operations import probe_endpoint


class MonitorParameters(BaseModel):
    deploy: DeployConfig = Field(default_factory=DeployConfig)
    tracking: TrackingConfig = Field(default_factory=TrackingConfig)
    probes: int = Field(5, ge=1, le=100, description="timed forecast requests per check")
    max_latency_ms: float = Field(2000.0, gt=0, description="p95 latency above this is unhealthy")


class EndpointUnhealthy(Exception):
    pass


@flow(name="endpoint-monitor", log_prints=True)
def endpoint_monitor(params: MonitorParameters = MonitorParameters()) -> dict:
    report = probe_endpoint(params.deploy, params.tracking, params.probes, params.max_latency_ms)
    monitor_artifact(report)
    if report.problems:
        raise EndpointUnhealthy("; ".join(report.problems))
    return report.as_dict()
