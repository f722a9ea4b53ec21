"""The accuracy benchmark on real M3 FINANCE series, through the same validation, backtest, selection
and refit the flow trains with (no mocks, the default model set), and the anchors beside it."""

import math

import numpy as np
import pytest

from benchmarks import scoring
from benchmarks.candidates import anchors, run_series
from benchmarks.datasets import m3_finance

# Three of the shortest FINANCE series (50-56 months, one backtest fold): every family in seconds.
SERIES = ("N2656", "N2663", "N2607")
FAMILIES = {"naive", "seasonal_naive", "drift", "mean", "ets", "theta", "arima", "ces", "prophet", "xgboost", "ensemble"}


@pytest.fixture(scope="module")
def records():
    series = [s for s in m3_finance() if s.name in SERIES]
    assert len(series) == 3
    return [run_series(s) for s in series], series


def test_every_candidate_and_anchor_is_scored_with_the_m3_metrics(records):
    for record in records[0]:
        assert "error" not in record, record.get("error")
        scores = scoring.score(record)
        assert FAMILIES <= set(scores["smape"]) and {*scoring.ANCHORS, scoring.ANCHOR_MEAN} <= set(scores["smape"])
        assert all(0 <= v <= 200 for v in scores["smape"].values())
        assert all(math.isfinite(v) and v >= 0 for v in scores["mase"].values())


def test_the_champion_is_its_candidate_refitted_and_the_oracle_picks_per_series(records):
    scores = []
    for record in records[0]:
        s = scoring.score(record)
        assert s["smape"]["champion"] == pytest.approx(s["smape"][record["champion"]], rel=1e-6)
        scores.append(s)
    candidates = sorted(FAMILIES)
    oracle = scoring.oracle(scores, candidates)
    table = scoring.table(scores, ["champion", *candidates])
    for metric in ("smape", "mase"):
        # the oracle picks the best family per series in hindsight: when the series are won by different
        # families it is strictly better than every family's mean (a "best family on average" would tie)
        winners = {min(candidates, key=lambda c, s=s: s[metric][c]) for s in scores}
        assert len(winners) > 1, winners
        assert oracle[metric] < min(table[c][metric] for c in candidates)
        assert oracle[metric] == pytest.approx(np.mean([min(s[metric][c] for c in candidates) for s in scores]))


def test_an_anchor_answered_by_the_pipelines_own_fit_equals_the_anchor_fitted_on_its_own(records):
    """The benchmark asks a family's fitted statsforecast model for an anchor's forecast only when the
    call is the same: the answer is the anchor's, to the last digit."""
    for record, series in zip(*records):
        direct = anchors(series)
        for name in scoring.ANCHORS:
            assert np.allclose(record["anchors"][name]["yhat"], direct[name]["yhat"], rtol=1e-6), name
            assert np.allclose(record["anchors"][name]["hi90"], direct[name]["hi90"], rtol=1e-6), name


def test_intervals_at_another_level_use_the_pipelines_own_calibration(records):
    """Coverage at 80 % is computed from the same backtest errors with forecasting.intervals: at the
    run's level (90 %) that reproduces the interval the pipeline served."""
    for record in records[0]:
        lower, upper = scoring.champion_bounds(record, record["level"])
        np.testing.assert_allclose(lower, record["champion_final"]["lower"], rtol=1e-5)
        np.testing.assert_allclose(upper, record["champion_final"]["upper"], rtol=1e-5)
        lower80, upper80 = scoring.champion_bounds(record, 0.8)
        assert (upper80 - lower80 <= upper - lower + 1e-6).all()


def test_the_champion_beats_the_seasonal_naive_on_average(records):
    """What a user checks first: on real finance series the selected model is better than repeating
    last year's values."""
    table = scoring.table([scoring.score(r) for r in records[0]], ["champion", "seasonal_naive"])
    for metric in ("smape", "mase"):
        assert table["champion"][metric] < table["seasonal_naive"][metric]


def test_the_paired_bootstrap_separates_a_clear_win_from_a_tie():
    rng = np.random.default_rng(0)
    win = scoring.paired(-0.5 + rng.normal(0, 0.2, 200))
    assert win["low"] <= win["mean"] <= win["high"] < 0
    tie = scoring.paired(rng.normal(0, 1.0, 200))
    assert tie["low"] < 0 < tie["high"]
