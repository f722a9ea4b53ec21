"""Failure paths that keep their promises (issue 18): each test breaks the thing a promise protects
against, with real services on loopback (MLflow on SQLite or a real `mlflow server` behind a fault
proxy, `mlflow models serve`, the Prefect test API) and our Databricks contract server.

1. a failed deploy rolls back, on both targets, and says what serves now;
2. the router covers every segment that has a champion, or nothing is registered;
3. registration is idempotent across retries and chunk sizes (keyed on what was trained);
4. the smaller promises: operations retry, register() does not guess, a corrupt serving state file is
   an error, selection fallback notes are shown, the code fingerprint covers tasks/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, daily_frame, segments_csv
from databricks_contract import ContractServer, mlflow_predictor
from mlflow_helpers import (
    local_mlflow,
    log_family,
    prepared_segments,
    register_served_model,
)
from servers import FaultProxy, start_mlflow_server, stop
from test_flows import params

from forecasting.contract import DataSpec
from forecasting.mlops.config import RegistryConfig, TrackingConfig
from forecasting.mlops.tracking import connect, start_training_run
from forecasting.serving import DeployConfig, DeployError
from forecasting.serving.local import LocalTarget
from forecasting.system.processes import alive

REQUEST = pd.DataFrame({"ds": ["2024-07-19", "2024-07-20"]})
CHEAP = {"models": {"models": ["seasonal_naive"], "holidays_country": None}, "skip_deploy": True}
TOKEN = "dapi-failure-paths-0123456789"


def pinned(config: TrackingConfig) -> TrackingConfig:
    """The same store whatever FORECAST_FLOWS_HOME later tests set."""
    return config.model_copy(update={"tracking_uri": config.resolved_tracking_uri(), "artifact_root": config.resolved_artifact_root()})


def children(client, experiment: str) -> list:
    experiment_id = client.get_experiment_by_name(experiment).experiment_id
    return client.search_runs([experiment_id], "tags.segment != ''", max_results=500)


def artifacts_of(flow_run_id) -> dict:
    import asyncio

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async def read():
        async with get_client() as api:
            return await api.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    return {a.key: a for a in asyncio.run(read())}


# --- 1. deploy rollback: local serving -----------------------------------------------------------

@pytest.fixture(scope="module")
def local_versions(tmp_path_factory):
    """Versions of one registered model that answer 10, 20, 30, 40 in process; served, the second
    answers 1020, the third's server dies mid-request, the fourth never finishes loading."""
    home = tmp_path_factory.mktemp("failure-local")
    with local_mlflow(home) as (config, _):
        config = pinned(config)
        versions = {mode: register_served_model(config, "failing_router", level, mode)
                    for level, mode in ((10, "same"), (20, "wrong"), (30, "crash"), (40, "slow"))}
        yield config, versions
        LocalTarget(DeployConfig(), config).undeploy()


def deploy_locally(config: TrackingConfig, version: str, **overrides) -> dict:
    from tasks.deploy import deploy_router

    return deploy_router.fn("failing_router", version, DeployConfig(drain_seconds=0.5, **overrides), config)


def serving_the_first_version(config, versions) -> LocalTarget:
    target = LocalTarget(DeployConfig(), config)
    status = target.status()
    if not (status.ready and status.version == versions["same"]):
        deploy_locally(config, versions["same"])
    return target


def assert_first_version_serves(target: LocalTarget, versions: dict, url: str) -> None:
    after = target.status()
    assert after.ready and after.version == versions["same"] and after.url == url
    assert target.predict(REQUEST)["yhat"].tolist() == [10.0, 10.0]  # the first version's own answer
    assert len(list(target.root.glob("*.pid"))) == 1  # the failed new server is stopped and forgotten


@pytest.mark.slow
def test_local_deploy_answering_differently_from_the_model_keeps_the_previous_version(local_versions):
    config, versions = local_versions
    target = serving_the_first_version(config, versions)
    before = target.status()
    with pytest.raises(Exception) as err:  # whatever fails, the previous version must serve
        deploy_locally(config, versions["wrong"])
    assert_first_version_serves(target, versions, before.url)
    assert isinstance(err.value, DeployError), repr(err.value)
    message = str(err.value)
    assert f"failing_router v{versions['wrong']} answers the smoke request differently from the registered model" in message
    assert "yhat is 1020 instead of the registered model's own 20" in message
    assert f"failing_router v{versions['same']} keeps serving at {before.url}" in message


@pytest.mark.slow
def test_local_deploy_whose_server_dies_mid_smoke_request_keeps_the_previous_version(local_versions):
    config, versions = local_versions
    target = serving_the_first_version(config, versions)
    before = target.status()
    with pytest.raises(Exception) as err:  # whatever fails, the previous version must serve
        deploy_locally(config, versions["crash"])
    assert_first_version_serves(target, versions, before.url)
    assert isinstance(err.value, DeployError), repr(err.value)
    message = str(err.value)
    assert f"failing_router v{versions['crash']} did not answer its smoke request" in message
    assert f"failing_router v{versions['same']} keeps serving at {before.url}" in message


@pytest.mark.slow
def test_local_deploy_that_never_gets_ready_keeps_the_previous_version(local_versions):
    config, versions = local_versions
    target = serving_the_first_version(config, versions)
    before = target.status()
    with pytest.raises(Exception) as err:  # whatever fails, the previous version must serve
        deploy_locally(config, versions["slow"], ready_timeout_seconds=10)
    assert_first_version_serves(target, versions, before.url)
    assert isinstance(err.value, DeployError), repr(err.value)
    message = str(err.value)
    assert f"failing_router v{versions['slow']} did not answer /ping within 10s" in message
    assert f"failing_router v{versions['same']} keeps serving at {before.url}" in message


@pytest.mark.slow
def test_a_corrupt_serving_state_file_is_an_error_and_serve_stop_still_stops_the_server(local_versions, capsys):
    from flows.cli import main

    config, versions = local_versions
    target = serving_the_first_version(config, versions)
    pid = target.status().extra["pid"]
    target.state_file.write_text('{"model": "failing_router", "vers')  # a write cut off half way
    assert main(["serve", "status"]) == 2
    error = capsys.readouterr().err
    assert f"the local serving state file {target.state_file} is unreadable" in error and "forecast-flows serve stop" in error
    with pytest.raises(DeployError, match="active.json is unreadable"):
        target.predict(REQUEST)
    assert alive(pid)  # nothing was orphaned by reading the file
    assert main(["serve", "stop"]) == 0
    assert not alive(pid) and not target.state_file.exists() and not list(target.root.glob("*.pid"))


# --- 1. deploy rollback: Databricks (our contract server) ----------------------------------------

@pytest.fixture
def databricks_world(tmp_path, monkeypatch):
    """Two registered versions (answering 10 and 20) and a contract server that serves them by
    loading them from the registry, as Model Serving does."""
    server = ContractServer()
    server.predict_with = mlflow_predictor()
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    with local_mlflow(tmp_path) as (config, _):
        config = pinned(config)
        first = register_served_model(config, "forecast_router", 10)
        second = register_served_model(config, "forecast_router", 20)
        deploy = DeployConfig(target="databricks", endpoint_name="finance-forecast", poll_seconds=0.05, databricks_ready_timeout_seconds=5)
        yield server, config, deploy, first, second
    server.close()


def deploy_on_databricks(config, deploy, version) -> dict:
    from tasks.deploy import deploy_router

    return deploy_router.fn("forecast_router", version, deploy, config)


def settled(target) -> None:
    """Databricks finishes an accepted update whether or not anyone polls: let it."""
    for _ in range(20):
        if target.status().detail != "config_update=IN_PROGRESS":
            return


def assert_databricks_serves(deploy: DeployConfig, version: str, yhat: float) -> None:
    from forecasting.serving.databricks import DatabricksTarget

    target = DatabricksTarget(deploy)
    settled(target)
    assert target.status().version == version
    assert target.predict(REQUEST)["yhat"].tolist() == [yhat, yhat]  # through the endpoint


def test_databricks_deploy_answering_differently_from_the_model_rolls_back(databricks_world):
    server, config, deploy, first, second = databricks_world
    deploy_on_databricks(config, deploy, first)
    server.wrong_versions = {second}
    with pytest.raises(Exception) as err:  # whatever fails, the previous version must serve
        deploy_on_databricks(config, deploy, second)
    assert_databricks_serves(deploy, first, 10.0)
    assert isinstance(err.value, DeployError), repr(err.value)
    message = str(err.value)
    assert f"serving forecast_router v{second} answers the smoke request differently from the registered model" in message
    assert "yhat is 1020 instead of the registered model's own 20" in message
    assert message.endswith(f"rolled back to forecast_router v{first}, which serves again")


def test_databricks_error_while_waiting_for_ready_rolls_back(databricks_world):
    server, config, deploy, first, second = databricks_world
    deploy_on_databricks(config, deploy, first)
    server.fail_polls_while_updating = 1  # the SDK raises InternalError from the readiness poll
    with pytest.raises(Exception) as err:  # whatever fails, the previous version must serve
        deploy_on_databricks(config, deploy, second)
    assert_databricks_serves(deploy, first, 10.0)
    assert isinstance(err.value, DeployError), repr(err.value)
    message = str(err.value)
    assert f"deploying forecast_router v{second} failed: InternalError: injected server error while updating" in message
    assert message.endswith(f"rolled back to forecast_router v{first}, which serves again")


def test_databricks_smoke_query_that_fails_rolls_back(databricks_world):
    server, config, deploy, first, second = databricks_world
    deploy_on_databricks(config, deploy, first)
    server.failing_versions = {second}
    with pytest.raises(Exception) as err:  # whatever fails, the previous version must serve
        deploy_on_databricks(config, deploy, second)
    assert_databricks_serves(deploy, first, 10.0)
    assert isinstance(err.value, DeployError), repr(err.value)
    message = str(err.value)
    assert f"served version {second} failed" in message
    assert message.endswith(f"rolled back to forecast_router v{first}, which serves again")


def test_databricks_update_refused_while_another_is_in_flight_changes_nothing(databricks_world):
    """Another client's configuration update is in progress: ours is refused (409), nothing is rolled
    back over the other update, and the error says what serves."""
    from databricks.sdk.service.serving import ServedEntityInput

    from forecasting.serving.databricks import DatabricksTarget

    server, config, deploy, first, second = databricks_world
    deploy_on_databricks(config, deploy, first)
    other = DatabricksTarget(deploy).client.serving_endpoints
    other.update_config("finance-forecast", served_entities=[ServedEntityInput(name=f"forecast-router-{first}", entity_name="forecast_router",
                                                                               entity_version=first, workload_size="Medium", scale_to_zero_enabled=True)])
    with pytest.raises(Exception) as err:
        deploy_on_databricks(config, deploy, second)
    assert isinstance(err.value, DeployError), repr(err.value)
    assert "ResourceConflict" in str(err.value) and str(err.value).endswith(f"the update was refused, so forecast_router v{first} still serves")
    assert len(server.calls("PUT", "/config")) == 2  # the other client's update and our refused one: no rollback on top
    assert_databricks_serves(deploy, first, 10.0)
    assert server.endpoints["finance-forecast"]["config"]["served_entities"][0]["workload_size"] == "Medium"  # the other update stands


@pytest.mark.slow
def test_a_training_run_whose_deploy_fails_reports_what_failed_and_what_serves(prefect_harness, tmp_path, monkeypatch):
    """The whole flow on Databricks (contract server): the second run's router answers wrongly once
    served; the run fails, saying so and that the first router serves again, which the endpoint shows."""
    from flows.training import TrainingFailed, forecast_training
    from forecasting.serving.databricks import DatabricksTarget

    server = ContractServer()
    server.predict_with = mlflow_predictor()
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    deploy = {"target": "databricks", "endpoint_name": "finance-forecast", "poll_seconds": 0.05, "databricks_ready_timeout_seconds": 10}
    try:
        with local_mlflow(tmp_path):
            data = segments_csv(tmp_path / "d.csv", regions=("EU", "US"))
            first = forecast_training(params(data, models=CHEAP["models"], deploy=deploy))
            assert first["endpoint"]["version"] == first["router"]["version"] == "1"
            server.wrong_versions = {"2"}
            state = forecast_training(params(data, models=CHEAP["models"], deploy=deploy), return_state=True)
            assert state.is_failed()
            request = pd.DataFrame({"region": ["EU", "US"], "ds": ["2024-07-19", "2024-07-19"]})
            target = DatabricksTarget(DeployConfig(**deploy))
            settled(target)
            served = target.predict(request)
            own = mlflow.pyfunc.load_model("models:/forecast_router/1").predict(request)
            assert target.status().version == "1" and np.allclose(served["yhat"], own["yhat"])  # the first router's answer
            error = state.result(raise_on_failure=False)
            assert isinstance(error, TrainingFailed) and error.report["router"]["version"] == "2"
            for text in (str(error), error.report["deploy_error"]):
                assert "endpoint 'finance-forecast' serving forecast_router v2 answers the smoke request differently" in text
                assert "rolled back to forecast_router v1, which serves again" in text
    finally:
        server.close()


# --- a real `mlflow server` behind fault proxies, shared by the tests below -----------------------

@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    process, url = start_mlflow_server(tmp_path_factory.mktemp("failure-mlflow"))
    yield url
    stop(process)


@pytest.fixture
def no_mlflow_retries(monkeypatch, tmp_path):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries off: ours are under test
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def champions(url: str, experiment: str, registry: RegistryConfig, segments: tuple[str, ...]) -> tuple[TrackingConfig, str]:
    """Register and promote a naive champion for each segment, straight to the server; returns the
    tracking settings and a parent run for the router."""
    from forecasting.mlops.promotion import publish

    tracking = TrackingConfig(tracking_uri=url, experiment=experiment)
    _, prepared = prepared_segments(daily_frame())
    client = connect(tracking)
    for segment in segments:
        run_id, uri, _ = log_family(tracking, "naive", prepared["all"])
        assert publish(client, segment, registry.name_for(segment), uri, run_id, {}).promoted
    return tracking, start_training_run(tracking, {"test": experiment})


# --- 2. the router covers every segment that has a champion --------------------------------------

@pytest.mark.slow
def test_a_champion_that_cannot_be_read_fails_the_router_before_it_is_registered(mlflow_server, no_mlflow_retries):
    from tasks.publish import RouterIncomplete, publish_router

    registry = RegistryConfig(model_prefix="refused")
    tracking, parent = champions(mlflow_server, "router-refused", registry, ("region=EU", "region=US"))
    proxy = FaultProxy(mlflow_server, ("registered-models/alias", registry.name_for("region=EU")), status=403, times=10)
    try:
        behind_proxy = tracking.model_copy(update={"tracking_uri": proxy.url})
        with pytest.raises(RouterIncomplete) as err:
            publish_router.fn({"region=EU": {"region": "EU"}, "region=US": {"region": "US"}}, ["region"], registry, behind_proxy, parent, {})
    finally:
        proxy.close()
    assert proxy.injected
    message = str(err.value)
    assert "the router would leave out 1 segment(s) that have a champion, so it was not registered or promoted" in message
    assert f"region=EU (reading the champion of {registry.name_for('region=EU')} failed" in message and "PERMISSION_DENIED" in message
    assert not connect(tracking).search_model_versions(f"name='{registry.router_name()}'")  # nothing half-published


@pytest.mark.slow
def test_a_transient_error_reading_a_champion_is_retried_and_the_router_covers_every_segment(prefect_harness, mlflow_server, no_mlflow_retries):
    from prefect import flow

    from tasks.policies import service_retry_options
    from tasks.publish import publish_router

    registry = RegistryConfig(model_prefix="flaky")
    tracking, parent = champions(mlflow_server, "router-flaky", registry, ("region=EU", "region=US"))
    proxy = FaultProxy(mlflow_server, ("registered-models/alias", registry.name_for("region=EU")), status=503, times=1)
    behind_proxy = tracking.model_copy(update={"tracking_uri": proxy.url})

    @flow
    def route():
        return publish_router.with_options(**service_retry_options(0.1))(
            {"region=EU": {"region": "EU"}, "region=US": {"region": "US"}}, ["region"], registry, behind_proxy, parent, {})

    try:
        router, _ = route()
    finally:
        proxy.close()
    assert proxy.injected and router.promoted
    connect(tracking)
    manifest = mlflow.pyfunc.load_model(f"models:/{router.name}/{router.version}").unwrap_python_model().manifest
    assert sorted(manifest["routes"]) == ["region=EU", "region=US"]


def test_a_segment_promoted_in_this_run_without_a_champion_now_fails_the_router(tmp_path):
    """Someone removed the champion alias of a segment this run promoted: the router must not be
    registered without it."""
    from forecasting.mlops.promotion import publish
    from tasks.publish import RouterIncomplete, publish_router

    registry = RegistryConfig(model_prefix="gone")
    with local_mlflow(tmp_path) as (config, client):
        _, prepared = prepared_segments(daily_frame())
        for segment in ("region=EU", "region=US"):
            run_id, uri, _ = log_family(config, "naive", prepared["all"])
            assert publish(client, segment, registry.name_for(segment), uri, run_id, {}).promoted
        client.delete_registered_model_alias(registry.name_for("region=US"), "champion")
        parent = start_training_run(config, {"test": "alias-gone"})
        with pytest.raises(RouterIncomplete, match=r"region=US \(promoted in this run, but gone_region_us_\w+ has no champion alias now\)"):
            publish_router.fn({"region=EU": {"region": "EU"}, "region=US": {"region": "US"}}, ["region"], registry, config, parent, {},
                              promoted=["region=EU", "region=US"])
        assert not client.search_model_versions(f"name='{registry.router_name()}'")


# --- 3. registration idempotent across retries and chunk sizes -----------------------------------

@pytest.mark.slow
def test_a_fault_mid_chunk_leaves_exactly_one_version_per_segment(prefect_harness, mlflow_server, no_mlflow_retries, tmp_path):
    """Five segments in one task run; creating segment C's MLflow run fails once (503), so the task
    retries the whole chunk: A and B, already logged and registered, must not be again."""
    from flows.training import forecast_training

    proxy = FaultProxy(mlflow_server, "runs/create", status=503, times=1, body_fragment="region=C")
    regions = ("A", "B", "C", "D", "E")
    tracking = {"tracking_uri": proxy.url, "experiment": "mid-chunk"}
    try:
        data = segments_csv(tmp_path / "d.csv", regions=regions)
        report = forecast_training(params(data, **CHEAP, tracking=tracking, registry={"model_prefix": "midchunk"},
                                          policy={"segments_per_task": 5, "retry_backoff_seconds": 0.1}))
    finally:
        proxy.close()
    assert proxy.injected
    rows = {row["segment"]: row for row in report["segments"]}
    assert [rows[f"region={r}"]["status"] for r in regions] == ["trained"] * 5
    client = connect(TrackingConfig(tracking_uri=mlflow_server))
    for row in rows.values():
        assert len(client.search_model_versions(f"name='{row['registered_model']}'")) == 1, row["segment"]
    runs = children(client, "mid-chunk")
    assert sorted(r.info.status for r in runs) == ["FINISHED"] * 5  # no duplicate, no RUNNING orphan
    assert any("reused, not logged again" in note for note in rows["region=A"]["notes"])


@pytest.mark.slow
def test_rerunning_with_another_chunk_size_registers_no_new_version(prefect_harness, tmp_path):
    from flows.training import forecast_training

    with local_mlflow(tmp_path) as (_, client):
        data = segments_csv(tmp_path / "d.csv", regions=("EU", "US", "APAC"))
        first = forecast_training(params(data, **CHEAP, policy={"segments_per_task": 1, "retry_backoff_seconds": 0.1}))
        second = forecast_training(params(data, **CHEAP, policy={"segments_per_task": 3, "retry_backoff_seconds": 0.1}))
        assert {r["segment"]: r["version"] for r in second["segments"]} == {r["segment"]: r["version"] for r in first["segments"]}
        for row in second["segments"]:
            assert len(client.search_model_versions(f"name='{row['registered_model']}'")) == 1, row["segment"]
        assert len([r for r in children(client, "flow-tests") if r.info.status == "FINISHED"]) == 3  # each logged once


# --- 4. the smaller promises ---------------------------------------------------------------------

@pytest.mark.slow
def test_register_raises_when_the_registry_lookup_is_refused_instead_of_adding_a_version(mlflow_server, no_mlflow_retries):
    from forecasting.mlops.registry import register

    tracking = TrackingConfig(tracking_uri=mlflow_server, experiment="register-refused")
    _, prepared = prepared_segments(daily_frame())
    run_id, uri, _ = log_family(tracking, "naive", prepared["all"])
    first = register(connect(tracking), "refused_lookup", uri, run_id, {})
    proxy = FaultProxy(mlflow_server, "model-versions/search", status=403, times=5)
    try:
        with pytest.raises(mlflow.exceptions.MlflowException, match="PERMISSION_DENIED"):
            register(connect(tracking.model_copy(update={"tracking_uri": proxy.url})), "refused_lookup", uri, run_id, {})
    finally:
        proxy.close()
    assert proxy.injected
    versions = connect(tracking).search_model_versions("name='refused_lookup'")
    assert [str(v.version) for v in versions] == [first.version]  # not registered twice


@pytest.mark.slow
def test_operations_tasks_retry_a_transient_registry_error(prefect_harness, mlflow_server, no_mlflow_retries):
    from flows.model_cleanup import model_cleanup
    from flows.parameters import CleanupParameters

    tracking = TrackingConfig(tracking_uri=mlflow_server, experiment="cleanup-retry")
    _, prepared = prepared_segments(daily_frame())
    run_id, uri, _ = log_family(tracking, "naive", prepared["all"])
    from forecasting.mlops.registry import register

    register(connect(tracking), "opsretry_region_eu", uri, run_id, {})
    proxy = FaultProxy(mlflow_server, "registered-models/search", status=503, times=1)
    try:
        state = model_cleanup(CleanupParameters(tracking=tracking.model_copy(update={"tracking_uri": proxy.url}),
                                                registry=RegistryConfig(model_prefix="opsretry")), return_state=True)
    finally:
        proxy.close()
    assert proxy.injected
    assert state.is_completed(), state.message
    assert [row["name"] for row in state.result()] == ["opsretry_region_eu"]


@pytest.mark.slow
def test_selection_fallback_notes_reach_the_report_the_artifacts_and_the_mlflow_run(prefect_harness, tmp_path):
    """ARIMA follows a promotion covariate closely and wins the backtest; the future promotion value
    is far outside history, so its final forecast explodes and the next candidate is used."""
    from flows.training import forecast_training

    rng = np.random.default_rng(0)
    days, horizon = 200, 14
    ds = pd.date_range("2024-01-01", periods=days + horizon, freq="D")
    promo = rng.integers(0, 2, days + horizon).astype(float)
    promo[days:] = 1000.0
    y = 100 + 30 * promo[:days] + rng.normal(0, 8, days)
    frame = pd.DataFrame({"ds": ds.strftime("%Y-%m-%d"), "y": [f"{v:.3f}" for v in y] + [""] * horizon, "promo": promo, "region": "EU"})
    frame.to_csv(tmp_path / "promo.csv", index=False)
    with local_mlflow(tmp_path) as (_, client):
        run = params(tmp_path / "promo.csv", skip_deploy=True, models={"models": ["arima"], "holidays_country": None})
        run = run.model_copy(update={"data": DataSpec(segment_cols=["region"], covariate_cols=["promo"])})
        state = forecast_training(run, return_state=True)
        (row,) = state.result()["segments"]
        note = "arima was ranked first but its final forecast was rejected (forecast exploded"
        assert row["champion"] != "arima" and any(n.startswith(note) for n in row["notes"])
        assert note in client.get_run(row["mlflow_run_id"]).data.tags["selection_notes"]
    artifacts = artifacts_of(state.state_details.flow_run_id)
    assert note in artifacts["segment-notes"].data and note in artifacts["training-summary"].data


@pytest.mark.slow
def test_a_change_in_the_training_task_invalidates_cached_training_results(tmp_path):
    """The train task's cache key covers tasks/ as well as forecasting/: edit tasks/train.py (a copy)
    and the key changes, so the next run retrains instead of reusing results of the old code."""
    for package in ("forecasting", "tasks"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    script = """
import pandas as pd
from forecasting.contract import DataSpec
from forecasting.mlops.config import TrackingConfig
from forecasting.pipeline import ForecastJob
from forecasting.validation import ValidationPolicy, validate
from tasks.train import chunk_cache_key
frame = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=60).strftime("%Y-%m-%d"), "y": [str(i % 7 + 1.0) for i in range(60)]})
_, prepared = validate(frame, DataSpec(), ValidationPolicy(), 7, 2)
print(chunk_cache_key(None, {"chunk": list(prepared.values()), "job": ForecastJob(), "tracking": TrackingConfig(tracking_uri="sqlite:///x.db")}))
"""
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    def key() -> str:
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180, cwd=tmp_path)
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout.strip().splitlines()[-1]

    before = key()
    assert key() == before  # stable while nothing changes
    with open(tmp_path / "tasks" / "train.py", "a") as handle:
        handle.write("\n# a change in how the training task works\n")
    assert key() != before


# --- 4. no look-ahead in the backtest ------------------------------------------------------------------
def _fold_view(backtest):
    """Everything the backtest decided or estimated, per candidate and fold."""
    return {name: [(round(float(f["yhat"].sum()), 6), round(float(f["yhat_upper"].sum()), 6)) for f in c.forecasts]
            for name, c in backtest.candidates.items()}


def _poisoned_segment(poison: bool, policy=None):
    """200 days, folds of 14 (cutoffs after days 158, 172, 186). Day 171, the last of fold 2's training
    window, is missing; with ``poison`` everything from day 172 on (fold 2's test window and later) is
    nonsense, with a spike, so the values right after the cutoff differ wildly."""
    from forecasting.validation import ValidationPolicy, validate

    frame = daily_frame(days=200)
    frame.loc[[120, 171], "y"] = ""
    if poison:
        frame.loc[172:, "y"] = [str(v) for v in np.linspace(5000, 9000, 28)]
        frame.loc[175, "y"] = "90000"
    _, prepared = validate(frame, DataSpec(), policy or ValidationPolicy(max_missing_fraction=0.5), 14, 3)
    return prepared["all"]


@pytest.mark.parametrize("outliers", ["flag", "winsorize"])
def test_data_after_a_cutoff_changes_no_decision_or_estimate_made_before_it(outliers):
    """Poison everything after fold 2's cutoff: the forecasts and intervals of folds 1 and 2, which
    candidates were still in, the ensemble's members and the choice made after fold 1 must not change.
    Before the fix the missing day 171 was interpolated towards day 172 and outliers were clipped on the
    whole series, so fold 2 was fitted on values from after its cutoff."""
    from forecasting.backtest import BacktestSpec, ensemble_members, run_backtest
    from forecasting.models import ModelSpec
    from forecasting.selection import choose
    from forecasting.validation import ValidationPolicy

    policy = ValidationPolicy(outliers=outliers, max_missing_fraction=0.5)
    spec, models = BacktestSpec(horizon=14, folds=3), ModelSpec(models=["ets", "theta", "arima", "ces", "ensemble"], holidays_country=None)
    clean = run_backtest(_poisoned_segment(False, policy), models, spec)
    poisoned = run_backtest(_poisoned_segment(True, policy), models, spec)
    before, after = _fold_view(clean), _fold_view(poisoned)
    for name in before:
        assert before[name][:2] == after[name][:2], name
    for folds in (0, 1):
        assert ensemble_members(clean.candidates, "mase", folds) == ensemble_members(poisoned.candidates, "mase", folds)
    assert choose(clean, 1) == choose(poisoned, 1)
    assert before["ets"][2] != after["ets"][2]  # fold 3 does see its own window


def test_data_after_a_cutoff_changes_no_global_forecast_or_choice_made_before_it():
    """The same across segments (issue 27): every segment poisoned after fold 2's cutoff, the global
    model's fold 1 and 2 forecasts of every segment, the ensemble's members and the choice made after
    fold 1 do not change; fold 3's global forecast does."""
    from test_global_model import job, table

    from forecasting.backtest import ensemble_members
    from forecasting.pipeline import run_forecast
    from forecasting.selection import choose

    clean = table()
    poisoned = clean.copy()
    late = pd.to_datetime(poisoned["ds"]) >= pd.Timestamp("2024-01-01") + pd.Timedelta(days=172)
    poisoned.loc[late, "y"] = [str(v) for v in np.linspace(5000, 9000, int(late.sum()))]
    runs = [run_forecast(frame, job(["ets", "theta", "global", "ensemble"])) for frame in (clean, poisoned)]
    for key in runs[0].outcomes:
        before, after = (r.outcomes[key].backtest for r in runs)
        for name in ("global", "ensemble"):
            view = [[(round(float(f["yhat"].sum()), 6), round(float(f["yhat_upper"].sum()), 6)) for f in b.candidates[name].forecasts] for b in (before, after)]
            assert view[0][:2] == view[1][:2], (key, name)
        assert [f["yhat"].sum() for f in before.candidates["global"].forecasts][2] != [f["yhat"].sum() for f in after.candidates["global"].forecasts][2]
        for folds in (0, 1):
            assert ensemble_members(before.candidates, "mase", folds) == ensemble_members(after.candidates, "mase", folds)
        assert choose(before, 1) == choose(after, 1)


def test_a_candidate_failing_in_the_last_fold_still_counts_for_the_choice_made_before_it():
    """The holdout estimate chooses with what was known after fold F-1: a candidate that fails only in
    fold F is still ranked there (and, having no fold-F forecast, the next one is scored)."""
    from forecasting.backtest import BacktestSpec, run_backtest
    from forecasting.models import ModelSpec
    from forecasting.selection import choose, holdout_estimate

    backtest = run_backtest(_poisoned_segment(False), ModelSpec(models=["ets", "theta"], holidays_country=None), BacktestSpec(horizon=14, folds=3))
    theta = backtest.candidates["theta"]
    theta.forecasts, theta.fold_metrics = theta.forecasts[:2], theta.fold_metrics[:2]
    theta.status, theta.failed_at, theta.reason = "failed", 3, "fold 3: injected"
    assert "theta" in choose(backtest, 2)
    holdout = holdout_estimate(backtest)
    assert holdout["model"] != "theta" and holdout["fold"] == 3


def _covariate_segment(poison: bool, fill: str):
    """200 days, folds of 14 (cutoffs after days 158, 172, 186) with a price covariate (not a 0/1 flag)
    blank on a few days in folds 1 and 2 and missing on day 185 (no row at all); with ``fill`` ffill its
    first 187 days are blank (a leading gap). With ``poison`` every price from day 186 on — after fold
    2's test days — is nonsense: a fill computed over the whole history (its mean, its last value, a
    leading gap filled backwards, an absent day interpolated) carries it into folds 1 and 2."""
    from forecasting.validation import ValidationPolicy, validate

    rng = np.random.default_rng(5)
    frame = daily_frame(days=200)
    price = 10 + rng.normal(0, 1, 200).round(2)
    if poison:
        price[186:] = np.linspace(500, 900, 14)
    frame["price"] = price.astype(str)
    blanks = list(range(187)) if fill == "ffill" else [0, 1, 60, 150, 160, 165, 180]
    frame.loc[blanks, "price"] = ""
    frame = frame.drop(index=185)  # a day with no row: its price is missing like a blank cell
    future = pd.DataFrame({"ds": pd.date_range("2024-07-19", periods=14).strftime("%Y-%m-%d"), "y": "", "price": "10"})
    policy = ValidationPolicy(covariate_missing=fill, max_missing_fraction=0.5)
    _, prepared = validate(pd.concat([frame, future], ignore_index=True), DataSpec(covariate_cols=["price"]), policy, 14, 3)
    return prepared["all"]


@pytest.mark.parametrize("fill", ["mean", "last", "ffill"])
def test_covariate_fills_look_at_no_value_after_a_fold_cutoff(fill):
    """Covariate fills (mean, last, ffill) and a day with no row are filled inside each training window
    and, in a fold's test days, from that window alone. Before, they were filled once over the whole
    history (the absent day like the target, by interpolation), so folds 1 and 2 saw the poison."""
    from forecasting.backtest import BacktestSpec, run_backtest
    from forecasting.models import ModelSpec

    spec, models = BacktestSpec(horizon=14, folds=3), ModelSpec(models=["xgboost"], holidays_country=None)
    clean = run_backtest(_covariate_segment(False, fill), models, spec)
    poisoned = run_backtest(_covariate_segment(True, fill), models, spec)
    before, after = _fold_view(clean), _fold_view(poisoned)
    assert before["xgboost"][:2] == after["xgboost"][:2]
    if fill != "ffill":  # with a 187-day leading gap fold 3's window has no price to learn from
        assert before["xgboost"][2] != after["xgboost"][2]  # fold 3 forecasts with the poisoned prices
