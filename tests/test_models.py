"""Every family behind one interface: dates on the anchor, deterministic, sane intervals, covariates."""

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import ModelFitError
from forecasting.models import FAMILIES, SeriesContext, check_forecast, make_forecaster

# fitted on one segment alone: not the ensemble (built from members) nor the global model (fitted across
# segments: tests/test_global_model.py)
SINGLE = [name for name in FAMILIES if name not in ("ensemble", "global")]


def monthly(n=72, start="2015-01-31", freq="ME", seed=1):
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=n, freq=freq)
    y = 200 + np.arange(n) * 1.5 + 20 * np.sin(2 * np.pi * ds.month / 12) + rng.normal(0, 3, n)
    return pd.DataFrame({"ds": ds, "y": y})


@pytest.mark.parametrize("name", SINGLE)
def test_forecast_starts_one_period_after_the_last_month_end(name):
    history = monthly()
    model = make_forecaster(name, SeriesContext(frequency="ME", season_length=12, holidays_country=None)).fit(history)
    forecast = model.forecast(6)
    assert list(forecast.columns) == ["ds", "yhat", "yhat_lower", "yhat_upper"]
    assert [str(d.date()) for d in forecast["ds"][:2]] == ["2021-01-31", "2021-02-28"]
    assert np.isfinite(forecast[["yhat", "yhat_lower", "yhat_upper"]].to_numpy()).all()
    assert (forecast["yhat_lower"] <= forecast["yhat"]).all() and (forecast["yhat"] <= forecast["yhat_upper"]).all()
    assert check_forecast(forecast, history["y"].min(), history["y"].max()) is None


@pytest.mark.parametrize("name", SINGLE)
def test_families_are_deterministic(name):
    context = SeriesContext(frequency="MS", season_length=12, holidays_country=None, seed=3)
    history = monthly(start="2015-01-01", freq="MS")
    first = make_forecaster(name, context).fit(history).forecast(6)
    second = make_forecaster(name, context).fit(history).forecast(6)
    pd.testing.assert_frame_equal(first, second)


@pytest.mark.parametrize("name", [n for n in SINGLE if FAMILIES[n].reuses_search])
def test_a_searched_configuration_refits_to_the_same_model(name):
    """Backtest folds after the first refit the first fold's choice (ETS form, ARIMA order) without
    searching again: given the chosen parameters, a family must land on the same model."""
    context = SeriesContext(frequency="MS", season_length=12, holidays_country=None)
    history = monthly(start="2015-01-01", freq="MS")
    searched = make_forecaster(name, context).fit(history)
    refitted = make_forecaster(name, context, dict(searched.params)).fit(history)
    assert refitted.params == searched.params
    pd.testing.assert_frame_equal(refitted.forecast(12), searched.forecast(12), rtol=1e-6)


@pytest.mark.parametrize("name", ["ets", "theta", "arima", "ces"])
def test_weekly_series_fit_without_a_52_week_season(name):
    """Seasonal state for 52 weeks is left to Prophet/XGBoost; the statistical families still forecast."""
    rng = np.random.default_rng(0)
    ds = pd.date_range("2022-01-02", periods=156, freq="W-SUN")
    history = pd.DataFrame({"ds": ds, "y": 500 + np.arange(156) + rng.normal(0, 5, 156)})
    model = make_forecaster(name, SeriesContext(frequency="W-SUN", season_length=52)).fit(history)
    forecast = model.forecast(8)
    assert forecast["ds"].iloc[0] == ds[-1] + pd.Timedelta(weeks=1)
    assert check_forecast(forecast, history["y"].min(), history["y"].max()) is None


def test_dates_off_the_anchor_or_in_the_past_are_refused():
    model = make_forecaster("naive", SeriesContext(frequency="MS", season_length=12)).fit(monthly(start="2015-01-01", freq="MS"))
    with pytest.raises(ModelFitError, match="not on the MS calendar"):
        model.forecast(pd.DatetimeIndex(["2021-01-15"]))
    with pytest.raises(ModelFitError, match="not after the last observed period 2020-12-01"):
        model.forecast(pd.DatetimeIndex(["2020-12-01"]))


def test_a_subset_of_future_dates_matches_the_full_path():
    model = make_forecaster("ets", SeriesContext(frequency="MS", season_length=12)).fit(monthly(start="2015-01-01", freq="MS"))
    full = model.forecast(6).set_index("ds")
    some = model.forecast(pd.DatetimeIndex(["2021-03-01", "2021-06-01"])).set_index("ds")
    pd.testing.assert_frame_equal(some, full.loc[some.index])


def test_log_transform_and_clipping_live_inside_the_model():
    history = monthly(start="2015-01-01", freq="MS")
    plain = make_forecaster("naive", SeriesContext(frequency="MS", season_length=12)).fit(history).forecast(3)
    logged = make_forecaster("naive", SeriesContext(frequency="MS", season_length=12, transform="log")).fit(history).forecast(3)
    assert np.allclose(plain["yhat"], logged["yhat"])  # the last value, back on the original scale
    assert (logged["yhat_lower"] > 0).all()
    falling = history.assign(y=np.linspace(50, 1, len(history)))
    clipped = make_forecaster("arima", SeriesContext(frequency="MS", season_length=12, non_negative=True)).fit(falling).forecast(24)
    assert (clipped[["yhat", "yhat_lower"]] >= 0).all().all()


def _driven_by_covariate(n=300, seed=0):
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2023-01-01", periods=n + 30, freq="D")
    promo = (rng.random(n + 30) < 0.2).astype(float)
    y = 100 + 50 * promo + rng.normal(0, 2, n + 30)
    frame = pd.DataFrame({"ds": ds, "y": y, "promo": promo})
    return frame.iloc[:n], frame.iloc[n:]


@pytest.mark.parametrize("name", ["arima", "prophet", "xgboost"])
def test_covariate_families_use_future_covariates(name):
    train, test = _driven_by_covariate()
    with_cov = make_forecaster(name, SeriesContext(frequency="D", season_length=7, covariates=("promo",), holidays_country=None)).fit(train)
    without = make_forecaster(name, SeriesContext(frequency="D", season_length=7, holidays_country=None)).fit(train[["ds", "y"]])
    err_with = np.abs(with_cov.forecast(pd.DatetimeIndex(test["ds"]), test)["yhat"].to_numpy() - test["y"].to_numpy()).mean()
    err_without = np.abs(without.forecast(pd.DatetimeIndex(test["ds"]))["yhat"].to_numpy() - test["y"].to_numpy()).mean()
    assert err_with < 0.5 * err_without


def test_missing_future_covariates_are_an_error():
    train, test = _driven_by_covariate()
    model = make_forecaster("arima", SeriesContext(frequency="D", season_length=7, covariates=("promo",))).fit(train)
    with pytest.raises(ModelFitError, match="covariate"):
        model.forecast(pd.DatetimeIndex(test["ds"]))


def test_xgboost_recursion_never_reads_future_actuals():
    """The forecast of a fitted model cannot depend on anything after the last fitted period."""
    train, test = _driven_by_covariate()
    model = make_forecaster("xgboost", SeriesContext(frequency="D", season_length=7, covariates=("promo",))).fit(train)
    honest = model.forecast(pd.DatetimeIndex(test["ds"]), test)
    poisoned = model.forecast(pd.DatetimeIndex(test["ds"]), test.assign(y=1e9))
    pd.testing.assert_frame_equal(honest, poisoned)


def test_a_calibration_from_backtest_errors_scales_the_interval_step_by_step():
    """Errors twice the family's own standard error at step 1 and four times at step 2: the calibrated
    interval is that much wider there, the point forecast unchanged (forecasting.intervals)."""
    from forecasting.intervals import calibrate, z

    history = monthly(start="2015-01-01", freq="MS")
    model = make_forecaster("theta", SeriesContext(frequency="MS", season_length=12, level=0.8)).fit(history)
    own = model.forecast(2)
    points = [(1, 2.0)] * 40 + [(2, 4.0)] * 40
    calibration = calibrate(points, 0.8, 2, len(history))
    model.calibrate(calibration)
    wide = model.forecast(2)
    assert (wide["yhat"] == own["yhat"]).all()
    ratio = (wide["yhat_upper"] - wide["yhat_lower"]) / (own["yhat_upper"] - own["yhat_lower"])
    widen = calibration.scale[0] * z(0.8) / 2.0  # the small-sample widening on top of the quantile
    assert ratio.iloc[0] == pytest.approx(2.0 * widen / z(0.8)) and ratio.iloc[1] == pytest.approx(4.0 * widen / z(0.8))
    assert (model.forecast(2, calibrated=False) == own).all().all()


def test_exploding_or_non_finite_forecasts_are_rejected_with_a_reason():
    frame = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=3), "yhat": [1.0, 2.0, 1e9], "yhat_lower": 0.0, "yhat_upper": 2e9})
    assert "exploded" in check_forecast(frame, 0.0, 10.0)
    assert "non-finite" in check_forecast(frame.assign(yhat=[1.0, np.nan, 2.0]), 0.0, 10.0)
