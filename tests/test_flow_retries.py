"""Service faults during a training run, injected at the network level in front of a real MLflow server."""

import pytest

from conftest import segments_csv
from servers import FaultProxy, start_mlflow_server, stop
from test_flows import params


@pytest.fixture
def mlflow_behind_proxy(tmp_path, monkeypatch):
    process, url = start_mlflow_server(tmp_path / "mlflow")
    proxy = FaultProxy(url, fragment="runs/log-batch", status=503, times=1)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries off: ours are under test
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    yield proxy
    proxy.close()
    stop(process)


def test_a_transient_mlflow_error_is_retried_and_the_run_completes(prefect_harness, mlflow_behind_proxy, tmp_path):
    from flows.training import forecast_training
    from forecasting.settings import TrackingConfig
    from forecasting.tracking import connect

    proxy = mlflow_behind_proxy
    data = segments_csv(tmp_path / "d.csv", regions=("EU", "US"))
    tracking = {"tracking_uri": proxy.url, "experiment": "retries"}
    report = forecast_training(params(data, skip_deploy=True, tracking=tracking))
    assert proxy.injected and "runs/log-batch" in proxy.injected[0]
    assert [row["status"] for row in report["segments"]] == ["trained", "trained"]
    client = connect(TrackingConfig(**tracking))
    experiment = client.get_experiment_by_name("retries")
    children = client.search_runs([experiment.experiment_id], "tags.segment != ''")
    assert sorted(run.info.status for run in children) == ["FAILED", "FINISHED", "FINISHED"]  # the failed attempt is closed
    for row in report["segments"]:
        assert len(client.search_model_versions(f"name='{row['registered_model']}'")) == 1  # no duplicate versions
