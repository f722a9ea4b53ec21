"""Shared fixtures: real sample data from the repo and small synthetic series."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
FINANCE_DAILY = ROOT / "examples" / "data" / "finance_daily.csv"
SAMPLE_SEGMENTS = ROOT / "examples" / "data" / "finance_segments.csv"
FINANCE_SEGMENT_COLS = ["IS_CGNA", "BUSINESS_SEGMENT", "MX_TYPE"]
FAST_MODELS = ["ets", "theta"]

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

# Prefect binds its console log handler to sys.stderr when it is first imported. Import it here, under
# pytest's session-long capture: first imported inside a test using capsys (a CLI test running a flow
# in-process), the handler would keep capsys's stream, closed after that test, and every later flow's
# log line would fail ("I/O operation on closed file", then a RecursionError through log_prints).
import prefect.main  # noqa: E402,F401


@pytest.fixture(scope="session")
def finance_daily() -> pd.DataFrame:
    """The real daily finance series, every cell as text (as read from CSV)."""
    return pd.read_csv(FINANCE_DAILY, dtype=str)


def daily_frame(days: int = 200, start: str = "2024-01-01", seed: int = 0, level: float = 100.0, **cols) -> pd.DataFrame:
    """A daily series with a weekly pattern and noise, as text cells like a CSV would give."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=days, freq="D")
    y = level + 10 * np.sin(2 * np.pi * ds.dayofweek / 7) + rng.normal(0, 1, days) + np.arange(days) * 0.05
    frame = pd.DataFrame({"ds": ds.strftime("%Y-%m-%d"), "y": np.round(y, 4).astype(str)})
    for name, value in cols.items():
        frame[name] = value
    return frame


MLFLOW_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLFLOW_HTTP_REQUEST_MAX_RETRIES")


@pytest.fixture(autouse=True)
def isolated_mlflow_environment():
    """No test leaves MLflow variables behind for later tests or their subprocesses (a stale
    MLFLOW_TRACKING_URI pointing at a stopped server makes a subprocess retry for minutes)."""
    saved = {k: os.environ.get(k) for k in MLFLOW_ENV}
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def postgres():
    """One throwaway PostgreSQL cluster for the whole session (`initdb` + `pg_ctl` on loopback, as the
    `postgres` user when we are root); each test creates the databases it needs with
    ``postgres.create_database(name)``. No PostgreSQL on the machine fails the test, with the reason."""
    from benchmarks.postgres import LocalPostgres, unavailable

    reason = unavailable()
    if reason:
        pytest.fail(f"the PostgreSQL tests start their own cluster and cannot: {reason} "
                    "(Debian: apt-get install postgresql; .ci/run installs it)", pytrace=False)
    with LocalPostgres([], durable=False) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def prefect_harness():
    """One Prefect test API for the session, flow heartbeats off (they cost ~1 s per flow run)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        with temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            yield


def segments_csv(path: Path, regions=("EU", "US", "APAC"), days: int = 200, broken: str | None = None) -> Path:
    """Synthetic daily segments as a CSV; ``broken`` names a region whose target has text in it."""
    frames = []
    for i, region in enumerate(regions):
        frame = daily_frame(days=days, seed=i, level=100.0 * (i + 1), region=region)
        if region == broken:
            frame.loc[5, "y"] = "oops"
        frames.append(frame)
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path
