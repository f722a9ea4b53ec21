"""`forecast-flows forecast` as a user runs it: a real process, real files."""

import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from conftest import FINANCE_DAILY, daily_frame

BIN = Path(sys.executable).parent / "forecast-flows"


def run_cli(*args, timeout=300):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=timeout)


def test_forecast_of_the_real_series_covers_30_days_past_the_file_in_under_a_minute(tmp_path):
    out = tmp_path / "forecast.csv"
    started = time.perf_counter()
    result = run_cli("forecast", "--data", str(FINANCE_DAILY), "--segment-cols", "IS_CGNA,BUSINESS_SEGMENT,MX_TYPE",
                     "--horizon", "30", "--output", str(out), "--leaderboard", str(tmp_path / "board.csv"))
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert elapsed < 60
    table = pd.read_csv(out)
    assert list(table.columns) == ["IS_CGNA", "BUSINESS_SEGMENT", "MX_TYPE", "ds", "yhat", "yhat_lower", "yhat_upper", "model", "segment", "low_confidence"]
    # the partial last day (2025-11-19) is dropped and forecast instead: 30 days past the last date given
    assert len(table) == 31
    assert table["ds"].iloc[0] == "2025-11-19" and table["ds"].iloc[-1] == "2025-12-19"
    assert (table["yhat_lower"] <= table["yhat"]).all() and (table["yhat"] <= table["yhat_upper"]).all()
    assert "champion" in result.stdout and "seasonal_naive" in result.stdout and "looks incomplete" in result.stdout
    board = pd.read_csv(tmp_path / "board.csv")
    assert {"naive", "seasonal_naive", "prophet", "arima", "ets", "theta", "xgboost", "ensemble"} <= set(board["model"])
    assert board["champion"].sum() == 1


def test_bad_input_is_one_line_with_no_traceback_and_exit_2(tmp_path):
    data = tmp_path / "d.csv"
    daily_frame().rename(columns={"y": "amount"}).to_csv(data, index=False)
    result = run_cli("forecast", "--data", str(data), "--output", str(tmp_path / "o.csv"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr
    assert "missing target column 'y'" in result.stderr and "ds, amount" in result.stderr
    assert not (tmp_path / "o.csv").exists()
    debug = run_cli("--debug", "forecast", "--data", str(data), "--output", str(tmp_path / "o.csv"))
    assert debug.returncode != 0 and "Traceback" in debug.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--models", "prophet,lstm"], "unknown model 'lstm'; known models: naive, seasonal_naive"),
        (["--horizon", "0"], "backtest.horizon"),
        (["--horizon", "100000"], "backtest.horizon"),
        (["--frequency", "fortnightly"], "frequency 'fortnightly' is not supported"),
    ],
)
def test_bad_settings_are_named(tmp_path, capsys, args, needle):
    from flows.cli import main

    data = tmp_path / "d.csv"
    daily_frame().to_csv(data, index=False)
    code = main(["forecast", "--data", str(data), "--output", str(tmp_path / "o.csv"), "--models", "ets", *args])
    err = capsys.readouterr().err
    assert code in (1, 2) and needle in err and "Traceback" not in err
    assert not (tmp_path / "o.csv").exists()


def test_a_broken_segment_fails_alone(tmp_path):
    bad = daily_frame(region="US")
    bad.loc[7, "y"] = "twelve"
    data = tmp_path / "d.csv"
    pd.concat([daily_frame(region="EU"), bad]).to_csv(data, index=False)
    out = tmp_path / "o.csv"
    result = run_cli("forecast", "--data", str(data), "--segment-cols", "region", "--models", "ets", "--horizon", "14", "--output", str(out))
    assert result.returncode == 1
    assert "error: segment 'region=US': target 'y' has non-numeric values 'twelve' (row 209)" in result.stderr
    table = pd.read_csv(out)
    assert set(table["region"]) == {"EU"} and len(table) == 14


def four_segments(path: Path) -> Path:
    frames = [daily_frame(days=240, seed=i, level=50.0 * (i + 1), region=region) for i, region in enumerate(["EU", "US", "APAC", "LATAM"])]
    pd.concat(frames, ignore_index=True).to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_two_workers_write_the_same_files_as_one(tmp_path):
    """Segments fitted in parallel processes: a byte-identical forecast file, the same leaderboard (but
    for its fit times), the same printed summary; no progress bar when stderr is a pipe."""
    data = four_segments(tmp_path / "d.csv")
    outputs = {}
    for workers in ("1", "2"):
        out, board = tmp_path / f"forecast-{workers}.csv", tmp_path / f"board-{workers}.csv"
        result = run_cli("forecast", "--data", str(data), "--segment-cols", "region", "--models", "ets,theta,xgboost,prophet",
                         "--horizon", "14", "--folds", "2", "--output", str(out), "--leaderboard", str(board), "--workers", workers)
        assert result.returncode == 0, result.stderr
        assert "ETA" not in result.stderr and "segments" not in result.stderr
        printed = [line for line in result.stdout.splitlines() if not line.startswith("wrote ")]
        outputs[workers] = (out.read_bytes(), pd.read_csv(board).drop(columns="fit_seconds").to_csv(index=False), printed)
    assert outputs["1"] == outputs["2"]
    table = pd.read_csv(tmp_path / "forecast-2.csv")
    assert table["region"].drop_duplicates().tolist() == ["APAC", "EU", "LATAM", "US"] and len(table) == 4 * 14


def test_the_progress_bar_shows_on_a_terminal(tmp_path):
    import os
    import pty

    data = tmp_path / "d.csv"
    pd.concat([daily_frame(region="EU"), daily_frame(seed=1, region="US")]).to_csv(data, index=False)
    master, slave = pty.openpty()
    process = subprocess.Popen([str(BIN), "forecast", "--data", str(data), "--segment-cols", "region", "--models", "ets", "--horizon", "14",
                                "--output", str(tmp_path / "o.csv"), "--workers", "2"], stdout=subprocess.DEVNULL, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closed: the command ended
            break
        if not chunk:
            break
        seen += chunk
    assert process.wait(timeout=300) == 0
    text = seen.decode()
    assert "forecast [" in text and "0/2 segments" in text and "2/2 segments" in text and "elapsed, ETA" in text
