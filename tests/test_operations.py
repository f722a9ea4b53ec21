"""The operations flows on a real Prefect test API and real MLflow (SQLite): a champion trained on held-back
history, actuals that arrive later (one segment shifted on purpose), the comparison that flags it and starts
its retraining through a real deployment, batch inference from the champion alias, registry cleanup."""

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import segments_csv
from mlflow_helpers import local_mlflow

HISTORY_DAYS, HORIZON = 200, 14
FAST = {"models": {"models": ["ets", "theta"], "holidays_country": None}, "backtest": {"horizon": HORIZON, "folds": 2}}
SHIFTED = "region=US"


def training_params(data, **overrides):
    from flows.training import TrainingParameters

    base = {"data_path": str(data), "data": {"segment_cols": ["region"]}, **FAST, "tracking": {"experiment": "ops-tests"},
            "skip_deploy": True, "policy": {"retry_backoff_seconds": 0.1}}
    return TrainingParameters.model_validate({**base, **overrides})


@pytest.fixture(scope="module")
def trained(prefect_harness, tmp_path_factory):
    """Champions trained on the first 200 days; the next 14 days held back as actuals (US shifted +60 %)."""
    from flows.training import forecast_training

    home = tmp_path_factory.mktemp("ops")
    with local_mlflow(home) as (config, client):
        full = pd.read_csv(segments_csv(home / "all.csv", days=HISTORY_DAYS + HORIZON), dtype=str)
        full["day"] = full.groupby("region").cumcount()
        history, actuals = full[full["day"] < HISTORY_DAYS].drop(columns="day"), full[full["day"] >= HISTORY_DAYS].drop(columns="day")
        shifted = actuals["region"] == "US"
        actuals.loc[shifted, "y"] = (actuals.loc[shifted, "y"].astype(float) * 1.6).round(4).astype(str)
        history.to_csv(home / "history.csv", index=False)
        actuals.to_csv(home / "actuals.csv", index=False)
        newest = pd.concat([history, actuals]).sort_values(["region", "ds"])
        newest.to_csv(home / "newest.csv", index=False)  # what the next retraining sees
        result = forecast_training(training_params(home / "history.csv"))
        yield {"home": home, "client": client, "config": config, "result": result}


def comparison_params(home, **policy):
    from flows.actuals_comparison import ComparisonParameters

    return ComparisonParameters.model_validate({
        "actuals_path": str(home / "actuals.csv"), "data": {"segment_cols": ["region"]}, "tracking": {"experiment": "ops-tests"},
        "output_path": str(home / "comparison.csv"), "policy": policy, "training_deployment": "forecast-training/retrain-on-drift",
    })


def test_promotion_persists_the_champion_forecast_in_its_run(trained):
    client = trained["client"]
    for row in trained["result"]["segments"]:
        run = client.get_run(row["mlflow_run_id"])
        assert run.data.tags["champion_forecast"] == "true" and run.data.tags["promoted_version"] == row["version"]
        assert row["why"].startswith(row["champion"]) and run.data.tags["champion_reason"] == row["why"]  # why it won
        files = [a.path for a in client.list_artifacts(row["mlflow_run_id"], "champion_forecasts")]
        assert len(files) == 1 and files[0].endswith(f"-v{row['version']}.csv")


def test_comparison_flags_the_shifted_segment_and_starts_its_retraining(trained):
    """The issue's "done when": report produced, the shifted segment flagged, its retraining started."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
    )
    from prefect.flow_engine import run_flow

    from flows.actuals_comparison import actuals_comparison
    from flows.training import forecast_training

    home, client = trained["home"], trained["client"]
    deployment_id = forecast_training.to_deployment(
        name="retrain-on-drift", parameters={"params": training_params(home / "newest.csv").model_dump(mode="json")}).apply()

    result = actuals_comparison(comparison_params(home, on_drift="retrain"))

    rows = {r["segment"]: r for r in result["segments"]}
    assert set(rows) == {"region=APAC", "region=EU", "region=US"}
    assert result["drifting"] == [SHIFTED]
    assert rows[SHIFTED]["status"] == "critical" and rows[SHIFTED]["bias"] < -0.3 and rows[SHIFTED]["consecutive_misses"] == HORIZON
    for calm in ("region=APAC", "region=EU"):
        assert rows[calm]["status"] in ("excellent", "good") and not rows[calm]["drifting"]
        assert rows[calm]["periods"] == HORIZON and 0.5 <= rows[calm]["coverage"] <= 1.0
    # volume-weighted totals: the large US segment (level 200) weighs more than EU (100)
    volumes = {k: abs(r["actual_total"]) for k, r in rows.items()}
    expected = sum(rows[k]["mape"] * v for k, v in volumes.items()) / sum(volumes.values())
    assert result["totals"]["mape"] == pytest.approx(expected)
    # a file, a markdown summary and the JSON report
    table = pd.read_csv(result["report_path"])
    assert set(table["segment"]) == set(rows) and {"mape", "wape", "bias", "coverage", "status"} <= set(table.columns)
    summary = Path(result["summary_path"]).read_text()
    assert "keep missing" in summary and SHIFTED in summary
    assert json.loads(Path(result["report_path"]).with_suffix(".json").read_text())["drifting"] == [SHIFTED]

    # the training deployment was started, for the shifted segment only
    with get_client(sync_client=True) as prefect:
        runs = prefect.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])))
        assert [str(r.id) for r in runs] == [result["retraining"]["flow_run_id"]]
        assert runs[0].parameters["params"]["only_segments"] == [SHIFTED]
        assert "drift" in runs[0].tags
        # and that run, executed (what a worker would do), retrains only that segment on the newest data
        before = {r["segment"]: r["version"] for r in trained["result"]["segments"]}
        retrained = run_flow(forecast_training, flow_run=runs[0], parameters=runs[0].parameters)
    assert [r["segment"] for r in retrained["segments"]] == [SHIFTED]
    from forecasting.mlops.config import RegistryConfig

    registry = RegistryConfig()
    for segment, version in before.items():
        now = str(client.get_model_version_by_alias(registry.name_for(segment), "champion").version)
        assert (now != version) == (segment == SHIFTED)


def test_flag_only_mode_starts_nothing(trained):
    from flows.actuals_comparison import actuals_comparison

    result = actuals_comparison(comparison_params(trained["home"], on_drift="flag", consecutive_periods=HORIZON + 1))
    assert result["drifting"] == [] and result["retraining"] is None


def test_the_comparison_run_shows_forecast_vs_actuals_charts(trained):
    """One card per segment on the run's Artifacts tab, the shifted segment ranked worst."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.actuals_comparison import actuals_comparison
    from forecasting.ops.charts import alt_text, chart_key

    state = actuals_comparison(comparison_params(trained["home"], on_drift="flag"), return_state=True)
    with get_client(sync_client=True) as prefect:
        found = prefect.read_artifacts(artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])))
    artifacts = {a.key: a for a in found}
    for key in ("region=APAC", "region=EU", "region=US"):
        card = artifacts[chart_key("actuals", key)]
        assert f"![{alt_text(key)}](data:image/png;base64," in card.description and "\n" not in card.description
        assert "forecast vs actuals" in card.data and "| ds | y | yhat |" in card.data
    assert artifacts[chart_key("actuals", SHIFTED)].description.startswith(f"**{SHIFTED}** · 1 of 3, worst first · ")


def test_batch_inference_forecasts_every_champion_with_lineage(trained):
    from flows.batch_inference import BatchInferenceParameters, batch_inference
    from forecasting.mlops.config import RegistryConfig

    home, client = trained["home"], trained["client"]
    out = home / "batch.parquet"
    result = batch_inference(BatchInferenceParameters(horizon=7, tracking={"experiment": "ops-tests"}, output_path=str(out)))
    table = pd.read_parquet(out)
    assert result["segments"] == 3 and len(table) == 3 * 7 and not result["failures"]
    registry = RegistryConfig()
    for segment, part in table.groupby("segment"):
        version = client.get_model_version_by_alias(registry.name_for(segment), "champion")
        assert set(part["version"]) == {str(version.version)} and set(part["run_id"]) == {version.run_id}
        assert set(part["registered_model"]) == {registry.name_for(segment)}
        assert part["region"].iloc[0] == segment.split("=")[1]
        assert list(part["ds"]) == sorted(part["ds"]) and (part["yhat_lower"] <= part["yhat_upper"]).all()


def test_cleanup_is_a_dry_run_by_default_and_never_deletes_a_champion(trained):
    """Runs after the retraining above, so the shifted segment has an old, un-aliased version."""
    from flows.model_cleanup import CleanupParameters, model_cleanup
    from forecasting.mlops.config import RegistryConfig

    client, name = trained["client"], RegistryConfig().name_for(SHIFTED)
    versions = lambda: sorted(int(v.version) for v in client.search_model_versions(f"name='{name}'"))  # noqa: E731
    assert len(versions()) == 2, "precondition: the retraining test registered a second version"
    plan = model_cleanup(CleanupParameters(keep=1, tracking={"experiment": "ops-tests"}))
    doomed = [p for p in plan if p["action"] == "would delete"]
    assert [(p["name"], p["version"]) for p in doomed] == [(name, "1")] and len(versions()) == 2
    model_cleanup(CleanupParameters(keep=1, dry_run=False, tracking={"experiment": "ops-tests"}))
    assert versions() == [2] and str(client.get_model_version_by_alias(name, "champion").version) == "2"


def test_endpoint_monitor_fails_loudly_when_nothing_serves(trained):
    from prefect.client.orchestration import get_client

    from flows.endpoint_monitor import (
        EndpointUnhealthy,
        MonitorParameters,
        endpoint_monitor,
    )

    state = endpoint_monitor(MonitorParameters(probes=1), return_state=True)
    assert state.is_failed()
    with pytest.raises(EndpointUnhealthy, match="local endpoint is down"):
        state.result()
    with get_client(sync_client=True) as prefect:
        artifact = prefect.read_latest_artifacts()
    assert any(a.key == "endpoint-monitor" and "DOWN" in (a.data or "") for a in artifact)


def test_compare_actuals_cli_prints_the_table_and_exits_1_on_drift(trained, capsys):
    from flows.cli import main

    home = trained["home"]
    code = main(["compare-actuals", "--actuals", str(home / "actuals.csv"), "--segment-cols", "region", "--experiment", "ops-tests",
                 "--output", str(home / "cli-report.xlsx")])
    out, err = capsys.readouterr()
    assert code == 1 and "drifting (flagged, not retrained): region=US" in err
    line = next(line for line in out.splitlines() if line.startswith("region=US"))
    assert "critical" in line and line.rstrip().endswith("DRIFTING")
    assert (home / "cli-report.xlsx").exists() and (home / "cli-report.md").exists()
    assert main(["compare-actuals", "--actuals", str(home / "missing.csv"), "--segment-cols", "region"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [f"error: data file {str(home / 'missing.csv')!r} does not exist"]
