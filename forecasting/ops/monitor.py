"""Endpoint monitoring: is the serving target up, does it answer a real forecast request, how fast?"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from forecasting.serving.base import DeploymentTarget
from forecasting.system.state import state_dir


@dataclass
class MonitorReport:
    target: str
    url: str | None
    model: str | None
    version: str | None
    ready: bool
    detail: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    max_latency_ms: float = 0.0

    @property
    def p50_ms(self) -> float | None:
        return float(np.percentile(self.latencies_ms, 50)) if self.latencies_ms else None

    @property
    def p95_ms(self) -> float | None:
        return float(np.percentile(self.latencies_ms, 95)) if self.latencies_ms else None

    @property
    def problems(self) -> list[str]:
        """Empty when healthy; else what is wrong, most serious first."""
        if not self.ready:
            return [f"{self.target} endpoint is down: {self.detail}"]
        problems = [f"{len(self.errors)} of {len(self.errors) + len(self.latencies_ms)} probe requests failed: {self.errors[0]}"] if self.errors else []
        if self.p95_ms is not None and self.p95_ms > self.max_latency_ms:
            problems.append(f"{self.target} endpoint is slow: p95 latency {self.p95_ms:.0f} ms > {self.max_latency_ms:.0f} ms")
        return problems

    def as_dict(self) -> dict:
        return {**asdict(self), "p50_ms": self.p50_ms, "p95_ms": self.p95_ms, "problems": self.problems}


def probe_request(model: str, version: str, tracking) -> pd.DataFrame:
    """One row per segment of the served router (its input example), cached per exact version."""
    cache = state_dir() / "serving" / f"probe-{model.replace('/', '_')}-v{version}.json"
    if cache.exists():
        return pd.DataFrame(json.loads(cache.read_text()))
    from forecasting.mlops.router import router_example
    from forecasting.serving.requests import router_manifest

    example = router_example(router_manifest(model, version, tracking))
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(example.to_json(orient="records"))
    return example


def probe(target: DeploymentTarget, request_for, probes: int = 5, max_latency_ms: float = 2000.0, timeout: float = 30.0) -> MonitorReport:
    """Status, then ``probes`` timed forecast requests (``request_for(status)`` builds one)."""
    status = target.status()
    report = MonitorReport(target.name, status.url, status.model, status.version, status.ready, status.detail, max_latency_ms=max_latency_ms)
    if not status.ready:
        return report
    try:
        request = request_for(status)
    except Exception as exc:  # the endpoint may be fine; say what kept us from asking it
        report.errors.append(f"cannot build a probe request: {type(exc).__name__}: {exc}")
        return report
    for _ in range(probes):
        started = time.perf_counter()
        try:
            answer = target.predict(request, timeout=timeout)
            if len(answer) != len(request):
                raise ValueError(f"{len(answer)} rows for {len(request)} requested")
            report.latencies_ms.append(1000 * (time.perf_counter() - started))
        except Exception as exc:
            report.errors.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    return report
