"""Metric definitions, checked as properties over arbitrary inputs."""

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecasting.metrics import (
    METRICS,
    evaluate,
    mape,
    mase,
    mean_over_folds,
    smape,
    wape,
)

finite = st.floats(min_value=-1e9, max_value=1e9, allow_nan=False, allow_infinity=False)
series = arrays(np.float64, st.integers(1, 30), elements=finite)


@settings(max_examples=200, deadline=None)
@given(series, st.data())
def test_every_metric_is_finite_or_an_explicit_status(actual, data):
    forecast = data.draw(arrays(np.float64, len(actual), elements=finite))
    insample = data.draw(arrays(np.float64, st.integers(1, 40), elements=finite))
    result = evaluate(actual, forecast, forecast - 1, forecast + 1, insample, season=7)
    assert set(result) == set(METRICS)
    for metric in result.values():
        if metric.defined:
            assert math.isfinite(metric.value) and metric.status == "ok"
        else:
            assert metric.status.startswith("undefined: ")


@settings(max_examples=200, deadline=None)
@given(series, st.data())
def test_smape_follows_the_m3_definition_between_0_and_200(actual, data):
    forecast = data.draw(arrays(np.float64, len(actual), elements=finite))
    value = smape(actual, forecast).value
    assert 0 <= value <= 200 + 1e-9
    denom = np.abs(actual) + np.abs(forecast)
    expected = np.mean([0.0 if d == 0 else 200 * abs(a - f) / d for a, f, d in zip(actual, forecast, denom)])
    assert math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-9)


@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(0.1, 1e6)))
def test_a_perfect_forecast_scores_zero(actual):
    assert smape(actual, actual).value == 0 and wape(actual, actual).value == 0 and mape(actual, actual).value == 0


def test_mape_skips_and_counts_zero_actuals():
    metric = mape(np.array([0.0, 10.0, 0.0, 20.0]), np.array([5.0, 11.0, 1.0, 18.0]))
    assert math.isclose(metric.value, 100 * (0.1 + 0.1) / 2) and metric.note == "2 zero actual(s) skipped"
    assert mape(np.zeros(3), np.ones(3)).status == "undefined: all actuals are zero"


def test_mape_explodes_on_small_values_where_mase_does_not():
    """The evidence for MASE as the default selection metric: on a series that dips near zero, MAPE
    is dominated by the one small actual, MASE is not."""
    actual = np.array([100.0, 95.0, 0.5, 105.0])
    insample = np.array([90.0, 100.0, 95.0, 110.0, 98.0, 102.0])
    good = np.array([98.0, 97.0, 3.0, 100.0])  # close everywhere, 2.5 off on the dip
    flat = np.array([99.0, 99.0, 99.0, 99.0])  # misses the dip by 98.5
    assert mape(actual, good).value > 100  # a 2.5 unit miss on 0.5 counts as a 500 % error
    assert mase(actual, good, insample, 1).value < mase(actual, flat, insample, 1).value


def test_mase_uses_the_seasonal_scale_and_falls_back_to_naive():
    insample = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 2.0])
    scaled = mase(np.array([2.0]), np.array([1.0]), insample, season=2)
    assert scaled.value == 1.0 and "naive" in scaled.note  # seasonal differences are all zero
    assert mase(np.array([2.0]), np.array([1.0]), np.ones(5), 1).status.startswith("undefined")


def test_fold_means_skip_undefined_folds_and_say_so():
    defined = evaluate([1.0, 2.0], [1.0, 3.0], [0, 0], [5, 5], [1.0, 2.0, 3.0], 1)
    undefined = evaluate([0.0, 0.0], [1.0, 1.0], [0, 0], [5, 5], [1.0, 2.0, 3.0], 1)
    merged = mean_over_folds([defined, undefined])
    assert merged["mape"].value == defined["mape"].value and merged["mape"].note == "undefined in 1 fold(s)"
    assert mean_over_folds([undefined])["mape"].status == "undefined: all actuals are zero"
