"""The forecast-training flow end to end on a real Prefect test API, real MLflow (SQLite) and real
local serving (`mlflow models serve` on loopback)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import segments_csv
from mlflow_helpers import local_mlflow

BIN = Path(sys.executable).parent / "forecast-flows"
FAST = {"models": {"models": ["ets", "theta"], "holidays_country": None}, "backtest": {"horizon": 14, "folds": 2}}


def params(data, **overrides):
    from flows.training import TrainingParameters

    base = {"data_path": str(data), "data": {"segment_cols": ["region"]}, **FAST, "tracking": {"experiment": "flow-tests"},
            "policy": {"retry_backoff_seconds": 0.1}}
    base.update(overrides)
    return TrainingParameters.model_validate(base)


@pytest.fixture(scope="module")
def e2e(prefect_harness, tmp_path_factory):
    """3 healthy segments and a broken one, trained, registered, routed and served locally."""
    from flows.training import forecast_training
    from forecasting.serving.local import LocalTarget

    home = tmp_path_factory.mktemp("e2e")
    with local_mlflow(home) as (config, client):
        data = segments_csv(home / "data.csv", regions=("EU", "US", "APAC", "BAD"), broken="BAD")
        state = forecast_training(params(data), return_state=True)
        yield {"state": state, "client": client, "home": home, "data": data}
        LocalTarget().undeploy()


def test_end_to_end_trains_registers_and_serves_every_healthy_segment(e2e):
    from forecasting.serving.local import LocalTarget

    assert e2e["state"].is_completed()
    report = e2e["state"].result()
    rows = {row["segment"]: row for row in report["segments"]}
    assert [rows[k]["status"] for k in ("region=APAC", "region=EU", "region=US")] == ["trained"] * 3
    assert rows["region=BAD"]["status"] == "failed" and "non-numeric values 'oops'" in rows["region=BAD"]["reason"]
    client = e2e["client"]
    for key in ("region=APAC", "region=EU", "region=US"):
        assert str(client.get_model_version_by_alias(rows[key]["registered_model"], "champion").version) == rows[key]["version"]
    assert report["router"]["promoted"] and report["endpoint"]["segments"] == 3
    # the endpoint answers for every segment, from the frozen router
    target = LocalTarget()
    status = target.status()
    assert status.ready and status.url.startswith("http://127.0.0.1:")
    request = pd.DataFrame({"region": ["EU", "US", "APAC"], "ds": ["2024-07-19"] * 3})
    answer = target.predict(request)
    assert answer["region"].tolist() == ["EU", "US", "APAC"] and answer["yhat"].notna().all()


def test_the_run_leaves_its_artifacts_in_the_prefect_ui(e2e):
    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    flow_run_id = e2e["state"].state_details.flow_run_id

    async def read():
        async with get_client() as api:
            return await api.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    import asyncio

    artifacts = {a.key: a for a in asyncio.run(read())}
    assert {"validation-report", "leaderboard", "training-progress", "training-summary", "failures", "forecast-charts"} <= set(artifacts)
    assert "3 of 4 segments trained" in artifacts["training-summary"].data
    assert "**First forecast**: no previous vintage of these dates for any of the 3 segment(s)" in artifacts["training-summary"].data
    # no MLflow UI is up: the summary names the store and how to browse it (tests/test_ui.py: the links when it is)
    assert "- MLflow: sqlite:///" in artifacts["training-summary"].data and "(browse it: forecast-flows server start)" in artifacts["training-summary"].data
    assert artifacts["training-progress"].data == 100.0
    # a chart per trained segment, on its card (the description), and none for the broken one
    from forecasting.ops.charts import alt_text, chart_key

    for key in ("region=APAC", "region=EU", "region=US"):
        card = artifacts[chart_key("forecast", key)].description
        assert card.startswith(f"**{key}** · ") and f"![{alt_text(key)}](data:image/png;base64," in card and "\n" not in card
    assert chart_key("forecast", "region=BAD") not in artifacts
    index = artifacts["forecast-charts"].data
    assert all(f"| {key} |" in index for key in ("region=APAC", "region=EU", "region=US")) and "region=BAD" not in index
    leaderboard = json.loads(artifacts["leaderboard"].data)
    assert {row["model"] for row in leaderboard} >= {"naive", "seasonal_naive", "ets", "theta"}
    assert sum(row["champion"] == "★" for row in leaderboard) == 3
    assert "region=BAD" in artifacts["failures"].data
    # the bridges from last year: 200 days of history is less than a year before the forecast, so no bridge, and the index says why
    assert "have no actual a year earlier" in artifacts["bridges"].data and "bridge-total" not in artifacts


def test_what_changed_since_the_last_forecast_splits_the_new_actuals_from_the_rest(e2e, tmp_path):
    """A week of new actuals after the e2e run: per segment, the change in the forecast total over the 7
    days both forecasts cover = data (the previous forecast's mean miss on the new week, times 7) + model
    + rest, measured against the forecast the previous champion made when it was promoted (MLflow)."""
    from flows.training import forecast_training
    from forecasting.mlops.champion_forecasts import version_forecast

    later = segments_csv(tmp_path / "later.csv", regions=("EU", "US", "APAC"), days=207)  # the same 200 days, then a week more
    before = {r["segment"]: r for r in e2e["state"].result()["segments"] if r["status"] == "trained"}
    with local_mlflow(e2e["home"]) as (config, client):
        report = forecast_training(params(later, skip_deploy=True))
        kept = {key: version_forecast(client, row["registered_model"], row["version"]) for key, row in before.items()}
    changes = report["changes"]
    assert changes["first"] == [] and changes["looked_in"].startswith("MLflow")
    rows = changes["segments"]
    assert sorted(r["segment"] for r in rows) == sorted(before)
    assert [abs(r["change"]) for r in rows] == sorted((abs(r["change"]) for r in rows), reverse=True)  # moved most first
    actuals = pd.read_csv(later)
    for row in rows:
        region = row["segment"].removeprefix("region=")
        previous = kept[row["segment"]].set_index("ds")["yhat"]
        new = actuals[(actuals["region"] == region) & (actuals["ds"] > "2024-07-18")].set_index("ds")["y"]
        assert row["overlap_periods"] == 7 and row["new_actuals"] == 7 and row["first"] == "2024-07-26"
        assert row["previous_total"] == pytest.approx(previous.loc["2024-07-26":"2024-08-01"].sum(), rel=1e-9)
        assert row["data"] == pytest.approx((new - previous.loc[new.index]).mean() * 7, rel=1e-9)
        assert row["data"] + row["model"] + row["rest"] == pytest.approx(row["change"], rel=1e-9, abs=1e-9)
        assert row["change"] == pytest.approx(row["current_total"] - row["previous_total"], rel=1e-9)
        assert row["source"] == f"MLflow: champion v{before[row['segment']]['version']}"


def test_endpoint_monitor_probes_the_served_router_and_fails_loudly_when_slow(e2e):
    from flows.endpoint_monitor import (
        EndpointUnhealthy,
        MonitorParameters,
        endpoint_monitor,
    )

    with local_mlflow(e2e["home"]):
        report = endpoint_monitor(MonitorParameters(probes=3))
        slow = endpoint_monitor(MonitorParameters(probes=2, max_latency_ms=0.01), return_state=True)
    assert report["ready"] and report["url"].startswith("http://127.0.0.1:") and report["version"] == e2e["state"].result()["router"]["version"]
    assert len(report["latencies_ms"]) == 3 and not report["errors"] and 0 < report["p50_ms"] <= report["p95_ms"] < 2000
    assert slow.is_failed()
    with pytest.raises(EndpointUnhealthy, match=r"local endpoint is slow: p95 latency \d+ ms > 0 ms"):
        slow.result()


def test_rerun_with_the_same_data_trains_nothing_and_changed_data_retrains(e2e, tmp_path):
    from flows.training import forecast_training

    with local_mlflow(e2e["home"]):
        again = forecast_training(params(e2e["data"], skip_deploy=True))
        assert sorted(r["status"] for r in again["segments"]) == ["cached", "cached", "cached", "failed"]
        changed = pd.read_csv(e2e["data"], dtype=str)
        changed.loc[changed["region"] == "EU", "y"] = (changed.loc[changed["region"] == "EU", "y"].astype(float) * 1.5).astype(str)
        changed.to_csv(tmp_path / "changed.csv", index=False)
        third = forecast_training(params(tmp_path / "changed.csv", skip_deploy=True))
        statuses = {r["segment"]: r["status"] for r in third["segments"]}
        assert statuses["region=EU"] == "trained" and statuses["region=US"] == "cached"


def test_a_segment_absent_from_todays_data_keeps_its_champion_in_the_router(e2e, tmp_path):
    """docs/flows.md: the router covers every segment that has a champion. Before, a retraining on a file
    without APAC rebuilt the router without it, and the endpoint answered "unknown segment"."""
    from flows.training import forecast_training
    from forecasting.serving.local import LocalTarget

    today = pd.read_csv(e2e["data"], dtype=str)
    today = today[today["region"].isin(["EU", "US"])]
    today.to_csv(tmp_path / "today.csv", index=False)
    with local_mlflow(e2e["home"]):
        report = forecast_training(params(tmp_path / "today.csv"))
    assert sorted(r["segment"] for r in report["segments"]) == ["region=EU", "region=US"]
    assert report["router"]["promoted"] and report["endpoint"]["segments"] == 3
    answer = LocalTarget().predict(pd.DataFrame({"region": ["APAC", "EU"], "ds": ["2024-07-19"] * 2}))
    assert answer["region"].tolist() == ["APAC", "EU"] and answer["yhat"].notna().all()


def test_failed_fraction_above_the_tolerance_fails_the_run(prefect_harness, tmp_path):
    from flows.training import TrainingFailed, forecast_training

    with local_mlflow(tmp_path):
        data = segments_csv(tmp_path / "d.csv", regions=("EU", "BAD"), broken="BAD")
        state = forecast_training(params(data, skip_deploy=True, policy={"max_failed_fraction": 0.25}), return_state=True)
        assert state.is_failed()
        error = state.result(raise_on_failure=False)
        assert isinstance(error, TrainingFailed) and "1 of 2 segments failed (50% > max_failed_fraction 25%)" in str(error)
        assert {r["segment"]: r["status"] for r in error.report["segments"]} == {"region=BAD": "failed", "region=EU": "trained"}


def test_a_failed_smoke_test_leaves_the_other_champions_of_its_task_alone(prefect_harness, tmp_path):
    """Two segments published by one task run: the second fails its smoke test; the first stays
    champion and stays tagged as passed (no rollback reaches across segments)."""
    from conftest import daily_frame
    from mlflow_helpers import log_family, prepared_segments
    from prefect import flow, task

    from forecasting.mlops.registry import CHAMPION, alias_version
    from forecasting.mlops.smoke import SmokeReport, smoke_test
    from tasks.publish import publish_model

    with local_mlflow(tmp_path) as (config, client):
        _, prepared = prepared_segments(daily_frame())
        good_run, good_uri, _ = log_family(config, "naive", prepared["all"])
        bad_run, bad_uri, _ = log_family(config, "ets", prepared["all"])
        failing = lambda model_uri: SmokeReport(model_uri, failures=["horizon forecast: non-finite forecast values"])  # noqa: E731

        @task
        def publish_two():
            first = publish_model(client, "a", "chunk_a", good_uri, good_run, {}, check=smoke_test)
            second = publish_model(client, "b", "chunk_b", bad_uri, bad_run, {}, check=failing)
            return first, second

        @flow
        def publish_flow():
            return publish_two()

        first, second = publish_flow()
        assert first.promoted and not second.promoted
        assert alias_version(client, "chunk_a", CHAMPION) == first.version
        assert client.get_model_version("chunk_a", first.version).tags["smoke_test"] == "passed"
        assert alias_version(client, "chunk_b", CHAMPION) is None  # a failing version never becomes champion
        tags = client.get_model_version("chunk_b", second.version).tags
        assert tags["smoke_test"] == "failed" and "non-finite" in tags["smoke_failures"]


@pytest.mark.slow
def test_a_killed_run_resumes_without_retraining_finished_segments(tmp_path):
    """SIGKILL the CLI half way through; the same command again trains only what was unfinished."""
    data = segments_csv(tmp_path / "d.csv", regions=("A", "B", "C", "D"), days=300)
    env = {**os.environ, "FORECAST_FLOWS_HOME": str(tmp_path / "home"), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("PREFECT_API_URL", None)
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [str(BIN), "train", "--data", str(data), "--segment-cols", "region", "--models", "ets,theta",
               "--horizon", "14", "--folds", "2", "--holidays", "none", "--skip-deploy", "--task-runner", "threads", "--max-workers", "1",
               "--report", str(tmp_path / "r.json")]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    results = tmp_path / "home" / "prefect-results"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(results.glob("train-*"))) < 2:
        assert first.poll() is None, "the first run ended before it could be killed"
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    finished = len(list(results.glob("train-*")))
    assert 2 <= finished < 4, "the run must be killed half way"
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr[-2000:]
    report = json.loads((tmp_path / "r.json").read_text())
    statuses = [row["status"] for row in report["segments"]]
    assert statuses.count("cached") == finished and statuses.count("trained") == 4 - finished
    with local_mlflow(tmp_path / "home") as (_, client):
        experiment = client.get_experiment_by_name("finance-forecast")
        children = client.search_runs([experiment.experiment_id], "tags.segment != ''", max_results=100)
        finished_children = [r for r in children if r.info.status == "FINISHED"]
        assert len(finished_children) == 4  # each segment fitted and logged once across both runs
        for key in ("region=A", "region=B", "region=C", "region=D"):
            name = next(r["registered_model"] for r in report["segments"] if r["segment"] == key)
            assert len(client.search_model_versions(f"name='{name}'")) == 1
