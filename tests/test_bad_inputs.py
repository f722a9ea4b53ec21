"""The bad-input matrix: every file or setting a finance team gets wrong, through the CLI as a user runs
it (in-process: `flows.cli.main`). Each gives a non-zero exit, one `error:` line per failed segment
naming the column, segment or value, no traceback unless --debug, and the healthy segments of a mixed
file still forecast. One `train` run checks the registry holds nothing for the failed segments."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import daily_frame

FAST = ["--models", "seasonal_naive", "--holidays", "none", "--horizon", "7", "--folds", "1"]


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def frame_csv(path, frame: pd.DataFrame, **kwargs):
    frame.to_csv(path, index=False, **kwargs)
    return path


def healthy(region: str, seed: int = 0, days: int = 60) -> pd.DataFrame:
    return daily_frame(days=days, seed=seed, region=region)


def mixed(path, bad: pd.DataFrame) -> object:
    """A file with two healthy segments and ``bad``."""
    return frame_csv(path, pd.concat([healthy("EU", 1), healthy("US", 2), bad], ignore_index=True))


def single(path, change) -> object:
    frame = daily_frame(days=60, region="EU")
    change(frame)
    return frame_csv(path, frame)


def with_y(values):
    def change(frame):
        frame["y"] = values

    return change


def set_cell(row, col, value):
    def change(frame):
        frame.loc[row, col] = value

    return change


def bad_segment(region: str, change) -> pd.DataFrame:
    frame = healthy(region, 3)
    change(frame)
    return frame


def one_row_segments(path):
    rows = pd.DataFrame({"ds": "2024-01-01", "y": np.arange(30).astype(str), "region": [f"S{i:02d}" for i in range(30)]})
    return frame_csv(path / "d.csv", pd.concat([healthy("EU", 1), rows], ignore_index=True))


def covariate_file(path):
    frame = daily_frame(days=60, region="EU")
    frame["price"] = (9.99 + np.arange(60) % 5).astype(str)  # not a 0/1 flag: no default fill for it
    return frame_csv(path / "d.csv", frame)


def tz_dates(frame):
    frame["ds"] = frame["ds"] + "T00:00:00+01:00"


def irregular(frame):
    steps = np.resize([1, 2, 5], len(frame))  # spacing 1, 2, 5, 1, 2, 5 ... days: no frequency fits
    frame["ds"] = (pd.Timestamp("2024-01-01") + pd.to_timedelta(np.cumsum(steps), unit="D")).strftime("%Y-%m-%d")


def twelve_days_day_first(path):
    """01/01/2024 .. 12/01/2024: twelve days of January day-first, a year of months month-first."""
    frame = daily_frame(days=12, region="EU")
    frame["ds"] = pd.to_datetime(frame["ds"]).dt.strftime("%d/%m/%Y")
    return frame_csv(path, frame)


def ends_early(frame):
    frame.drop(index=frame.index[-30:], inplace=True)  # stopped reporting 30 days before the others


# id, build(tmp_path) -> data file, extra CLI args, expected exit, text the error line must contain,
# segments that must still be forecast
CASES = [
    ("empty-file", lambda p: write(p / "d.csv", ""), [], 2, "the file is empty", []),
    ("header-only", lambda p: write(p / "d.csv", "ds,y\n"), [], 2, "has a header but no data rows", []),
    ("wrong-delimiter", lambda p: frame_csv(p / "d.csv", daily_frame(days=60, region="EU"), sep=";"), ["--delimiter", ","], 2,
     "missing time column 'ds', target column 'y', segment column 'region'; found columns: ds;y;region (the header looks like one column", []),
    ("missing-time-column", lambda p: frame_csv(p / "d.csv", daily_frame(days=60, region="EU").rename(columns={"ds": "date"})), [], 2,
     "missing time column 'ds'; found columns: date, y, region", []),
    ("missing-target-column", lambda p: frame_csv(p / "d.csv", daily_frame(days=60, region="EU").rename(columns={"y": "amount"})), [], 2,
     "missing target column 'y'; found columns: ds, amount, region", []),
    ("unparseable-dates", lambda p: single(p / "d.csv", set_cell(5, "ds", "2024-13-45")), [], 2,
     "unparseable dates in 'ds': '2024-13-45' (row 7)", []),
    ("mixed-date-formats", lambda p: single(p / "d.csv", set_cell(9, "ds", "01/10/2024")), [], 2,
     "mixed date formats in 'ds'", []),
    ("timezone-aware-dates", lambda p: single(p / "d.csv", tz_dates), [], 2,
     "time column 'ds' has timezone-aware values like '2024-01-01T00:00:00+01:00'", []),
    ("non-numeric-target", lambda p: mixed(p / "d.csv", bad_segment("BAD", set_cell(7, "y", "1.234,56"))), [], 1,
     "segment 'region=BAD': target 'y' has non-numeric values '1.234,56'", ["EU", "US"]),
    ("all-nan-target", lambda p: mixed(p / "d.csv", bad_segment("BAD", with_y(""))), [], 1,
     "segment 'region=BAD': target 'y' is empty (all 60 values are missing)", ["EU", "US"]),
    ("infinite-target", lambda p: mixed(p / "d.csv", bad_segment("BAD", set_cell(3, "y", "inf"))), [], 1,
     "segment 'region=BAD': target 'y' has infinite values (row", ["EU", "US"]),
    ("negative-with-log", lambda p: mixed(p / "d.csv", bad_segment("BAD", set_cell(3, "y", "-5"))), ["--transform", "log"], 1,
     "segment 'region=BAD': target 'y' has 1 negative value(s) (min -5): the log transform needs positive values", ["EU", "US"]),
    ("duplicate-timestamps", lambda p: mixed(p / "d.csv", bad_segment("BAD", set_cell(4, "ds", "2024-01-04"))), [], 1,
     "segment 'region=BAD': 2 rows share a timestamp (e.g. 2024-01-04", ["EU", "US"]),
    ("irregular-frequency", lambda p: mixed(p / "d.csv", bad_segment("BAD", irregular)), [], 1,
     "segment 'region=BAD': irregular dates", ["EU", "US"]),
    ("too-short-series", lambda p: mixed(p / "d.csv", healthy("BAD", 3, days=2)), [], 1,
     "segment 'region=BAD': series too short: 2 period(s); at least 3 are needed to forecast", ["EU", "US"]),
    ("horizon-zero", lambda p: single(p / "d.csv", lambda f: None), ["--horizon", "0"], 2,
     "invalid setting backtest.horizon: Input should be greater than or equal to 1 (got 0)", []),
    ("horizon-negative", lambda p: single(p / "d.csv", lambda f: None), ["--horizon", "-7"], 2,
     "invalid setting backtest.horizon: Input should be greater than or equal to 1 (got -7)", []),
    ("horizon-absurd", lambda p: single(p / "d.csv", lambda f: None), ["--horizon", "1000000"], 2,
     "invalid setting backtest.horizon: Input should be less than or equal to 10000 (got 1000000)", []),
    ("unknown-model", lambda p: single(p / "d.csv", lambda f: None), ["--models", "ets,lstm"], 2,
     "invalid setting models.models: unknown model 'lstm'; known models: naive, seasonal_naive", []),
    ("nan-in-segment-column", lambda p: mixed(p / "d.csv", bad_segment("BAD", set_cell(slice(0, 59), "region", np.nan))), [], 1,
     "segment column 'region' is empty in 60 row(s)", ["EU", "US"]),
    ("many-one-row-segments", one_row_segments, [], 1, "series too short: 1 period(s); at least 3 are needed", ["EU"]),
    ("covariate-missing-in-future", covariate_file, ["--covariates", "price"], 2,
     "covariate 'price' is not available for the forecast horizon: 7 of 7 future periods have no value", []),
    ("two-signs", lambda p: mixed(p / "d.csv", bad_segment("BAD", set_cell(7, "y", "(-5)"))), [], 1,
     "segment 'region=BAD': target 'y' has non-numeric values '(-5)' (row 129); a number with two signs", ["EU", "US"]),
    ("day-month-ambiguous", lambda p: twelve_days_day_first(p / "d.csv"), [], 2,
     "dates in 'ds' such as '01/01/2024' can be read day-first or month-first and both readings give a regular calendar", []),
    ("date-format-that-does-not-fit", lambda p: single(p / "d.csv", lambda f: None), ["--date-format", "%d/%m/%Y"], 2,
     "unparseable dates in 'ds' with --date-format %d/%m/%Y: '2024-01-01'", []),
    ("date-format-not-strftime", lambda p: single(p / "d.csv", lambda f: None), ["--date-format", "dd/mm/yyyy"], 2,
     "invalid setting data.date_format: 'dd/mm/yyyy' is not a strftime format", []),
    ("stale-segment-refused", lambda p: mixed(p / "d.csv", bad_segment("BAD", ends_early)), ["--stale", "error"], 1,
     "segment 'region=BAD': stale: its last observation 2024-01-30 is 30 D period(s) before the data's last date 2024-02-29", ["EU", "US"]),
]


SEGMENT_LEVEL = {"unparseable-dates", "mixed-date-formats", "timezone-aware-dates", "many-one-row-segments", "covariate-missing-in-future",
                 "date-format-that-does-not-fit"}


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_one_named_error_line_and_a_non_zero_exit(case, tmp_path, capsys):
    from flows.cli import main

    _, build, args, expected_exit, needle, survivors = case
    data = build(tmp_path)
    out = tmp_path / "out.csv"
    code = main(["forecast", "--data", str(data), "--segment-cols", "region", "--output", str(out), *FAST, *args])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == expected_exit, err
    assert "Traceback" not in err
    assert any(needle in line for line in lines), err
    assert all(line.startswith("error: ") for line in lines), err
    if "segment '" in needle or case[0] in SEGMENT_LEVEL:  # one line per failed segment (+ "nothing written")
        failed = 30 if case[0] == "many-one-row-segments" else 1
        assert len(lines) == failed + (0 if survivors else 1), err
        assert all(line.startswith("error: segment '") for line in lines[:failed]), err
    else:  # the file or a setting: one line, nothing else
        assert len(lines) == 1, err
    if survivors:
        table = pd.read_csv(out)
        assert sorted(table["region"].unique()) == survivors and len(table) == 7 * len(survivors)
        assert np.isfinite(table["yhat"]).all()
    else:
        assert not out.exists()


def test_debug_shows_the_traceback(tmp_path, capsys):
    from flows.cli import main

    data = write(tmp_path / "d.csv", "ds,y\n")
    with pytest.raises(Exception) as err:
        main(["--debug", "forecast", "--data", str(data), "--output", str(tmp_path / "o.csv")])
    assert "has a header but no data rows" in str(err.value)


@pytest.mark.timeout(60)
def test_huge_values_forecast_at_their_scale(tmp_path, capsys):
    from flows.cli import main

    frame = daily_frame(days=60)
    frame["y"] = (frame["y"].astype(float) * 1e13).map(repr)  # ~1e15
    data = frame_csv(tmp_path / "d.csv", frame)
    code = main(["forecast", "--data", str(data), "--output", str(tmp_path / "o.csv"), *FAST[:-4], "--models", "ets", "--horizon", "7"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = pd.read_csv(tmp_path / "o.csv")
    assert np.isfinite(table["yhat"]).all() and table["yhat"].between(5e14, 5e15).all()


@pytest.mark.timeout(60)
def test_non_ascii_segment_names_forecast_and_keep_their_names(tmp_path, capsys):
    from flows.cli import main

    names = ["Zürich", "東京", "São Paulo"]
    data = frame_csv(tmp_path / "d.csv", pd.concat([healthy(n, i) for i, n in enumerate(names)], ignore_index=True))
    code = main(["forecast", "--data", str(data), "--segment-cols", "region", "--output", str(tmp_path / "o.csv"), *FAST])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    table = pd.read_csv(tmp_path / "o.csv", encoding="utf-8")
    assert sorted(table["region"].unique()) == sorted(names) and len(table) == 21


@pytest.mark.timeout(240)
def test_train_registers_only_the_healthy_segments_of_a_mixed_file(prefect_harness, tmp_path, monkeypatch, capsys):
    """The Prefect flow on real MLflow (SQLite in tmp): failed segments leave nothing in the registry."""
    import mlflow

    from flows.cli import main
    from forecasting.mlops.config import TrackingConfig
    from forecasting.mlops.tracking import connect

    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    nan_rows = bad_segment("X", lambda f: None).assign(region=np.nan)
    frame = pd.concat([healthy("EU", 1), healthy("US", 2), bad_segment("BAD", set_cell(7, "y", "n/a?")),
                       healthy("SHORT", 3, days=2), nan_rows], ignore_index=True)
    data = frame_csv(tmp_path / "d.csv", frame)
    report_path = tmp_path / "report.json"
    try:
        code = main(["train", "--data", str(data), "--segment-cols", "region", *FAST, "--skip-deploy", "--report", str(report_path)])
        err = capsys.readouterr().err
        assert code == 1 and "Traceback" not in err
        assert "3 of 5 segments failed (60% > max_failed_fraction 25%)" in err and "region=BAD" in err
        report = json.loads(report_path.read_text())
        status = {row["segment"]: row["status"] for row in report["segments"]}
        assert status == {"region=EU": "trained", "region=US": "trained", "region=BAD": "failed",
                          "region=SHORT": "failed", "region=<missing>": "failed"}
        client = connect(TrackingConfig())
        registered = sorted(m.name for m in client.search_registered_models())
        expected = sorted(row["registered_model"] for row in report["segments"] if row["status"] == "trained")
        assert registered == expected and len(expected) == 2
        for name in expected:
            assert len(client.search_model_versions(f"name='{name}'")) == 1
    finally:
        mlflow.set_tracking_uri(None)
