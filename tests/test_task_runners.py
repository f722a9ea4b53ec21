"""One runner choice for every entry point: the run policy picks the task runner and worker count of
the `train-segments` subflow (processes on every usable core by default), the CLI flags set the same
fields, and the logs carry no per-task-run timeout advice."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT, segments_csv
from mlflow_helpers import local_mlflow


def test_usable_cores_follow_the_cgroup_quota(tmp_path):
    from forecasting.system.runtime import usable_cores

    pinned = len(os.sched_getaffinity(0))
    v2 = tmp_path / "v2"
    v2.mkdir()
    (v2 / "cpu.max").write_text("max 100000\n")
    assert usable_cores(v2) == pinned  # no quota: every CPU this process is pinned to
    (v2 / "cpu.max").write_text("50000 100000\n")
    assert usable_cores(v2) == 1  # docker --cpus 0.5
    (v2 / "cpu.max").write_text("150000 100000\n")
    assert usable_cores(v2) == min(pinned, 2)  # a fractional quota rounds up
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000\n")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert usable_cores(v1) == 1
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")
    assert usable_cores(v1) == pinned
    assert usable_cores(tmp_path / "absent") == pinned


def test_usable_cores_follow_the_cpu_affinity():
    """`taskset -c 0 forecast-flows ...` gets one worker, whatever the machine has."""
    code = "import os; os.sched_setaffinity(0, {0}); from forecasting.system.runtime import usable_cores; print(usable_cores())"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.stdout.strip() == "1"


def test_the_cli_flags_set_the_run_policy_and_default_to_the_model():
    from flows.cli import build_parser
    from flows.cli.training import training_parameters

    base = ["train", "--data", "d.csv", "--segment-cols", "region"]
    default = training_parameters(build_parser().parse_args(base)).policy
    assert (default.task_runner, default.workers, default.dask_address) == ("processes", None, None)
    chosen = training_parameters(build_parser().parse_args([*base, "--task-runner", "threads", "--workers", "3"])).policy
    assert (chosen.task_runner, chosen.workers) == ("threads", 3)
    old_flag = training_parameters(build_parser().parse_args([*base, "--max-workers", "1"])).policy
    assert old_flag.workers == 1
    dask = training_parameters(build_parser().parse_args([*base, "--task-runner", "dask", "--dask-address", "tcp://10.0.0.5:8786"])).policy
    assert (dask.task_runner, dask.dask_address) == ("dask", "tcp://10.0.0.5:8786")
    assert default.result_storage is None
    stored = training_parameters(build_parser().parse_args([*base, "--result-storage", "s3-bucket/results"])).policy
    assert stored.result_storage == "s3-bucket/results"


def test_a_dask_address_without_the_dask_runner_is_one_clear_line(capsys):
    from flows.cli import main

    code = main(["train", "--data", "d.csv", "--segment-cols", "region", "--dask-address", "tcp://10.0.0.5:8786"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "dask_address is for task_runner 'dask', not 'processes'" in err


def flow_logs(flow_run_id) -> list[str]:
    """Every log line of a flow run and of its subflows' runs and tasks, from the Prefect API."""
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogWorker

    APILogWorker.drain_all(timeout=10)  # the log lines still queued in this process

    async def read():
        async with get_client() as api:
            children = await api.read_flow_runs(flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])))
            ids = [flow_run_id, *(child.id for child in children)]
            return await api.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)), limit=200)

    return [log.message for log in asyncio.run(read())]


def test_the_thread_runner_states_the_timeout_caveat_once_not_per_task_run(prefect_harness, tmp_path):
    from test_flows import params

    from flows.training import forecast_training

    with local_mlflow(tmp_path):
        data = segments_csv(tmp_path / "data.csv", regions=("EU", "US", "APAC"))
        state = forecast_training(params(data, skip_deploy=True, policy={"task_runner": "threads", "workers": 2}), return_state=True)
    assert state.is_completed()
    logs = flow_logs(state.state_details.flow_run_id)
    assert sum("trained in" in line for line in logs) == 3  # the task runs' logs are there
    assert not [line for line in logs if "running in a worker thread" in line]
    assert sum("task_runner threads: the per-segment timeout takes effect when a blocking call returns" in line for line in logs) == 1


@pytest.mark.slow
def test_a_plain_python_call_trains_in_worker_processes_on_its_temporary_server(tmp_path):
    """`forecast_training(...)` from a script, no PREFECT_API_URL: the worker processes report to the
    temporary server Prefect started for the script (not one each), and the segments train there."""
    data = segments_csv(tmp_path / "data.csv", regions=("EU", "US", "APAC"))
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        sys.path.insert(0, {str(ROOT / 'tests')!r})
        from test_flows import params
        from test_task_runners import flow_logs
        from flows.training import forecast_training

        if __name__ == "__main__":  # not needed (tests/test_entry_points.py), still works
            state = forecast_training(params({str(data)!r}, skip_deploy=True), return_state=True)
            print(json.dumps({{"completed": state.is_completed(), "pid": os.getpid(),
                              "statuses": [row["status"] for row in state.result()["segments"]],
                              "logs": flow_logs(state.state_details.flow_run_id)}}))
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI")}
    env.update(FORECAST_FLOWS_HOME=str(tmp_path / "home"), PREFECT_HOME=str(tmp_path / "prefect"), PYTHONPATH=str(ROOT))
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["completed"] and result["statuses"] == ["trained"] * 3
    pids = {int(line.split(" by process ")[1].split()[0]) for line in result["logs"] if "; trained in " in line}
    assert pids and result["pid"] not in pids, (pids, result["pid"])  # trained in worker processes, not the script's
    assert not [line for line in result["logs"] if "running in a worker thread" in line]
    assert run.stderr.count("Starting temporary server") == 1  # the workers reused it
