"""A throwaway PostgreSQL cluster on loopback for the benchmarks and the tests: `initdb` in a temporary
directory, `pg_ctl` on a free port, one database per service. As root (CI) the cluster runs as the
`postgres` system user, since `initdb` refuses root."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from forecasting.system.processes import free_port

SYSTEM_USER = "postgres"


def binaries() -> Path | None:
    """The directory holding `initdb` and `pg_ctl`: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        directory = Path(found).resolve().parent  # /usr/local/bin/initdb may link to the real directory
        if (directory / "createdb").exists() and (directory / "psql").exists():
            return directory
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for directory in reversed(versions):
        if all((directory / program).exists() for program in ("initdb", "pg_ctl", "createdb", "psql")):
            return directory
    return None


def unavailable() -> str | None:
    """Why a local cluster cannot start here, or None."""
    if binaries() is None:
        return "PostgreSQL binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(SYSTEM_USER)
        except KeyError:
            return f"running as root and there is no {SYSTEM_USER!r} user to run initdb as"
        if shutil.which("runuser") is None:
            return "running as root and `runuser` is missing"
    return None


class LocalPostgres:
    """``with LocalPostgres(["prefect", "mlflow"]) as pg: pg.url("mlflow")``. ``durable=False`` turns
    fsync off (tests); the benchmarks keep PostgreSQL's defaults."""

    def __init__(self, databases: list[str], durable: bool = True):
        """``databases``: created empty, one per service (Prefect, MLflow)."""
        self.databases, self.durable = databases, durable
        self.bin = binaries()
        self.root: Path | None = None
        self.port = 0

    def url(self, database: str, driver: str = "postgresql") -> str:
        return f"{driver}://{SYSTEM_USER}@127.0.0.1:{self.port}/{database}"

    def __enter__(self) -> "LocalPostgres":
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        # under /tmp (not a 0700 pytest directory), owned by the user the cluster runs as
        self.root = Path(tempfile.mkdtemp(prefix="forecast-flows-pg-"))
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SYSTEM_USER)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.port = free_port()
        data, log = self.root / "data", self.root / "postgres.log"
        self._run("initdb", "-D", str(data), "-U", SYSTEM_USER, "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        try:
            self._run("pg_ctl", "-D", str(data), "-o", options, "-l", str(log), "-w", "-t", "120", "start")
            for database in self.databases:
                self.create_database(database)
        except subprocess.CalledProcessError as exc:
            detail = (exc.stderr or "").strip() or (log.read_text()[-2000:] if log.exists() else "")
            self.__exit__()
            raise RuntimeError(f"PostgreSQL did not start: {detail}") from exc
        return self

    def __exit__(self, *exc) -> None:
        if self.root is None:
            return
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "fast", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    def create_database(self, database: str) -> str:
        """A new empty database on this cluster; returns its URL."""
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", SYSTEM_USER, database)
        return self.url(database)

    def query(self, database: str, sql: str) -> list[str]:
        """Rows of ``sql`` (psql, tab-separated), for checks."""
        out = self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", SYSTEM_USER, "-d", database, "-At", "-c", sql)
        return [line for line in out.splitlines() if line]

    def _run(self, program: str, *args: str) -> str:
        command = [str(self.bin / program), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SYSTEM_USER, "--", *command]
        return subprocess.run(command, check=True, capture_output=True, text=True, timeout=180, cwd=self.root).stdout
