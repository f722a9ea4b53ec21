"""Batch inference: the next H periods of every segment from its ``champion`` alias, as one long table
with lineage (registered model, version, run id) on every row."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from mlflow.tracking import MlflowClient

from forecasting.contract import parse_segment_key
from forecasting.errors import DataError, ForecastingError
from forecasting.mlops.registry import CHAMPION, alias_version
from forecasting.mlops.smoke import check_forecast_response, horizon_request

LINEAGE = ["segment", "family", "registered_model", "version", "run_id", "generated_at", "as_of"]


def champion_forecast(client: MlflowClient, name: str, horizon: int | None = None) -> pd.DataFrame:
    """Load ``models:/name/<champion version>`` (the alias resolved to an explicit version first, so every
    row names exactly what produced it) and forecast ``horizon`` periods (default: the trained horizon)."""
    import mlflow

    version = alias_version(client, name, CHAMPION)
    if version is None:
        raise ForecastingError(f"{name}: no version carries the {CHAMPION!r} alias")
    model_version = client.get_model_version(name, version)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    metadata = dict(model.metadata.metadata or {})
    if "last_date" not in metadata:
        raise ForecastingError(f"{name} v{version}: not a segment forecast model (no forecasting metadata)")
    if horizon is not None:
        if horizon <= 0:
            raise DataError(f"horizon must be positive, got {horizon}")
        metadata["horizon"] = horizon
    example = pd.DataFrame(model.input_example)
    request = horizon_request(metadata, example)
    covariates = [c for c in metadata.get("covariates", []) if c in request.columns]
    if covariates and request[covariates].isna().any().any():
        raise DataError(f"segment {metadata['segment']!r}: future covariates {covariates} are known for {len(example)} periods only, "
                        f"{len(request)} asked")
    answer = pd.DataFrame(model.predict(request))
    problems = check_forecast_response(request, answer, metadata)
    if problems:
        raise ForecastingError(f"{name} v{version}: " + "; ".join(problems))
    labels = parse_segment_key(metadata["segment"])
    out = answer[["ds", "yhat", "yhat_lower", "yhat_upper"]].copy()
    for col, value in reversed(labels.items()):
        out.insert(0, col, value)
    return out.assign(segment=metadata["segment"], family=metadata.get("family", ""), registered_model=name, version=str(version),
                      run_id=model_version.run_id, generated_at=dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                      as_of=str(pd.Timestamp(metadata["last_date"]).date()))


def long_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Segment columns first, then ds and the forecast, then lineage; segments in key order."""
    if not frames:
        return pd.DataFrame(columns=["ds", "yhat", "yhat_lower", "yhat_upper", *LINEAGE])
    table = pd.concat(frames, ignore_index=True)
    return table.sort_values(["segment", "ds"], kind="stable", ignore_index=True)


def batch_vintage(table: pd.DataFrame, run_id: str, interval_level: float | None = None) -> pd.DataFrame:
    """The batch forecasts as one vintage of the forecast table: each segment's champion rows with the
    registered version and MLflow run that made them, and the model's last actual date."""
    import json

    from forecasting.forecast_table import Lineage, vintage_frame

    labels = [c for c in table.columns if c not in {"ds", "yhat", "yhat_lower", "yhat_upper", *LINEAGE}]
    rows = table.drop(columns=[*labels, "generated_at"]).rename(columns={"run_id": "mlflow_run_id", "family": "model", "version": "model_version"})
    rows["segment_values"] = [json.dumps(parse_segment_key(key)) for key in rows["segment"]]
    return vintage_frame(rows, Lineage(run_id=run_id, origin="batch-inference", interval_level=interval_level), [])
