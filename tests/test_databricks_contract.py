"""The Databricks target against tests/databricks_contract.py, a local server implementing the
serving-endpoints REST subset we use. A contract test of our reading of the API; see docs/serving.md
for running the same checks against a real workspace."""

import pandas as pd
import pytest
from databricks.sdk import WorkspaceClient
from databricks.sdk.core import Config
from databricks_contract import ContractServer

from forecasting.serving import DeployConfig, DeployError
from forecasting.serving.databricks import DatabricksTarget

UC_MODEL = "main.finance.forecast_router"
TOKEN = "dapi-contract-canary-0123456789"


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path))
    for var in ("DATABRICKS_HOST", "DATABRICKS_TOKEN", "DATABRICKS_CONFIG_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    server = ContractServer()
    yield server
    server.close()


def target(server, **overrides):
    settings = {"target": "databricks", "endpoint_name": "finance-forecast", "poll_seconds": 0.05, "databricks_ready_timeout_seconds": 5}
    config = DeployConfig(**{**settings, **overrides})
    client = WorkspaceClient(config=Config(host=server.url, token=TOKEN, retry_timeout_seconds=30))
    return DatabricksTarget(config, client=client)


EXAMPLE = pd.DataFrame({"region": ["EU"], "ds": ["2025-11-19"]})


def test_missing_endpoint_is_created_with_uc_entity_then_polled_until_ready(workspace):
    status = target(workspace).deploy(UC_MODEL, "3", EXAMPLE)
    assert status.ready and status.version == "3" and status.url.endswith("/serving-endpoints/finance-forecast/invocations")
    (create,) = workspace.calls("POST", "/api/2.0/serving-endpoints")
    entity = create["body"]["config"]["served_entities"][0]
    assert entity == {"name": "forecast-router-3", "entity_name": UC_MODEL, "entity_version": "3", "workload_size": "Small", "scale_to_zero_enabled": True}
    assert create["body"]["config"]["traffic_config"]["routes"] == [{"served_entity_name": "forecast-router-3", "traffic_percentage": 100}]
    assert len(workspace.calls("GET", "/serving-endpoints/finance-forecast")) >= 2  # waited for READY, not just the update
    (query,) = workspace.calls("POST", "/invocations")
    assert query["body"] == {"dataframe_records": [{"region": "EU", "ds": "2025-11-19"}]}
    assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in workspace.requests if r["path"].startswith("/api/"))


def test_existing_endpoint_is_updated_with_a_champion_challenger_split(workspace):
    target(workspace).deploy(UC_MODEL, "3")
    target(workspace, challenger_traffic_percent=20).deploy(UC_MODEL, "4")
    assert len(workspace.calls("POST", "/api/2.0/serving-endpoints")) == 1
    (update,) = workspace.calls("PUT", "/config")
    assert [e["entity_version"] for e in update["body"]["served_entities"]] == ["4", "3"]
    assert update["body"]["traffic_config"]["routes"] == [
        {"served_entity_name": "forecast-router-4", "traffic_percentage": 80},
        {"served_entity_name": "forecast-router-3", "traffic_percentage": 20},
    ]


def test_throttling_and_unavailable_answers_are_retried(workspace):
    workspace.inject = [("/serving-endpoints/finance-forecast", 429), ("/serving-endpoints/finance-forecast", 503)]
    status = target(workspace).deploy(UC_MODEL, "3")
    assert status.ready and not workspace.inject  # both faults were served, and survived


def test_update_failed_rolls_back_to_the_previous_config(workspace):
    target(workspace).deploy(UC_MODEL, "3")
    workspace.fail_next_update = True
    with pytest.raises(DeployError, match=r"UPDATE_FAILED; rolled back to main.finance.forecast_router v3"):
        target(workspace).deploy(UC_MODEL, "4")
    rollback = workspace.calls("PUT", "/config")[-1]
    assert [e["entity_version"] for e in rollback["body"]["served_entities"]] == ["3"]
    assert target(workspace).status().version == "3"


def test_never_ready_times_out_and_rolls_back(workspace):
    target(workspace).deploy(UC_MODEL, "3")
    workspace.never_ready = True
    with pytest.raises(DeployError, match=r"not READY after 1s .*rolled back to main.finance.forecast_router v3"):
        target(workspace, databricks_ready_timeout_seconds=1).deploy(UC_MODEL, "4")


def test_first_deploy_that_fails_says_there_is_nothing_to_roll_back_to(workspace):
    workspace.fail_next_update = True
    with pytest.raises(DeployError, match="no previous configuration to roll back to"):
        target(workspace).deploy(UC_MODEL, "3")


def test_a_lookup_error_other_than_not_found_is_never_a_create(workspace):
    workspace.forbid_lookup = True
    with pytest.raises(Exception, match="token lacks permission") as err:
        target(workspace).deploy(UC_MODEL, "3")
    assert TOKEN not in str(err.value)
    assert not workspace.calls("POST", "/api/2.0/serving-endpoints")


def test_current_user_answers_for_the_health_check(workspace):
    client = WorkspaceClient(config=Config(host=workspace.url, token=TOKEN, retry_timeout_seconds=5))
    assert client.current_user.me().user_name == "contract-test@example.com"


def test_health_checks_databricks_auth_and_names_what_is_down(workspace, tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DATABRICKS_HOST": workspace.url, "DATABRICKS_TOKEN": TOKEN, "FORECAST_FLOWS_HOME": str(tmp_path),
           "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # nothing listens on port 9
    env.pop("MLFLOW_TRACKING_URI", None)
    result = subprocess.run([str(Path(sys.executable).parent / "forecast-flows"), "health", "--json"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and TOKEN not in result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["databricks auth"]["ok"] and "contract-test@example.com" in checks["databricks auth"]["detail"]
    assert not checks["prefect api"]["ok"] and "Connection refused" in checks["prefect api"]["detail"]
    assert checks["mlflow tracking"]["ok"] and checks["mlflow registry"]["ok"]
    assert all(c["seconds"] < 15 for c in checks.values())
