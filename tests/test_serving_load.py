"""The local endpoint under load and under abuse: one real router served by `mlflow models serve` on
loopback, 20 concurrent clients for 30 s, malformed and oversized requests, unknown segments."""

from __future__ import annotations

import json
import os
import platform
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pandas as pd
import pytest
from conftest import daily_frame
from mlflow_helpers import local_mlflow, log_family, prepared_segments

from forecasting.mlops.registry import register
from forecasting.mlops.router import Route, log_router
from forecasting.mlops.tracking import start_training_run
from forecasting.serving import DeployConfig
from forecasting.serving.local import LocalTarget, records_payload

ROW_LIMIT = 5_000
CLIENTS, SECONDS = 20, 30
REQUEST = {"dataframe_records": [{"region": "EU", "ds": "2024-07-19"}, {"region": "US", "ds": "2024-07-20"}]}


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    """A two-segment router (EU, US), registered and served locally, with a small row limit."""
    import mlflow

    home = tmp_path_factory.mktemp("load")
    old_limit = os.environ.get("FORECAST_FLOWS_MAX_REQUEST_ROWS")
    os.environ["FORECAST_FLOWS_MAX_REQUEST_ROWS"] = str(ROW_LIMIT)  # read by the served model's process
    with local_mlflow(home) as (config, client):
        frame = pd.concat([daily_frame(seed=1, region="EU"), daily_frame(seed=2, region="US")], ignore_index=True)
        _, prepared = prepared_segments(frame, segment_cols=["region"])
        routes = []
        for key, segment in prepared.items():
            run_id, uri, _ = log_family(config, "seasonal_naive", segment)
            version = register(client, f"load_{key.split('=')[1].lower()}", uri, run_id, {})
            routes.append(Route(key, {"region": key.split("=")[1]}, version.name, version.version))
        run_id = start_training_run(config, {"test": "load"})
        with mlflow.start_run(run_id=run_id):
            info, _ = log_router(routes, ["region"])
        router = register(client, "load_router", info.model_uri, run_id, {})
        target = LocalTarget(DeployConfig(), config)
        status = target.deploy(router.name, router.version, pd.DataFrame(REQUEST["dataframe_records"]))
        try:
            yield status.url
        finally:
            target.undeploy()
            if old_limit is None:
                os.environ.pop("FORECAST_FLOWS_MAX_REQUEST_ROWS", None)
            else:
                os.environ["FORECAST_FLOWS_MAX_REQUEST_ROWS"] = old_limit


def post(url: str, body: bytes, timeout: float = 30) -> tuple[int, str]:
    request = urllib.request.Request(url + "/invocations", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")


@pytest.mark.timeout(180)
def test_twenty_clients_for_thirty_seconds_get_no_errors(endpoint):
    body = json.dumps(REQUEST).encode()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + SECONDS

    def client():
        while time.monotonic() < stop_at:
            started = time.perf_counter()
            try:
                status, text = post(endpoint, body)
                ok = status == 200 and len(json.loads(text)["predictions"]) == 2
            except Exception as exc:  # every failure counts
                status, text, ok = None, repr(exc), False
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(f"{status}: {text[:200]}")

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - started
    p50, p99 = np.percentile(latencies, [50, 99]) * 1000
    line = (f"local endpoint under load: {CLIENTS} clients x {SECONDS} s, {len(latencies)} requests, "
            f"{len(latencies) / wall:.1f} req/s, p50 {p50:.0f} ms, p99 {p99:.0f} ms, errors {len(errors)} "
            f"({os.cpu_count()} cores, {platform.machine()})")
    print(line)
    assert not errors, errors[:5]
    assert len(latencies) > CLIENTS * 5  # every client got answers all along


@pytest.mark.timeout(60)
@pytest.mark.parametrize("body", [b'{"dataframe_records": [{"region": "EU", "ds": "2024-07-19"}', b"not json at all", b""],
                         ids=["truncated", "not-json", "empty"])
def test_malformed_json_is_a_400_with_a_message(endpoint, body):
    status, text = post(endpoint, body)
    assert status == 400, text
    assert json.loads(text)["message"]


@pytest.mark.timeout(60)
def test_an_oversized_request_is_refused_with_the_limit_named(endpoint):
    rows = pd.DataFrame({"region": "EU", "ds": pd.date_range("2024-07-19", periods=ROW_LIMIT + 1).strftime("%Y-%m-%d")})
    status, text = post(endpoint, json.dumps(records_payload(rows)).encode(), timeout=60)
    assert status == 400, text[:500]
    message = json.loads(text)["message"]
    assert f"the request has {ROW_LIMIT + 1:,} rows; this endpoint accepts at most {ROW_LIMIT:,} (FORECAST_FLOWS_MAX_REQUEST_ROWS)" in message
    assert post(endpoint, json.dumps(REQUEST).encode())[0] == 200  # and the endpoint keeps serving


@pytest.mark.timeout(60)
def test_an_unknown_segment_is_a_400_listing_the_known_ones(endpoint):
    status, text = post(endpoint, json.dumps({"dataframe_records": [{"region": "MARS", "ds": "2024-07-19"}]}).encode())
    assert status == 400
    assert "unknown segment 'region=MARS'; known segments: region=EU, region=US" in json.loads(text)["message"]
