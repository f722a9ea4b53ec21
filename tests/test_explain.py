"""Explaining forecasts the way finance reads them: components that add up to yhat for every family,
the bridge from last year, what changed between two vintages, forecastability, and the workbook whose
formulas recompute to the values written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.explain.bridge import bridge, closes, year_earlier
from forecasting.explain.changes import what_changed
from forecasting.explain.components import explain_forecast, with_reconciliation
from forecasting.explain.contributions import grouped_contributions
from forecasting.explain.forecastability import assess
from forecasting.explain.history import history_components
from forecasting.models import FAMILIES, SeriesContext, make_forecaster
from forecasting.models.ensemble import EnsembleForecaster

HORIZON = 21
PROMO_LIFT = 15.0


def daily(n: int = 420, seed: int = 0, level: float = 100.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A daily series with a weekly season, a trend, a promo flag worth PROMO_LIFT and noise; the history
    and the horizon's future covariates."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range("2024-01-01", periods=n + HORIZON, freq="D")
    promo = (rng.random(n + HORIZON) < 0.2).astype(float)
    y = level + 10 * np.sin(2 * np.pi * ds.dayofweek / 7) + 0.05 * np.arange(n + HORIZON) + PROMO_LIFT * promo + rng.normal(0, 1, n + HORIZON)
    return pd.DataFrame({"ds": ds[:n], "y": y[:n], "promo": promo[:n]}), pd.DataFrame({"ds": ds[n:], "promo": promo[n:]})


def assert_adds_up(components, yhat) -> None:
    total = components.total()
    assert np.all(np.abs(total - yhat) <= 1e-9 * np.abs(yhat)), np.max(np.abs(total - yhat) / np.abs(yhat))


SINGLE = [name for name in FAMILIES if name not in ("ensemble", "global")]  # global: fitted across segments
SEASONAL = {"seasonal_naive", "ets", "theta", "arima", "ces", "prophet", "xgboost"}


@pytest.mark.parametrize("family", SINGLE)
def test_components_add_up_to_yhat_for_every_family(family):
    """With and without a covariate, with and without the log transform: the columns add up to yhat
    (1e-9 relative), the adjustment (clipping) is zero when nothing is clipped, so the family's own
    split carries the whole forecast, and the weekly season is a component of its own."""
    history, future = daily()
    for covariates in ((), ("promo",)):
        for transform in ("none", "log"):
            context = SeriesContext(frequency="D", season_length=7, covariates=covariates, holidays_country="US", transform=transform)
            model = make_forecaster(family, context).fit(history)
            components = explain_forecast(model, history, HORIZON, future)
            yhat = model.forecast(HORIZON, future)["yhat"].to_numpy(float)
            assert_adds_up(components, yhat)
            frame = components.frame
            assert np.allclose(frame["component_adjustment"], 0, atol=1e-9 * np.abs(yhat).max()), (covariates, transform)
            assert components.decomposition.startswith(family)
            if family in SEASONAL:
                assert frame["component_season"].std() > 1.0, (covariates, transform, components.decomposition)
            if covariates and model.uses_covariates:
                assert "component_promo" in frame


def test_the_ensemble_is_the_mean_of_its_members_components():
    history, future = daily()
    context = SeriesContext(frequency="D", season_length=7, covariates=("promo",), holidays_country="US", transform="log")
    members = [make_forecaster(name, context).fit(history) for name in ("ets", "arima", "theta", "ces", "xgboost", "prophet")]
    ensemble = EnsembleForecaster(context, members=members)
    components = explain_forecast(ensemble, history, HORIZON, future)
    assert_adds_up(components, ensemble.forecast(HORIZON, future)["yhat"].to_numpy(float))
    arima = explain_forecast(members[1], history, HORIZON, future).frame
    prophet = explain_forecast(members[5], history, HORIZON, future).frame
    xgb = explain_forecast(members[4], history, HORIZON, future).frame
    # only arima, xgboost and prophet have a promo effect: the ensemble's is their sum over six
    expected = (arima["component_promo"] + prophet["component_promo"] + xgb["component_promo"]) / 6
    assert np.allclose(components.frame["component_promo"], expected)
    assert components.decomposition.startswith("ensemble: the equal-weight mean")


@pytest.mark.parametrize("family", ["arima", "prophet"])
def test_a_promo_effect_is_recovered_as_its_own_component(family):
    """The promo lifts sales by 15 on promo days: the promo component says so, and is 0 on other days."""
    history, future = daily()
    context = SeriesContext(frequency="D", season_length=7, covariates=("promo",), holidays_country=None)
    model = make_forecaster(family, context).fit(history)
    promo = explain_forecast(model, history, HORIZON, future).frame["component_promo"].to_numpy()
    flags = future["promo"].to_numpy() == 1
    assert flags.any()
    # relative to days without a promo (Prophet centres a regressor on its mean)
    lift = promo[flags].mean() - promo[~flags].mean()
    assert lift == pytest.approx(PROMO_LIFT, rel=0.1)


def test_clipping_at_zero_is_the_adjustment():
    """A falling series forecast below zero, clipped: the adjustment is what clipping removed."""
    ds = pd.date_range("2024-01-01", periods=60, freq="D")
    history = pd.DataFrame({"ds": ds, "y": np.linspace(100, 3, 60)})
    context = SeriesContext(frequency="D", season_length=7, non_negative=True)
    model = make_forecaster("drift", context).fit(history)
    components = explain_forecast(model, history, 30)
    yhat = model.forecast(30)["yhat"].to_numpy(float)
    assert (yhat == 0).any()
    assert np.allclose(components.total(), yhat, atol=1e-12)
    assert (components.frame["component_adjustment"] > 0).sum() == (yhat == 0).sum()
    assert "clipping" in components.decomposition


def test_a_yearly_season_removed_before_fitting_is_season():
    """Weekly data: the 52-week season is estimated as Fourier terms outside ETS and put back as season."""
    ds = pd.date_range("2022-01-03", periods=156, freq="W-MON")
    y = 1000 + 200 * np.sin(2 * np.pi * np.arange(156) / 52.18) + np.random.default_rng(1).normal(0, 10, 156)
    history = pd.DataFrame({"ds": ds, "y": y})
    context = SeriesContext(frequency="W-MON", season_length=52, transform="log")
    model = make_forecaster("ets", context).fit(history)
    components = explain_forecast(model, history, 26)
    assert_adds_up(components, model.forecast(26)["yhat"].to_numpy(float))
    assert "Fourier" in components.decomposition
    assert components.frame["component_season"].max() - components.frame["component_season"].min() > 200


def test_tree_contributions_group_into_components_and_keep_the_sum():
    contributions = np.array([[1.0, 2.0, 3.0, 0.5], [-1.0, 0.0, 4.0, 0.5]])
    shares = grouped_contributions(contributions, np.array([6.5000001, 3.5]), ["trend", "season", "promo"])
    assert shares["season"].tolist() == [2.0, 0.0] and shares["trend"].tolist() == [1.5, -0.5]
    assert np.allclose(sum(shares.values()), [6.5000001, 3.5], rtol=0, atol=1e-15)
    with pytest.raises(ValueError):
        grouped_contributions(contributions, np.zeros(2), ["trend"])


def test_a_reconciliation_component_keeps_the_sum_exact():
    history, future = daily()
    model = make_forecaster("ets", SeriesContext(frequency="D", season_length=7)).fit(history)
    components = explain_forecast(model, history, HORIZON)
    reconciled = model.forecast(HORIZON)["yhat"].to_numpy(float) * 1.03
    adjusted = with_reconciliation(components, reconciled)
    assert np.allclose(adjusted.total(), reconciled, rtol=1e-12)
    assert adjusted.frame["component_reconciliation"].sum() == pytest.approx(reconciled.sum() / 1.03 * 0.03)


def test_the_global_model_and_an_ensemble_holding_it_are_explained_and_add_up():
    """The global family is fitted across segments (so not in the per-family test above): its path is
    split by STL, labelled so, and an ensemble holding it is the mean of its members' components."""
    from forecasting.backtest import BacktestSpec
    from forecasting.contract import DataSpec
    from forecasting.models import ModelSpec
    from forecasting.pipeline import ForecastJob, run_forecast

    frame = pd.concat([daily(n=200, seed=i, level=100.0 * (i + 1))[0].assign(region=r) for i, r in enumerate(("EU", "US", "APAC"))])
    for models in (["global"], ["theta", "global", "ensemble"]):
        job = ForecastJob(data=DataSpec(segment_cols=["region"], covariate_cols=["promo"]),
                          models=ModelSpec(models=models, holidays_country=None), backtest=BacktestSpec(horizon=14, folds=2))
        run = run_forecast(frame, job, explain=True)
        assert len(run.trained) == 3
        for outcome in run.trained:
            assert outcome.explanation is not None, outcome.selection.notes
            assert_adds_up(outcome.explanation.components, outcome.selection.forecast["yhat"].to_numpy(float))
            how = outcome.explanation.components.decomposition
            if outcome.selection.champion == "global":
                assert how.startswith("global: its trees' contributions are not split")
            elif outcome.selection.champion == "ensemble":  # the global model's learned weight, not the plain mean
                assert how.startswith("ensemble: the weighted mean (theta ") and "global (its trees' contributions are not split" in how
        assert {o.selection.champion for o in run.trained} & {"global", "ensemble"}


def test_a_reconciled_explanation_adds_up_and_its_bridge_has_the_reconciliation_step():
    """What the flow's reconcile stage does to each node: the components add up to the reconciled
    forecast, and the bridge from last year closes on it with the reconciliation as a step."""
    from forecasting.explain.segment import explain_segment, reconciled

    history, future = daily(n=420)
    model = make_forecaster("ets", SeriesContext(frequency="D", season_length=7)).fit(history)
    forecast = model.forecast(pd.DatetimeIndex(future["ds"]), future)
    own = explain_segment(model, history, future, forecast, "D")
    yhat = forecast["yhat"].to_numpy(float) * 1.03
    after = reconciled(own, yhat)
    assert_adds_up(after.components, yhat)
    table = after.bridge.table.set_index("step")["value"]
    assert closes(after.bridge) and table["forecast"] == pytest.approx(yhat.sum(), rel=1e-12)
    assert table["reconciliation"] == pytest.approx(yhat.sum() - forecast["yhat"].sum(), rel=1e-9)
    assert table["last year (actual)"] == own.bridge.table["value"].iloc[0]  # last year does not change


# --- the bridge ------------------------------------------------------------------------------------------

def test_the_bridge_on_constructed_components():
    """Last year 100 a period = 80 trend + 15 season + 5 remainder; the forecast 110 = 95 trend + 15
    season: +15 trend, 0 season, -5 remainder (last year's irregular does not repeat)."""
    dates = pd.date_range("2025-01-01", periods=3, freq="MS")
    forecast = pd.DataFrame({"ds": dates, "component_trend": 95.0, "component_season": 15.0})
    earlier = pd.date_range("2024-01-01", periods=3, freq="MS")
    actuals = pd.DataFrame({"ds": earlier, "y": 100.0, "component_trend": 80.0, "component_season": 15.0, "component_remainder": 5.0})
    result = bridge(forecast, actuals, "MS")
    assert result.table.values.tolist() == [["last year (actual)", 300.0, "total"], ["trend", 45.0, "change"],
                                            ["season", 0.0, "change"], ["remainder", -15.0, "change"], ["forecast", 330.0, "total"]]
    assert closes(result) and result.periods == 3 and result.note == ""


def test_a_year_earlier_keeps_weekdays_and_month_ends():
    assert list(year_earlier(pd.DatetimeIndex(["2025-11-27"]), "D")) == [pd.Timestamp("2024-11-28")]  # Thursday, Thursday
    assert list(year_earlier(pd.DatetimeIndex(["2025-02-28"]), "ME")) == [pd.Timestamp("2024-02-29")]
    assert list(year_earlier(pd.DatetimeIndex(["2025-03-03"]), "W-MON")) == [pd.Timestamp("2024-03-04")]


def test_the_bridge_of_a_real_champion_adds_up_and_names_periods_without_a_year_before():
    history, future = daily(n=380)
    for family in ("prophet", "xgboost", "arima"):
        context = SeriesContext(frequency="D", season_length=7, covariates=("promo",), holidays_country="US", transform="log")
        model = make_forecaster(family, context).fit(history)
        actuals, how = history_components(model, history)
        assert np.allclose(actuals.filter(like="component_").sum(axis=1), actuals["y"], rtol=1e-9)
        components = explain_forecast(model, history, HORIZON, future)
        result = bridge(components.frame, actuals, "D")
        assert closes(result)
        assert result.table["value"].iloc[-1] == pytest.approx(model.forecast(HORIZON, future)["yhat"].sum(), rel=1e-9)
        assert result.table["value"].iloc[0] == pytest.approx(history.set_index("ds").loc[year_earlier(components.frame["ds"], "D"), "y"].sum())
    short = history.iloc[-354:]  # for the first 10 forecast days a year earlier is before this history
    model = make_forecaster("ets", SeriesContext(frequency="D", season_length=7)).fit(short)
    result = bridge(explain_forecast(model, short, HORIZON).frame, history_components(model, short)[0], "D")
    assert result.periods == HORIZON - 10 and "10 of 21" in result.note and closes(result)


def test_the_waterfall_has_a_bar_per_step():
    from forecasting.plots import png_bytes, waterfall_figure

    table = pd.DataFrame({"step": ["last year (actual)", "trend", "season", "forecast"], "value": [100.0, 12.0, -4.0, 108.0],
                          "kind": ["total", "change", "change", "total"]})
    figure = waterfall_figure("region=EU", table)
    bars = figure.axes[0].patches
    assert len(bars) == 4
    assert [round(b.get_height(), 6) for b in bars] == [100.0, 12.0, -4.0, 108.0]
    assert bars[2].get_y() == pytest.approx(112.0)  # season falls from the running total
    assert png_bytes(figure)[:4] == b"\x89PNG"


# --- what changed ---------------------------------------------------------------------------------------

def vintage(as_of: str, start: str, periods: int, values, model: str, segment: str = "A") -> pd.DataFrame:
    dates = pd.date_range(start, periods=periods, freq="MS")
    return pd.DataFrame({"segment": segment, "ds": dates, "yhat": np.broadcast_to(values, periods).astype(float), "model": model, "as_of": as_of})


def test_what_changed_splits_exactly_on_two_constructed_vintages():
    """Vintage 1 (as of 2024-12) forecast 100 a month for Jan-Jun; January came in at 110 (a miss of
    +10). Vintage 2 (as of 2025-01) forecasts Feb-Jul. Segment A kept ets and now says 115: data +10 a
    month over the 5 overlap months (+50), rest +25. Segment B changed to theta (108 a month) and the
    current vintage also holds ets's forecast (104): model +20, data 0 (January as forecast), rest +20.
    Segment C changed champion with no ets forecast now: model holds everything data does not."""
    previous = pd.concat([vintage("2024-12-01", "2025-01-01", 6, 100.0, "ets", "A"), vintage("2024-12-01", "2025-01-01", 6, 100.0, "ets", "B"),
                          vintage("2024-12-01", "2025-01-01", 6, 100.0, "ets", "C")])
    current = pd.concat([vintage("2025-01-01", "2025-02-01", 6, 115.0, "ets", "A").assign(champion=True),
                         vintage("2025-01-01", "2025-02-01", 6, 108.0, "theta", "B").assign(champion=True),
                         vintage("2025-01-01", "2025-02-01", 6, 104.0, "ets", "B").assign(champion=False),
                         vintage("2025-01-01", "2025-02-01", 6, 90.0, "theta", "C").assign(champion=True)])
    actuals = pd.DataFrame({"segment": ["A", "B", "C", "A"], "ds": pd.to_datetime(["2025-01-01"] * 3 + ["2024-12-01"]), "y": [110.0, 100.0, 104.0, 1.0]})
    table = what_changed(previous, current, actuals).set_index("segment")
    assert list(table.index) == ["A", "C", "B"]  # moved most first: +75, -50, +40
    assert (table["overlap_periods"] == 5).all() and (table["new_actuals"] == 1).all()
    a, b, c = table.loc["A"], table.loc["B"], table.loc["C"]
    assert (a["change"], a["data"], a["model"], a["rest"]) == (75.0, 50.0, 0.0, 25.0)
    assert (b["change"], b["data"], b["model"], b["rest"]) == (40.0, 0.0, 20.0, 20.0)
    assert (c["change"], c["data"], c["model"], c["rest"]) == (-50.0, 20.0, -70.0, 0.0)
    assert "model includes the rest" in c["split"]
    for row in table.itertuples():
        assert row.data + row.model + row.rest == pytest.approx(row.change, abs=1e-12)
        assert row.previous_total + row.change == pytest.approx(row.current_total, abs=1e-12)


# --- forecastability --------------------------------------------------------------------------------------

def test_forecastability_grades_follow_the_noise_and_name_what_would_help():
    t = np.arange(730)
    season = 100 + 20 * np.sin(2 * np.pi * t / 7)
    rng = np.random.default_rng(0)
    clean, noisy = assess(season + rng.normal(0, 1, 730), 7, "D"), assess(season + rng.normal(0, 25, 730), 7, "D")
    assert clean.grade == "A" and clean.note == "" and clean.seasonal_strength > 0.9
    assert noisy.grade == "D" and "--aggregate W-MON" in noisy.note and noisy.spectral_entropy > clean.spectral_entropy
    sparse = np.where(rng.random(730) < 0.5, 0.0, season)
    assert assess(sparse, 7, "D").grade == "D" and "intermittent" in assess(sparse, 7, "D").note
    steady = 100 + np.arange(12) + rng.normal(0, 0.5, 12)
    assert assess(np.r_[steady, steady + 12], 12, "MS").grade == "A"
    assert assess(steady, 12, "MS").grade == "B"  # as steady, but one season of history: one grade lower


# --- the CLI and the workbook -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def two_segments(tmp_path_factory):
    from conftest import segments_csv

    path = tmp_path_factory.mktemp("explain")
    return segments_csv(path / "d.csv", regions=("EU", "US"), days=420)


FAST = ["--models", "ets,theta,ensemble", "--horizon", "14", "--folds", "2", "--workers", "1"]


def test_forecast_components_adds_columns_that_add_up_to_yhat(two_segments, tmp_path, capsys):
    from flows.cli import main

    plain, explained = tmp_path / "plain.csv", tmp_path / "explained.csv"
    assert main(["forecast", "--data", str(two_segments), "--segment-cols", "region", *FAST, "--output", str(plain)]) == 0
    assert main(["forecast", "--data", str(two_segments), "--segment-cols", "region", *FAST, "--components",
                 "--output", str(explained), "--leaderboard", str(tmp_path / "board.csv")]) == 0
    out = capsys.readouterr().out
    before, after = pd.read_csv(plain), pd.read_csv(explained)
    added = [c for c in after.columns if c not in before.columns]
    assert list(after.columns[: len(before.columns)]) == list(before.columns)  # the columns of today, then only the components
    assert added and all(c.startswith("component_") for c in added) and "component_trend" in added and "component_season" in added
    pd.testing.assert_frame_equal(after[before.columns], before)  # the forecast itself is unchanged
    assert np.allclose(after[added].sum(axis=1), after["yhat"], rtol=1e-9, atol=0)
    assert "last year (actual)" in out and "+ trend" in out and "forecastability" in out
    board = pd.read_csv(tmp_path / "board.csv")
    assert set(board["forecastability"]) <= set("ABCD") and board.loc[board["champion"], "decomposition"].str.startswith("ensemble").all()
    every = tmp_path / "every.parquet"  # with every candidate's rows, only the champion's are explained
    assert main(["forecast", "--data", str(two_segments), "--segment-cols", "region", *FAST, "--components", "--all-models", "--output", str(every)]) == 0
    table = pd.read_parquet(every)
    champion, others = table[table["champion"]], table[~table["champion"]]
    assert len(others) and others[added].isna().all().all()
    assert np.allclose(champion[added].sum(axis=1), champion["yhat"], rtol=1e-9, atol=0)


def test_the_workbook_formulas_recompute_to_the_values_written(two_segments, tmp_path):
    """Open the workbook, recompute every formula with the `formulas` package, compare with the values
    stored beside them; the summary keeps its shape (first sheet, one row per segment, periods as values)."""
    import openpyxl
    formulas = pytest.importorskip("formulas")
    from flows.cli import main

    path = tmp_path / "forecast.xlsx"
    assert main(["forecast", "--data", str(two_segments), "--segment-cols", "region", *FAST, "--holidays", "US", "--output", str(path)]) == 0
    book, stored = openpyxl.load_workbook(path), openpyxl.load_workbook(path, data_only=True)
    assert book.sheetnames == ["summary", "region=EU", "region=US", "components", "bridge", "waterfalls", "audit"]
    summary = book["summary"]
    assert summary.max_row == 3 and summary.freeze_panes == "A2" and summary["E2"].value == 14  # periods: a value
    assert summary["F2"].value == "=SUM('region=EU'!C2:C15)"  # region, ds, yhat
    cells = [(ws.title, c.coordinate) for ws in book.worksheets for row in ws.iter_rows() for c in row
             if isinstance(c.value, str) and c.value.startswith("=")]
    assert {sheet for sheet, _ in cells} == {"summary", "components", "bridge"}
    solution = {key.upper(): value for key, value in formulas.ExcelModel().loads(str(path)).finish().calculate().items()}
    for sheet, coordinate in cells:
        recomputed = float(solution[f"'[{path.name.upper()}]{sheet.upper()}'!{coordinate}"].value[0][0])
        assert recomputed == pytest.approx(float(stored[sheet][coordinate].value), rel=1e-9, abs=1e-6), (sheet, coordinate)
    components = pd.read_excel(path, sheet_name="components")
    assert len(components) == 28 and components["difference"].abs().max() < 1e-6
    per_segment = pd.read_excel(path, sheet_name="region=EU")
    assert pd.read_excel(path, sheet_name="summary")["forecast_total"].iloc[0] == pytest.approx(per_segment["yhat"].sum())
    audit = pd.read_excel(path, sheet_name="audit", header=None)
    facts = dict(zip(audit[0], audit[1]))
    assert len(facts["data file sha256"]) == 64 and facts["parameter backtest.horizon"] == "14"
    top = int(np.flatnonzero(audit[0] == "segment")[0])
    segments = audit.iloc[top + 1:].set_axis(audit.iloc[top].tolist(), axis=1)
    assert list(segments["segment"]) == ["region=EU", "region=US"] and (segments["rows_read"] == 420).all()
    assert (segments["rows_read"] == segments["rows_used"] + segments["rows_dropped"] + segments["rows_merged"]).all()
    assert segments["data_fingerprint"].str.len().eq(16).all() and segments["forecastability"].isin(list("ABCD")).all()
