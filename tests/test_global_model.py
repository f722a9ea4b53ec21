"""The global family (issue 27): one model across a run's segments, fitted once per backtest fold and
once on all history before the per-segment work, each fold on every segment's data up to that
segment's own cutoff; a candidate in every leaderboard; in the default model set with two segments or
more; the same output with one worker or two; a saved champion that uses it still forecasts. The
poisoning test (data after a cutoff changes nothing decided before it) is in tests/test_failure_paths.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import daily_frame

from forecasting.backtest import BacktestSpec
from forecasting.contract import DataSpec
from forecasting.models import ModelSpec
from forecasting.pipeline import ForecastJob, forecast_frame, leaderboard_frame, run_forecast

BIN = Path(sys.executable).parent / "forecast-flows"
CHEAP = ["theta", "global", "ensemble"]


def table(regions=("EU", "US", "APAC"), days=200, short_last: int = 0) -> pd.DataFrame:
    """Daily segments at different levels; with ``short_last`` the last region stops that many days earlier."""
    frames = []
    for i, region in enumerate(regions):
        n = days - (short_last if i == len(regions) - 1 else 0)
        frames.append(daily_frame(days=n, seed=i, level=100.0 * (i + 1), region=region))
    return pd.concat(frames, ignore_index=True)


def job(models=CHEAP, horizon=14, folds=3) -> ForecastJob:
    return ForecastJob(data=DataSpec(segment_cols=["region"]), models=ModelSpec(models=models, holidays_country=None),
                       backtest=BacktestSpec(horizon=horizon, folds=folds))


def test_the_global_model_is_fitted_once_per_fold_on_every_segment_up_to_its_own_cutoff():
    """Three segments, one ending 10 days before the others: 3 fold fits and 1 final fit in all (not one
    per segment), each fold fit on every segment, each segment up to its own cutoff for that fold."""
    run = run_forecast(table(short_last=10), job())
    fits = run.global_fit.fits
    assert [f.position for f in fits] == [1, 2, 3, 0]  # fold positions from the end, then the final fit
    assert all(f.segments == 3 and not f.error for f in fits)
    for outcome in run.trained:
        history_end = outcome.backtest.cutoffs  # each fold's last training date, oldest first
        for fold, cutoff in enumerate(history_end, start=1):
            position = len(history_end) - fold + 1
            assert fits[position - 1].trained_through[outcome.segment] == cutoff, (outcome.segment, fold)
    short, long_ = run.outcomes["region=APAC"], run.outcomes["region=EU"]
    assert short.backtest.cutoffs[-1] == long_.backtest.cutoffs[-1] - pd.Timedelta(days=10)
    for outcome in run.trained:
        board = outcome.selection.leaderboard.set_index("model")
        assert board.loc["global", "status"] == "ok" and board.loc["global", "folds"] == 3
        # a fixed ensemble member, half the weight against the mean of the others, in every fold
        assert outcome.backtest.candidates["ensemble"].params["members"] == ["theta", "global"]


def test_the_global_models_weight_in_the_ensemble_is_learned_on_earlier_folds_of_every_segment():
    """Fold 1 has no earlier evidence: equal members. Fold k uses the weight learned on every segment's
    folds before it; the refit ensemble uses the weight learned on all folds, the same for every segment
    of the run, and says so in its parameters."""
    from forecasting.learned_combination import GRID, LearnedWeights, weight_errors
    from forecasting.models.ensemble import combine_forecasts, member_weights

    assert member_weights(["ets", "theta", "arima", "ces", "global"], 0.5) == [0.125, 0.125, 0.125, 0.125, 0.5]
    assert member_weights(["ets", "theta"], 0.5) is None and member_weights(["ets", "global"], None) is None
    frames = [pd.DataFrame({"ds": [1], "yhat": [v], "yhat_lower": [v - 1], "yhat_upper": [v + 1]}) for v in (10.0, 20.0, 40.0)]
    assert combine_forecasts(frames, member_weights(["ets", "theta", "global"], 0.5))["yhat"].item() == 0.25 * 10 + 0.25 * 20 + 0.5 * 40

    run = run_forecast(table(regions=("EU", "US", "APAC", "LATAM")), job(["theta", "ets", "global", "ensemble"]))
    learned = LearnedWeights()
    for outcome in run.trained:
        learned.add(weight_errors(outcome.backtest))
    final = learned.weight()
    assert final in GRID
    for outcome in run.trained:
        assert outcome.backtest.global_weight == final
        champion = outcome.selection.champion_model if outcome.selection.champion == "ensemble" else None
        if champion is not None:
            assert champion.params["weights"]["global"] == pytest.approx(final)
        # each fold's weight came from older folds only: fold 1 none, fold 3 from positions 3 and 2
        assert learned.weight(3) is None and learned.weight(1) == float(GRID[int(np.argmin(learned.totals[3] + learned.totals[2]))])


def test_the_default_model_set_has_the_global_model_with_two_segments_and_not_with_one():
    from forecasting.global_fit import require_global

    assert "global" in ModelSpec().models
    models = ModelSpec(models=CHEAP, holidays_country=None)
    two = run_forecast(table(regions=("EU", "US")), job())
    one = run_forecast(table(regions=("EU",)), job())
    assert "global" in set(leaderboard_frame(two, ["region"])["model"])
    assert "global" not in set(leaderboard_frame(one, ["region"])["model"])
    assert one.global_fit.fits == []
    # with one segment the run is exactly the run without the global model
    without = run_forecast(table(regions=("EU",)), job(["theta", "ensemble"]))
    pd.testing.assert_frame_equal(forecast_frame(one, ["region"]), forecast_frame(without, ["region"]))
    assert require_global(models, []).models == ["theta", "ensemble"]


def run_cli(*args):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_models_global_asks_for_it_alone_through_the_cli(tmp_path):
    data = tmp_path / "d.csv"
    table().to_csv(data, index=False)
    out, board = tmp_path / "o.csv", tmp_path / "board.csv"
    result = run_cli("forecast", "--data", str(data), "--segment-cols", "region", "--models", "global", "--horizon", "14",
                     "--holidays", "none", "--output", str(out), "--leaderboard", str(board))
    assert result.returncode == 0, result.stderr
    forecast = pd.read_csv(out)
    assert set(forecast["model"]) == {"global"} and len(forecast) == 3 * 14
    assert (forecast["yhat_lower"] < forecast["yhat"]).all() and (forecast["yhat"] < forecast["yhat_upper"]).all()
    assert set(pd.read_csv(board)["model"]) == {"global", "naive", "seasonal_naive", "drift", "mean"}
    # the levels differ by segment (100, 200, 300): each segment's forecast is its own, not a pooled one
    means = forecast.groupby("region")["yhat"].mean()
    assert means["EU"] < means["US"] < means["APAC"]

    one = tmp_path / "one.csv"
    table(regions=("EU",)).to_csv(one, index=False)
    alone = run_cli("forecast", "--data", str(one), "--segment-cols", "region", "--models", "global", "--output", str(tmp_path / "x.csv"))
    assert alone.returncode == 2 and "Traceback" not in alone.stderr
    assert alone.stderr.strip() == "error: model 'global' needs at least 2 segments of the same frequency; this run has 1 segment(s) to train"
    assert not (tmp_path / "x.csv").exists()


@pytest.mark.slow
def test_two_workers_give_the_same_forecast_and_leaderboard_as_one_with_the_global_model():
    frame = table(regions=("EU", "US", "APAC", "LATAM"))
    runs = {w: run_forecast(frame, job(), workers=w) for w in (1, 2)}
    pd.testing.assert_frame_equal(forecast_frame(runs[1], ["region"]), forecast_frame(runs[2], ["region"]))
    boards = [leaderboard_frame(runs[w], ["region"]).drop(columns="fit_seconds") for w in (1, 2)]
    pd.testing.assert_frame_equal(*boards)
    assert "global" in set(boards[0]["model"])


def test_a_saved_champion_using_the_global_model_forecasts_alone_and_with_the_global_model_attached(tmp_path):
    """The member is saved without the global model (saved once, beside the segments): alone it answers
    the run's horizon from what it holds; with the global model attached, any horizon, the same values."""
    from forecasting.models import Forecaster
    from forecasting.models.global_model import GlobalModel

    run = run_forecast(table(), job(["global"]))
    outcome = run.outcomes["region=US"]
    member = outcome.selection.champion_model
    assert outcome.selection.champion == "global"
    member.save(tmp_path / "member")
    run.global_fit.models["D"].save(tmp_path / "global")
    loaded = Forecaster.load(tmp_path / "member")
    dates = pd.DatetimeIndex(outcome.selection.forecast["ds"])
    pd.testing.assert_frame_equal(loaded.forecast(dates).reset_index(drop=True), outcome.selection.forecast.reset_index(drop=True))
    with pytest.raises(Exception, match="attached"):
        loaded.forecast(20)
    loaded.attach(GlobalModel.load(tmp_path / "global"))
    longer = loaded.forecast(20)
    np.testing.assert_allclose(longer["yhat"].to_numpy()[:14], outcome.selection.forecast["yhat"].to_numpy(), rtol=1e-9)
    assert len(longer) == 20 and np.isfinite(longer["yhat"]).all()
    assert (tmp_path / "member" / "forecaster.pkl").stat().st_size < (tmp_path / "global" / "global_model.pkl").stat().st_size


def test_a_champion_pickled_before_the_global_model_still_loads_and_forecasts():
    """A champion pickled by older code (the ETS segment of tests/test_legacy_models.py's fixture, whose
    classes have none of today's attributes) loads beside the new family and forecasts what it did."""
    import json

    from conftest import ROOT

    from forecasting.models import FAMILIES, Forecaster

    fixture = ROOT / "tests" / "fixtures" / "legacy_a619f48"
    expected = json.loads((fixture / "expected.json").read_text())["region=EU"]
    model = Forecaster.load(fixture / "segment-ets" / "artifacts" / "forecaster")
    assert "global" in FAMILIES
    answer = model.forecast(pd.DatetimeIndex(expected["ds"]))
    np.testing.assert_allclose(answer["yhat"], expected["yhat"], rtol=1e-9)
    np.testing.assert_allclose(answer["yhat_upper"], expected["yhat_upper"], rtol=1e-9)


def test_pooled_calibration_changes_the_intervals_of_a_run_of_several_segments_and_nothing_of_one():
    """calibration=shrunk (or pooled): each segment's interval is calibrated with the backtest errors of
    the other segments too; the point forecasts stay; a one-segment run has no pool and is unchanged."""
    several = table(regions=("EU", "US", "APAC", "LATAM"))

    def spec(calibration, models=CHEAP):
        base = job(models)
        return base.model_copy(update={"models": base.models.model_copy(update={"calibration": calibration})})

    own, shrunk, pooled = (forecast_frame(run_forecast(several, spec(c)), ["region"]) for c in ("own", "shrunk", "pooled"))
    pd.testing.assert_series_equal(own["yhat"], shrunk["yhat"])
    width = {name: float((f["yhat_upper"] - f["yhat_lower"]).mean()) for name, f in (("own", own), ("shrunk", shrunk), ("pooled", pooled))}
    assert width["own"] != width["shrunk"] and width["own"] != width["pooled"]
    # shrunk lies between the segment's own and the pool's
    assert min(width["own"], width["pooled"]) <= width["shrunk"] <= max(width["own"], width["pooled"])
    one = table(regions=("EU",))
    pd.testing.assert_frame_equal(forecast_frame(run_forecast(one, spec("own", ["theta"])), ["region"]),
                                  forecast_frame(run_forecast(one, spec("pooled", ["theta"])), ["region"]))
