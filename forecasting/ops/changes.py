"""What changed since the last forecast, for a run: each segment's previous vintage (the forecast table's
latest earlier vintage, or the forecast its previous champion made when it was promoted, kept in MLflow)
against this run's forecast, split by :func:`forecasting.explain.changes.what_changed` into new actuals
(data), a change of champion (model) and the rest; the segments that moved most first."""

from __future__ import annotations

import math

import pandas as pd

from forecasting.explain.changes import what_changed

PREVIOUS_COLUMNS = ["segment", "ds", "yhat", "model", "as_of", "source"]


def latest_vintages(vintages: pd.DataFrame, exclude_run_id: str | None = None) -> pd.DataFrame:
    """Each segment's latest vintage in the forecast table's rows (by ``created_at``), leaving out
    ``exclude_run_id``'s own rows (a retry of this run): ``segment, ds, yhat, model, as_of, source``."""
    if vintages.empty:
        return pd.DataFrame(columns=PREVIOUS_COLUMNS)
    rows = vintages[vintages["champion"].astype(bool)]
    if exclude_run_id:
        rows = rows[rows["run_id"].astype(str) != str(exclude_run_id)]
    if rows.empty:
        return pd.DataFrame(columns=PREVIOUS_COLUMNS)
    created = pd.to_datetime(rows["created_at"], utc=True)
    latest = created.groupby(rows["segment"]).transform("max")
    rows = rows[created == latest]
    return pd.DataFrame({"segment": rows["segment"].astype(str), "ds": pd.to_datetime(rows["ds"]), "yhat": rows["yhat"].astype(float),
                         "model": rows["model"].fillna("").astype(str), "as_of": pd.to_datetime(rows["as_of"]),
                         "source": "forecast table"}).reset_index(drop=True)


def champion_vintage(frozen: pd.DataFrame) -> pd.DataFrame:
    """A champion's forecast kept in MLflow (:data:`forecasting.mlops.champion_forecasts.COLUMNS`) as a
    previous vintage; its ``as_of`` is filled from the actuals (:func:`changes_since`)."""
    return pd.DataFrame({"segment": frozen["segment"].astype(str), "ds": pd.to_datetime(frozen["ds"]), "yhat": frozen["yhat"].astype(float),
                         "model": frozen["family"].fillna("").astype(str), "as_of": pd.NaT,
                         "source": "MLflow: champion v" + frozen["version"].astype(str)})


def changes_since(previous: pd.DataFrame, current: pd.DataFrame, actuals: pd.DataFrame, unchanged: list[str] | None = None) -> dict:
    """What changed per segment between ``previous`` and ``current``, for the run report and summary.

    Args:
        previous: the previous vintages, ``segment, ds, yhat, model, as_of, source`` (an ``as_of`` left
            empty is the last actual before its first forecast date: the forecast kept in MLflow has none).
        current: this run's forecast, ``segment, ds, yhat, model, as_of``.
        actuals: ``segment, ds, y``: the validated history (the actuals that arrived in between are in it).
        unchanged: segments whose champion is the very version that made the previous forecast (nothing
            to compare: same data, configuration and code).

    Returns:
        ``segments``: :func:`~forecasting.explain.changes.what_changed`'s rows (largest change first)
        with their ``source``; ``first``: segments with no earlier forecast of these dates; ``no_overlap``:
        with one, but not one period in common; ``unchanged``; ``sources``: where the vintages came from.
    """
    unchanged = sorted(unchanged or [])
    segments = sorted(set(current["segment"]))
    previous = previous[previous["segment"].isin(segments) & ~previous["segment"].isin(unchanged)]
    previous = _with_as_of(previous, actuals)
    table = what_changed(previous, current, actuals) if len(previous) else pd.DataFrame(columns=["segment"])
    source = previous.groupby("segment")["source"].first().to_dict()
    rows = [{**{k: _plain(v) for k, v in row.items()}, "source": source.get(row["segment"], "")} for row in table.to_dict("records")]
    had = set(previous["segment"])
    return {"segments": rows, "first": [s for s in segments if s not in had and s not in unchanged],
            "no_overlap": sorted(had - set(table["segment"])), "unchanged": [s for s in unchanged if s in segments],
            "sources": sorted(set(source.values()) | ({"MLflow"} if unchanged else set()))}


def _with_as_of(previous: pd.DataFrame, actuals: pd.DataFrame) -> pd.DataFrame:
    """A vintage without ``as_of`` was made from the actuals up to the last one before its first date."""
    if previous.empty or previous["as_of"].notna().all():
        return previous
    firsts = previous.groupby("segment")["ds"].min()
    seen = actuals.assign(ds=pd.to_datetime(actuals["ds"]))
    last = {segment: seen[(seen["segment"] == segment) & (seen["ds"] < first)]["ds"].max() for segment, first in firsts.items()}
    filled = previous["segment"].map(last)
    return previous.assign(as_of=pd.to_datetime(previous["as_of"]).fillna(pd.to_datetime(filled)))


def _plain(value):
    """JSON-ready: floats stay floats (NaN becomes None), numpy scalars become Python's."""
    if hasattr(value, "item"):
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value
