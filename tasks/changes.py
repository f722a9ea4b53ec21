"""The previous vintage of each segment, for "what changed since the last forecast": the forecast
table's latest earlier vintage when the run has a forecast table, else (and for the segments it has none
of) the forecast the previous champion made when it was promoted, kept in MLflow."""

from __future__ import annotations

import pandas as pd
from prefect import task
from prefect.cache_policies import NO_CACHE

from forecasting.forecast_table import ForecastTableTarget, open_table
from forecasting.mlops.champion_forecasts import version_forecast
from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.tracking import connect, reaching
from forecasting.ops.changes import PREVIOUS_COLUMNS, champion_vintage, latest_vintages
from tasks.credentials import sql_credentials


@task(name="previous-forecasts", cache_policy=NO_CACHE)
def previous_forecasts(segments: list[str], start: str, end: str, this_run: str, table: ForecastTableTarget | None,
                       tracking: TrackingConfig, champions: dict[str, tuple[str, str | None, str | None]]) -> tuple[pd.DataFrame, list[str]]:
    """Each segment's previous vintage over ``[start, end]`` (``segment, ds, yhat, model, as_of, source``)
    and the segments whose champion is the version that made it (nothing to compare).

    Args:
        this_run: the flow run's id: its own rows in the forecast table (a retry) are not a previous vintage.
        champions: segment -> (registered model, previous champion version, current version), from publishing.
    """
    frames, remaining = [], list(segments)
    if table is not None:
        rows = open_table(table, sql_credentials(table.credentials_block)).read(segments, start, end)
        frames.append(latest_vintages(rows, exclude_run_id=this_run))
        remaining = [s for s in segments if s not in set(frames[0]["segment"])]
    wanted = {s: champions[s] for s in remaining if s in champions and champions[s][1]}
    unchanged = sorted(s for s, (_, previous, current) in wanted.items() if previous == current)
    todo = {s: v for s, v in wanted.items() if s not in unchanged}
    if todo:
        with reaching(tracking):  # ~20 ms a segment on SQLite (threads were slower there): 2 s for 100 segments
            client = connect(tracking)
            kept = [version_forecast(client, name, previous) for name, previous, _ in todo.values()]
        frames += [champion_vintage(frame.assign(segment=segment)) for segment, frame in zip(todo, kept) if frame is not None and len(frame)]
    frames = [f for f in frames if len(f)]
    return (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=PREVIOUS_COLUMNS)), unchanged
