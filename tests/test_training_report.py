"""The training report, assembled without Prefect from the records the stages return: what a user
reads in the CLI table, the JSON report and the Prefect summary."""

from __future__ import annotations

from flows.training_report import (
    Deployment,
    Publication,
    failure_row,
    report_rows,
    run_url,
    verdict,
)
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
