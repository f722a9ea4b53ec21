"""The router: one pyfunc holding a frozen snapshot of every segment's champion, routing each request
row to its segment's model by the segment columns. Unknown segments are an explicit error. A router
of a hierarchy also holds the run's frozen reconciliation: a request for any node of it is answered
with reconciled forecasts (every node's base forecast at the requested dates, reconciled the way the
training run did), so a region and its products add up whichever of them are asked for."""

from __future__ import annotations

import json
import pickle
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import mlflow
import numpy as np
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


RECONCILIATION_FILE = "reconciliation.pkl"


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
        frozen = self.root / RECONCILIATION_FILE
        self.reconciliation = pickle.loads(frozen.read_bytes()) if frozen.exists() else None  # routers before hierarchies have none

    def model_for(self, key: str) -> Forecaster:
        if key not in self._models:  # loaded on first use: thousands of segments load fast
            model = Forecaster.load(self.root / self.routes[key]["dir"])
            needed = self.routes[key].get("metadata", {}).get("global_keys") or []
            if needed:  # a champion using the run's global model: attached, loaded once for every segment
                from forecasting.mlops.global_model import attach_global

                attach_global(model, {k: self.global_model(k) for k in needed})
            self._models[key] = model
        return self._models[key]

    def global_model(self, key: str):
        """The global model with this key, loaded from the snapshot once for every segment."""
        from forecasting.models.global_model import GlobalModel

        cache = self.__dict__.setdefault("_globals", {})
        if key not in cache:
            entry = self.manifest.get("global", {}).get(key)
            if entry is None:
                raise DataError(f"this router has no global model {key} (its champions were frozen without it)")
            cache[key] = GlobalModel.load(self.root / entry["dir"])
        return cache[key]

    def predict(self, context, model_input: pd.DataFrame, params=None):  # a DataFrame hint: no MLflow type-hint checks, no warning
        return as_bad_request(lambda: route_request(self, pd.DataFrame(model_input)))


def route_request(router: RouterModel, request: pd.DataFrame) -> pd.DataFrame:
    check_request_size(request)
    order = request.index
    missing = [c for c in [*router.segment_cols, "ds"] if c not in request.columns]
    if missing:
        raise DataError(f"the request needs column(s) {', '.join(missing)}; segment columns are {router.segment_cols}")
    keys = segment_keys(request, router.segment_cols) if router.segment_cols else pd.Series("all", index=request.index)
    unknown = sorted(set(keys) - set(router.routes))
    if unknown:
        known = ", ".join(sorted(router.routes)[:20])
        raise DataError(f"unknown segment {unknown[0]!r}; known segments: {known}")
    frozen = getattr(router, "reconciliation", None)
    parts = []
    if frozen is not None:
        in_hierarchy = keys.isin(frozen.nodes)
        if in_hierarchy.any():
            parts.append(reconciled_answer(router, request[in_hierarchy], keys[in_hierarchy]))
        request, keys = request[~in_hierarchy], keys[~in_hierarchy]
    for key, rows in request.groupby(keys, sort=False):
        answer = predict_frame(router.model_for(key), rows.drop(columns=router.segment_cols))
        answer.index = rows.index
        for col in router.segment_cols:
            answer.insert(list(router.segment_cols).index(col), col, rows[col].astype(str))
        answer["model"] = router.routes[key]["family"]
        answer["version"] = router.routes[key]["version"]
        if frozen is not None:
            answer["reconciliation"] = ""
        parts.append(answer)
    return pd.concat(parts).loc[order].reset_index(drop=True)


def reconciled_answer(router: RouterModel, request: pd.DataFrame, keys: pd.Series) -> pd.DataFrame:
    """Rows of hierarchy nodes answered with reconciled forecasts: every node's champion forecasts the
    requested dates (a node's covariates from the request when it is asked for, else those it was
    trained with), the frozen reconciliation makes them add up
    (:func:`forecasting.hierarchy.reconcile.reconciled_forecasts`, as the training run did)."""
    from forecasting.hierarchy.reconcile import reconciled_forecasts
    from forecasting.mlops.pyfunc import parse_request_dates

    frozen = router.reconciliation
    dates = pd.DatetimeIndex(sorted(set(parse_request_dates(request["ds"]))))
    missing = [node for node in frozen.nodes if node not in router.routes]
    if missing:
        raise DataError(f"this router cannot reconcile: node {missing[0]!r} has no route")
    arrays = {name: [] for name in ("yhat", "yhat_lower", "yhat_upper", "own_lower", "own_upper")}
    steps = None
    for node in frozen.nodes:
        model = router.model_for(node)
        future = _node_future(router, node, request[keys == node], dates)
        calibrated = model.forecast(dates, future)
        own = model.forecast(dates, future, calibrated=False)
        for name in ("yhat", "yhat_lower", "yhat_upper"):
            arrays[name].append(calibrated[name].to_numpy(float))
        arrays["own_lower"].append(own["yhat_lower"].to_numpy(float))
        arrays["own_upper"].append(own["yhat_upper"].to_numpy(float))
        if steps is None:
            steps = np.array([len(pd.date_range(model.last_date, d, freq=model.context.frequency)) - 1 for d in dates])
    values, lower, upper = reconciled_forecasts(frozen, *(np.vstack(arrays[n]) for n in ("yhat", "yhat_lower", "yhat_upper", "own_lower", "own_upper")),
                                                steps)
    node_at = {node: i for i, node in enumerate(frozen.nodes)}
    date_at = {d: j for j, d in enumerate(dates)}
    rows = [node_at[k] for k in keys]
    cols = [date_at[d] for d in parse_request_dates(request["ds"])]
    answer = pd.DataFrame({col: request[col].astype(str).to_numpy() for col in router.segment_cols}, index=request.index)
    answer["ds"] = [dates[j].strftime("%Y-%m-%d") for j in cols]
    answer["yhat"], answer["yhat_lower"], answer["yhat_upper"] = values[rows, cols], lower[rows, cols], upper[rows, cols]
    answer["model"] = [router.routes[k]["family"] for k in keys]
    answer["version"] = [router.routes[k]["version"] for k in keys]
    answer["reconciliation"] = frozen.method
    return answer


def _node_future(router: RouterModel, node: str, rows: pd.DataFrame, dates: pd.DatetimeIndex) -> pd.DataFrame:
    """A node's future covariates at ``dates``: the request's rows for it, else the ones it was trained
    with (its route's example: the horizon of the training run)."""
    from forecasting.mlops.pyfunc import parse_request_dates

    covariates = router.routes[node].get("metadata", {}).get("covariates") or []
    future = pd.DataFrame({"ds": dates})
    if not covariates:
        return future
    source = rows.drop(columns=router.segment_cols) if len(rows) and set(covariates) <= set(rows.columns) \
        else pd.DataFrame(router.routes[node]["example"])
    source = source.assign(ds=parse_request_dates(source["ds"])).drop_duplicates("ds", keep="last")
    return future.merge(source[["ds", *covariates]], on="ds", how="left")


def build_snapshot(routes: list[Route], segment_cols: list[str], target: Path, resolve_global=None) -> dict:
    """Copy each champion's fitted model out of the registry into ``target`` (frozen: the endpoint
    needs no registry access), with a manifest of routes and request examples. Champions that use a
    global model: ``resolve_global(frequency, key)`` names its registered version, copied once."""
    manifest = {"segment_cols": segment_cols, "routes": {}, "global": {}}
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
        for key in model_meta.metadata.get("global_keys") or []:
            if key not in manifest["global"]:
                manifest["global"][key] = _copy_global(key, model_meta.metadata["frequency"], route.segment, target, resolve_global)
    (target / "routes.json").write_text(json.dumps(manifest, indent=1, default=str))
    return manifest


def _copy_global(key: str, frequency: str, segment: str, target: Path, resolve_global) -> dict:
    """The global model ``key`` copied out of the registry into the snapshot, once."""
    found = resolve_global(frequency, key) if resolve_global is not None else None
    if found is None:
        raise DataError(f"segment {segment!r} uses global model {key}, which is not registered; the router cannot serve it")
    name, version = found
    local = Path(mlflow.artifacts.download_artifacts(f"models:/{name}/{version}"))
    shutil.copytree(local / "artifacts" / "global", target / "global" / key)
    return {"dir": f"global/{key}", "registered_name": name, "version": version}


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


def log_router(routes: list[Route], segment_cols: list[str], name: str = "router", reconciliation=None, resolve_global=None):
    """Log the router model in the active run (with ``reconciliation``, a frozen
    :class:`forecasting.hierarchy.Reconciliation`: it serves the hierarchy's nodes reconciled).
    Returns (ModelInfo, snapshot size in bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "segments"
        target.mkdir()
        manifest = build_snapshot(routes, segment_cols, target, resolve_global)
        if reconciliation is not None:
            (target / RECONCILIATION_FILE).write_bytes(pickle.dumps(reconciliation, protocol=pickle.HIGHEST_PROTOCOL))
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        example = router_example(manifest)
        router = RouterModel()
        router.load_context(type("Ctx", (), {"artifacts": {"segments": str(target)}})())
        output = route_request(router, example)
        signature = _optional_covariates(infer_signature(example, output), segment_cols)
        metadata = {"kind": "router", "segments": len(routes), "segment_cols": segment_cols, "snapshot_bytes": size}
        if reconciliation is not None:
            metadata["reconciliation"] = {"method": reconciliation.method, "nodes": len(reconciliation.nodes)}
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
    frozen = getattr(model.unwrap_python_model(), "reconciliation", None)
    if frozen is not None:
        report.failures.extend(check_coherent(model, manifest, frozen))
    return report


def check_coherent(model, manifest: dict, frozen) -> list[str]:
    """Every node of the hierarchy asked for its horizon in one request: each parent must equal the sum
    of its bottom segments at every date (1e-6 relative), as the training run's forecasts did."""
    requests = []
    for node in frozen.nodes:
        route = manifest["routes"][node]
        request = horizon_request(route["metadata"], pd.DataFrame(route["example"]))
        requests.append(request.assign(**route["values"]))
    request = pd.concat(requests, ignore_index=True)
    try:
        answer = model.predict(request)
    except Exception as exc:
        return [f"reconciled request for every node failed: {type(exc).__name__}: {exc}"]
    keys = segment_keys(answer, manifest["segment_cols"]) if manifest["segment_cols"] else pd.Series("all", index=answer.index)
    table = answer.assign(node=keys.to_numpy()).pivot(index="node", columns="ds", values="yhat").reindex(list(frozen.nodes))
    values = table.to_numpy(float)
    bottom = values[len(frozen.nodes) - frozen.S.shape[1]:]
    implied = frozen.S @ bottom
    gap = float(np.max(np.abs(values - implied) / np.maximum(np.abs(implied), 1.0)))
    return [] if gap <= 1e-6 else [f"reconciled forecasts do not add up: largest relative gap {gap:.2e} between a node and the sum of its segments"]
