"""Reading 1,000,000 rows (1,000 segments x 1,000 days) into validated segments: from PostgreSQL (the
SQL source: server-side cursor, 50,000-row chunks) beside the same rows from Parquet, and beside
pandas' one-shot `read_sql` (every row fetched at once) for what streaming saves. Each reader runs in a
fresh process: wall time of the read and of validation, and the process's peak memory (ru_maxrss) over
its baseline after imports.

    nice .venv/bin/python -m benchmarks.sql_read [--segments 1000 --days 1000]

Writes benchmarks/results/sql-read.json."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.machine import environment

RESULTS = Path(__file__).resolve().parent / "results" / "sql-read.json"
READERS = ("parquet", "postgresql", "postgresql-one-shot")


def table(segments: int, days: int) -> pd.DataFrame:
    """``entity`` x ``account`` segments (40 x 25 for 1,000), a daily ``ds`` and an amount ``y``."""
    rng = np.random.default_rng(0)
    keys = [(f"E{i // 25:03d}", f"A{i % 25:02d}") for i in range(segments)]
    ds = pd.date_range("2023-01-01", periods=days, freq="D")
    season = 1 + 0.2 * np.sin(2 * np.pi * ds.dayofweek.to_numpy() / 7)
    frames = []
    for entity, account in keys:
        level = rng.uniform(1e3, 1e6)
        frames.append(pd.DataFrame({"entity": entity, "account": account, "ds": ds.date,
                                    "y": np.round(level * season * rng.lognormal(0, 0.05, days), 2)}))
    return pd.concat(frames, ignore_index=True)


def measure(reader: str, location: str) -> dict:
    """One reader in this process (called in a fresh child): read, then validate; seconds and memory."""
    import resource

    from forecasting.contract import DataSpec
    from forecasting.pipeline import ForecastJob, prepare
    from forecasting.sources import DataSource, read_source

    job = ForecastJob(data=DataSpec(segment_cols=["entity", "account"]))
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if reader == "parquet":
        frame = read_source(location)
    elif reader == "postgresql":
        frame = read_source(DataSource(location=location, table="bench.daily"))
    else:
        from sqlalchemy import create_engine

        engine = create_engine(location)
        with engine.connect() as connection:
            frame = pd.read_sql("SELECT * FROM bench.daily", connection)
        engine.dispose()
    read = time.perf_counter() - started
    after_read = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report, prepared = prepare(frame, job)
    validate = time.perf_counter() - started - read
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"reader": reader, "rows": len(frame), "segments_validated": len(prepared), "read_seconds": round(read, 2),
            "validate_seconds": round(validate, 2), "baseline_mb": round(baseline / 1024), "read_peak_mb": round((after_read - baseline) / 1024),
            "peak_mb": round((peak - baseline) / 1024), "frame_mb": round(frame.memory_usage(deep=True).sum() / 1e6)}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.postgres import LocalPostgres

    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=1000)
    parser.add_argument("--days", type=int, default=1000)
    parser.add_argument("--child", nargs=2, metavar=("READER", "LOCATION"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure(*args.child)))
        return 0
    data = table(args.segments, args.days)
    with tempfile.TemporaryDirectory() as tmp, LocalPostgres(["bench"]) as cluster:
        parquet = Path(tmp) / "daily.parquet"
        data.to_parquet(parquet, index=False)
        csv = Path(cluster.root) / "daily.csv"
        data.to_csv(csv, index=False)
        os.chmod(csv, 0o644)
        cluster.query("bench", "CREATE SCHEMA bench")
        cluster.query("bench", "CREATE TABLE bench.daily (entity TEXT, account TEXT, ds DATE, y NUMERIC(14, 2))")
        cluster.query("bench", f"COPY bench.daily FROM '{csv}' WITH (FORMAT csv, HEADER true)")
        url = cluster.url("bench", "postgresql+psycopg")
        results = []
        for reader in READERS:
            location = str(parquet) if reader == "parquet" else url
            child = subprocess.run([sys.executable, "-m", "benchmarks.sql_read", "--child", reader, location], capture_output=True, text=True,
                                   check=True, timeout=3600)
            results.append(json.loads(child.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[-1]), flush=True)
    out = {"segments": args.segments, "days": args.days, "rows": len(data), "results": results,
           "environment": environment(("pandas", "pyarrow", "SQLAlchemy", "psycopg")), "cores": os.cpu_count()}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=1))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
