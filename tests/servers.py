"""Real servers on loopback for tests: a Prefect server, an MLflow tracking server, and a proxy that
injects faults in front of one."""

from __future__ import annotations

import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from forecasting.system.processes import free_port

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


def start_prefect_server(home: Path, database: str | None = None, **settings: str) -> tuple[subprocess.Popen, str, dict]:
    """`prefect server start` on a free loopback port with its own PREFECT_HOME; returns the env to use.
    ``database``: a PostgreSQL URL (default: SQLite in ``home``); ``settings``: extra PREFECT_* variables
    for the server."""
    from flows.local_server import database_url

    port = free_port()
    # host and port as settings too: the UI asks the server where its API is (ui-settings)
    env = {**os.environ, **settings, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_API_DATABASE_CONNECTION_URL": database_url(database, home),
           "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", "")}
    for key in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(key, None)
    log = open(home / "server.log", "ab")
    process = subprocess.Popen([str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    api = f"http://127.0.0.1:{port}/api"
    wait_http(api + "/health", 180, process)
    return process, api, {**env, "PREFECT_API_URL": api}


def start_mlflow_server(home: Path, port: int | None = None, backend: str | None = None) -> tuple[subprocess.Popen, str]:
    process, url = launch_mlflow_server(home, port, backend)
    wait_http(url + "/health", 120, process)
    return process, url


def launch_mlflow_server(home: Path, port: int | None = None, backend: str | None = None) -> tuple[subprocess.Popen, str]:
    """`mlflow server` on SQLite in ``home`` (or the ``backend`` store, e.g. a PostgreSQL URL), serving
    the artifacts itself (stored in ``home/artifacts``), started but not yet waited for."""
    port = port or free_port()
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "mlflow-server.log", "ab")
    process = subprocess.Popen(
        [str(BIN / "mlflow"), "server", "--backend-store-uri", backend or f"sqlite:///{home / 'mlflow.db'}", "--serve-artifacts",
         "--artifacts-destination", (home / "artifacts").as_uri(), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env={**os.environ, "PATH": str(BIN) + os.pathsep + os.environ.get("PATH", "")},
    )
    return process, f"http://127.0.0.1:{port}"


class Relay:
    """A TCP relay on a fixed loopback port, standing for "the tracking server's address". ``down()``
    closes the listener and every open connection (clients get resets, then connection refused);
    ``up(upstream_port)`` listens again on the same port, relaying to a (possibly new) server.
    One thread per direction, so a slow reader on one side never blocks the other."""

    def __init__(self, upstream_port: int):
        self.port = free_port()
        self.serving = threading.Event()
        self.lock = threading.Lock()
        self.open: list[socket.socket] = []
        self.acceptor: threading.Thread | None = None
        self.up(upstream_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def up(self, upstream_port: int) -> None:
        self.upstream = upstream_port
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        listener.settimeout(0.1)
        self.serving.set()
        self.acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self.acceptor.start()

    def down(self) -> None:
        self.serving.clear()
        if self.acceptor is not None:
            self.acceptor.join(10)  # the acceptor closes the listener itself
        with self.lock:
            conns, self.open = self.open, []
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the pipe threads blocked in recv
            except OSError:
                pass
        time.sleep(0.2)
        for conn in conns:
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        try:
            while self.serving.is_set():
                try:
                    client, _ = listener.accept()
                except socket.timeout:
                    continue
                client.settimeout(None)
                try:
                    server = socket.create_connection(("127.0.0.1", self.upstream), timeout=5)
                except OSError:
                    client.close()
                    continue
                server.settimeout(None)
                with self.lock:
                    self.open += [client, server]
                threading.Thread(target=self._pipe, args=(client, server), daemon=True).start()
                threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()
        finally:
            listener.close()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        try:
            dst.shutdown(socket.SHUT_WR)  # half-close: the other direction finishes on its own
        except OSError:
            pass



ERROR_CODES = {403: "PERMISSION_DENIED", 429: "REQUEST_LIMIT_EXCEEDED", 500: "INTERNAL_ERROR"}


class FaultProxy:
    """Forwards every request to ``upstream``; answers ``status`` instead for the first ``times``
    requests whose path (with its query) contains ``fragment`` (every one of them, given a tuple) and,
    when given, whose body contains ``body_fragment`` (e.g. one segment's name). Records what it injected."""

    def __init__(self, upstream: str, fragment: str | tuple[str, ...], status: int = 503, times: int = 1,
                 body_fragment: str | None = None):
        self.upstream, self.status, self.remaining = upstream.rstrip("/"), status, times
        self.fragments = (fragment,) if isinstance(fragment, str) else tuple(fragment)
        self.body_fragment = body_fragment
        self.injected: list[str] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
                with proxy.lock:
                    inject = (all(f in self.path for f in proxy.fragments) and proxy.remaining > 0
                              and (proxy.body_fragment is None or proxy.body_fragment.encode() in (body or b"")))
                    if inject:
                        proxy.remaining -= 1
                        proxy.injected.append(self.path)
                if inject:
                    code = ERROR_CODES.get(proxy.status, "TEMPORARILY_UNAVAILABLE")
                    payload = f'{{"error_code": "{code}", "message": "injected fault"}}'.encode()
                    self.send_response(proxy.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
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
