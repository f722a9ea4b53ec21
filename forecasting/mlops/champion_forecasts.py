"""Champion forecasts, persisted when a champion is promoted: the forecast the business saw, kept in the
champion's MLflow run (it outlives registry cleanup) so actuals can be compared with it later."""

from __future__ import annotations

import datetime as dt
import io

import pandas as pd
from mlflow.tracking import MlflowClient

ARTIFACT_DIR = "champion_forecasts"
TAG = "champion_forecast"
COLUMNS = ["segment", "ds", "yhat", "yhat_lower", "yhat_upper", "family", "registered_model", "version", "run_id", "promoted_at"]


def record_champion_forecast(client: MlflowClient, run_id: str, segment: str, family: str | None, name: str, version: str,
                             forecast: list[dict] | pd.DataFrame) -> pd.DataFrame:
    """Store the promoted version's forecast (with lineage) in its run and tag the run, so a search by
    tag finds every promotion without touching the registry."""
    promoted_at = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    table = pd.DataFrame(forecast)[["ds", "yhat", "yhat_lower", "yhat_upper"]].copy()
    table["ds"] = pd.to_datetime(table["ds"]).dt.strftime("%Y-%m-%d")
    table = table.assign(segment=segment, family=family or "", registered_model=name, version=str(version), run_id=run_id,
                         promoted_at=promoted_at)[COLUMNS]
    client.log_text(run_id, table.to_csv(index=False), f"{ARTIFACT_DIR}/{_file_name(name, version)}")
    for key, value in {TAG: "true", "promoted_version": str(version), "promoted_at": promoted_at,
                       "forecast_start": table["ds"].min(), "forecast_end": table["ds"].max()}.items():
        client.set_tag(run_id, key, value)
    return table


def load_champion_forecasts(client: MlflowClient, experiment_ids: list[str], start: str | None = None, end: str | None = None,
                            segments: set[str] | None = None) -> pd.DataFrame:
    """Every persisted champion forecast overlapping ``[start, end]`` (ISO dates), optionally for some
    segments only. Runs whose forecast window misses the range are skipped without a download."""
    frames = []
    for run in _tagged_runs(client, experiment_ids):
        tags = run.data.tags
        if segments is not None and tags.get("segment") not in segments:
            continue
        if start and tags.get("forecast_end", "9999") < start or end and tags.get("forecast_start", "0000") > end:
            continue
        for artifact in client.list_artifacts(run.info.run_id, ARTIFACT_DIR):
            text = _read_text(client, run.info.run_id, artifact.path)
            frames.append(pd.read_csv(io.StringIO(text), dtype={"version": str, "segment": str, "ds": str}))
    if not frames:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(frames, ignore_index=True)[COLUMNS]


def version_forecast(client: MlflowClient, name: str, version: str) -> pd.DataFrame | None:
    """The forecast kept when ``version`` of ``name`` was promoted (:data:`COLUMNS`), or None when none
    was kept (a version promoted before forecasts were kept, or never promoted)."""
    run_id = client.get_model_version(name, str(version)).run_id
    path = f"{ARTIFACT_DIR}/{_file_name(name, str(version))}"
    if not run_id or path not in {a.path for a in client.list_artifacts(run_id, ARTIFACT_DIR)}:
        return None
    return pd.read_csv(io.StringIO(_read_text(client, run_id, path)), dtype={"version": str, "segment": str, "ds": str})


def _tagged_runs(client: MlflowClient, experiment_ids: list[str]):
    token = None
    while True:
        page = client.search_runs(experiment_ids, filter_string=f"tags.{TAG} = 'true'", max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def _read_text(client: MlflowClient, run_id: str, path: str) -> str:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        local = client.download_artifacts(run_id, path, tmp)
        return Path(local).read_text()


def _file_name(name: str, version: str) -> str:
    return f"{name.replace('/', '_')}-v{version}.csv"
