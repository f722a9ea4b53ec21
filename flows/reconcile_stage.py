"""The `reconcile` stage of the forecast-training flow: after every node of the segment hierarchy
trained (its aggregates are segments like any), reconcile their forecasts so every parent is the sum
of its children, put the reconciled numbers in the report, the forecast table and the charts (each
node's components get a ``reconciliation`` component, so they still add up to the reconciled forecast,
and its bridge from last year has it as a step), log the reconciliation to the parent MLflow run, and
show it in the Prefect UI: a table per level (base vs reconciled backtest score, the method) and a chart
of the total with its children stacked."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE

from forecasting.mlops.pyfunc import with_iso_dates
from tasks.records import TrainedSegment


@dataclass
class Reconciled:
    """What the reconcile stage produced: the frozen reconciliation the router serves with, and the
    report's ``reconciliation`` section; or why it could not reconcile."""

    frozen: object | None = None  # forecasting.hierarchy.Reconciliation
    summary: dict = field(default_factory=dict)
    error: str | None = None


@task(name="reconcile", cache_policy=NO_CACHE)
def reconcile_nodes(hierarchy, segments: dict, trained: dict[str, TrainedSegment], spec, job):
    """Every node's champion forecast reconciled (:func:`forecasting.hierarchy.run.reconcile_run`)."""
    from forecasting.hierarchy.run import reconcile_run
    from forecasting.pipeline import ForecastRun

    run = ForecastRun({node: trained[node].outcome[0] for node in hierarchy.nodes})
    raw = {node: trained[node].outcome[1] for node in hierarchy.nodes}
    return reconcile_run(run, hierarchy, {node: segments[node] for node in hierarchy.nodes}, spec, job, raw)


@task(name="record-reconciled-forecasts", cache_policy=NO_CACHE)
def record_reconciled_forecasts(tracking, nodes: list[TrainedSegment]) -> int:
    """The champion forecast kept at promotion (what actuals are compared with, and the previous vintage
    of the next run) becomes the reconciled one the router serves, for the nodes their training task
    already published (the publish stage publishes the others with the reconciled forecast)."""
    from forecasting.mlops.champion_forecasts import record_champion_forecast
    from forecasting.mlops.tracking import connect, reaching

    published = [t for t in nodes if t.published is not None and t.published.promoted and t.run_id]
    with reaching(tracking):
        client = connect(tracking)
        for t in published:
            record_champion_forecast(client, t.run_id, t.segment, t.champion, t.published.name, t.published.version, t.forecast)
    return len(published)


def reconcile_stage(run, validated, trained: dict[str, TrainedSegment]) -> Reconciled | None:
    """Reconcile when the run has a hierarchy (None otherwise). A node that failed to train, or a
    method that cannot run, leaves the champions registered and the run fails after its report."""
    hierarchy = validated.hierarchy
    if hierarchy is None:
        return None
    logger = get_run_logger()
    missing = [node for node in hierarchy.nodes if node not in trained or trained[node].status != "trained" or trained[node].outcome is None]
    if missing:
        error = f"the hierarchy cannot be reconciled: node(s) {', '.join(missing[:5])} did not train"
        logger.error("%s", error)
        run.clock.lap("reconcile")
        return Reconciled(error=error)
    try:
        result = reconcile_nodes(hierarchy, validated.prepared, trained, run.params.hierarchy, run.job)
    except Exception as exc:  # a method asked for by name that cannot run on the data: named, the run fails after its report
        error = f"reconciliation failed: {type(exc).__name__}: {exc}"
        logger.error("%s", error)
        run.clock.lap("reconcile")
        return Reconciled(error=error)
    apply_reconciled(result, trained)
    explained = explain_reconciled(result, trained)
    summary = reconciliation_summary(result)
    reconciliation_artifacts(result, summary, trained)
    log_reconciliation(run, result, summary, explained)
    try:
        record_reconciled_forecasts.with_options(**run.service)(run.tracking, [trained[node] for node in hierarchy.nodes])
    except Exception as exc:  # the champions stand; what is kept for later comparisons is their own forecast
        logger.warning("the reconciled forecasts were not kept with the champions (the nodes' own forecasts are): %s: %s",
                       type(exc).__name__, exc)
    logger.info("reconciled %d node(s) in %d level(s) by %s: %s", len(hierarchy.nodes), len(hierarchy.levels), result.method, result.why)
    for segment in trained.values():
        segment.outcome = None  # the backtests and fitted models stay out of the persisted report
    run.clock.lap("reconcile")
    return Reconciled(frozen=result.reconciliation, summary=summary)


def apply_reconciled(result, trained: dict[str, TrainedSegment]) -> None:
    """Each node's reported forecast becomes its reconciled one, its own beside it as ``yhat_base``."""
    for i, node in enumerate(result.hierarchy.nodes):
        frame = pd.DataFrame({"ds": result.dates, "yhat": result.yhat[i], "yhat_lower": result.lower[i], "yhat_upper": result.upper[i],
                              "yhat_base": result.base[i], "level": result.hierarchy.level_of[node]})
        trained[node].forecast = with_iso_dates(frame).to_dict("records")
        trained[node].notes.append(f"forecast reconciled by {result.method}; its own forecast is yhat_base")


def explain_reconciled(result, trained: dict[str, TrainedSegment]) -> dict[str, object]:
    """Each node's explanation with a ``reconciliation`` component (reconciled minus its own forecast):
    the components add up to the reconciled forecast and the node's bridge has it as a step. A node that
    cannot be explained keeps a note, never fails. Returns the explanations by node."""
    from forecasting.explain.segment import reconciled

    explained = {}
    for i, node in enumerate(result.hierarchy.nodes):
        outcome = trained[node].outcome[0]
        if outcome.explanation is None:
            continue
        try:
            dates = pd.DatetimeIndex(outcome.explanation.components.frame["ds"])
            yhat = pd.Series(result.yhat[i], index=pd.DatetimeIndex(result.dates)).reindex(dates).to_numpy(float)
            explained[node] = reconciled(outcome.explanation, yhat)
        except Exception as exc:
            trained[node].bridge = None
            trained[node].notes.append(f"no components for the reconciled forecast: {type(exc).__name__}: {exc}")
            continue
        trained[node].bridge = {**explained[node].bridge.as_record(), "frequency": explained[node].frequency}
    return explained


def reconciliation_summary(result) -> dict:
    """The report's ``reconciliation`` section: the method and why, the per-level scores, the notes,
    and how exactly the sums hold."""
    from forecasting.hierarchy.output import coherence_gap, reconciliation_frame

    table = reconciliation_frame(result)
    return {"method": result.method, "asked": result.asked, "why": result.why, "nodes": len(result.hierarchy.nodes), "total": result.hierarchy.total,
            "levels": table.to_dict("records"), "notes": list(result.notes), "coherence_gap": coherence_gap(result),
            "interval_method": result.reconciliation.interval_method}


def reconciliation_artifacts(result, summary: dict, trained: dict[str, TrainedSegment]) -> None:
    """A table per level (base vs reconciled backtest score, the method) and a chart of the total with
    its children stacked, on the run's Artifacts tab."""
    from forecasting.ops.charts import alt_text
    from forecasting.plots import close, data_uri, stacked_total_figure

    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in summary["levels"]]
    create_table_artifact(table=rows, key="reconciliation",
                          description=f"Reconciliation by {summary['method']} ({summary['asked']}): backtest {result.metric} per level, "
                                      f"base vs each method. {summary['why']}")
    hierarchy = result.hierarchy
    total = hierarchy.total
    below = hierarchy.levels[1].name if len(hierarchy.levels) > 1 else None
    children = {node: pd.DataFrame(trained[node].forecast) for node in hierarchy.nodes if hierarchy.level_of[node] == below}
    figure = stacked_total_figure(total, pd.DataFrame(trained[total].history_tail), pd.DataFrame(trained[total].forecast), children,
                                  result.method)
    try:
        image = data_uri(figure, dpi=80)
    finally:
        close(figure)
    alt = alt_text(total, "reconciled total")
    chart = f'![{alt}]({image} "{alt}")'
    create_markdown_artifact(markdown=f"# The total and its children ({below})\n\n{chart}\n\nsums: largest relative gap "
                                      f"{summary['coherence_gap']:.1e}", key="reconciled-total", description=chart)


def log_reconciliation(run, result, summary: dict, explained: dict | None = None) -> None:
    """The per-level table, the frozen reconciliation and, for every node, its reconciled components and
    bridge (with the total's waterfall) in the parent MLflow run, in one call."""
    import pickle
    import tempfile
    from pathlib import Path

    from forecasting.mlops.segment_run import bridge_table
    from forecasting.mlops.tracking import connect, reaching
    from forecasting.plots import close, waterfall_figure

    with reaching(run.tracking), tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "reconciliation"
        root.mkdir()
        pd.DataFrame(summary["levels"]).to_csv(root / "levels.csv", index=False)
        (root / "reconciliation.pkl").write_bytes(pickle.dumps(result.reconciliation, protocol=pickle.HIGHEST_PROTOCOL))
        if explained:
            level = result.hierarchy.level_of
            pd.concat([e.components.frame.assign(segment=node, level=level[node]) for node, e in explained.items()],
                      ignore_index=True).to_csv(root / "components.csv", index=False)
            pd.concat([bridge_table(e.bridge).assign(segment=node, level=level[node]) for node, e in explained.items()],
                      ignore_index=True).to_csv(root / "bridges.csv", index=False)
            total = result.hierarchy.total
            if total in explained and explained[total].bridge.available:
                figure = waterfall_figure(total, explained[total].bridge.table, explained[total].bridge.window)
                try:
                    figure.savefig(root / "waterfall_total.png", dpi=90)
                finally:
                    close(figure)
        client = connect(run.tracking)
        client.log_artifacts(run.parent_run_id, str(root), "reconciliation")
        client.set_tag(run.parent_run_id, "reconciliation", f"{summary['method']} ({summary['asked']})")
