"""The `endpoint-monitor` flow: probe the serving target for health and latency; fail loudly, with an
artifact saying what is wrong, when it is down or slow."""

from __future__ import annotations

from prefect import flow

from flows.parameters import MonitorParameters
from tasks.artifacts import monitor_artifact
from tasks.operations import probe_endpoint


class EndpointUnhealthy(Exception):
    pass


@flow(name="endpoint-monitor", log_prints=True)
def endpoint_monitor(params: MonitorParameters = MonitorParameters()) -> dict:
    """Probe the serving target with real forecast requests.

    Returns:
        Status, URL, served version and latencies (p50, p95); raises :class:`EndpointUnhealthy` naming
        the problem when the endpoint is down, failing or slower than ``max_latency_ms``.
    """
    report = probe_endpoint(params.deploy, params.tracking, params.probes, params.max_latency_ms)
    monitor_artifact(report)
    if report.problems:
        raise EndpointUnhealthy("; ".join(report.problems))
    return report.as_dict()
