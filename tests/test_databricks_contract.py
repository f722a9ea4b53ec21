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


INFERENCE_TABLE = "main.finance.forecast_requests"


def test_a_new_endpoint_logs_to_its_ai_gateway_inference_table(workspace):
    status = target(workspace, inference_table=INFERENCE_TABLE).deploy(UC_MODEL, "3")
    (create,) = workspace.calls("POST", "/api/2.0/serving-endpoints")
    assert create["body"]["ai_gateway"] == {"inference_table_config": {
        "catalog_name": "main", "schema_name": "finance", "table_name_prefix": "forecast_requests", "enabled": True}}
    assert "auto_capture_config" not in create["body"]["config"]  # the retired inference tables are never asked for
    assert status.extra["inference_table"] == INFERENCE_TABLE
    assert not workspace.calls("PUT", "/ai-gateway")


def test_an_existing_endpoint_gets_its_inference_table_and_a_different_one_is_disabled_first(workspace):
    target(workspace).deploy(UC_MODEL, "3")
    target(workspace, inference_table=INFERENCE_TABLE).deploy(UC_MODEL, "4")
    (enable,) = workspace.calls("PUT", "/ai-gateway")
    assert enable["body"]["inference_table_config"]["table_name_prefix"] == "forecast_requests"
    # someone added a rate limit in the workspace; moving the table keeps it, and disables the old table first
    workspace.endpoints["finance-forecast"]["ai_gateway"]["rate_limits"] = [{"calls": 100, "renewal_period": "minute", "key": "endpoint"}]
    status = target(workspace, inference_table="main.audit.forecast_log").deploy(UC_MODEL, "5")
    disable, move = workspace.calls("PUT", "/ai-gateway")[1:]
    assert disable["body"]["inference_table_config"] == {"enabled": False}
    assert move["body"]["inference_table_config"]["schema_name"] == "audit" and move["body"]["rate_limits"][0]["calls"] == 100
    assert status.version == "5" and status.extra["inference_table"] == "main.audit.forecast_log"
    target(workspace, inference_table="main.audit.forecast_log").deploy(UC_MODEL, "6")
    assert len(workspace.calls("PUT", "/ai-gateway")) == 3  # already logging there: left alone


def test_an_inference_table_is_checked_before_anything_is_deployed():
    with pytest.raises(ValueError, match="inference_table is a Databricks endpoint setting: it needs target databricks"):
        DeployConfig(inference_table=INFERENCE_TABLE)
    with pytest.raises(ValueError, match="must be catalog.schema.prefix"):
        DeployConfig(target="databricks", inference_table="main.Finance")


@pytest.fixture
def databricks_env(workspace, monkeypatch):
    monkeypatch.setenv("DATABRICKS_HOST", workspace.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    return workspace


def test_serve_list_and_delete_manage_databricks_endpoints_from_the_cli(databricks_env, capsys):
    import json

    from flows.cli import main

    target(databricks_env, inference_table=INFERENCE_TABLE).deploy(UC_MODEL, "3")
    target(databricks_env, endpoint_name="other-forecast").deploy(UC_MODEL, "2")
    assert main(["serve", "list"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].split() == ["finance-forecast", "READY", "NOT_UPDATING", UC_MODEL, "v3", INFERENCE_TABLE]
    assert out[2].split() == ["other-forecast", "READY", "NOT_UPDATING", UC_MODEL, "v2", "-"]
    assert main(["serve", "delete", "other-forecast"]) == 0
    assert "deleted Databricks serving endpoint other-forecast" in capsys.readouterr().out
    assert main(["serve", "list", "--json"]) == 0
    assert [row["name"] for row in json.loads(capsys.readouterr().out)] == ["finance-forecast"]
    assert main(["serve", "delete", "other-forecast"]) == 2
    assert capsys.readouterr().err.strip() == "error: serving endpoint 'other-forecast' does not exist"


def test_train_flags_for_databricks_and_unity_catalog_fill_the_flow_parameters(monkeypatch):
    from flows.cli.parser import build_parser
    from flows.cli.training import training_parameters

    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    args = build_parser().parse_args(["train", "--data", "x.csv", "--target", "databricks", "--catalog", "main", "--schema", "finance",
                                      "--endpoint", "fc-prod", "--workload-size", "Medium", "--no-scale-to-zero",
                                      "--inference-table", INFERENCE_TABLE])
    params = training_parameters(args)
    assert params.registry.router_name() == "main.finance.forecast_router" and params.tracking.registry_uri == "databricks-uc"
    assert (params.deploy.target, params.deploy.endpoint_name, params.deploy.workload_size, params.deploy.scale_to_zero,
            params.deploy.inference_table) == ("databricks", "fc-prod", "Medium", False, INFERENCE_TABLE)
    defaults = training_parameters(build_parser().parse_args(["train", "--data", "x.csv"]))
    assert defaults.deploy.target == "local" and defaults.deploy.scale_to_zero and defaults.tracking.registry_uri is None


def test_unity_catalog_names_without_the_unity_catalog_registry_are_refused_before_a_run(monkeypatch):
    from flows.parameters import TrainingParameters

    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    with pytest.raises(ValueError, match="registry.uc_catalog/uc_schema need the Unity Catalog registry"):
        TrainingParameters.model_validate({"registry": {"uc_catalog": "main", "uc_schema": "finance"}})
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "databricks-uc")
    assert TrainingParameters.model_validate({"registry": {"uc_catalog": "main", "uc_schema": "finance"}}).registry.unity_catalog


@pytest.mark.slow
def test_train_deploys_the_router_to_a_databricks_endpoint_with_its_inference_table(databricks_env, prefect_harness, tmp_path, capsys):
    """`forecast-flows train --target databricks ...` end to end: trained and registered locally (MLflow on
    SQLite), served by the contract server standing in for Databricks serving that registered version."""
    import json

    import mlflow
    from conftest import segments_csv
    from mlflow_helpers import local_mlflow

    from flows.cli import main

    def serve_registered(entity, version, records):  # what Databricks would answer: the version itself predicting
        model = mlflow.pyfunc.load_model(f"models:/{entity}/{version}")
        return json.loads(model.predict(pd.DataFrame(records)).to_json(orient="records"))

    databricks_env.predict_with = serve_registered
    databricks_env.ready_after_polls = 1
    with local_mlflow(tmp_path):
        data = segments_csv(tmp_path / "data.csv", regions=("EU", "US"))
        code = main(["train", "--data", str(data), "--segment-cols", "region", "--models", "ets,theta", "--holidays", "none",
                     "--horizon", "14", "--folds", "2", "--target", "databricks", "--endpoint", "fc-contract", "--workload-size", "Medium",
                     "--no-scale-to-zero", "--inference-table", INFERENCE_TABLE, "--report", str(tmp_path / "report.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    (create,) = databricks_env.calls("POST", "/api/2.0/serving-endpoints")
    entity = create["body"]["config"]["served_entities"][0]
    assert (entity["entity_name"], entity["entity_version"], entity["workload_size"], entity["scale_to_zero_enabled"]) == ("forecast_router", "1", "Medium", False)
    assert create["body"]["ai_gateway"]["inference_table_config"]["table_name_prefix"] == "forecast_requests"
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["endpoint"]["url"] == f"{databricks_env.url}/serving-endpoints/fc-contract/invocations" and report["endpoint"]["segments"] == 2
    assert f"endpoint: {databricks_env.url}/serving-endpoints/fc-contract/invocations serving forecast_router v1" in out
