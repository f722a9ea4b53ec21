"""The router: one pyfunc holding a frozen snapshot of every segment's champion, routing each request
row to its segment's model by the segment columns. Unknown segments are an explicit error."""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pandas as pd
from mlflow.models import infer_signature
from mlflow.types.schema import ColSpec, Schema

from forecasting.contract import segment_keys, segment_slug
from forecasting.errors import DataError
from forecasting.mlops.pyfunc import (
    as_bad_request,
    check_request_size,
    log_pyfunc,
    predict_frame,
)
from forecasting.mlops.smoke import (
    SmokeReport,
    check_forecast_response,
    horizon_request,
)
from forecasting.models import Forecaster


@dataclass
class Route:
    segment: str
    values: dict[str, str]
    registered_name: str
    version: str


class RouterModel(mlflow.pyfunc.PythonModel):
    """Rows of ``segment columns + ds (+ covariates)`` in, the same plus forecasts out."""

    def load_context(self, context):
        self.root = Path(context.artifacts["segments"])
        self.manifest = json.loads((self.root / "routes.json").read_text())
        self.segment_cols: list[str] = self.manifest["segment_cols"]
        self.routes: dict[str, dict] = self.manifest["routes"]
        self._models: dict[str, Forecaster] = {}

    def model_for(self, key: str) -> Forecaster:
        if key not in self._models:  # loaded on first use: thousands of segments load fast
            self._models[key] = Forecaster.load(self.root / self.routes[key]["dir"])
        return self._models[key]

    def predict(self, context, model_input: pd.DataFrame, params=None):  # a DataFrame hint: no MLflow type-hint checks, no warning
        return as_bad_request(lambda: route_request(self, pd.DataFrame(model_input)))


def route_request(router: RouterModel, request: pd.DataFrame) -> pd.DataFrame:
    check_request_size(request)
    missing = [c for c in [*router.segment_cols, "ds"] if c not in request.columns]
    if missing:
        raise DataError(f"the request needs column(s) {', '.join(missing)}; segment columns are {router.segment_cols}")
    keys = segment_keys(request, router.segment_cols) if router.segment_cols else pd.Series("all", index=request.index)
    unknown = sorted(set(keys) - set(router.routes))
    if unknown:
        known = ", ".join(sorted(router.routes)[:20])
        raise DataError(f"unknown segment {unknown[0]!r}; known segments: {known}")
    parts = []
    for key, rows in request.groupby(keys, sort=False):
        answer = predict_frame(router.model_for(key), rows.drop(columns=router.segment_cols))
        answer.index = rows.index
        for col in router.segment_cols:
            answer.insert(list(router.segment_cols).index(col), col, rows[col].astype(str))
        answer["model"] = router.routes[key]["family"]
        answer["version"] = router.routes[key]["version"]
        parts.append(answer)
    return pd.concat(parts).loc[request.index].reset_index(drop=True)


def build_snapshot(routes: list[Route], segment_cols: list[str], target: Path) -> dict:
    """Copy each champion's fitted model out of the registry into ``target`` (frozen: the endpoint
    needs no registry access), with a manifest of routes and request examples."""
    manifest = {"segment_cols": segment_cols, "routes": {}}
    for route in routes:
        local = Path(mlflow.artifacts.download_artifacts(f"models:/{route.registered_name}/{route.version}"))
        model_meta = mlflow.models.Model.load(local / "MLmodel")
        slug = segment_slug(route.segment)
        shutil.copytree(local / "artifacts" / "forecaster", target / slug)
        example = pd.DataFrame(model_meta.load_input_example(str(local)))
        manifest["routes"][route.segment] = {
            "dir": slug,
            "values": {k: str(v) for k, v in route.values.items()},
            "registered_name": route.registered_name,
            "version": route.version,
            "family": model_meta.metadata["family"],
            "metadata": model_meta.metadata,
            "example": example.to_dict(orient="list"),
        }
    (target / "routes.json").write_text(json.dumps(manifest, indent=1, default=str))
    return manifest


def router_example(manifest: dict) -> pd.DataFrame:
    """One row per segment (its first forecast period), every covariate column present."""
    rows = []
    for route in manifest["routes"].values():
        example = pd.DataFrame(route["example"]).iloc[:1]
        for col, value in route["values"].items():
            example[col] = value
        rows.append(example)
    frame = pd.concat(rows, ignore_index=True)
    return frame[[*manifest["segment_cols"], *[c for c in frame.columns if c not in manifest["segment_cols"]]]]


def log_router(routes: list[Route], segment_cols: list[str], name: str = "router"):
    """Log the router model in the active run. Returns (ModelInfo, snapshot size in bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "segments"
        target.mkdir()
        manifest = build_snapshot(routes, segment_cols, target)
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        example = router_example(manifest)
        router = RouterModel()
        router.load_context(type("Ctx", (), {"artifacts": {"segments": str(target)}})())
        output = route_request(router, example)
        signature = _optional_covariates(infer_signature(example, output), segment_cols)
        metadata = {"kind": "router", "segments": len(routes), "segment_cols": segment_cols, "snapshot_bytes": size}
        info = log_pyfunc(name, RouterModel(), {"segments": str(target)}, example, signature, metadata)
    return info, size


def _optional_covariates(signature, segment_cols: list[str]):
    """Covariates are only sent for the segments whose model uses them."""
    inputs = [
        ColSpec(col.type, col.name, required=col.name in (*segment_cols, "ds"))
        for col in signature.inputs.inputs
    ]
    signature.inputs = Schema(inputs)
    return signature


def smoke_test_router(model_uri: str) -> SmokeReport:
    """Load the router by exact version and ask each segment for its whole horizon."""
    report = SmokeReport(model_uri)
    started = time.perf_counter()
    try:
        model = mlflow.pyfunc.load_model(model_uri)
        manifest = json.loads(Path(model.unwrap_python_model().root / "routes.json").read_text())
    except Exception as exc:
        report.failures.append(f"cannot load: {type(exc).__name__}: {exc}")
        return report
    report.load_seconds = time.perf_counter() - started
    for key, route in manifest["routes"].items():
        request = horizon_request(route["metadata"], pd.DataFrame(route["example"]))
        for col, value in route["values"].items():
            request[col] = value
        started = time.perf_counter()
        try:
            response = model.predict(request)
        except Exception as exc:
            report.failures.append(f"{key}: predict failed: {type(exc).__name__}: {exc}")
            continue
        report.predict_seconds += time.perf_counter() - started
        report.requests += 1
        report.failures.extend(check_forecast_response(request, response, route["metadata"], key))
    return report
