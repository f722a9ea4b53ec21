"""The local target end to end: real `mlflow models serve` processes on loopback, blue-green swaps."""

import threading
import time

import pandas as pd
import pytest
from conftest import daily_frame
from mlflow_helpers import local_mlflow, log_family, prepared_segments

from forecasting.mlops.registry import register
from forecasting.serving import DeployConfig, DeployError
from forecasting.serving.local import LocalTarget

REQUEST = pd.DataFrame({"ds": ["2024-07-19", "2024-07-20"]})


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """Two registered versions of one segment model (naive, then seasonal naive)."""
    home = tmp_path_factory.mktemp("serving")
    with local_mlflow(home) as (config, client):
        _, prepared = prepared_segments(daily_frame())
        versions = []
        for family in ("naive", "seasonal_naive"):
            run_id, uri, _ = log_family(config, family, prepared["all"])
            versions.append(register(client, "serving_test", uri, run_id, {}).version)
        target = LocalTarget(DeployConfig(drain_seconds=1.0), config)
        yield target, versions
        target.undeploy()


def test_deploy_binds_loopback_and_answers(served):
    target, (v1, _) = served
    status = target.deploy("serving_test", v1, REQUEST)
    assert status.ready and status.url.startswith("http://127.0.0.1:") and status.version == v1
    answer = target.predict(REQUEST)
    assert answer["ds"].tolist() == ["2024-07-19", "2024-07-20"] and answer["yhat"].nunique() == 1  # naive: flat


def test_blue_green_swap_has_no_failed_request_in_between(served):
    target, (v1, v2) = served
    if target.status().version != v1:
        target.deploy("serving_test", v1, REQUEST)
    failures, answers, stop = [], [], threading.Event()

    def client():
        while not stop.is_set():
            try:
                answers.append(LocalTarget(target.config, target.tracking).predict(REQUEST, timeout=10))
            except Exception as exc:  # every failure is a test failure
                failures.append(repr(exc))
            time.sleep(0.05)

    thread = threading.Thread(target=client)
    thread.start()
    try:
        status = target.deploy("serving_test", v2, REQUEST)
        time.sleep(1.5)
    finally:
        stop.set()
        thread.join()
    assert status.version == v2 and status.extra["previous"] == {"model": "serving_test", "version": v1}
    assert not failures and len(answers) > 20
    assert answers[-1]["yhat"].nunique() == 2  # the seasonal naive now answers


def test_a_failed_swap_keeps_the_old_version_serving(served):
    target, (v1, v2) = served
    before = target.status()
    with pytest.raises(DeployError) as err:
        target.deploy("serving_test", "99", REQUEST)  # no such version: the new server cannot start
    assert "exited during start-up" in str(err.value) and f"keeps serving at {before.url}" in str(err.value)
    after = target.status()
    assert after.ready and after.version == before.version and after.url == before.url
    assert len(target.predict(REQUEST)) == 2


def test_rollback_serves_the_previous_version_again(served):
    target, (v1, v2) = served
    if target.status().version != v2:
        target.deploy("serving_test", v2, REQUEST)
    assert target.rollback().version == v1
