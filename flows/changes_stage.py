"""What changed since the last forecast, in the `forecast-training` flow: after publishing (which knows
each segment's previous champion) and before this run's vintage is appended to the forecast table, every
trained segment's forecast against its previous vintage, split into data, model and rest. For the
training summary artifact and the run report; a failure to read the vintages is a warning, never a
failed run."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger

from forecasting.ops.changes import changes_since
from tasks.changes import previous_forecasts


def changes_stage(run, validated, trained: dict, publication) -> dict | None:
    """The report's ``changes`` section (:func:`forecasting.ops.changes.changes_since`), with
    ``sources``; None when no segment was trained or the vintages could not be read."""
    good = {key: t for key, t in trained.items() if t.status == "trained" and t.forecast}
    if not good:
        return None
    current = pd.concat([pd.DataFrame(t.forecast)[["ds", "yhat"]].assign(segment=key, model=t.champion,
                                                                        as_of=validated.report.segments[key].last)
                         for key, t in good.items()], ignore_index=True)
    current["ds"] = pd.to_datetime(current["ds"])
    champions = {key: (p.name, p.previous_champion, p.version) for key, p in publication.by_segment.items() if key in good}
    start, end = str(current["ds"].min().date()), str(current["ds"].max().date())
    try:
        previous, unchanged = previous_forecasts.with_options(**run.service)(sorted(good), start, end, run.flow_run_id,
                                                                             run.params.forecast_table, run.tracking, champions)
    except Exception as exc:
        get_run_logger().warning("what changed since the last forecast is not known: the previous vintages could not be read: %s: %s",
                                 type(exc).__name__, exc)
        run.clock.lap("changes")
        return None
    since = pd.concat([pd.to_datetime(previous["ds"]), pd.to_datetime(previous["as_of"])]).min() if len(previous) else None
    actuals = pd.concat([_recent(validated.prepared[key].history, since).assign(segment=key) for key in good if key in validated.prepared],
                        ignore_index=True)
    changes = changes_since(previous, current, actuals, unchanged)
    table = run.params.forecast_table
    changes["looked_in"] = (f"the forecast table {table.describe()} (for segments it has no vintage of: the forecast each previous "
                            "champion made when it was promoted, kept in MLflow)" if table is not None else
                            "MLflow: the forecast each previous champion made when it was promoted")
    run.clock.lap("changes")
    return changes


def _recent(history: pd.DataFrame, since) -> pd.DataFrame:
    """The actuals the comparison reads: from a year before the earliest previous vintage (its ``as_of``
    or first date: the last actual before it dates a vintage kept without one)."""
    frame = history[["ds", "y"]]
    if since is None or pd.isna(since):
        return frame.iloc[:0]
    return frame[pd.to_datetime(frame["ds"]) >= pd.Timestamp(since) - pd.DateOffset(years=1)]
