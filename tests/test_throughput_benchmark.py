"""`python -m benchmarks.throughput` end to end on a few segments: a plain loop, a deployment run picked
up by `prefect worker`, and `forecast --workers`, side by side against the local `prefect server` it
starts on PostgreSQL, with the measurements the report is made of, and the log counter it reports
"database is locked" with."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_the_benchmark_trains_every_segment_on_each_path_and_reports_the_ratios(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "PREFECT_HOME")}
    env["FORECAST_FLOWS_HOME"] = str(tmp_path / "home")
    output = tmp_path / "throughput.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--sizes", "3", "--runs", "sequential,deployment,forecast",
                          "--databases", "postgresql", "--models", "seasonal_naive,ets", "--output", str(output)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| 3 | deployment/postgresql |" in run.stdout

    payload = json.loads(output.read_text())
    runs = {r["run"]: r for r in payload["results"]}
    cores = payload["machine"]["cores"]
    assert set(runs) == {"sequential", "deployment/postgresql", f"forecast --workers {cores}"}
    for result in runs.values():
        assert result["trained"] == 3 and result["wall"] > 0 and result["model_cpu"] > 0 and result["peak_rss_mb"] > 0
        assert 0 < result["efficiency"] <= 1.5 and 0 <= result["orchestration_share"] <= 1
        assert result["vs_sequential"] == runs["sequential"]["wall"] / result["wall"]
    deployment = runs["deployment/postgresql"]
    assert deployment["tracking"] > 0 and set(deployment["stages"]) >= {"validate", "train", "publish"}
    # Prefect and MLflow on PostgreSQL: no "database is locked", counted over the worker's and the server's real log lines
    assert deployment["log_lines"] > 20 and deployment["db_locked"] == 0 and deployment["timeout_warnings"] == 0
    assert payload["machine"]["cores"] >= 1 and "prefect" in payload["machine"]["packages"]


def test_the_log_counter_counts_every_problem_line_it_reads():
    """What the benchmark's "db locked" and "timeout warnings" columns count, fed a log that has them."""
    from benchmarks.throughput import count_problems

    log = "\n".join(["12:00:01 | INFO | Flow run 'x' - Beginning flow run",
                     "sqlite3.OperationalError: database is locked",
                     "(sqlite3.OperationalError) database is locked [SQL: UPDATE task_run ...]",
                     "12:00:02 | WARNING | Task run 'train-chunk-0' - Timeout of 600s cannot interrupt a task running in a worker thread",
                     "12:00:03 | INFO | Finished in state Completed()"])
    counted: dict = {}
    count_problems(counted, log)
    count_problems(counted, "database is locked\n")  # a second log adds up
    assert counted == {"log_lines": 6, "db_locked": 3, "timeout_warnings": 1}
