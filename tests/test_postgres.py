"""A real database for real load: the local Prefect server on PostgreSQL, and MLflow tracking to
PostgreSQL, each running a real small training. The cluster is the session's own (the `postgres`
fixture: `initdb` + `pg_ctl` in a temporary directory on a free loopback port, as the `postgres` user
when we are root); without PostgreSQL on the machine these tests fail, they do not skip."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import segments_csv
from mlflow_helpers import local_mlflow

BIN = Path(sys.executable).parent / "forecast-flows"
SMALL = ["--models", "ets,theta", "--horizon", "14", "--folds", "2", "--holidays", "none"]


def cli(env, *args, timeout=600):
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_the_local_prefect_server_runs_on_postgresql_and_trains(postgres, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PREFECT_API_URL", "MLFLOW_TRACKING_URI", "PREFECT_HOME")}
    env["FORECAST_FLOWS_HOME"] = str(tmp_path / "home")
    data = segments_csv(tmp_path / "data.csv", regions=("EU", "US", "APAC"))
    started = cli(env, "server", "start", "--database", postgres.create_database("server_prefect"))
    assert started.returncode == 0, started.stderr[-2000:]
    try:
        assert f"database: postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/server_prefect" in started.stdout
        train = cli(env, "train", "--data", str(data), "--segment-cols", "region", *SMALL, "--skip-deploy", "--report", str(tmp_path / "r.json"))
        assert train.returncode == 0, train.stderr[-3000:]
        assert [row["status"] for row in json.loads((tmp_path / "r.json").read_text())["segments"]] == ["trained"] * 3
        # the runs are in PostgreSQL: the flow, its train-segments subflow, one task run per segment
        flows = postgres.query("server_prefect", "select f.name from flow_run r join flow f on f.id = r.flow_id where r.state_type = 'COMPLETED' order by f.name")
        assert flows == ["forecast-training", "train-segments"]
        assert postgres.query("server_prefect", "select count(*) from task_run where name like 'train-chunk-%' and state_type = 'COMPLETED'") == ["3"]
        status = cli(env, "server", "status")
        assert f"database postgresql+asyncpg://postgres@127.0.0.1:{postgres.port}/server_prefect" in status.stdout
        other = cli(env, "server", "start", "--database", "sqlite")
        assert other.returncode == 2 and other.stderr.count("\n") == 1 and "server stop` it first" in other.stderr
    finally:
        cli(env, "server", "stop")


def test_a_database_that_is_not_postgresql_or_sqlite_is_one_clear_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env["FORECAST_FLOWS_HOME"] = str(tmp_path / "home")
    result = cli(env, "server", "start", "--database", "mysql://root:secret@db/prefect")
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "--database must be sqlite or a PostgreSQL URL" in result.stderr and "secret" not in result.stderr


@pytest.mark.slow
def test_mlflow_tracks_a_training_to_postgresql(postgres, prefect_harness, tmp_path):
    from mlflow.tracking import MlflowClient
    from test_flows import params

    from flows.training import forecast_training

    uri = postgres.create_database("training_mlflow")
    data = segments_csv(tmp_path / "data.csv", regions=("EU", "US"))
    with local_mlflow(tmp_path):
        report = forecast_training(params(data, skip_deploy=True, tracking={"experiment": "on-postgres", "tracking_uri": uri}))
    assert [row["status"] for row in report["segments"]] == ["trained"] * 2
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("on-postgres")
    assert experiment.artifact_location.startswith((tmp_path / "mlartifacts").as_uri())  # artifacts in the state directory
    runs = client.search_runs([experiment.experiment_id])
    children = [run for run in runs if run.data.tags.get("segment")]
    assert len(runs) == 3 and {run.info.status for run in runs} == {"FINISHED"} and len(children) == 2
    for row in report["segments"]:
        champion = client.get_model_version_by_alias(row["registered_model"], "champion")
        assert str(champion.version) == row["version"] and champion.tags["smoke_test"] == "passed"
    # in PostgreSQL, not in a SQLite file somewhere
    assert postgres.query("training_mlflow", "select count(*) from runs") == ["3"]
    assert int(postgres.query("training_mlflow", "select count(*) from registered_models")[0]) == 2
