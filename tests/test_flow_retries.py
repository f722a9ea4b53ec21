"""Service faults during a training run, injected at the network level in front of a real MLflow server."""

import pytest
from conftest import segments_csv
from servers import (
    FaultProxy,
    Relay,
    launch_mlflow_server,
    start_mlflow_server,
    stop,
    wait_http,
)
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
    from forecasting.mlops.config import TrackingConfig
    from forecasting.mlops.tracking import connect

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


@pytest.mark.timeout(420)
def test_a_killed_tracking_server_is_waited_for_and_an_absent_one_is_named(prefect_harness, tmp_path, monkeypatch):
    """SIGKILL the real `mlflow server` while segments are being logged; its address refuses connections
    for a few seconds, then a server on the same SQLite store answers there again. The service tasks
    retry with backoff and the run completes with no duplicate model versions. Then, with the address
    gone for good, retries run out and the error names the tracking server.

    The server that comes back was started beforehand (behind a relay holding the address): a cold
    `mlflow server` start takes 20-90 s on a loaded 2-core machine, longer than the retries wait."""
    import os
    import signal
    import threading
    import time

    from flows.cli import one_line
    from flows.training import forecast_training
    from forecasting.mlops.config import TrackingConfig
    from forecasting.mlops.tracking import connect

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries off: ours are under test
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    home = tmp_path / "mlflow"
    first, first_url = launch_mlflow_server(home)
    deadline = time.monotonic() + 120
    while "executor" not in (home / "mlflow-server.log").read_text(errors="replace"):  # the store is initialised
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    second, second_url = launch_mlflow_server(home)  # same store, same artifacts: the restarted server
    wait_http(first_url + "/health", 150, first)
    wait_http(second_url + "/health", 150, second)
    relay = Relay(int(first_url.rsplit(":", 1)[1]))
    regions = ("A", "B", "C", "D")
    data = segments_csv(tmp_path / "d.csv", regions=regions)
    tracking = {"tracking_uri": relay.url, "experiment": "server-killed"}
    cheap = {"models": {"models": ["seasonal_naive"], "holidays_country": None}, "skip_deploy": True, "tracking": tracking}
    events = []

    def kill_then_restart():  # only processes and sockets here: the flow runs in the test's own thread
        deadline = time.monotonic() + 180
        while not list((home / "artifacts").rglob("MLmodel")):  # the first segment's model is being logged
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)
        os.killpg(first.pid, signal.SIGKILL)
        relay.down()
        events.append("killed")
        first.wait()
        time.sleep(5)
        relay.up(int(second_url.rsplit(":", 1)[1]))
        events.append("back")

    killer = threading.Thread(target=kill_then_restart, daemon=True)
    killer.start()
    try:
        state = forecast_training(params(data, **cheap, policy={"retry_backoff_seconds": 1.0}), return_state=True)
        killer.join(5)
        assert events == ["killed", "back"]
        assert state.is_completed(), state.message
        report = state.result()
        assert sorted(row["status"] for row in report["segments"]) == ["trained"] * len(regions)
        client = connect(TrackingConfig(**tracking))
        children = client.search_runs([client.get_experiment_by_name("server-killed").experiment_id], "tags.segment != ''")
        assert len([r for r in children if r.info.status == "FINISHED"]) == len(regions)
        assert len(children) > len(regions)  # the runs cut off by the kill are still there, not FINISHED
        for row in report["segments"]:
            assert len(client.search_model_versions(f"name='{row['registered_model']}'")) == 1  # no duplicates
        # gone for good: four quick retries, then a failed run whose error names the tracking server
        relay.down()
        state = forecast_training(params(data, **cheap, policy={"retry_backoff_seconds": 0.1}), return_state=True)
        assert state.is_failed()
        error = state.result(raise_on_failure=False)
        assert f"MLflow tracking server {relay.url}" in one_line(error)
        print(one_line(error))
    finally:
        relay.down()
        stop(first)
        stop(second)
