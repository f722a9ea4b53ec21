"""The forecast table's fixed schema: forecast rows plus their lineage, one vintage per run. Options that
add outputs (candidates, hierarchy levels, components) fill their own nullable columns, and anything else
lands in ``extras`` as JSON, so a run with other options never breaks the table and nothing is dropped."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # text | float | date | timestamp | boolean
    nullable: bool = True
    doc: str = ""


COLUMNS: list[Column] = [
    Column("run_id", "text", False, "one invocation (a CLI command, a flow run); a retry inside the run replaces its rows"),
    Column("origin", "text", False, "what wrote the vintage: forecast, forecast-training, batch-inference"),
    Column("created_at", "timestamp", False, "when the vintage was written (UTC)"),
    Column("as_of", "date", True, "the segment's last actual date the forecast was made from"),
    Column("segment", "text", False, "segment key, e.g. BUSINESS_SEGMENT=Classic|IS_CGNA=1|MX_TYPE=Enterprise"),
    Column("segment_values", "text", True, "the segment columns and their values, as JSON"),
    Column("ds", "date", False, "the forecast date"),
    Column("yhat", "float", True, "the forecast"),
    Column("yhat_lower", "float", True, "lower bound of the prediction interval"),
    Column("yhat_upper", "float", True, "upper bound of the prediction interval"),
    Column("interval_level", "float", True, "the interval's level in percent, e.g. 90"),
    Column("model", "text", True, "the model family that made the row (the champion's, or a candidate's)"),
    Column("champion", "boolean", False, "true: the segment's champion; false: another candidate (--all-models)"),
    Column("registered_model", "text", True, "the registered model, where the run registered one"),
    Column("model_version", "text", True, "its registered version"),
    Column("mlflow_run_id", "text", True, "the MLflow run of the segment's model"),
    Column("data_fingerprint", "text", True, "content hash of the validated data the run trained on"),
    Column("source", "text", True, "where the data came from (password redacted)"),
    Column("low_confidence", "text", True, "why the champion rests on thin evidence (empty: it does not)"),
    Column("hierarchy_level", "text", True, "hierarchical forecasts: the aggregation level of the row"),
    Column("yhat_base", "float", True, "hierarchical forecasts: the forecast before reconciliation"),
    Column("components", "text", True, "forecast components (trend, seasonality, ...), as JSON"),
    Column("extras", "text", True, "any other output column of the run, as JSON"),
]
NAMES = [c.name for c in COLUMNS]
KINDS = {c.name: c.kind for c in COLUMNS}
LATEST_SUFFIX = "_latest"
# What a run's own output columns mean here (the rest go to extras).
ALIASES = {"family": "model", "version": "model_version", "level": "hierarchy_level"}


@dataclass(frozen=True)
class Lineage:
    """What every row of one vintage shares."""

    run_id: str
    origin: str
    data_fingerprint: str | None = None
    source: str | None = None
    interval_level: float | None = None
    created_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))  # microseconds: orders vintages


def new_run_id() -> str:
    """A fresh run id: every CLI invocation is its own run, even on identical data."""
    return uuid.uuid4().hex


def vintage_frame(forecasts: pd.DataFrame, lineage: Lineage, segment_cols: list[str], key: str = "segment",
                  as_of: dict[str, str] | None = None) -> pd.DataFrame:
    """The rows of one vintage in the table's schema.

    Args:
        forecasts: one row per segment, date (and candidate): the segment columns, the key column ``key``,
            ``ds``, ``yhat`` and bounds, and any of the schema's columns (``family``, ``version``, ``level``
            are read as model, model_version, hierarchy_level); other columns are kept in ``extras``.
        lineage: run id, origin, fingerprint, source, interval level, time of writing.
        segment_cols: the data's segment columns (their values go to ``segment_values``).
        as_of: the last actual date of each segment (default: an ``as_of`` column, or empty).
    """
    frame = forecasts.rename(columns={k: v for k, v in ALIASES.items() if k in forecasts.columns and v not in forecasts.columns})
    rows = len(frame)
    out = pd.DataFrame(index=range(rows))
    keys = frame[key].astype(str).to_numpy()
    out["run_id"], out["origin"], out["created_at"] = lineage.run_id, lineage.origin, lineage.created_at
    if as_of is not None:
        out["as_of"] = [as_of.get(k) for k in keys]
    out["as_of"] = _dates(out["as_of"] if as_of is not None else frame.get("as_of", pd.Series([None] * rows)))
    out["segment"] = keys
    if "segment_values" in frame:  # given per row (batch inference: each model knows its own segment columns)
        out["segment_values"] = [v if isinstance(v, str) else json.dumps(v, default=str) for v in frame["segment_values"]]
    else:
        out["segment_values"] = [json.dumps({c: _plain(v) for c, v in zip(segment_cols, values)}) for values in
                                 frame[segment_cols].itertuples(index=False, name=None)] if segment_cols else "{}"
    out["ds"] = _dates(frame["ds"])
    for name in ("yhat", "yhat_lower", "yhat_upper", "yhat_base"):
        out[name] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float) if name in frame else np.nan
    out["interval_level"] = frame["interval_level"].to_numpy(dtype=float) if "interval_level" in frame else lineage.interval_level
    out["champion"] = frame["champion"].fillna(True).astype(bool).to_numpy() if "champion" in frame else True
    for name in ("model", "registered_model", "model_version", "mlflow_run_id", "low_confidence", "hierarchy_level", "components"):
        out[name] = [_text(v) for v in frame[name]] if name in frame else None
    out["data_fingerprint"], out["source"] = lineage.data_fingerprint, lineage.source
    kept = set(NAMES) | set(segment_cols) | {key, "as_of", "interval_level"}
    extra = [c for c in frame.columns if c not in kept]
    out["extras"] = [_extras(dict(zip(extra, values))) for values in frame[extra].itertuples(index=False, name=None)] if extra else None
    return out[NAMES]


def interval_percent(level: float | None) -> float | None:
    """Interval levels as percentages (90), whether given as 0.9 or 90."""
    if level is None:
        return None
    return float(level * 100 if level <= 1 else level)


def _dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(pd.Series(values).reset_index(drop=True), errors="coerce")
    return pd.Series([None if pd.isna(v) else v.date() for v in parsed], dtype=object)


def _plain(value):
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value if isinstance(value, (int, float, bool)) else str(value)


def _text(value) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value) if str(value) != "" else None


def _extras(values: dict) -> str | None:
    kept = {k: _plain(v) for k, v in values.items() if _plain(v) is not None}
    return json.dumps(kept, default=str) if kept else None
