"""A finance warehouse on a real PostgreSQL cluster for the SQL source tests: the bundled daily finance
data as ``finance.daily``, a role that owns the schema (``forecaster``, password authentication with a
canary password) and a role that may only read (``reader``: no INSERT anywhere).

Our own cluster (benchmarks/postgres.py LocalPostgres) with password authentication for every role but
`postgres`; to be switched to the shared session fixture once there is one."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from conftest import FINANCE_DAILY, FINANCE_SEGMENT_COLS

from benchmarks.postgres import LocalPostgres

DRIVER = "postgresql+psycopg"
SEGMENTS = ",".join(FINANCE_SEGMENT_COLS)
COLUMNS = '"ds", "IS_CGNA", "BUSINESS_SEGMENT", "MX_TYPE", "y"'
CUTOFF = "2025-11-05"  # training data ends here; the two weeks after it are the actuals


@dataclass
class Warehouse:
    cluster: LocalPostgres
    canary: str  # the forecaster's password
    reader_password: str

    def url(self, user: str = "forecaster", port: int | None = None) -> str:
        return f"{DRIVER}://{user}@127.0.0.1:{port or self.cluster.port}/finance"

    def query(self, sql: str) -> list[str]:
        """psql's rows of ``sql`` as the superuser, columns joined by |."""
        return self.cluster.query("finance", sql)

    def fetch(self, sql: str) -> list[tuple]:
        """Rows of ``sql`` as the superuser, as Python values."""
        from sqlalchemy import create_engine

        engine = create_engine(self.cluster.url("finance", DRIVER))
        try:
            with engine.connect() as connection:
                return [tuple(row) for row in connection.exec_driver_sql(sql)]
        finally:
            engine.dispose()

    def pgpass(self, directory: Path) -> Path:
        """A ~/.pgpass-style file with both roles' passwords (libpq reads it through PGPASSFILE)."""
        path = directory / "pgpass"
        path.write_text(f"127.0.0.1:{self.cluster.port}:finance:forecaster:{self.canary}\n"
                        f"127.0.0.1:{self.cluster.port}:finance:reader:{self.reader_password}\n")
        path.chmod(0o600)
        return path


def training_query(table: str = "finance.daily", cutoff: str = CUTOFF) -> str:
    return f"SELECT {COLUMNS} FROM {table} WHERE ds <= DATE '{cutoff}' ORDER BY ds"


def actuals_query(cutoff: str = CUTOFF) -> str:
    return f"SELECT {COLUMNS} FROM finance.daily WHERE ds > DATE '{cutoff}'"


@contextlib.contextmanager
def finance_warehouse():
    """The cluster, its roles and the data; stopped and removed afterwards."""
    canary, reader_password = f"CANARY-{uuid.uuid4().hex}", f"reader-{uuid.uuid4().hex[:8]}"
    with LocalPostgres(["finance"], durable=False) as cluster:
        data = cluster.root / "data"
        (data / "pg_hba.conf").write_text("local all all trust\nhost all postgres 127.0.0.1/32 trust\n"
                                          "host all all 127.0.0.1/32 scram-sha-256\n")
        cluster._run("pg_ctl", "-D", str(data), "reload")
        for sql in (f"CREATE ROLE forecaster LOGIN PASSWORD '{canary}'", f"CREATE ROLE reader LOGIN PASSWORD '{reader_password}'",
                    "CREATE SCHEMA finance AUTHORIZATION forecaster", "GRANT USAGE ON SCHEMA finance TO reader",
                    "ALTER DEFAULT PRIVILEGES FOR ROLE forecaster IN SCHEMA finance GRANT SELECT ON TABLES TO reader"):
            cluster.query("finance", sql)
        load(cluster)
        yield Warehouse(cluster, canary, reader_password)


def load(cluster: LocalPostgres) -> None:
    """finance.daily (dates as DATE, amounts as NUMERIC, as a warehouse holds them) and finance.daily_plus:
    the same plus a segment too short to train (for runs that must fail after writing their vintage)."""
    from sqlalchemy import create_engine

    daily = pd.read_csv(FINANCE_DAILY, dtype=str)[["ds", *FINANCE_SEGMENT_COLS, "y"]]
    csv = cluster.root / "daily.csv"
    daily.to_csv(csv, index=False)
    os.chmod(csv, 0o644)
    engine = create_engine(cluster.url("finance", DRIVER))
    with engine.begin() as connection:
        connection.exec_driver_sql('SET ROLE forecaster')
        connection.exec_driver_sql('CREATE TABLE finance.daily (ds DATE NOT NULL, "IS_CGNA" INTEGER, "BUSINESS_SEGMENT" TEXT, '
                                   '"MX_TYPE" TEXT, y NUMERIC(14, 2))')
        connection.exec_driver_sql('CREATE TABLE finance.daily_plus (LIKE finance.daily)')
    engine.dispose()
    cluster.query("finance", f"COPY finance.daily FROM '{csv}' WITH (FORMAT csv, HEADER true)")
    cluster.query("finance", "INSERT INTO finance.daily_plus SELECT * FROM finance.daily")
    cluster.query("finance", "INSERT INTO finance.daily_plus VALUES ('2025-11-01', 0, 'Broken', 'Retail', 10), ('2025-11-02', 0, 'Broken', 'Retail', 11)")
