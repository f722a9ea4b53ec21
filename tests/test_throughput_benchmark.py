"""`python -m benchmarks.throughput` end to end on a few segments: a plain loop and the real flow side
by side, against the local `prefect server` it starts, with the measurements the report is made of."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_benchmark_trains_every_segment_both_ways_and_reports_the_ratios(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "PREFECT_HOME")}
    env["FORECAST_FLOWS_HOME"] = str(tmp_path / "home")
    output = tmp_path / "throughput.json"
    run = subprocess.run([sys.executable, "-m", "benchmarks.throughput", "--sizes", "3", "--runners", "processes", "--loops", "sequential",
                          "--models", "seasonal_naive,ets", "--output", str(output)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "| 3 | flow/processes |" in run.stdout

    payload = json.loads(output.read_text())
    runs = {r["run"]: r for r in payload["results"]}
    assert set(runs) == {"sequential", "flow/processes"}
    for result in runs.values():
        assert result["trained"] == 3 and result["wall"] > 0 and result["model_cpu"] > 0 and result["peak_rss_mb"] > 0
        assert 0 < result["efficiency"] <= 1.5 and 0 <= result["orchestration_share"] <= 1
    flow = runs["flow/processes"]
    assert flow["tracking"] > 0 and set(flow["stages"]) >= {"validate", "train", "publish"}
    assert flow["vs_sequential"] == runs["sequential"]["wall"] / flow["wall"]
    assert payload["machine"]["cores"] >= 1 and "prefect" in payload["machine"]["packages"]
