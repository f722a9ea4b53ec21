"""The MLflow UI beside the local Prefect server: `mlflow server` on 127.0.0.1 reading the local
tracking store (SQLite in the state directory), recorded like the Prefect server, so run summaries can
link to real pages instead of a ``sqlite:///`` path."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from forecasting.mlops.config import TrackingConfig
from forecasting.system.processes import alive, free_port, stop_process
from forecasting.system.state import state_dir


def _record() -> Path:
    return state_dir() / "mlflow-ui" / "server.json"


def _healthy(url: str, timeout: float = 2) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=timeout) as response:
            return response.status == 200
    except OSError:
        return False


def recorded() -> dict | None:
    """The recorded MLflow UI (pid, url, tracking_uri) when its process is alive, else None."""
    path = _record()
    if not path.exists():
        return None
    known = json.loads(path.read_text())
    return known if alive(known["pid"]) else None


def start_mlflow_ui(tracking: TrackingConfig | None = None) -> dict | None:
    """Start (or reuse) the MLflow UI for a local tracking store, without waiting for it to answer
    (it takes 5-20 s to start; a training run takes longer). None when the tracking store is a server
    already (it has its own UI)."""
    tracking = tracking or TrackingConfig()
    uri = tracking.resolved_tracking_uri()
    if uri.startswith(("http://", "https://", "databricks")):
        return None
    known = recorded()
    if known and known["tracking_uri"] == uri:
        return known
    if known:
        stop_mlflow_ui()
    from forecasting.mlops.tracking import ensure_experiment

    ensure_experiment(tracking)  # the store's schema is created here, never by two processes at once
    home = _record().parent
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    artifacts = tracking.resolved_artifact_root() or (state_dir() / "mlartifacts").as_uri()
    command = [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", uri, "--default-artifact-root", artifacts,
               "--artifacts-destination", artifacts, "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    env = {**os.environ, "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    known = {"pid": process.pid, "url": f"http://127.0.0.1:{port}", "tracking_uri": uri}
    _record().write_text(json.dumps(known))
    return known


def mlflow_ui_url(tracking_uri: str, wait: float = 0.0) -> str | None:
    """Where a person browses ``tracking_uri``: the tracking server itself, or the recorded local MLflow
    UI when it serves that store and answers (within ``wait`` seconds); else None."""
    if tracking_uri.startswith(("http://", "https://")):
        return tracking_uri.rstrip("/")
    known = recorded()
    if not known or known["tracking_uri"] != tracking_uri:
        return None
    deadline = time.monotonic() + wait
    while not _healthy(known["url"]):
        if time.monotonic() >= deadline or not alive(known["pid"]):
            return None
        time.sleep(0.5)
    return known["url"]


def stop_mlflow_ui() -> bool:
    path = _record()
    if not path.exists():
        return False
    stop_process(json.loads(path.read_text())["pid"])
    path.unlink()
    return True
