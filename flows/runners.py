"""Task runners (a process pool sized to the machine by default, threads, Dask), the Prefect API their
workers talk to, and the local Prefect server the CLI starts for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from forecasting.system.processes import alive, free_port, stop_process
from forecasting.system.runtime import pin_native_threads, usable_cores
from forecasting.system.state import state_dir

RUNNERS = ("processes", "threads", "dask")
PINNED = {v: "1" for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}


def make_task_runner(kind: str, workers: int | None = None, dask_address: str | None = None):
    """A Prefect task runner: ``workers`` processes, threads or local Dask workers (default: the cores
    this machine lets us use); ``dask_address`` connects to an existing Dask scheduler instead."""
    workers = workers or usable_cores()
    if kind == "threads":
        from prefect.task_runners import ThreadPoolTaskRunner

        return ThreadPoolTaskRunner(max_workers=workers)
    if kind == "processes":
        from prefect.task_runners import ProcessPoolTaskRunner

        return ProcessPoolTaskRunner(max_workers=workers, initializer=pin_native_threads)
    if kind == "dask":
        from prefect_dask import DaskTaskRunner

        if dask_address:
            return DaskTaskRunner(address=dask_address)
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True, "env": PINNED})
    raise ValueError(f"unknown task runner {kind!r}; use one of {', '.join(RUNNERS)}")


def api_for_workers() -> str | None:
    """The Prefect API that worker processes of this run can reach: ``PREFECT_API_URL`` (a server, a
    worker's run, the test harness), else the temporary server Prefect started for this process when a
    flow was called from plain Python without one. None when neither exists (then each worker process
    would start a temporary server of its own)."""
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():
        return PREFECT_API_URL.value()
    try:
        from prefect.server.api.server import SubprocessASGIServer
    except ImportError:  # a client-only Prefect install
        return None
    server = SubprocessASGIServer._instances.get(None)
    return server.api_url if server is not None and server.running else None


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
