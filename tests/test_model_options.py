"""Prophet and XGBoost options: they reach the fitted models (read back from the model MLflow logged),
the search runs inside the backtest folds only, and bad options are one-line errors."""

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

from forecasting.backtest import BacktestSpec, run_backtest
from forecasting.contract import DataSpec
from forecasting.errors import ConfigError
from forecasting.mlops.segment_run import record_segment
from forecasting.mlops.tracking import start_training_run
from forecasting.models import ModelSpec, SeriesContext, make_forecaster
from forecasting.models.options import parse_assignments
from forecasting.pipeline import ForecastJob, train_segment
from forecasting.selection import refit
from forecasting.validation import ValidationPolicy, validate

BIN = Path(sys.executable).parent / "forecast-flows"


def test_prophet_and_xgboost_options_reach_the_logged_models(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text("ds,holiday,upper_window\n2024-03-01,spring_promo,2\n2024-05-01,spring_promo,2\n2024-06-15,closing,0\n")
    options = {"prophet": {"seasonality_mode": "multiplicative", "changepoint_prior_scale": 0.5, "seasonality_prior_scale": 3,
                           "holidays_prior_scale": 2, "growth": "flat", "holidays_file": str(events)},
               "xgboost": {"n_estimators": 60, "max_depth": 6, "learning_rate": 0.2, "lags": 10}}
    spec = ModelSpec.model_validate({"models": ["prophet", "xgboost"], "holidays_country": None, **options})
    with local_mlflow(tmp_path) as (config, client):
        report, prepared = prepared_segments(daily_frame(region="EU"), segment_cols=["region"])
        segment = prepared["region=EU"]
        # the fitted model as MLflow logged it, loaded back through MLflow
        fitted = {}
        for family in ("prophet", "xgboost"):
            run_id, _, _ = log_family(config, family, segment, models=spec)
            fitted[family] = mlflow.pyfunc.load_model(f"runs:/{run_id}/model").unwrap_python_model().forecaster
        # and the training path: every candidate's settings in its segment run, whichever family won
        outcome = train_segment(segment, report.segments["region=EU"], ForecastJob(models=spec, backtest={"horizon": 14, "folds": 2}))
        parent = start_training_run(config, {"orchestration_run_id": "options"})
        record = record_segment(config, parent, segment, outcome.report, outcome.backtest, outcome.selection, 14)
        params = client.get_run(record.run_id).data.params

    prophet = fitted["prophet"].model
    assert prophet.seasonality_mode == "multiplicative" and prophet.growth == "flat"
    assert (prophet.changepoint_prior_scale, prophet.seasonality_prior_scale, prophet.holidays_prior_scale) == (0.5, 3.0, 2.0)
    # the events travel inside the model (Prophet's JSON), not as a path to a file
    assert sorted(set(prophet.holidays["holiday"])) == ["closing", "spring_promo"] and prophet.holidays["upper_window"].max() == 2
    xgb = fitted["xgboost"]
    booster = xgb._model.get_params()
    assert (booster["n_estimators"], booster["max_depth"], booster["learning_rate"]) == (60, 6, 0.2) and xgb._lags == 10
    assert params["prophet.seasonality_mode"] == "multiplicative" and params["prophet.growth"] == "flat" and params["prophet.events"] == "3"
    assert params["xgboost.max_depth"] == "6" and params["xgboost.lags"] == "10"


def twin_segments():
    """Two daily series identical up to the first backtest fold's cutoff (day 210 of 300), different
    after it: a trend and a faster cycle appear in B."""
    rng = np.random.default_rng(1)
    ds = pd.date_range("2024-01-01", periods=300, freq="D")
    a = np.asarray(100 + 10 * np.sin(2 * np.pi * ds.dayofweek / 7) + rng.normal(0, 1, 300))
    b = a.copy()
    t = np.arange(90)
    b[210:] = a[210:] + 0.8 * t + 15 * np.sin(2 * np.pi * t / 3.5)
    frame = pd.concat([pd.DataFrame({"ds": ds.strftime("%Y-%m-%d"), "y": np.round(y, 4).astype(str), "series": name})
                       for name, y in (("A", a), ("B", b))])
    _, prepared = validate(frame, DataSpec(segment_cols=["series"]), ValidationPolicy(), 30, 3)
    return prepared["series=A"], prepared["series=B"]


def test_the_search_is_chosen_inside_the_first_fold_and_reused_by_the_later_ones():
    spec = ModelSpec(models=["prophet"], holidays_country=None, prophet={"search": True})
    a, b = twin_segments()
    backtests = {seg.key: run_backtest(seg, spec, BacktestSpec(horizon=30, folds=3)) for seg in (a, b)}
    searches = {key: bt.candidates["prophet"].params["search"] for key, bt in backtests.items()}
    cutoff = backtests["series=A"].cutoffs[0]
    assert str(cutoff.date()) == "2024-07-28"
    for record in searches.values():
        # scored on an inner split of fold 1's training window: nothing after fold 1's cutoff
        assert record["settings"] == 12 and pd.Timestamp(record["scored_through"]) <= cutoff
        assert pd.Timestamp(record["fitted_through"]) < pd.Timestamp(record["scored_through"])
    # B differs from A only after that cutoff, so every fold made the same choice for both...
    assert searches["series=A"] == searches["series=B"]
    # ...although a search that sees the data after it chooses differently (what a leak would do)
    finals = {seg.key: refit("prophet", seg, backtests[seg.key], spec).params["search"] for seg in (a, b)}
    assert finals["series=A"]["chosen"] != finals["series=B"]["chosen"]
    assert all(f["scored_through"] == "2024-10-26" for f in finals.values())


def test_without_options_the_families_fit_as_before():
    history = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=120, freq="D")})
    history["y"] = 50 + 5 * np.sin(np.arange(120) / 2) + np.arange(120) * 0.1
    plain = SeriesContext(frequency="D", season_length=7)
    defaults = SeriesContext(frequency="D", season_length=7, options=ModelSpec().family_options())
    for family in ("prophet", "xgboost"):
        before = make_forecaster(family, plain).fit(history).forecast(14)
        after = make_forecaster(family, defaults).fit(history).forecast(14)
        pd.testing.assert_frame_equal(before, after)


def test_a_context_pickled_before_options_existed_reads_the_defaults():
    import pickle

    context = SeriesContext(frequency="D", season_length=7)
    old = object.__new__(SeriesContext)
    object.__setattr__(old, "__dict__", {k: v for k, v in context.__dict__.items() if k != "options"})
    restored = pickle.loads(pickle.dumps(old))
    assert "options" not in restored.__dict__ and restored.family_options("prophet") == {}


@pytest.mark.parametrize("assignment, message", [
    ("prophet.seasonality_mode=bogus", "model option prophet.seasonality_mode='bogus': Input should be 'additive' or 'multiplicative'; allowed: additive | multiplicative"),
    ("prophet.bogus=1", "model option 'prophet.bogus': unknown option; prophet options: seasonality_mode, changepoint_prior_scale"),
    ("lightgbm.depth=3", "model option 'lightgbm.depth': no options for 'lightgbm'; families with options: prophet, xgboost"),
    ("xgboost.max_depth=40", "model option xgboost.max_depth='40': Input should be less than or equal to 12; allowed: an integer >= 1 and <= 12"),
    ("prophet.growth=logistic", "allowed: linear | flat"),
    ("xgboost.search=maybe", "allowed: true | false"),
    ("prophet.seasonality_mode", "expected FAMILY.OPTION=VALUE"),
])
def test_bad_model_options_are_one_line_errors_naming_the_option_and_what_it_allows(assignment, message):
    with pytest.raises(ConfigError) as error:
        parse_assignments([assignment])
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_bad_holidays_file_names_the_file_the_row_and_the_column(tmp_path):
    bad = tmp_path / "events.csv"
    bad.write_text("ds,holiday\n2024-03-01,promo\nnot-a-date,promo\n")
    with pytest.raises(ConfigError, match=r"holidays_file '.*events.csv', row 3, column ds: .*'not-a-date'"):
        parse_assignments([f"prophet.holidays_file={bad}"])
    with pytest.raises(ConfigError, match="needs columns ds, holiday"):
        (tmp_path / "cols.csv").write_text("date,name\n2024-03-01,x\n")
        parse_assignments([f"prophet.holidays_file={tmp_path / 'cols.csv'}"])


def test_the_cli_takes_repeatable_model_options_and_refuses_bad_ones_in_one_line(tmp_path):
    from flows.cli.parser import build_parser
    from flows.cli.training import job_from_args

    args = build_parser().parse_args(["forecast", "--data", "x.csv", "--output", "y.csv", "--model-option", "prophet.seasonality_mode=multiplicative",
                                      "--model-option", "prophet.search=true", "--model-option", "xgboost.lags=14"])
    job = job_from_args(args)
    assert job.models.prophet.seasonality_mode == "multiplicative" and job.models.prophet.search and job.models.xgboost.lags == 14
    assert job.models.prophet.changepoint_prior_scale == 0.05  # not given: the model's default
    data = tmp_path / "data.csv"
    daily_frame(region="EU").to_csv(data, index=False)
    result = subprocess.run([str(BIN), "forecast", "--data", str(data), "--output", str(tmp_path / "out.csv"),
                             "--model-option", "prophet.changepoint_prior_scale=-1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("error: model option prophet.changepoint_prior_scale='-1': Input should be greater than 0; "
                                      "allowed: a number > 0 and <= 10")
    assert not (tmp_path / "out.csv").exists()


def test_the_prefect_form_shows_the_options():
    from flows.parameters import TrainingParameters

    schema = json.dumps(TrainingParameters.model_json_schema())
    for name in ("ProphetOptions", "XGBoostOptions", "seasonality_mode", "changepoint_prior_scale", "holidays_prior_scale",
                 "max_depth", "learning_rate", "lags", "holidays_file"):
        assert name in schema
