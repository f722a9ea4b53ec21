"""The training report, assembled without Prefect from the records the stages return: what a user
reads in the CLI table, the JSON report and the Prefect summary."""

from __future__ import annotations

import json

import pandas as pd

from flows.training_report import (
    Deployment,
    Publication,
    failure_row,
    report_rows,
    run_url,
    verdict,
)
from forecasting.explain.bridge import Bridge, closes
from forecasting.ops.changes import changes_since
from forecasting.ops.charts import run_total
from forecasting.ops.summary import training_summary
from tasks.records import PublishedModel, TrainedSegment

RUN = "flow-run-2"


def trained(segment: str, computed_in: str = RUN, published: PublishedModel | None = None) -> TrainedSegment:
    return TrainedSegment(segment, {}, "trained", champion="ets", metrics={"mase": 0.8}, baseline={"mase": 1.0},
                          run_id=f"run-{segment}", computed_in=computed_in, published=published, seconds=1.5)


def published(segment: str, promoted: bool = True) -> PublishedModel:
    return PublishedModel(segment, f"forecast_{segment}", "3", promoted, smoke="models:/x/3: passed" if promoted else "models:/x/3: FAILED: no rows",
                          seconds=0.4)


def test_rows_are_in_segment_order_with_failures_from_every_stage():
    good, smoke_failed, cached = published("a"), published("c", promoted=False), published("d")
    results = {"a": trained("a", published=good), "c": trained("c", published=smoke_failed), "d": trained("d", computed_in="flow-run-1"),
               "e": trained("e")}
    publication = Publication({"a": good, "c": smoke_failed, "d": cached}, errors={"e": "RestException: 503"})
    rows = report_rows({"b": failure_row("b", "validation", "series too short")}, results, publication, {"url": "http://127.0.0.1:1"},
                       RUN, {"a": "http://mlflow/#/experiments/7/runs/run-a"}, "mase")
    assert [(r["segment"], r["status"], r["stage"]) for r in rows] == [
        ("a", "trained", ""), ("b", "failed", "validation"), ("c", "failed", "smoke test"), ("d", "cached", ""), ("e", "failed", "publish")]
    a = rows[0]
    assert (a["registered_model"], a["version"], a["metric_value"], a["baseline_value"]) == ("forecast_a", "3", 0.8, 1.0)
    assert a["publish_seconds"] == 0.4 and a["run_url"].endswith("/experiments/7/runs/run-a") and a["endpoint"] == "http://127.0.0.1:1"
    assert rows[2]["reason"].endswith("FAILED: no rows")
    assert rows[3]["publish_seconds"] == 0.0  # published by the publish stage, not inside its training task


def test_the_run_fails_on_a_failed_deploy_first_then_on_too_many_failed_segments():
    rows = [{"segment": s, "status": st, "reason": "r"} for s, st in (("a", "trained"), ("b", "failed"), ("c", "trained"), ("d", "trained"))]
    assert verdict(rows, Deployment(), max_failed_fraction=0.25) is None
    assert verdict(rows, Deployment(), max_failed_fraction=0.2).startswith("1 of 4 segments failed (25% > max_failed_fraction 20%): b: r")
    assert "deployment failed: DeployError: boom" in verdict(rows, Deployment(error="DeployError: boom"), 0.25)


def test_run_links_point_at_the_runs_experiment_on_a_tracking_server_only():
    assert run_url("http://127.0.0.1:5000/", "12", "abc") == "http://127.0.0.1:5000/#/experiments/12/runs/abc"
    assert run_url("sqlite:///x/mlflow.db", "12", "abc") is None
    assert run_url("http://127.0.0.1:5000", "12", None) is None


# --- what changed since the last forecast, and the run's total bridge ---------------------------------------

def vintage(segment: str, start: str, values: list[float], model: str, as_of=None) -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({"segment": segment, "ds": ds, "yhat": values, "model": model, "as_of": pd.Timestamp(as_of) if as_of else pd.NaT})


def test_what_changed_dates_a_kept_forecast_from_the_actuals_and_names_every_segment_it_cannot_compare():
    """The forecast kept in MLflow has no as_of: the last actual before its first date is. "a" got one new
    actual (Apr: 130 against 100 forecast) and moves +60 over May-Jun: data +60 (a miss of 30 carried
    over 2 periods), model 0 (same champion), rest 0."""
    previous = pd.concat([vintage("a", "2025-04-01", [100, 100, 100], "ets").assign(source="MLflow: champion v1"),
                          vintage("c", "2024-01-01", [5, 5], "ets").assign(source="MLflow: champion v1")], ignore_index=True)
    current = pd.concat([vintage("a", "2025-05-01", [130, 130, 130], "ets", "2025-04-01"), vintage("b", "2025-05-01", [1, 1, 1], "theta", "2025-04-01"),
                         vintage("c", "2025-05-01", [7, 7, 7], "ets", "2025-04-01"), vintage("d", "2025-05-01", [2, 2, 2], "ets", "2025-04-01")],
                        ignore_index=True)
    actuals = pd.DataFrame({"segment": ["a"] * 3 + ["c"], "ds": pd.to_datetime(["2025-02-01", "2025-03-01", "2025-04-01", "2023-12-01"]),
                            "y": [90.0, 95.0, 130.0, 4.0]})
    changes = changes_since(previous, current, actuals, unchanged=["d"])
    (row,) = changes["segments"]
    assert (row["segment"], row["previous_as_of"], row["new_actuals"], row["overlap_periods"]) == ("a", "2025-03-01", 1, 2)
    assert (row["change"], row["data"], row["model"], row["rest"]) == (60.0, 60.0, 0.0, 0.0)
    assert row["source"] == "MLflow: champion v1" and row["change_pct"] == 0.3
    assert (changes["first"], changes["no_overlap"], changes["unchanged"]) == (["b"], ["c"], ["d"])
    json.dumps(changes)  # the run report is JSON


def test_the_summary_shows_what_changed_biggest_move_first_or_says_it_is_the_first_forecast():
    rows = [{"segment": s, "status": "trained", "champion": "ets", "metric_value": 0.8, "baseline_value": 1.0} for s in ("a", "b")]
    moved = {"segment": "b", "previous_as_of": "2025-03-01", "current_as_of": "2025-04-01", "previous_champion": "ets",
             "current_champion": "theta", "overlap_periods": 2, "first": "2025-05-01", "last": "2025-06-01", "new_actuals": 1,
             "previous_total": 200.0, "current_total": 150.0, "change": -50.0, "change_pct": -0.25, "data": -20.0, "model": -30.0, "rest": 0.0,
             "split": "champion changed (ets -> theta); no ets forecast in the current vintage: model includes the rest", "source": "x"}
    changes = {"segments": [moved, {**moved, "segment": "a", "current_champion": "ets", "change": 10.0, "change_pct": 0.05, "data": 4.0,
                                    "model": 0.0, "rest": 6.0, "split": "same champion"}],
               "first": [], "no_overlap": [], "unchanged": ["c"], "looked_in": "the forecast table t"}
    text = training_summary(rows, "mase", changes=changes)
    section = text.split("## What changed since the last forecast", 1)[1]
    assert section.index("| b | ets → theta | 2025-05-01 .. 2025-06-01 (2) | 1 | 200 | 150 | -50 (-25.0%) | -20 | -30 (with the rest) | +0 |") \
        < section.index("| a | ets |")
    assert "Against the forecast table t" in section and "1 segment(s) kept the champion version" in section
    first = training_summary(rows, "mase", changes={"segments": [], "first": ["a", "b"], "no_overlap": [], "unchanged": [], "looked_in": "MLflow"})
    assert "**First forecast**: no previous vintage of these dates for any of the 2 segment(s) in MLflow" in first
    assert "What changed" not in training_summary(rows, "mase")  # not computed: not shown


def bridge_record(first: str, last: str, periods: int, steps: dict, frequency: str = "MS") -> dict:
    start = 100.0
    table = [("last year (actual)", start, "total"), *[(k, v, "change") for k, v in steps.items()],
             ("forecast", start + sum(steps.values()), "total")]
    return {**Bridge(pd.DataFrame(table, columns=["step", "value", "kind"]), periods, 12, first, last).as_record(), "frequency": frequency}


def test_the_runs_total_bridge_sums_the_segments_that_cover_the_same_periods_and_names_the_others():
    bridges = {"a": bridge_record("2025-01-01", "2025-12-01", 12, {"trend": 5.0, "season": -1.0}),
               "b": bridge_record("2025-01-01", "2025-12-01", 12, {"trend": 2.0, "promo": 3.0, "remainder": -0.5}),
               "short": bridge_record("2025-06-01", "2025-12-01", 7, {"trend": 1.0})}
    title, total, how = run_total(bridges)
    assert title == "total of 2 segments" and "1 left out" in how and "short" in how
    assert total.table.values.tolist() == [["last year (actual)", 200.0, "total"], ["trend", 7.0, "change"], ["season", -1.0, "change"],
                                           ["promo", 3.0, "change"], ["remainder", -0.5, "change"], ["forecast", 208.5, "total"]]
    assert closes(total)
    assert run_total({**bridges, "weekly": bridge_record("2025-01-06", "2025-12-29", 52, {}, "W-MON")})[1] is None
    assert "different frequencies (MS, W-MON)" in run_total({**bridges, "weekly": bridge_record("2025-01-06", "2025-12-29", 52, {}, "W-MON")})[2]
    title, total, how = run_total(bridges, total_segment="b")  # a hierarchy: its total node, as it is
    assert title == "total (b)" and total.table["value"].iloc[-1] == 104.5
