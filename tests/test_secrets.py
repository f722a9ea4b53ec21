"""Secrets stay secret: a canary token planted in the environment appears nowhere a training run
writes (Prefect logs, parameters, artifacts; MLflow params, tags, artifacts; the state directory; the
report). Serving targets load only exact registered versions from the configured registry."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from conftest import segments_csv
from test_flows import params

from forecasting.serving import DeployConfig, DeployError


@pytest.mark.timeout(240)
def test_a_canary_secret_appears_nowhere_a_training_run_writes(prefect_harness, tmp_path, monkeypatch):
    import mlflow
    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    from flows.training import forecast_training
    from forecasting.mlops.config import TrackingConfig
    from forecasting.mlops.tracking import connect

    canary = f"CANARY-{uuid.uuid4().hex}"
    for var in ("DATABRICKS_TOKEN", "MLFLOW_TRACKING_PASSWORD", "DATABRICKS_CLIENT_SECRET"):
        monkeypatch.setenv(var, f"{var.lower()}-{canary}")
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "forecast-bot")
    home = tmp_path / "home"
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(home))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    data = segments_csv(tmp_path / "d.csv", regions=("EU", "US"))
    try:
        state = forecast_training(params(data, skip_deploy=True, models={"models": ["seasonal_naive", "ets"], "holidays_country": None}),
                                  return_state=True)
        assert state.is_completed(), state.message
        report = state.result()
        flow_run_id = state.state_details.flow_run_id

        async def prefect_side():
            async with get_client() as api:
                run = await api.read_flow_run(flow_run_id)
                logs = await api.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id])))
                artifacts = await api.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))
                tasks = await api.read_task_runs()
                return run, logs, artifacts, tasks

        run, logs, artifacts, tasks = asyncio.run(prefect_side())
        assert logs and artifacts and run.parameters
        scanned = {
            "flow-run parameters": json.dumps(run.parameters, default=str),
            "prefect logs": "\n".join(log.message for log in logs),
            "prefect artifacts": "\n".join(str(a.data) + str(a.description) for a in artifacts),
            "task runs": "\n".join(t.model_dump_json() for t in tasks),
            "report": json.dumps(report, default=str),
        }
        client = connect(TrackingConfig())
        experiment = client.get_experiment_by_name("flow-tests")
        runs = client.search_runs([experiment.experiment_id])
        assert len(runs) == 3  # parent and two segments
        scanned["mlflow params and tags"] = json.dumps([{**r.data.params, **r.data.tags} for r in runs])
        scanned["model version tags"] = json.dumps([v.tags for v in client.search_model_versions("")])
        files = [p for p in home.rglob("*") if p.is_file()]
        assert any(p.name == "MLmodel" for p in files) and any(p.suffix == ".db" for p in files)
        for path in files:  # the MLflow database and artifact root, Prefect results, serving state
            scanned[str(path.relative_to(home))] = path.read_bytes().decode("latin-1")
        leaks = [where for where, text in scanned.items() if canary in text]
        assert not leaks, f"the canary leaked into: {leaks}"
        assert len(scanned) > 20
    finally:
        mlflow.set_tracking_uri(None)


@pytest.mark.parametrize(
    "name,version,needle",
    [
        ("runs:/0123abcd/model", "1", "a registered model name"),
        ("forecast_router", "latest", "an exact version number"),
        ("forecast_router", "champion", "an exact version number"),
        ("../../etc/forecast", "1", "a registered model name"),
        ("s3://bucket/model", "3", "a registered model name"),
    ],
)
def test_serving_targets_load_only_exact_registered_versions(tmp_path, monkeypatch, name, version, needle):
    from forecasting.serving.local import LocalTarget

    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path))
    target = LocalTarget(DeployConfig())
    with pytest.raises(DeployError, match=needle):
        target.deploy(name, version)
    assert not list((tmp_path / "serving").glob("*.pid"))  # no server was started


def test_local_serving_binds_loopback_unless_told_otherwise():
    assert DeployConfig().host == "127.0.0.1"
