"""Real servers on loopback for tests: a Prefect server, an MLflow tracking server, and a proxy that
injects faults in front of one."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from forecasting.processes import free_port

BIN = Path(sys.executable).parent


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args[:4]} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def start_prefect_server(home: Path, **settings: str) -> tuple[subprocess.Popen, str, dict]:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME; returns the env to use.
    ``settings``: extra PREFECT_* variables for the server."""
    port = free_port()
    env = {**os.environ, **settings, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
           "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", "")}
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(key, None)
    log = open(home / "server.log", "ab")
    process = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    wait_http(api + "/health", 180, process)
    return process, api, {**env, "PREFECT_API_URL": api}


def start_mlflow_server(home: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "mlflow-server.log", "ab")
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", f"sqlite:///{home / 'mlflow.db'}",
         "--artifacts-destination", (home / "artifacts").as_uri(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", "")},
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(url + "/health", 120, process)
    return process, url


class FaultProxy:
    """Forwards every request to ``upstream``; answers ``status`` instead for the first ``times``
    requests whose path contains ``fragment``. Records what it injected."""

    def __init__(self, upstream: str, fragment: str, status: int = 503, times: int = 1):
        self.upstream, self.fragment, self.status, self.remaining = upstream.rstrip("/"), fragment, status, times
        self.injected: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                with proxy.lock:
                    inject = proxy.fragment in self.path and proxy.remaining > 0
                    if inject:
                        proxy.remaining -= 1
                        proxy.injected.append(self.path)
                if inject:
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error_code": "TEMPORARILY_UNAVAILABLE", "message": "injected fault"}')
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
                request = urllib.request.Request(proxy.upstream + self.path, data=body, headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(request, timeout=120) as response:
                        status, payload, out_headers = response.status, response.read(), response.headers
                except urllib.error.HTTPError as err:
                    status, payload, out_headers = err.code, err.read(), err.headers
                self.send_response(status)
                for key, value in out_headers.items():
                    if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
