"""What `make demo` prints: no warning a normal run would print every time, no MLflow registry chatter,
one line per segment with its champion, score and baseline."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent / "forecast-flows"
WARNING = re.compile(r"\bWARNING\b|Warning:|warnings\.warn")


@pytest.mark.slow
def test_a_normal_demo_prints_no_warning_lines(tmp_path):
    env = {**os.environ, "FORECAST_FLOWS_HOME": str(tmp_path / "state")}
    for var in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        env.pop(var, None)
    try:
        result = subprocess.run([str(BIN), "demo", "--output-dir", str(tmp_path / "out")], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=900)
    finally:  # the demo leaves a Prefect server, the MLflow UI and the endpoint running, as a user wants
        subprocess.run([str(BIN), "serve", "stop"], env=env, capture_output=True, timeout=120)
        subprocess.run([str(BIN), "server", "stop"], env=env, capture_output=True, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert [line for line in output.splitlines() if WARNING.search(line)] == []
    assert "Successfully registered model" not in output and "Created version" not in output
    segments = re.findall(r"\[\d+/20\] segment (\S+): champion \w+, backtest MASE \d\.\d{3} \(seasonal naive \d\.\d{3}\)", output)
    states, zones = ("<all>", "NSW", "SA", "VIC", "WA"), ("<all>", "Coast", "Inner", "Metro")
    assert sorted(segments) == sorted(f"state={s}|zone={z}" for s in states for z in zones)  # every node of the hierarchy
    assert re.search(r"reconciliation: \w+ \(auto\) over 20 node\(s\); why: .+; sums hold to \d\.\de[+-]\d+", output)
    assert re.search(r"MLflow UI  : http://127\.0\.0\.1:\d+", output)
