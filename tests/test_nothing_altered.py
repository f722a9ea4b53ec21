"""Nothing altered silently: each input an audit found silently changed into something else, through the
CLI as a user runs it (`forecast-flows forecast|validate`, in-process). Each of these failed before the
fix: day-first dates, a covariates file that starts before the data, a 0/1 flag on a period with no row,
business-day months with holidays, numbers with two signs, a stale segment, --all-models in Excel, the
low_confidence column of CSV output, the leaderboard's coverage of the interval the user receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT

FAST = ["--models", "ets,theta", "--holidays", "none"]


def run(tmp_path, capsys, frame_or_path, *args, command="forecast", name="out.csv"):
    """`forecast-flows <command>` in-process; returns (exit code, output table or None, stdout, stderr)."""
    from flows.cli import main

    if isinstance(frame_or_path, pd.DataFrame):
        path = tmp_path / "data.csv"
        frame_or_path.to_csv(path, index=False)
    else:
        path = frame_or_path
    out = tmp_path / name
    extra = ["--output", str(out)] if command == "forecast" else []
    code = main([command, "--data", str(path), *extra, *args])
    captured = capsys.readouterr()
    table = pd.read_csv(out) if out.exists() and out.suffix == ".csv" else None
    return code, table, captured.out, captured.err


def monthly(n: int, start: str = "2023-01-01", seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=n, freq="MS")
    y = 1000 + 100 * np.sin(2 * np.pi * np.arange(n) / 12) + rng.normal(0, 10, n)
    return pd.DataFrame({"ds": ds, "y": y.round(2)})


# --- dates written day-first ------------------------------------------------------------------------

def test_monthly_dates_written_day_first_are_read_as_months(tmp_path, capsys):
    """24 months written 01/01/2023 .. 01/12/2024: read month-first they are 24 days of two Januaries with
    a gap (not a calendar), day-first a regular monthly calendar: that is the reading, and it is said."""
    frame = monthly(24).assign(ds=lambda f: f["ds"].dt.strftime("%d/%m/%Y"))
    code, table, out, err = run(tmp_path, capsys, frame, "--horizon", "3", *FAST)
    assert code == 0, err
    assert list(table["ds"]) == ["2025-01-01", "2025-02-01", "2025-03-01"]
    assert "read day-first (%d/%m/%Y): a regular MS calendar" in out


def test_daily_dates_written_day_first_are_read_as_days(tmp_path, capsys):
    """A year of days written 13/01/2024: before, read month-first, it failed with '353 of 377 periods
    have no value'."""
    rng = np.random.default_rng(1)
    ds = pd.date_range("2024-01-01", periods=377, freq="D")
    frame = pd.DataFrame({"ds": ds.strftime("%d/%m/%Y"), "y": (100 + 10 * np.sin(ds.dayofweek) + rng.normal(0, 1, 377)).round(2)})
    code, table, out, err = run(tmp_path, capsys, frame, "--horizon", "3", *FAST)
    assert code == 0, err
    assert table["ds"].iloc[0] == "2025-01-12" and "have no" not in out


def test_twelve_dates_that_read_both_ways_are_refused_naming_date_format(tmp_path, capsys):
    """01/01/2024 .. 01/12/2024 is a year of months day-first and twelve days of January month-first:
    both regular, so it is refused in one line; --date-format settles it."""
    frame = monthly(12, "2024-01-01").assign(ds=lambda f: f["ds"].dt.strftime("%d/%m/%Y"))
    code, table, out, err = run(tmp_path, capsys, frame, "--horizon", "3", *FAST)
    assert code == 2 and table is None
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "both readings give a regular calendar" in err and "--date-format %d/%m/%Y or --date-format %m/%d/%Y" in err
    code, table, out, err = run(tmp_path, capsys, frame, "--horizon", "3", "--date-format", "%d/%m/%Y", *FAST)
    assert code == 0, err
    assert list(table["ds"]) == ["2025-01-01", "2025-02-01", "2025-03-01"]


def test_a_covariates_file_written_day_first_joins_a_day_first_data_file(tmp_path, capsys):
    data = monthly(30).assign(ds=lambda f: f["ds"].dt.strftime("%d/%m/%Y"))
    promo = pd.DataFrame({"ds": pd.date_range("2023-01-01", periods=36, freq="MS").strftime("%d/%m/%Y"), "promo": np.arange(36) % 2})
    promo.to_csv(tmp_path / "promo.csv", index=False)
    code, table, out, err = run(tmp_path, capsys, data, "--covariates-file", str(tmp_path / "promo.csv"), "--horizon", "6",
                                "--models", "xgboost", "--holidays", "none")
    assert code == 0, err
    assert table["ds"].iloc[0] == "2025-07-01" and len(table) == 6


# --- numbers with two signs ---------------------------------------------------------------------------

@pytest.mark.parametrize("cell", ["(-5)", "--5", "-$-5"])
def test_a_number_with_two_signs_is_an_error_naming_the_cell(tmp_path, capsys, cell):
    frame = monthly(30).assign(ds=lambda f: f["ds"].dt.strftime("%Y-%m-%d"), y=lambda f: f["y"].astype(str))
    frame.loc[7, "y"] = cell
    code, table, out, err = run(tmp_path, capsys, frame, "--horizon", "3", *FAST)
    assert code == 2 and table is None
    assert f"target 'y' has non-numeric values {cell!r} (row 9)" in err and "two signs" in err


# --- a covariates file that starts before the data ------------------------------------------------------

def test_a_covariates_file_starting_two_years_before_the_data_adds_only_future_months(tmp_path, capsys):
    """Before: its earlier months became history with interpolated targets (or failed the segment)."""
    data = monthly(30, "2023-01-01")
    dates = pd.date_range("2021-01-01", "2025-12-01", freq="MS")
    promo = pd.DataFrame({"ds": dates.strftime("%Y-%m-%d"), "promo": (np.arange(len(dates)) % 4 == 0).astype(int)})
    promo.to_csv(tmp_path / "promo.csv", index=False)
    code, table, out, err = run(tmp_path, capsys, data, "--covariates-file", str(tmp_path / "promo.csv"), "--horizon", "6",
                                "--models", "xgboost", "--holidays", "none", "--leaderboard", str(tmp_path / "board.csv"))
    assert code == 0, err
    assert table["ds"].iloc[0] == "2025-07-01" and len(table) == 6
    assert "covariates file: 24 row(s) dated 2021-01-01 .. 2022-12-01, at or before the last observation 2025-06-01" in out
    board = pd.read_csv(tmp_path / "board.csv")
    assert (board["rows_read"] == 30).all() and (board["rows_used"] == 30).all() and (board["rows_dropped"] == 0).all()
    assert "have no 'y' value" not in out  # no month of the calendar became a filled target


# --- a 0/1 flag on a period with no row -----------------------------------------------------------------

def test_a_promo_flag_on_a_period_with_no_row_is_zero_not_half(tmp_path, capsys):
    """Before: the absent month's flag was interpolated like the target (0.5), silently, and the run failed."""
    data = monthly(36, "2022-01-01").assign(promo=lambda f: (np.arange(36) % 3 == 0).astype(int))
    data = data.drop(index=10).reset_index(drop=True)  # 2022-11 has no row at all
    future = pd.DataFrame({"ds": pd.date_range("2025-01-01", periods=6, freq="MS"), "y": np.nan, "promo": [1, 0, 0, 1, 0, 0]})
    frame = pd.concat([data, future], ignore_index=True)
    code, table, out, err = run(tmp_path, capsys, frame, "--covariates", "promo", "--horizon", "6", "--models", "xgboost", "--holidays", "none")
    assert code == 0, err
    assert len(table) == 6
    assert "covariate 'promo': 1 missing value(s) in the history and 0 in the forecast horizon filled with 0 (a 0/1 flag: a blank means no)" in out
    from forecasting.contract import DataSpec
    from forecasting.validation import ValidationPolicy, validate

    _, prepared = validate(frame.assign(ds=frame["ds"].dt.strftime("%Y-%m-%d")), DataSpec(covariate_cols=["promo"]), ValidationPolicy(), 6, 3)
    assert set(prepared["all"].history["promo"]) == {0.0, 1.0}


# --- business days and holidays ----------------------------------------------------------------------

def business_days_with_holidays() -> pd.DataFrame:
    import holidays

    closed = pd.DatetimeIndex(list(holidays.country_holidays("US", years=[2023, 2024, 2025]).keys()))
    days = pd.bdate_range("2023-01-01", "2025-12-31")
    days = days[~days.isin(closed)]
    rng = np.random.default_rng(3)
    return pd.DataFrame({"ds": days.strftime("%Y-%m-%d"), "y": (1000 + 50 * np.sin(2 * np.pi * days.month / 12) + rng.normal(0, 20, len(days))).round(2)})


def test_business_day_months_with_holidays_are_complete(tmp_path, capsys):
    """Before: January 2023 (New Year observed on the 2nd) was dropped as partial and December 2025
    (Christmas) discarded and forecast instead; every month of a business-day extract is complete."""
    code, table, out, err = run(tmp_path, capsys, business_days_with_holidays(), "--aggregate", "MS", "--horizon", "3",
                                "--models", "ets,theta", "--holidays", "US", "--leaderboard", str(tmp_path / "board.csv"))
    assert code == 0, err
    assert table["ds"].iloc[0] == "2026-01-01"  # December's actuals are kept, the forecast starts after them
    assert "partial" not in out and "fewer" not in out
    assert "aggregated from B to MS (y=sum): 750 rows into 36 periods" in out


# --- a stale segment ----------------------------------------------------------------------------------

def stale_table() -> pd.DataFrame:
    rng = np.random.default_rng(2)
    days = pd.date_range("2023-11-01", "2025-11-19", freq="D")
    live = pd.DataFrame({"ds": days.strftime("%Y-%m-%d"), "y": (100 + 10 * np.sin(days.dayofweek) + rng.normal(0, 1, len(days))).round(2), "seg": "A"})
    gone = pd.date_range("2024-01-01", periods=10, freq="D")
    stale = pd.DataFrame({"ds": gone.strftime("%Y-%m-%d"), "y": (50 + rng.normal(0, 1, 10)).round(2), "seg": "B"})
    return pd.concat([live, stale], ignore_index=True)


def test_a_stale_segment_is_flagged_in_every_output_by_default(tmp_path, capsys):
    """Before: 'forecast' for dates two years in the past with a note about length only."""
    code, table, out, err = run(tmp_path, capsys, stale_table(), "--segment-cols", "seg", "--horizon", "7", *FAST,
                                "--leaderboard", str(tmp_path / "board.csv"))
    assert code == 0, err
    stale = table[table["seg"] == "B"]
    assert stale["ds"].iloc[0] == "2024-01-11"  # from its own end, as the policy says
    assert stale["low_confidence"].str.contains("stale: its last observation 2024-01-10 is 679 D period(s) before the data's last date 2025-11-19", regex=False).all()
    assert table.loc[table["seg"] == "A", "low_confidence"].isna().all()
    board = pd.read_csv(tmp_path / "board.csv")
    assert board.loc[board["segment"] == "seg=B", "low_confidence"].str.contains("stale").all()
    assert "stale: its last observation 2024-01-10" in out


def test_stale_error_and_skip(tmp_path, capsys):
    code, table, out, err = run(tmp_path, capsys, stale_table(), "--segment-cols", "seg", "--horizon", "7", *FAST, "--stale", "error")
    assert code == 1 and set(table["seg"]) == {"A"}
    assert "error: segment 'seg=B': stale: its last observation 2024-01-10" in err
    code, table, out, err = run(tmp_path, capsys, stale_table(), "--segment-cols", "seg", "--horizon", "7", *FAST, "--stale", "skip")
    assert code == 0 and set(table["seg"]) == {"A"}
    assert "skipped: segment 'seg=B'" in err and "SKIPPED" in out


def test_no_library_warning_reaches_the_screen(tmp_path):
    """A pandas FutureWarning (concatenating a leaderboard with an all-empty metric column) used to be
    printed into the user's output."""
    stale_table().to_csv(tmp_path / "d.csv", index=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run([sys.executable, "-m", "flows.cli", "forecast", "--data", str(tmp_path / "d.csv"), "--segment-cols", "seg",
                           "--horizon", "7", *FAST, "--output", str(tmp_path / "o.csv"), "--leaderboard", str(tmp_path / "b.csv")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr and "Warning" not in done.stdout


# --- outputs -----------------------------------------------------------------------------------------

def test_csv_and_parquet_output_carry_low_confidence(tmp_path, capsys):
    frame = monthly(10).assign(ds=lambda f: f["ds"].dt.strftime("%Y-%m-%d"))
    code, table, out, err = run(tmp_path, capsys, frame, "--horizon", "6", *FAST)
    assert code == 0, err
    assert table["low_confidence"].str.startswith("backtest scored").all()
    code, _, out, err = run(tmp_path, capsys, frame, "--horizon", "6", *FAST, name="out.parquet")
    assert code == 0, err
    assert pd.read_parquet(tmp_path / "out.parquet")["low_confidence"].str.startswith("backtest scored").all()


def test_all_models_excel_summary_counts_only_the_champion(tmp_path, capsys):
    """Before: with a champion and two candidates over 3 months it said 9 periods and the sum of all."""
    pytest.importorskip("openpyxl")
    frame = monthly(36).assign(ds=lambda f: f["ds"].dt.strftime("%Y-%m-%d"))
    code, _, out, err = run(tmp_path, capsys, frame, "--horizon", "3", "--models", "ets,theta,ensemble", "--holidays", "none",
                            "--all-models", name="out.xlsx")
    assert code == 0, err
    summary = pd.read_excel(tmp_path / "out.xlsx", sheet_name="summary")
    sheet = pd.read_excel(tmp_path / "out.xlsx", sheet_name="all")
    champion = sheet[sheet["champion"]]
    assert len(sheet) > 3 and summary["periods"].iloc[0] == 3
    assert summary["forecast_total"].iloc[0] == pytest.approx(champion["yhat"].sum())


def test_the_leaderboard_coverage_is_that_of_the_calibrated_interval(tmp_path, capsys):
    """Coverage of the interval the user receives, out of sample: fold k's interval calibrated on the
    folds before it. Before: the families' own (uncalibrated) interval."""
    from forecasting.backtest import BacktestSpec, run_backtest
    from forecasting.contract import DataSpec
    from forecasting.intervals import out_of_sample_coverage
    from forecasting.models import ModelSpec
    from forecasting.selection import leaderboard
    from forecasting.validation import ValidationPolicy, validate

    frame = monthly(72, "2019-01-01").assign(ds=lambda f: f["ds"].dt.strftime("%Y-%m-%d"))
    _, prepared = validate(frame, DataSpec(), ValidationPolicy(), 6, 4)
    backtest = run_backtest(prepared["all"], ModelSpec(models=["ets", "theta"], holidays_country=None), BacktestSpec(horizon=6, folds=4))
    board = leaderboard(backtest).set_index("model")
    ets = backtest.candidates["ets"]
    raw = np.mean([((f["y"] >= f["yhat_lower"]) & (f["y"] <= f["yhat_upper"])).mean() for f in ets.forecasts])
    assert board.loc["ets", "coverage"] == pytest.approx(out_of_sample_coverage(ets.forecasts, 0.9, backtest.train_lengths))
    assert board.loc["ets", "coverage"] != pytest.approx(raw)
    code, _, out, err = run(tmp_path, capsys, frame, "--horizon", "6", "--folds", "4", *FAST, "--leaderboard", str(tmp_path / "b.csv"))
    assert code == 0, err
    assert pd.read_csv(tmp_path / "b.csv").set_index("model").loc["ets", "coverage"] == pytest.approx(board.loc["ets", "coverage"])


# --- validate ------------------------------------------------------------------------------------------

def test_validate_accounts_for_every_row_of_the_bundled_data(tmp_path, capsys):
    from conftest import SAMPLE_SEGMENTS

    code, _, out, err = run(tmp_path, capsys, SAMPLE_SEGMENTS, "--segment-cols", "region,product", "--report", str(tmp_path / "v.json"),
                            command="validate")
    assert code == 0, err
    report = json.loads((tmp_path / "v.json").read_text())
    rows = len(pd.read_csv(SAMPLE_SEGMENTS))
    assert report["rows_read"] == rows
    for segment in report["segments"].values():
        accounting = segment["accounting"]
        assert accounting["balanced"]
        assert accounting["rows_read"] == accounting["rows_used"] + accounting["rows_dropped"] + accounting["rows_merged"]
    assert "rows read:" in out


def test_validate_exit_codes(tmp_path, capsys):
    data = stale_table()
    code, _, out, err = run(tmp_path, capsys, data, "--segment-cols", "seg", "--horizon", "7", command="validate")
    assert code == 0 and "stale" in out
    code, _, out, err = run(tmp_path, capsys, data, "--segment-cols", "seg", "--horizon", "7", "--stale", "error", command="validate")
    assert code == 1 and "error: segment 'seg=B'" in err
    code, _, out, err = run(tmp_path, capsys, tmp_path / "missing.csv", command="validate")
    assert code == 2 and "does not exist" in err
