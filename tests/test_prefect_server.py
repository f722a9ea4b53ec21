"""Against a real `prefect server` on loopback: deployments on a process work pool run by a worker,
and the Dask task runner giving the same champions as threads."""

import json
import subprocess
import sys
import urllib.request

import pytest
from conftest import ROOT, segments_csv
from servers import BIN, start_prefect_server, stop

SMALL = {"models": {"models": ["ets", "theta"], "holidays_country": None}, "backtest": {"horizon": 14, "folds": 2}}


@pytest.fixture(scope="module")
def prefect_server(tmp_path_factory):
    home = tmp_path_factory.mktemp("prefect-server")
    # no scheduler: the deployed schedules (one every 15 minutes) must not start runs during the test
    process, api, env = start_prefect_server(home, PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false")
    yield api, env, home
    stop(process)


def prefect(env, *args, timeout=300, cwd=ROOT):
    result = subprocess.run([str(BIN / "prefect"), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"prefect {' '.join(args)}: {result.stdout[-1500:]} {result.stderr[-1500:]}"
    return result.stdout


@pytest.mark.slow
def test_deploy_all_and_a_worker_runs_the_training_deployment(prefect_server, tmp_path):
    api, env, _ = prefect_server
    env = {**env, "FORECAST_FLOWS_HOME": str(tmp_path / "state")}
    data = segments_csv(tmp_path / "data.csv", regions=("EU", "US"))
    subprocess.run([sys.executable, "-m", "deployments.work_pool"], env=env, cwd=ROOT, check=True, capture_output=True, timeout=120)
    prefect(env, "--no-prompt", "deploy", "--all")
    listed = prefect({**env, "COLUMNS": "300"}, "deployment", "ls")  # wide enough that rich truncates no name
    for name in ("weekly-retraining", "daily-comparison", "daily-batch-inference", "monthly-cleanup", "endpoint-monitor"):
        assert name in listed
    run_params = {"params": {"data_path": str(data), "data": {"segment_cols": ["region"]}, **SMALL, "skip_deploy": True}}
    out = prefect(env, "deployment", "run", "forecast-training/weekly-retraining", "--params", json.dumps(run_params))
    flow_run_id = next(line.split()[-1] for line in out.splitlines() if "UUID" in line)
    prefect(env, "worker", "start", "--pool", "forecast-pool", "--run-once", timeout=600)
    inspected = prefect(env, "flow-run", "inspect", flow_run_id, "--output", "json")
    state = json.loads(inspected)["state"]
    assert state["type"] == "COMPLETED", state
    keys = {artifact["key"] for artifact in post(api, "/artifacts/filter", {"artifacts": {"flow_run_id": {"any_": [flow_run_id]}}})}
    assert {"training-summary", "leaderboard", "validation-report", "training-progress"} <= keys
    # the default runner: the segments trained in worker processes of the flow run's process, not in it
    flow_pid = int(json.loads(inspected)["infrastructure_pid"].rsplit(":", 1)[-1])
    subflows = post(api, "/flow_runs/filter", {"flow_runs": {"parent_flow_run_id": {"any_": [flow_run_id]}}})
    assert len(subflows) == 1  # train-segments
    logs = [log["message"] for log in post(api, "/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id, subflows[0]["id"]]}}})]
    trained = [line for line in logs if "; trained in " in line]
    assert len(trained) == 2, logs
    task_pids = {int(line.split(" by process ")[1].split()[0]) for line in trained}
    assert flow_pid not in task_pids, (flow_pid, task_pids)
    assert not [line for line in logs if "running in a worker thread" in line]


def post(api: str, path: str, body: dict):
    request = urllib.request.Request(api + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def test_dask_local_cluster_picks_the_same_champions_as_threads(prefect_server, prefect_harness, tmp_path):
    from mlflow_helpers import local_mlflow
    from test_flows import params

    from flows.training import forecast_training

    api, env, _ = prefect_server
    data = segments_csv(tmp_path / "data.csv", regions=("EU", "US", "APAC"))
    with local_mlflow(tmp_path / "threads"):  # in-process thread runner, its own state: no cache shared
        threads = forecast_training(params(data, skip_deploy=True, policy={"task_runner": "threads"}))
    report = tmp_path / "dask.json"
    result = subprocess.run(
        [str(BIN / "forecast-flows"), "train", "--data", str(data), "--segment-cols", "region", "--models", "ets,theta",
         "--horizon", "14", "--folds", "2", "--holidays", "none", "--skip-deploy", "--task-runner", "dask", "--report", str(report)],
        env={**env, "FORECAST_FLOWS_HOME": str(tmp_path / "dask")}, capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]

    def champions(rows):
        return {row["segment"]: (row["champion"], round(row["metric_value"], 9)) for row in rows}

    dask_rows = json.loads(report.read_text())["segments"]
    assert champions(dask_rows) == champions(threads["segments"])
    assert len(dask_rows) == 3 and all(row["status"] == "trained" for row in dask_rows)
