"""Rolling-origin backtesting and selection: no fit sees its holdout, ties break the same way every
time, broken candidates are reported and never chosen."""

import numpy as np
import pandas as pd
import pytest
from conftest import daily_frame

from forecasting import models as model_registry
from forecasting.backtest import BacktestSpec, fold_cutoffs, run_backtest
from forecasting.contract import DataSpec
from forecasting.models import ModelSpec
from forecasting.models.naive import NaiveForecaster
from forecasting.selection import refit, run_segment
from forecasting.validation import ValidationPolicy, validate


class RecordingNaive(NaiveForecaster):
    """A real (naive) family that remembers the last date of every history it was fitted on."""

    name = "recording"
    complexity = 7
    fits: list[pd.Timestamp] = []
    forecasts: list[tuple[pd.Timestamp, pd.Timestamp]] = []

    def fit(self, history):
        RecordingNaive.fits.append(pd.Timestamp(history["ds"].iloc[-1]))
        return super().fit(history)

    def forecast(self, dates, future=None):
        out = super().forecast(dates, future)
        RecordingNaive.forecasts.append((self.last_date, out["ds"].iloc[0]))
        return out


class NaiveTwin(NaiveForecaster):
    """Forecasts exactly like naive but is more complex: must lose every tie."""

    name = "naive_twin"
    complexity = 8


class Exploder(NaiveForecaster):
    name = "exploder"
    complexity = 0

    def _path(self, steps, covariates):
        path = super()._path(steps, covariates)
        path.yhat = path.yhat * 0 + 1e12  # scores "well" on nothing, but is far outside the history
        return path


class Broken(NaiveForecaster):
    name = "broken"
    complexity = 0

    def _fit(self, y, covariates):
        raise np.linalg.LinAlgError("singular matrix")


@pytest.fixture
def extra_families(monkeypatch):
    for cls in (RecordingNaive, NaiveTwin, Exploder, Broken):
        monkeypatch.setitem(model_registry.FAMILIES, cls.name, cls)
    RecordingNaive.fits.clear()
    RecordingNaive.forecasts.clear()


def segment(days=200, horizon=14, folds=3, frame=None):
    _, prepared = validate(frame if frame is not None else daily_frame(days=days), DataSpec(), ValidationPolicy(), horizon, folds)
    return prepared["all"]


def test_folds_end_at_the_last_observation():
    assert fold_cutoffs(100, 10, 3) == [70, 80, 90]


def test_no_fit_ever_sees_its_holdout(extra_families):
    seg = segment()
    spec = ModelSpec(models=["recording"])
    backtest = run_backtest(seg, spec, BacktestSpec(horizon=14, folds=3))
    cutoffs = [seg.history["ds"].iloc[n - 1] for n in fold_cutoffs(len(seg.history), 14, 3)]
    assert RecordingNaive.fits == cutoffs
    refit("recording", seg, backtest, spec)  # as a champion: refitted on the whole history
    assert RecordingNaive.fits[-1] == seg.history["ds"].iloc[-1]
    for fitted_until, first_forecast in RecordingNaive.forecasts:
        assert first_forecast == fitted_until + pd.Timedelta(days=1)


def test_a_reused_arima_order_still_fits_when_its_css_start_is_non_stationary():
    """ARIMA searches its order in fold 1 and re-estimates it in later folds. Here the last weeks turn
    upwards: in fold 2 the conditional-sum-of-squares start of the chosen AR(2) is non-stationary and
    statsforecast's default CSS-ML fails; plain ML fits it, so ARIMA stays a candidate for all 3 folds."""
    days = 300
    y = 100 + np.random.default_rng(1).normal(0, 1, days) + np.where(np.arange(days) >= 258, np.arange(days) - 258, 0) * 2.0
    frame = pd.DataFrame({"ds": pd.date_range("2024-01-01", periods=days, freq="D").strftime("%Y-%m-%d"), "y": y.round(4).astype(str)})
    backtest = run_backtest(segment(frame=frame), ModelSpec(models=["arima"]), BacktestSpec(horizon=14, folds=3))
    arima = backtest.candidates["arima"]
    assert arima.status == "ok", arima.reason
    assert len(arima.fold_metrics) == 3 and arima.params["order"] == [2, 0, 0]


def test_ties_break_towards_the_simpler_family_whatever_the_order(extra_families):
    seg = segment()
    for order in (["naive_twin", "ets"], ["ets", "naive_twin"]):
        _, selection = run_segment(seg, ModelSpec(models=order), BacktestSpec(horizon=14, folds=2, metric="rmse"))
        board = selection.leaderboard.set_index("model")
        assert board.loc["naive", "rmse"] == board.loc["naive_twin", "rmse"]
        assert board.loc["naive", "rank"] < board.loc["naive_twin", "rank"]


def test_exploding_and_broken_candidates_are_reported_and_never_chosen(extra_families):
    _, selection = run_segment(segment(), ModelSpec(models=["exploder", "broken", "ets"]), BacktestSpec(horizon=14, folds=2))
    board = selection.leaderboard.set_index("model")
    assert board.loc["exploder", "status"] == "rejected" and "exploded" in board.loc["exploder", "reason"]
    assert board.loc["broken", "status"] == "failed" and "LinAlgError: singular matrix" in board.loc["broken", "reason"]
    assert selection.champion not in ("exploder", "broken")
    assert board["champion"].sum() == 1 and board.loc[selection.champion, "champion"]


def test_the_ensemble_members_come_from_earlier_folds_only():
    """Fold 1: the mean of the four statistical families. Later folds: the four, plus Prophet when its
    backtest MASE over the folds before is at most the best statistical family's."""
    from forecasting.backtest import _membership_error

    seg = segment(days=300)
    backtest = run_backtest(seg, ModelSpec(models=["ets", "theta", "arima", "ces", "prophet", "ensemble"], holidays_country=None),
                            BacktestSpec(horizon=14, folds=3))
    ensemble, c = backtest.candidates["ensemble"], backtest.candidates
    assert ensemble.status == "ok" and len(ensemble.fold_metrics) == 3
    first = np.mean([c[m].forecasts[0]["yhat"].to_numpy() for m in ("ets", "theta", "arima", "ces")], axis=0)
    assert np.allclose(ensemble.forecasts[0]["yhat"].to_numpy(), first)
    for fold in (1, 2):
        best_stat = min(_membership_error(c[n], fold) for n in ("ets", "theta", "arima", "ces"))
        expected = ["ets", "theta", "arima", "ces"] + (["prophet"] if _membership_error(c["prophet"], fold) <= best_stat else [])
        mean = np.mean([c[m].forecasts[fold]["yhat"].to_numpy() for m in expected], axis=0)
        assert np.allclose(ensemble.forecasts[fold]["yhat"].to_numpy(), mean), (fold, expected)


def test_on_yearly_data_the_drift_joins_the_ensemble_and_the_refit_keeps_it():
    """Yearly series are mostly trend: the drift is a fixed member there (and only there)."""
    years = pd.date_range("1990-01-01", periods=30, freq="YS")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"ds": years, "y": 100 + 4 * np.arange(30) + rng.normal(0, 3, 30).cumsum()})
    seg = segment(horizon=4, frame=frame)
    assert seg.frequency.startswith("YS")
    spec = ModelSpec(models=["ets", "theta", "arima", "ces", "ensemble"])
    backtest, selection = run_segment(seg, spec, BacktestSpec(horizon=4, folds=3))
    c = backtest.candidates
    first = np.mean([c[m].forecasts[0]["yhat"].to_numpy() for m in ("ets", "theta", "arima", "ces", "drift")], axis=0)
    assert np.allclose(c["ensemble"].forecasts[0]["yhat"].to_numpy(), first)
    assert "drift" in refit("ensemble", seg, backtest, spec).params["members"]
    daily = run_backtest(segment(days=300), ModelSpec(models=["ets", "theta", "arima", "ces", "ensemble"]), BacktestSpec(horizon=14, folds=3))
    assert "drift" not in daily.candidates["ensemble"].params["members"]


def test_without_two_statistical_families_the_ensemble_starts_from_the_families_it_has():
    seg = segment(days=300)
    backtest = run_backtest(seg, ModelSpec(models=["ets", "prophet", "xgboost", "ensemble"], holidays_country=None),
                            BacktestSpec(horizon=14, folds=3))
    ensemble = backtest.candidates["ensemble"]
    assert ensemble.status == "ok" and len(ensemble.fold_metrics) == 3
    assert set(ensemble.params["members"]) <= {"ets", "prophet", "xgboost"} and ensemble.params["members"]


def test_holdout_estimate_selects_without_the_last_fold():
    _, selection = run_segment(segment(), ModelSpec(models=["ets", "theta"]), BacktestSpec(horizon=14, folds=3))
    holdout = selection.holdout
    assert holdout["fold"] == 3 and holdout["model"] in selection.leaderboard["model"].tolist()
    assert np.isfinite(holdout["mase"]) and np.isfinite(holdout["seasonal_naive_mase"])


def test_champion_forecast_starts_right_after_the_history():
    seg = segment()
    _, selection = run_segment(seg, ModelSpec(models=["ets"]), BacktestSpec(horizon=14, folds=2))
    assert selection.forecast["ds"].iloc[0] == seg.history["ds"].iloc[-1] + pd.Timedelta(days=1)
    assert len(selection.forecast) == 14


def test_selection_beats_the_seasonal_naive_baseline_on_the_real_series(finance_daily):
    _, prepared = validate(finance_daily, DataSpec(segment_cols=["IS_CGNA", "BUSINESS_SEGMENT", "MX_TYPE"]), ValidationPolicy(), 30, 3)
    _, selection = run_segment(next(iter(prepared.values())), ModelSpec(models=["ets", "theta", "arima"]), BacktestSpec(horizon=30))
    board = selection.leaderboard.set_index("model")
    assert board.loc[selection.champion, "mase"] < board.loc["seasonal_naive", "mase"]
    assert selection.holdout["mase"] < selection.holdout["seasonal_naive_mase"]


def test_a_single_family_replaces_the_ensemble_only_on_strong_evidence():
    """With 3 folds of 14 periods a single family must beat the ensemble in every fold and on average by
    more than 3 / sqrt(42) = 46 %: 50 % better in every fold wins, 40 % does not, and 50 % on average
    with one losing fold does not either."""
    from forecasting.backtest import CandidateBacktest, SegmentBacktest
    from forecasting.metrics import METRICS, Metric
    from forecasting.evidence import EVIDENCE, champion_reason
    from forecasting.selection import choose, holdout_estimate

    def candidate(name, mase_by_fold):
        folds = [{m: Metric(value=v if m == "mase" else 1.0) for m in METRICS} for v in mase_by_fold]
        return CandidateBacktest(name, fold_metrics=folds)

    def backtest(ets):
        candidates = {c.name: c for c in [candidate("seasonal_naive", [1.5] * 3), candidate("ets", ets),
                                          candidate("theta", [1.2] * 3), candidate("ensemble", [1.0] * 3)]}
        return SegmentBacktest("s", list(pd.date_range("2024-01-01", periods=3, freq="MS")), candidates, "mase", 7, window=14)

    assert EVIDENCE == 3.0
    assert choose(backtest([0.5] * 3))[0] == "ets"
    assert choose(backtest([0.6] * 3)) == ["ensemble", "ets", "theta", "seasonal_naive"]
    assert choose(backtest([0.2, 0.2, 1.1]))[0] == "ensemble"  # 50 % better on average, but not in every fold
    assert holdout_estimate(backtest([0.6] * 3))["model"] == "ensemble"
    # and the report says why, with the evidence weighed
    won = backtest([0.5] * 3)
    assert champion_reason(won, choose(won), "ets") == (
        "ets: beat the ensemble in all 3 fold(s), mase 0.500 vs 1.000 (50% lower; a single family needs > 46% with 42 periods scored)")
    kept = backtest([0.6] * 3)
    assert champion_reason(kept, choose(kept), "ensemble").endswith(
        "the best single family, ets (mase 0.600 vs 1.000, 40% lower), beat it in 3 of 3 fold(s); a single family needs every fold and > 46%")


def test_the_runner_up_is_the_next_ranked_candidate_with_a_full_forecast(extra_families):
    """Charts show the runner-up dashed beside the champion: the next candidate in the ranking whose
    refit forecast is usable (a broken or exploding one is skipped)."""
    seg = segment()
    _, selection = run_segment(seg, ModelSpec(models=["ets", "theta", "ensemble", "exploder", "broken"]), BacktestSpec(horizon=14, folds=2))
    board = selection.leaderboard
    usable = board[(board["status"] == "ok") & ~board["champion"]].sort_values("rank")["model"].tolist()
    assert selection.runner_up == usable[0] != selection.champion
    assert list(selection.runner_up_forecast["ds"]) == list(selection.forecast["ds"])
    assert selection.runner_up not in ("exploder", "broken")


def test_the_leaderboard_shows_fold_to_fold_spread_and_r2():
    seg = segment()
    _, selection = run_segment(seg, ModelSpec(models=["ets", "theta"]), BacktestSpec(horizon=14, folds=3))
    board = selection.leaderboard.set_index("model")
    for name in ("ets", "theta", "naive"):
        assert board.loc[name, "mase_std"] > 0 and board.loc[name, "folds"] == 3
        assert board.loc[name, "r2"] <= 1
    # the spread is the standard deviation of the per-fold scores the mean is taken over
    ets = [f["mase"].value for f in run_segment(seg, ModelSpec(models=["ets"]), BacktestSpec(horizon=14, folds=3))[0].candidates["ets"].fold_metrics]
    assert board.loc["ets", "mase_std"] == pytest.approx(np.std(ets, ddof=1))
