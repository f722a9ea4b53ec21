"""Every way a user runs it from Python, with no ``if __name__ == "__main__":`` guard: a script file, the
same script on standard input, ``python -c`` and a Jupyter notebook (nbclient + ipykernel). Each is a real
subprocess on its own temporary Prefect server and SQLite MLflow; every segment trains in worker
processes of the caller, which are gone (and their CPU counted) when the call returns, and the console
carries no traceback."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import segments_csv

REGIONS = ("EU", "US", "APAC", "LATAM")
ENTRY_POINTS = ("script", "stdin", "-c", "notebook")
FAST = """models={"models": ["ets", "theta"], "holidays_country": None}, backtest={"horizon": 7, "folds": 1}"""

# After the call: what the caller's resource accounting saw and which of its child processes remain.
REPORT_PROCESSES = """
import json as _json, os as _os, resource as _resource, psutil as _psutil
_children = _resource.getrusage(_resource.RUSAGE_CHILDREN)
print("RESULT " + _json.dumps({"pid": _os.getpid(), "result": result, "children_cpu": _children.ru_utime + _children.ru_stime,
      "children_left": [{"pid": p.pid, "cmdline": " ".join(p.cmdline())} for p in _psutil.Process().children(recursive=True)]}))
"""

TRAINING = """
from flows.training import forecast_training, TrainingParameters
report = forecast_training(TrainingParameters(data_path={data!r}, data={{"segment_cols": ["region"]}}, {fast}, skip_deploy=True,
                                              policy={{"workers": 2}}))
result = [row["status"] for row in report["segments"]]
"""

FORECAST = """
import resource
import pandas as pd
from forecasting.pipeline import ForecastJob, forecast_frame, run_forecast

def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

before = children_cpu()
run = run_forecast(pd.read_csv({data!r}, dtype=str), ForecastJob(data={{"segment_cols": ["region"]}}, {fast}), workers=2)
result = {{"statuses": [o.status for o in run.outcomes.values()], "workers_cpu": children_cpu() - before}}
forecast_frame(run, ["region"]).to_pickle({forecast!r})
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return segments_csv(tmp_path_factory.mktemp("entry") / "segments.csv", regions=REGIONS, days=120)


@pytest.fixture(scope="module")
def prefect_home(tmp_path_factory) -> Path:
    """The temporary servers' database, migrated by the first run and reused by the next (each run
    still starts a temporary server of its own)."""
    return tmp_path_factory.mktemp("prefect-home")


@pytest.fixture(scope="module")
def one_process_forecast(data):
    """The same forecast computed here, one segment after another: what every entry point must give."""
    import pandas as pd

    from forecasting.pipeline import ForecastJob, forecast_frame, run_forecast

    job = ForecastJob.model_validate({"data": {"segment_cols": ["region"]}, "models": {"models": ["ets", "theta"], "holidays_country": None},
                                      "backtest": {"horizon": 7, "folds": 1}})
    return forecast_frame(run_forecast(pd.read_csv(data, dtype=str), job, workers=1), ["region"])


def user_environment(tmp_path: Path, prefect_home: Path) -> dict:
    """A user's shell: no Prefect API or MLflow server configured (so a temporary Prefect server and
    SQLite MLflow of the run's own), state in ``tmp_path``, none of this test process's Prefect settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "MLFLOW_"))}
    env.update(FORECAST_FLOWS_HOME=str(tmp_path / "home"), PREFECT_HOME=str(prefect_home))
    return env


def run_as(entry: str, code: str, tmp_path: Path, prefect_home: Path) -> tuple[dict, str]:
    """Run ``code`` the way ``entry`` does; returns its RESULT line and everything it printed."""
    code = textwrap.dedent(code) + REPORT_PROCESSES
    env, python = user_environment(tmp_path, prefect_home), [sys.executable]
    if entry == "script":
        script = tmp_path / "train.py"
        script.write_text(code)
        run = subprocess.run(python + [str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    elif entry == "stdin":
        run = subprocess.run(python + ["-"], input=code, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    elif entry == "-c":
        run = subprocess.run(python + ["-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    else:
        return run_notebook(code, tmp_path, env)
    printed = run.stdout + run.stderr
    assert run.returncode == 0, printed[-3000:]
    return parse_result(run.stdout), printed


def run_notebook(code: str, tmp_path: Path, env: dict) -> tuple[dict, str]:
    """The code as one notebook cell, executed by nbclient on an ipykernel kernel (as Jupyter runs it);
    what the cell printed is its outputs."""
    import nbformat

    notebook = tmp_path / "train.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)]), notebook)
    driver = textwrap.dedent(f"""
        import nbformat
        from nbclient import NotebookClient
        notebook = nbformat.read({str(notebook)!r}, as_version=4)
        NotebookClient(notebook, timeout=300, kernel_name="python3").execute()
        nbformat.write(notebook, {str(notebook)!r})
    """)
    run = subprocess.run([sys.executable, "-c", driver], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=360)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    outputs = nbformat.read(notebook, as_version=4).cells[0].outputs
    # print() and warnings arrive as streams; Prefect's log lines as rich display data
    cell = "".join(o.get("text", "") if o.output_type == "stream" else o.get("data", {}).get("text/plain", "") for o in outputs)
    errors = [o for o in outputs if o.output_type == "error"]
    assert not errors, errors
    return parse_result(cell), plain(cell + run.stdout + run.stderr)


def plain(text: str) -> str:
    """Without the terminal colours Prefect's log lines carry in a notebook."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def parse_result(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout[-3000:]
    return json.loads(lines[-1].removeprefix("RESULT "))


def assert_clean_console(printed: str) -> None:
    """A run where nothing failed prints no traceback and no error line (the temporary server's own
    included: its telemetry printed "database is locked" tracebacks, and offline an error line)."""
    assert "Traceback" not in printed, printed[-3000:]
    assert "database is locked" not in printed, printed[-3000:]
    assert [line for line in printed.splitlines() if "| ERROR" in line] == [], printed[-3000:]


def assert_no_worker_left(outcome: dict) -> None:
    """Only the helpers that live as long as the caller remain (Prefect's temporary server, the
    multiprocessing resource trackers): no worker process."""
    workers = [p for p in outcome["children_left"]
               if "popen_loky" in p["cmdline"] or ("multiprocessing" in p["cmdline"] and "resource_tracker" not in p["cmdline"])]
    assert not workers, outcome["children_left"]


@pytest.mark.slow
@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_a_training_flow_called_without_a_main_guard_trains_every_segment_in_worker_processes(entry, data, prefect_home, tmp_path):
    outcome, printed = run_as(entry, TRAINING.format(data=str(data), fast=FAST), tmp_path, prefect_home)
    assert outcome["result"] == ["trained"] * len(REGIONS)
    workers = {int(pid) for pid in re.findall(r"; trained in [\d.]+ s by process (\d+)", printed)}
    assert len(re.findall(r"; trained in [\d.]+ s by process", printed)) == len(REGIONS), printed[-3000:]
    assert workers and outcome["pid"] not in workers, (workers, outcome["pid"])
    assert not workers & {p["pid"] for p in outcome["children_left"]}  # shut down and reaped by the time the call returned
    assert_no_worker_left(outcome)
    assert outcome["children_cpu"] > 0.5, outcome  # the workers' CPU (imports and fits) is the caller's to account
    assert printed.count("Starting temporary server") == 1  # the workers reported to the caller's server
    assert_clean_console(printed)


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_run_forecast_with_workers_needs_no_main_guard_and_gives_the_one_process_answer(entry, data, one_process_forecast, prefect_home,
                                                                                        tmp_path):
    import pandas as pd

    forecast = tmp_path / "forecast.pkl"
    outcome, printed = run_as(entry, FORECAST.format(data=str(data), fast=FAST, forecast=str(forecast)), tmp_path, prefect_home)
    result = outcome["result"]
    assert result["statuses"] == ["trained"] * len(REGIONS)
    pd.testing.assert_frame_equal(pd.read_pickle(forecast), one_process_forecast, check_exact=True)
    assert result["workers_cpu"] > 0.5, result  # trained in child processes, joined before run_forecast returned
    assert_no_worker_left(outcome)
    assert_clean_console(printed)
