"""Health of everything the pipeline talks to, each check with a short timeout."""

from __future__ import annotations

import os
import time
import urllib.request
from dataclasses import asdict, dataclass

from forecasting.mlops.config import TrackingConfig
from forecasting.serving.config import DeployConfig

TIMEOUT_SECONDS = 5


@dataclass
class Check:
    name: str
    ok: bool
    required: bool
    detail: str
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return asdict(self)


def _timed(name: str, required: bool, probe) -> Check:
    started = time.perf_counter()
    try:
        ok, detail = probe()
    except Exception as exc:  # a health check reports every failure, it never raises
        ok, detail = False, f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return Check(name, ok, required, detail, round(time.perf_counter() - started, 3))


def check_prefect() -> Check:
    url = os.environ.get("PREFECT_API_URL")
    if not url:
        return Check("prefect api", True, True, "no PREFECT_API_URL: flows use an ephemeral local API")

    def probe():
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=TIMEOUT_SECONDS) as response:
            return response.status == 200, f"{url} answered {response.status}"

    return _timed("prefect api", True, probe)


def check_mlflow(tracking: TrackingConfig) -> list[Check]:
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(TIMEOUT_SECONDS))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    from forecasting.mlops.tracking import connect

    client = connect(tracking)
    uri = tracking.resolved_tracking_uri()
    tracking_check = _timed("mlflow tracking", True, lambda: (True, f"{uri}: {len(client.search_experiments(max_results=5))} experiment(s) visible"))
    registry_uri = tracking.resolved_registry_uri() or uri
    registry_check = _timed("mlflow registry", True, lambda: (True, f"{registry_uri}: {len(client.search_registered_models(max_results=5))} model(s) visible"))
    return [tracking_check, registry_check]


def check_serving(deploy: DeployConfig) -> Check:
    from forecasting.serving import make_target

    def probe():
        status = make_target(deploy).status()
        return status.ready, f"{status.url or ''} {status.model or ''} v{status.version or '-'} {status.detail}".strip()

    if deploy.target == "local":
        from forecasting.serving import DeployError
        from forecasting.serving.local import LocalTarget

        try:
            deployed = LocalTarget(deploy)._read() is not None
        except DeployError as exc:  # an unreadable state file: say so, never "nothing deployed"
            return Check("serving (local)", False, True, str(exc))
        if not deployed:
            return Check("serving (local)", True, False, "nothing deployed yet")
    return _timed(f"serving ({deploy.target})", True, probe)


def check_databricks(deploy: DeployConfig) -> Check | None:
    """Only when Databricks is configured (environment or profile)."""
    if not (os.environ.get("DATABRICKS_HOST") or deploy.databricks_profile or deploy.target == "databricks"):
        return None
    from forecasting.serving.databricks import workspace_client

    def probe():
        me = workspace_client(deploy, retry_timeout_seconds=TIMEOUT_SECONDS).current_user.me()
        return True, f"authenticated as {me.user_name}"

    return _timed("databricks auth", True, probe)


def run_checks(tracking: TrackingConfig | None = None, deploy: DeployConfig | None = None) -> list[Check]:
    tracking, deploy = tracking or TrackingConfig(), deploy or DeployConfig()
    checks = [check_prefect(), *check_mlflow(tracking), check_serving(deploy)]
    databricks = check_databricks(deploy)
    if databricks is not None:
        checks.append(databricks)
    return checks


def healthy(checks: list[Check]) -> bool:
    return all(c.ok for c in checks if c.required)
