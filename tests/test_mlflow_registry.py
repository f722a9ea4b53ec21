"""MLflow tracking, the pyfunc wrapper, registry aliases, the router, smoke tests and cleanup, against a
real MLflow on SQLite in a temporary directory."""

import json
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from conftest import daily_frame
from mlflow_helpers import local_mlflow, log_family, prepared_segments

from forecasting.errors import ConfigError
from forecasting.mlops.config import (
    PLOT_AUTO_MAX_SEGMENTS,
    RegistryConfig,
    validate_model_name,
)
from forecasting.mlops.promotion import publish
from forecasting.mlops.registry import (
    CHALLENGER,
    CHAMPION,
    alias_version,
    cleanup,
    register,
)
from forecasting.mlops.router import Route, log_router, smoke_test_router
from forecasting.mlops.segment_run import record_segment
from forecasting.mlops.tracking import start_training_run
from forecasting.pipeline import ForecastJob, train_segment

BIN = Path(sys.executable).parent / "forecast-flows"


def covariate_frame(days=200, seed=3):
    rng = np.random.default_rng(seed)
    frame = daily_frame(days=days, seed=seed, region="PROMO")
    promo = (rng.random(days + 14) < 0.3).astype(float)
    frame["y"] = (frame["y"].astype(float) + 40 * promo[:days]).round(3).astype(str)
    frame["promo"] = promo[:days]
    future = pd.DataFrame({"ds": pd.date_range(pd.Timestamp(frame["ds"].iloc[-1]) + pd.Timedelta(days=1), periods=14).strftime("%Y-%m-%d"), "region": "PROMO", "promo": promo[days:]})
    return pd.concat([frame, future], ignore_index=True)


@pytest.fixture(scope="module")
def registry_world(tmp_path_factory):
    """Five segments, each with a chosen family logged and registered: prophet, arima, ets, xgboost,
    and an arima segment driven by a covariate."""
    with local_mlflow(tmp_path_factory.mktemp("mlflow")) as (config, client):
        plain = pd.concat([daily_frame(region=r, seed=i) for i, r in enumerate(["P", "A", "E", "X"])], ignore_index=True)
        _, prepared = prepared_segments(plain, segment_cols=["region"])
        _, with_cov = prepared_segments(covariate_frame(), segment_cols=["region"], covariate_cols=["promo"])
        prepared.update(with_cov)
        families = {"region=P": "prophet", "region=A": "arima", "region=E": "ets", "region=X": "xgboost", "region=PROMO": "arima"}
        registry = RegistryConfig(model_prefix="test")
        world = {"config": config, "client": client, "registry": registry, "segments": prepared, "versions": {}, "forecasters": {}}
        for key, family in families.items():
            run_id, uri, forecaster = log_family(config, family, prepared[key])
            name = registry.name_for(key)
            result = publish(client, key, name, uri, run_id, {"segment": key, "run_id": run_id})
            world["versions"][key] = (name, result.version, run_id, uri)
            world["forecasters"][key] = forecaster
        yield world


def test_each_segment_has_its_own_registered_model_with_champion_alias(registry_world):
    client = registry_world["client"]
    names = {name for name, *_ in registry_world["versions"].values()}
    assert len(names) == 5
    for key, (name, version, run_id, _) in registry_world["versions"].items():
        assert alias_version(client, name, CHAMPION) == version == alias_version(client, name, CHALLENGER)
        tags = client.get_model_version(name, version).tags
        assert tags["segment"] == key and tags["run_id"] == run_id and tags["smoke_test"] == "passed"


def test_registering_the_same_run_twice_reuses_its_version(registry_world):
    client = registry_world["client"]
    name, version, run_id, uri = registry_world["versions"]["region=E"]
    again = register(client, name, uri, run_id, {"segment": "region=E"})
    assert again.version == version and again.reused
    assert len(client.search_model_versions(f"name='{name}'")) == 1


def test_load_by_version_and_by_alias_answer_the_same(registry_world):
    name, version, *_ = registry_world["versions"]["region=P"]
    request = pd.DataFrame({"ds": ["2024-07-19", "2024-07-20"]})
    by_version = mlflow.pyfunc.load_model(f"models:/{name}/{version}").predict(request)
    by_alias = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(request)
    pd.testing.assert_frame_equal(by_version, by_alias)
    assert list(by_version.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    assert by_version["ds"].tolist() == ["2024-07-19", "2024-07-20"]


def test_served_forecast_equals_the_training_forecast(registry_world):
    for key in ("region=A", "region=X", "region=PROMO"):
        name, version, *_ = registry_world["versions"][key]
        segment = registry_world["segments"][key]
        model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
        request = segment.future.assign(ds=segment.future["ds"].dt.strftime("%Y-%m-%d"))
        served = model.predict(request)
        trained = registry_world["forecasters"][key].forecast(pd.DatetimeIndex(segment.future["ds"]), segment.future)
        np.testing.assert_allclose(served["yhat"].to_numpy(), trained["yhat"].to_numpy(), rtol=1e-9)


def test_model_signature_has_inputs_outputs_and_an_example(registry_world):
    name, version, *_ = registry_world["versions"]["region=PROMO"]
    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    assert info.signature.inputs.input_names() == ["ds", "promo"]
    assert info.signature.outputs.input_names() == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    assert info.metadata["covariates"] == ["promo"] and info.metadata["last_date"] == "2024-07-18"


def test_prophet_is_stored_as_json_not_pickle(registry_world):
    name, version, *_ = registry_world["versions"]["region=P"]
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    stored = local / "artifacts" / "forecaster"
    assert json.loads((stored / "prophet.json").read_text())["__prophet_version"]
    assert b"prophet.forecaster" not in (stored / "forecaster.pkl").read_bytes()


def test_requests_with_timezones_or_bad_dates_are_refused(registry_world):
    name, version, *_ = registry_world["versions"]["region=E"]
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    with pytest.raises(mlflow.exceptions.MlflowException, match="timezone-naive"):
        model.predict(pd.DataFrame({"ds": ["2024-07-19T00:00:00+02:00"]}))
    with pytest.raises(mlflow.exceptions.MlflowException, match="not after the last observed period 2024-07-18"):
        model.predict(pd.DataFrame({"ds": ["2024-07-01"]}))


def test_router_routes_every_family_and_refuses_unknown_segments(registry_world):
    client = registry_world["client"]
    routes = [Route(key, {"region": key.split("=")[1]}, name, version) for key, (name, version, *_) in registry_world["versions"].items()]
    run_id = start_training_run(registry_world["config"], {"test": "router"})
    with mlflow.start_run(run_id=run_id):
        info, size = log_router(routes, ["region"])
    router_name = registry_world["registry"].router_name()
    result = publish(client, "router", router_name, info.model_uri, run_id, {"kind": "router"}, check=smoke_test_router)
    assert result.promoted, result.smoke.failures
    assert size > 0 and result.smoke.requests == 5
    router = mlflow.pyfunc.load_model(f"models:/{router_name}/{result.version}")
    promo = registry_world["segments"]["region=PROMO"].future.iloc[:2]
    request = pd.DataFrame({
        "region": ["P", "A", "E", "X", "PROMO", "PROMO"],
        "ds": ["2024-07-19"] * 5 + ["2024-07-20"],
        "promo": [None, None, None, None, *promo["promo"].tolist()],
    })
    answer = router.predict(request)
    assert answer["region"].tolist() == request["region"].tolist()
    assert answer["model"].tolist()[:5] == ["prophet", "arima", "ets", "xgboost", "arima"]
    direct = mlflow.pyfunc.load_model("models:/{}/{}".format(*registry_world["versions"]["region=PROMO"][:2]))
    expected = direct.predict(pd.DataFrame({"ds": ["2024-07-19", "2024-07-20"], "promo": promo["promo"].tolist()}))
    np.testing.assert_allclose(answer["yhat"].iloc[4:].to_numpy(), expected["yhat"].to_numpy())
    with pytest.raises(mlflow.exceptions.MlflowException, match=r"unknown segment 'region=MARS'; known segments: region=A, region=E"):
        router.predict(pd.DataFrame({"region": ["MARS"], "ds": ["2024-07-19"]}))


def test_a_model_failing_its_smoke_test_never_becomes_champion(registry_world):
    config, client = registry_world["config"], registry_world["client"]
    segment = registry_world["segments"]["region=E"]
    name, good_version, *_ = registry_world["versions"]["region=E"]
    run_id, uri, forecaster = log_family(config, "naive", segment)
    # corrupt the logged model: it now forecasts NaN, as a broken artifact would
    local = Path(mlflow.artifacts.download_artifacts(uri))
    broken = forecaster
    broken._last = float("nan")
    broken.save(local / "artifacts" / "forecaster")
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(name="broken", loader_module=None, python_model=mlflow.pyfunc.load_model(str(local)).unwrap_python_model(),
                                       artifacts={"forecaster": str(local / "artifacts" / "forecaster")},
                                       signature=mlflow.models.Model.load(local / "MLmodel").signature,
                                       input_example=pd.DataFrame({"ds": ["2024-07-19"]}), pip_requirements=["pandas"],
                                       metadata=mlflow.models.Model.load(local / "MLmodel").metadata)
    result = publish(client, "region=E", name, info.model_uri, run_id, {"segment": "region=E"})
    assert not result.promoted and "non-finite" in " ".join(result.smoke.failures)
    assert alias_version(client, name, CHAMPION) == good_version
    assert alias_version(client, name, CHALLENGER) == result.version
    assert client.get_model_version(name, result.version).tags["smoke_test"] == "failed"


def test_smoke_test_passes_in_a_fresh_process(registry_world):
    name, version, *_ = registry_world["versions"]["region=X"]
    uri = mlflow.get_tracking_uri()
    result = subprocess.run([str(BIN), "smoke", f"models:/{name}/{version}"], capture_output=True, text=True, timeout=120,
                            env={**__import__("os").environ, "MLFLOW_TRACKING_URI": uri})
    assert result.returncode == 0, result.stderr
    assert "passed" in result.stdout


def test_unity_catalog_names_are_validated_before_any_upload():
    registry = RegistryConfig(model_prefix="forecast", uc_catalog="main", uc_schema="finance")
    assert registry.name_for("region=EU").startswith("main.finance.forecast_region_eu_")
    assert registry.router_name() == "main.finance.forecast_router"
    with pytest.raises(ConfigError, match="three-level"):
        validate_model_name("main.forecast", unity_catalog=True)
    with pytest.raises(ValueError, match="lowercase letters"):
        RegistryConfig(uc_catalog="Main-Catalog", uc_schema="finance")
    with pytest.raises(ValueError, match="both uc_catalog and uc_schema"):
        RegistryConfig(uc_catalog="main")


def test_cleanup_keeps_the_newest_and_every_aliased_version(tmp_path):
    with local_mlflow(tmp_path) as (config, client):
        _, prepared = prepared_segments(daily_frame())
        segment = prepared["all"]
        versions = []
        for _ in range(4):
            run_id, uri, _ = log_family(config, "naive", segment)
            versions.append(register(client, "cleanup_test", uri, run_id, {}).version)
        client.set_registered_model_alias("cleanup_test", CHAMPION, versions[0])
        plan = cleanup(client, "cleanup_test", keep=2)
        actions = {row["version"]: row["action"] for row in plan}
        assert actions == {"4": "keep", "3": "keep", "2": "would delete", "1": "keep"}
        assert len(client.search_model_versions("name='cleanup_test'")) == 4  # dry run deleted nothing
        cleanup(client, "cleanup_test", keep=2, dry_run=False)
        remaining = sorted(v.version for v in client.search_model_versions("name='cleanup_test'"))
        assert [str(v) for v in remaining] == ["1", "3", "4"]


def test_segment_child_run_holds_metrics_params_and_artifacts(tmp_path):
    """What the MLflow UI shows for a segment: its metrics and params, the leaderboard, the backtest
    forecasts, the forecast, the validation report, the holdout, the plot, and the champion as a model
    carrying the champion's metrics; the run finished."""
    with local_mlflow(tmp_path) as (config, client):
        report, prepared = prepared_segments(daily_frame(region="EU"), segment_cols=["region"])
        segment = prepared["region=EU"]
        job = ForecastJob.model_validate({"models": {"models": ["ets", "theta"]}, "backtest": {"horizon": 14, "folds": 2}})
        outcome = train_segment(segment, report.segments["region=EU"], job)
        parent = start_training_run(config, {"orchestration_run_id": "abc", "data_hash": "d", "config_hash": "c"})
        record = record_segment(config, parent, segment, outcome.report, outcome.backtest, outcome.selection, 14)
        run = client.get_run(record.run_id)
        assert run.info.status == "FINISHED"
        assert run.data.tags["mlflow.parentRunId"] == parent and run.data.tags["segment"] == "region=EU"
        assert {"ets.mase", "theta.smape", "seasonal_naive.mase", "champion.mase", "holdout.mase"} <= set(run.data.metrics)
        assert all(np.isfinite(v) for v in run.data.metrics.values())
        assert "ets.config" in run.data.params and run.data.params["champion"] == outcome.selection.champion
        artifacts = {a.path for a in client.list_artifacts(record.run_id)}
        assert artifacts == {"leaderboard.csv", "backtest_forecasts.csv", "forecast.csv", "validation.json", "holdout.json", "forecast.png"}
        board = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=record.run_id, artifact_path="leaderboard.csv"))
        assert board.loc[board["champion"], "model"].tolist() == [outcome.selection.champion]
        backtest = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=record.run_id, artifact_path="backtest_forecasts.csv"))
        assert {"ets", "theta"} <= set(backtest["model"]) and backtest["fold"].nunique() == 2 and backtest["y"].notna().all()
        forecast = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=record.run_id, artifact_path="forecast.csv"))
        assert len(forecast) == 14 and {"ds", "yhat", "yhat_lower", "yhat_upper"} <= set(forecast.columns)
        validation = json.loads(Path(mlflow.artifacts.download_artifacts(run_id=record.run_id, artifact_path="validation.json")).read_text())
        assert validation["rows"] == 200 and validation["accounting"]["rows_read"] == 200  # every input row accounted for
        assert validation["accounting"]["rows_used"] + sum(d["rows"] for d in validation["accounting"]["drops"]) + validation["accounting"]["rows_merged"] == 200
        model = mlflow.get_logged_model(record.model_uri.removeprefix("models:/"))
        assert model.source_run_id == record.run_id and {m.key for m in model.metrics} >= {"champion.mase", "champion.smape"}
        assert mlflow.pyfunc.load_model(record.model_uri).metadata.metadata["segment"] == "region=EU"
        parent_tags = client.get_run(parent).data.tags
        assert parent_tags["orchestration_run_id"] == "abc" and parent_tags["code_version"]
        png = Path(mlflow.artifacts.download_artifacts(run_id=record.run_id, artifact_path="forecast.png"))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        experiment = client.get_experiment(run.info.experiment_id)
        assert experiment.artifact_location.startswith(Path(tmp_path).as_uri())
        # large runs skip the plot; nothing else changes
        bare = record_segment(config.for_run(PLOT_AUTO_MAX_SEGMENTS + 1), parent, segment, outcome.report, outcome.backtest, outcome.selection, 14)
        assert {a.path for a in client.list_artifacts(bare.run_id)} == artifacts - {"forecast.png"}
        # models.all_models: every candidate's forecast of the horizon beside the champion's, in the same run
        every = train_segment(segment, report.segments["region=EU"], job.model_copy(update={"models": job.models.model_copy(update={"all_models": True})}))
        full = record_segment(config, parent, segment, every.report, every.backtest, every.selection, 14)
        table = pd.read_csv(mlflow.artifacts.download_artifacts(run_id=full.run_id, artifact_path="candidate_forecasts.csv"))
        assert {"naive", "seasonal_naive", "drift", "mean", "ets", "theta"} <= set(table["model"])
        assert table.groupby("model").size().eq(14).all() and table.loc[table["champion"], "model"].unique().tolist() == [every.selection.champion]


def test_forecast_plots_are_drawn_for_small_runs_unless_set():
    from forecasting.mlops.config import TrackingConfig

    assert TrackingConfig().for_run(PLOT_AUTO_MAX_SEGMENTS).forecast_plot == "always"
    assert TrackingConfig().for_run(PLOT_AUTO_MAX_SEGMENTS + 1).forecast_plot == "never"
    assert TrackingConfig(forecast_plot="always").for_run(10_000).forecast_plot == "always"
    assert TrackingConfig(forecast_plot="never").for_run(1).forecast_plot == "never"