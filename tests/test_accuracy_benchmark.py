"""The accuracy benchmark on real M3 FINANCE series, through the same validation, backtest, selection
and refit the flow trains with (no mocks, the default model set)."""

import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.accuracy import FINANCE, evaluate_m3, summarize  # noqa: E402

# Three of the shortest FINANCE series (50-56 months, one backtest fold): every family in seconds.
SERIES = (2656, 2663, 2607)
FAMILIES = {"naive", "seasonal_naive", "ets", "theta", "arima", "ces", "prophet", "xgboost", "ensemble"}


@pytest.fixture(scope="module")
def rows():
    assert all(n in FINANCE for n in SERIES)
    return [evaluate_m3(n) for n in SERIES]


def test_every_candidate_is_scored_with_the_m3_metrics(rows):
    for row in rows:
        assert "error" not in row, row.get("error")
        assert FAMILIES <= set(row["smape"]) and row["champion"] in FAMILIES
        assert all(0 <= v <= 200 for v in row["smape"].values()), row["smape"]
        assert all(math.isfinite(v) and v >= 0 for v in row["mase"].values()), row["mase"]


def test_the_champion_is_its_candidate_refitted_and_the_oracle_bounds_it(rows):
    for row in rows:
        candidates = [m for m in row["smape"] if m in FAMILIES]
        for metric in ("smape", "mase"):
            scores = row[metric]
            # the champion's forecast is exactly the forecast of the family that won the backtest
            assert scores["champion"] == pytest.approx(scores[row["champion"]], rel=1e-9)
            assert min(scores[c] for c in candidates) <= scores["champion"] <= max(scores[c] for c in candidates)
    summary = summarize(rows)
    table = summary["table"]
    assert summary["scored"] == len(SERIES)
    for metric in ("smape", "mase"):
        assert table["oracle"][metric] <= table["champion"][metric]
        assert table["oracle"][metric] <= min(table[m][metric] for m in FAMILIES)


def test_the_champion_beats_the_seasonal_naive_on_average(rows):
    """What a user checks first: on real finance series the selected model is better than repeating
    last year's values."""
    summary = summarize(rows)
    table = summary["table"]
    for metric in ("smape", "mase"):
        assert table["champion"][metric] < table["seasonal_naive"][metric]


def test_the_committed_full_run_matches_the_shipped_selection_rule(capsys):
    """docs/benchmarks.md quotes benchmarks/results/accuracy.json. Re-scoring it with the selection rule
    in forecasting.selection must reproduce every saved champion: change the rule (or the margin) and
    this fails until the benchmark is re-run and the docs updated."""
    from benchmarks.rescore_selection import RESULTS, main

    assert main([str(ROOT / p) for p in RESULTS]) == 0
    table = capsys.readouterr().out
    current = next(line for line in table.splitlines() if line.startswith("current"))
    assert current.split()[2:4] == ["13.60", "0.823"]  # all 1,428 monthly series, as docs/benchmarks.md says


def test_the_paired_bootstrap_separates_a_clear_win_from_a_tie():
    """docs/benchmarks.md calls differences "within noise" from benchmarks.paired: on the committed run
    the champion is clearly better than the seasonal naive, and level with itself."""
    from benchmarks.accuracy import load_scored
    from benchmarks.paired import RESULTS, paired

    rows = load_scored(ROOT / RESULTS)
    win = paired(rows, "seasonal_naive", "mase")
    assert win["low"] <= win["mean"] <= win["high"] < 0
    assert paired(rows, "champion", "smape") == {"mean": 0.0, "low": 0.0, "high": 0.0, "series": len(rows)}
