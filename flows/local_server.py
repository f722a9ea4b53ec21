"""The local Prefect server the CLI starts when a run needs a real API (process and Dask workers, the
demo): on 127.0.0.1, recorded in the state directory, its database SQLite in the state directory or
PostgreSQL (`forecast-flows server start --database postgresql://...`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from forecasting.errors import ConfigError
from forecasting.system.processes import alive, free_port, stop_process
from forecasting.system.state import state_dir


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def database_url(database: str | None, home: Path) -> str:
    """The server's SQLAlchemy URL: SQLite in ``home`` (``None`` or ``sqlite``), or a PostgreSQL URL
    with Prefect's async driver (``postgresql://user:password@host:5432/prefect``)."""
    if database in (None, "", "sqlite"):
        return f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    scheme, sep, rest = database.partition("://")
    if sep and scheme in ("postgresql", "postgres", "postgresql+asyncpg"):
        return f"postgresql+asyncpg://{rest}"
    raise ConfigError(f"--database must be sqlite or a PostgreSQL URL like postgresql://user:password@host:5432/prefect; got {redact(database)!r}")


def redact(url: str) -> str:
    """The URL without its password, for messages and the server record."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def configured_api() -> str | None:
    """The Prefect API this process is configured for: ``PREFECT_API_URL`` from the environment, the
    active Prefect profile, or a settings context (Prefect's test harness)."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value() or None


def ensure_local_server(timeout: float = 120.0, database: str | None = None) -> str:
    """Reuse the configured Prefect API or the local server recorded in the state directory, else start
    ``prefect server start`` on 127.0.0.1 with ``database`` (default SQLite in the state directory).
    Returns the API URL and sets it for this process and its children. Asking for a database other
    than the running local server's is an error: stop it first."""
    configured = configured_api()
    if configured:
        return configured
    home = state_dir() / "prefect"
    home.mkdir(parents=True, exist_ok=True)
    record = home / "server.json"
    url = database_url(database, home)
    shown = "sqlite" if url.startswith("sqlite") else redact(url)
    if record.exists():
        known = json.loads(record.read_text())
        if alive(known["pid"]) and _healthy(known["api_url"]):
            running = known.get("database", "sqlite")
            if database is not None and running != shown:
                raise ConfigError(f"the local Prefect server (pid {known['pid']}) runs on {running}; "
                                  "`forecast-flows server stop` it first to start one on another database")
            return _use(known["api_url"])
    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_API_HOST": "127.0.0.1", "PREFECT_SERVER_API_PORT": str(port),
           "PREFECT_API_DATABASE_CONNECTION_URL": url, "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
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
            record.write_text(json.dumps({"pid": process.pid, "api_url": api_url, "ui_url": f"http://127.0.0.1:{port}",
                                          "database": shown}))
            return _use(api_url)
        time.sleep(0.5)
    stop_process(process.pid)
    raise RuntimeError(f"prefect server did not become healthy within {timeout:.0f}s; see {home / 'server.log'}")


def _use(api_url: str) -> str:
    """This process and its children talk to ``api_url`` from now on. Prefect read its settings when it
    was imported (``configured_api`` imports it), so they are read again."""
    os.environ["PREFECT_API_URL"] = api_url
    import prefect.context

    prefect.context.refresh_global_settings_context()
    return api_url


def stop_local_server() -> bool:
    record = state_dir() / "prefect" / "server.json"
    if not record.exists():
        return False
    stop_process(json.loads(record.read_text())["pid"])
    record.unlink()
    return True


def temporary_server_defaults() -> None:
    """Defaults, unless set, for the temporary Prefect API that a flow called from plain Python starts
    when there is no ``PREFECT_API_URL`` (it passes this environment on): a fresh one migrates its SQLite
    database first, which takes time on a busy machine; and no telemetry, whose heartbeat reads and then
    writes that database in one deferred transaction that SQLite refuses while the run writes ("database
    is locked", a traceback on the user's console) and, offline, logs an error."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def ui_url(api_url: str) -> str:
    return api_url.removesuffix("/api")
