"""Task runners (threads by default, processes, Dask) and the local Prefect server they need."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from forecasting.system.processes import alive, free_port, stop_process
from forecasting.system.runtime import pin_native_threads
from forecasting.system.state import state_dir

RUNNERS = ("threads", "processes", "dask")


def make_task_runner(kind: str, max_workers: int = 2, dask_address: str | None = None):
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=max_workers)
    if kind == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=max_workers, initializer=pin_native_threads)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": max_workers, "threads_per_worker": 1, "processes": True,
                                              "env": {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}})
    raise ValueError(f"unknown task runner {kind!r}; use one of {', '.join(RUNNERS)}")


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def ensure_local_server(timeout: float = 120.0) -> str:
    """Reuse ``PREFECT_API_URL`` or the local server recorded in the state directory, else start
    ``prefect server start`` on 127.0.0.1 (SQLite in the state directory). Returns the API URL and
    sets it for this process and its children."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    home = state_dir() / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    record = home / "server.json"
    if record.exists():
        known = json.loads(record.read_text())
        if alive(known["pid"]) and _healthy(known["api_url"]):
            os.environ["PREFECT_API_URL"] = known["api_url"]
            return known["api_url"]
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    log = open(home / "server.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    api_url = f"http://127.0.0.1:{port}/api"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited during start-up; see {home / 'server.log'}")
        if _healthy(api_url):
            record.write_text(json.dumps({"pid": process.pid, "api_url": api_url, "ui_url": f"http://127.0.0.1:{port}"}))
            os.environ["PREFECT_API_URL"] = api_url
            return api_url
        time.sleep(0.5)
    stop_process(process.pid)
    raise RuntimeError(f"prefect server did not become healthy within {timeout:.0f}s; see {home / 'server.log'}")


def stop_local_server() -> bool:
    record = state_dir() / "prefect" / "server.json"
    if not record.exists():
        return False
    stop_process(json.loads(record.read_text())["pid"])
    record.unlink()
    return True


def ui_url(api_url: str) -> str:
    return api_url.removesuffix("/api")
