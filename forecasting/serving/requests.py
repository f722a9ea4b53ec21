"""Build a forecast request for one segment of a deployed router from its frozen manifest."""

from __future__ import annotations

import pandas as pd

from forecasting.errors import DataError
from forecasting.frequency import future_dates
from forecasting.mlops.config import TrackingConfig
from forecasting.mlops.tracking import connect


def router_manifest(model_name: str, version: str, tracking: TrackingConfig) -> dict:
    import mlflow

    connect(tracking)
    model = mlflow.pyfunc.load_model(f"models:/{model_name}/{version}")
    return model.unwrap_python_model().manifest


def match_segment(manifest: dict, wanted: str) -> tuple[str, dict]:
    """The route whose values contain every ``col=value`` of ``wanted`` (a key or a part of one); in a
    reconciled hierarchy, the node that sums over the columns not named (``state=NSW``: NSW's total)."""
    pairs = dict(part.split("=", 1) for part in wanted.split("|") if "=" in part)
    if not pairs:
        raise DataError(f"--segment must look like col=value[|col=value], got {wanted!r}")
    matches = [(key, route) for key, route in manifest["routes"].items() if all(route["values"].get(c) == v for c, v in pairs.items())]
    if not matches:
        raise DataError(f"unknown segment {wanted!r}; known segments: {', '.join(sorted(manifest['routes']))}")
    if len(matches) > 1:  # a hierarchy: the columns not named are summed over (state=NSW is the NSW total)
        totals = [(key, route) for key, route in matches if all(v == "<all>" for c, v in route["values"].items() if c not in pairs)]
        if len(totals) == 1:
            return totals[0]
        raise DataError(f"segment {wanted!r} matches {len(matches)} segments ({', '.join(k for k, _ in matches[:5])}); give more columns")
    return matches[0]


def segment_request(model_name: str, version: str, wanted: str, periods: int, tracking: TrackingConfig) -> pd.DataFrame:
    """The next ``periods`` dates of the matching segment (with its known future covariates)."""
    if periods <= 0:
        raise DataError(f"--periods must be positive, got {periods}")
    manifest = router_manifest(model_name, version, tracking)
    key, route = match_segment(manifest, wanted)
    meta = route["metadata"]
    dates = future_dates(pd.Timestamp(meta["last_date"]), periods, meta["frequency"])
    request = pd.DataFrame({"ds": dates.strftime("%Y-%m-%d")})
    if meta.get("covariates"):
        example = pd.DataFrame(route["example"])
        if periods > len(example):
            raise DataError(f"segment {key!r} needs future covariates; only {len(example)} periods are known to the model")
        request = request.merge(example[["ds", *meta["covariates"]]], on="ds", how="left")
    for col, value in route["values"].items():
        request.insert(0, col, value)
    return request
