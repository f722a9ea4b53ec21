"""The flows on a SQL source and a forecast table, through a real `prefect server` and a real PostgreSQL
cluster, with the password in a prefect-sqlalchemy credentials block: `forecast-training` appends one
vintage per run with its lineage (registered version, MLflow run), a retried flow run replaces its own
rows, the actuals comparison reads the actuals and the vintages from the database, a table the run may
not write stops it before anything is registered, and the canary password appears nowhere a run writes."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from finance_warehouse import CUTOFF, SEGMENTS, actuals_query, finance_warehouse, training_query
from servers import BIN, start_prefect_server, stop

from benchmarks.postgres import unavailable

pytestmark = [pytest.mark.skipif(unavailable() is not None, reason=f"no local PostgreSQL cluster: {unavailable()}"), pytest.mark.slow]
ROOT = Path(__file__).resolve().parent.parent
FAST = ["--models", "ets,theta", "--horizon", "7", "--folds", "1", "--holidays", "none", "--task-runner", "threads", "--skip-deploy"]
BLOCK = "finance-warehouse"

CREATE_BLOCK = """
import os
from prefect_sqlalchemy import ConnectionComponents, SqlAlchemyConnector
SqlAlchemyConnector(connection_info=ConnectionComponents(driver="postgresql+psycopg", username="forecaster", password=os.environ["CANARY"],
                                                         host="127.0.0.1", port=int(os.environ["PGPORT_TEST"]), database="finance")
                    ).save(os.environ["BLOCK"], overwrite=True)
"""

RETRIED_RUN = """
import json, sys
from flows.training import TrainingParameters, forecast_training
params = TrainingParameters.model_validate(json.loads(sys.argv[1]))
state = forecast_training.with_options(retries=1, retry_delay_seconds=0)(params, return_state=True)
print(json.dumps({"state": state.type.value, "flow_run_id": str(state.state_details.flow_run_id)}))
"""


def post(api: str, path: str, body: dict):
    request = urllib.request.Request(api + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def setting(tmp_path_factory):
    """PostgreSQL with the finance data, a Prefect server, the credentials block, an empty state directory;
    no password in any environment variable of the runs."""
    root = tmp_path_factory.mktemp("sql-flows")
    with finance_warehouse() as warehouse:
        (root / "prefect-server").mkdir()
        process, api, env = start_prefect_server(root / "prefect-server", PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false")
        try:
            env = {k: v for k, v in env.items() if not k.startswith(("PG", "DATABRICKS_", "FORECAST_FLOWS_SQL"))}
            env.update(FORECAST_FLOWS_HOME=str(root / "state"), PYTHONPATH=str(ROOT))
            subprocess.run([sys.executable, "-c", CREATE_BLOCK], env={**env, "CANARY": warehouse.canary, "BLOCK": BLOCK,
                                                                      "PGPORT_TEST": str(warehouse.cluster.port)}, check=True, timeout=120)
            yield {"warehouse": warehouse, "api": api, "env": env, "root": root, "outputs": []}
        finally:
            stop(process)


def cli(setting, *args, timeout=900) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "forecast-flows"), *args], env=setting["env"], cwd=setting["root"], capture_output=True, text=True,
                            timeout=timeout)
    setting["outputs"].append(result.stdout + result.stderr)
    return result


def vintage_rows(warehouse, table: str) -> list[dict]:
    rows = warehouse.fetch(f"SELECT run_id, origin, as_of, created_at, segment, ds, model, registered_model, model_version, mlflow_run_id, "
                           f"data_fingerprint, source FROM {table} ORDER BY created_at, ds")
    keys = ["run_id", "origin", "as_of", "created_at", "segment", "ds", "model", "registered_model", "model_version", "mlflow_run_id",
            "data_fingerprint", "source"]
    return [dict(zip(keys, row)) for row in rows]


@pytest.fixture(scope="module")
def trained(setting):
    """`forecast-flows train` on the SQL source (the flow through the Prefect server), then a flow run that
    fails after writing its vintage (a segment too short to train) and is retried by Prefect."""
    warehouse = setting["warehouse"]
    url = warehouse.url()
    train = cli(setting, "train", "--data", url, "--query", training_query(), "--segment-cols", SEGMENTS, *FAST, "--experiment", "sql-flows",
                "--output", url, "--output-table", "finance.flow_forecasts", "--credentials-block", BLOCK, "--report", "report.json")
    assert train.returncode == 0, train.stderr[-3000:]
    params = {"data_source": {"location": url, "query": training_query("finance.daily_plus"), "credentials_block": BLOCK},
              "forecast_table": {"url": url, "table": "finance.flow_forecasts", "credentials_block": BLOCK},
              "data": {"segment_cols": SEGMENTS.split(",")}, "models": {"models": ["ets", "theta"], "holidays_country": None},
              "backtest": {"horizon": 7, "folds": 1}, "tracking": {"experiment": "sql-flows"}, "skip_deploy": True,
              "policy": {"task_runner": "threads", "retry_backoff_seconds": 0.1}}
    retried = subprocess.run([sys.executable, "-c", RETRIED_RUN, json.dumps(params)], env=setting["env"], cwd=setting["root"],
                             capture_output=True, text=True, timeout=900)
    setting["outputs"].append(retried.stdout + retried.stderr)
    assert retried.returncode == 0, retried.stderr[-3000:]
    return {"report": json.loads((setting["root"] / "report.json").read_text()), "retried": json.loads(retried.stdout.strip().splitlines()[-1])}


def test_training_through_prefect_appends_its_vintage_with_registered_versions(setting, trained):
    warehouse, report = setting["warehouse"], trained["report"]
    (segment,) = report["segments"]
    assert segment["status"] == "trained" and segment["version"] == "1"
    assert report["forecast_table"]["table"] == f"{warehouse.url()} table finance.flow_forecasts" and report["forecast_table"]["rows"] == 7
    run_id = report["forecast_table"]["run_id"]
    flow_run = post(setting["api"], "/flow_runs/filter", {"flow_runs": {"id": {"any_": [run_id]}}})
    assert flow_run and flow_run[0]["name"] and flow_run[0]["state_type"] == "COMPLETED"  # the vintage's run_id is the flow run's
    rows = [r for r in vintage_rows(warehouse, "finance.flow_forecasts") if r["run_id"] == run_id]
    assert len(rows) == 7 and {r["origin"] for r in rows} == {"forecast-training"} and {str(r["as_of"]) for r in rows} == {CUTOFF}
    assert {(r["model"], r["registered_model"], r["model_version"], r["mlflow_run_id"]) for r in rows} == {
        (segment["champion"], segment["registered_model"], "1", segment["mlflow_run_id"])}
    from mlflow.tracking import MlflowClient

    parent = MlflowClient(f"sqlite:///{setting['root'] / 'state' / 'mlflow.db'}").get_run(report["mlflow_parent_run_id"])
    assert {r["data_fingerprint"] for r in rows} == {parent.data.tags["data_hash"]}  # the same data fingerprint as MLflow's
    assert {r["source"] for r in rows} == {warehouse.url()}


def test_a_retried_flow_run_replaces_its_own_vintage(setting, trained):
    warehouse, retried = setting["warehouse"], trained["retried"]
    assert retried["state"] == "FAILED"  # the short segment fails the run, each attempt
    (flow_run,) = post(setting["api"], "/flow_runs/filter", {"flow_runs": {"id": {"any_": [retried["flow_run_id"]]}}})
    assert flow_run["run_count"] == 2  # Prefect ran it twice, under one flow run id
    writes = post(setting["api"], "/task_runs/filter", {"flow_runs": {"id": {"any_": [retried["flow_run_id"]]}},
                                                        "task_runs": {"name": {"like_": "write-forecast-vintage"}}})
    assert len([w for w in writes if w["state_type"] == "COMPLETED"]) == 2  # both attempts wrote the vintage
    rows = vintage_rows(warehouse, "finance.flow_forecasts")
    mine = [r for r in rows if r["run_id"] == retried["flow_run_id"]]
    assert len(mine) == 7 and len({r["created_at"] for r in mine}) == 1  # replaced, not duplicated
    assert len({r["run_id"] for r in rows}) == 2 and len(rows) == 14  # the earlier run's vintage is untouched
    # what changed since the last forecast: against the earlier run's vintage in the table (not the retry's own rows), nothing
    summaries = post(setting["api"], "/artifacts/filter", {"flow_runs": {"id": {"any_": [retried["flow_run_id"]]}},
                                                           "artifacts": {"key": {"any_": ["training-summary"]}}})
    assert len(summaries) == 2  # one per attempt
    for summary in summaries:
        section = summary["data"].split("## What changed since the last forecast", 1)[1]
        assert f"Against the forecast table {warehouse.url()} table finance.flow_forecasts" in section
        assert "2025-11-06 .. 2025-11-12 (7) | 0 |" in section and "| +0 (0.0%) | +0 | +0 | +0 |" in section  # 7 periods in common, no new actual


def test_the_comparison_reads_actuals_and_vintages_from_postgresql(setting, trained):
    warehouse = setting["warehouse"]
    url = warehouse.url()
    result = cli(setting, "compare-actuals", "--actuals", url, "--query", actuals_query(), "--segment-cols", SEGMENTS, "--experiment", "sql-flows",
                 "--forecasts", url, "--forecasts-table", "finance.flow_forecasts", "--credentials-block", BLOCK, "--output", "comparison.csv")
    assert result.returncode in (0, 1), result.stderr[-3000:]
    report = json.loads((setting["root"] / "comparison.json").read_text())
    (segment,) = report["segments"]
    assert segment["forecast_source"] == "forecast table" and segment["periods"] == 7
    assert (segment["first"], segment["last"]) == ("2025-11-06", "2025-11-12")
    latest = [r for r in vintage_rows(warehouse, "finance.flow_forecasts") if r["run_id"] == trained["retried"]["flow_run_id"]]
    assert segment["version"] == latest[0]["model_version"] and not report["unmatched"]  # the latest vintage's forecast
    # without a vintage for the segment, the forecast MLflow kept at promotion is compared instead
    fallback = cli(setting, "compare-actuals", "--actuals", url, "--query", actuals_query(), "--segment-cols", SEGMENTS, "--experiment", "sql-flows",
                   "--forecasts", url, "--forecasts-table", "finance.no_forecasts_yet", "--credentials-block", BLOCK, "--output", "fallback.csv")
    assert fallback.returncode in (0, 1), fallback.stderr[-3000:]
    (segment,) = json.loads((setting["root"] / "fallback.json").read_text())["segments"]
    assert segment["forecast_source"] == "mlflow" and segment["periods"] == 7


def test_batch_inference_appends_the_champions_forecasts_as_a_vintage(setting, trained):
    warehouse = setting["warehouse"]
    result = cli(setting, "predict-batch", "--horizon", "5", "--output", warehouse.url(), "--output-table", "finance.batch_forecasts",
                 "--credentials-block", BLOCK)
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"appended to {warehouse.url()} table finance.batch_forecasts (run_id " in result.stdout
    rows = warehouse.fetch("SELECT run_id, origin, as_of, segment, segment_values, ds, model_version, mlflow_run_id, registered_model "
                           "FROM finance.batch_forecasts ORDER BY ds")
    assert len(rows) == 5 and {r[1] for r in rows} == {"batch-inference"} and {str(r[2]) for r in rows} == {CUTOFF}
    assert [str(r[5]) for r in rows] == [f"2025-11-{d:02d}" for d in range(6, 11)]
    assert json.loads(rows[0][4]) == {"BUSINESS_SEGMENT": "Classic", "IS_CGNA": "1", "MX_TYPE": "Enterprise"}
    from mlflow.tracking import MlflowClient

    champion = MlflowClient(f"sqlite:///{setting['root'] / 'state' / 'mlflow.db'}").get_model_version_by_alias(rows[0][8], "champion")
    assert {(r[6], r[7]) for r in rows} == {(str(champion.version), champion.run_id)}


def test_a_table_the_run_may_not_write_stops_it_before_anything_is_registered(setting, trained, tmp_path):
    warehouse = setting["warehouse"]
    pgpass = warehouse.pgpass(tmp_path)
    env = {**setting["env"], "PGPASSFILE": str(pgpass), "FORECAST_FLOWS_HOME": str(tmp_path / "state")}
    result = subprocess.run([str(BIN / "forecast-flows"), "train", "--data", warehouse.url(), "--query", training_query(), "--segment-cols", SEGMENTS,
                             *FAST, "--experiment", "refused", "--output", warehouse.url("reader"), "--output-table", "finance.flow_forecasts"],
                            env=env, capture_output=True, text=True, timeout=600)
    setting["outputs"].append(result.stdout + result.stderr)
    err = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert result.returncode == 2 and len(err) == 1, result.stderr[-3000:]
    assert err[0] == (f"error: {warehouse.url('reader')} table finance.flow_forecasts: cannot write: permission denied for table flow_forecasts")
    assert warehouse.reader_password not in result.stdout + result.stderr
    from mlflow.tracking import MlflowClient

    mlflow_db = tmp_path / "state" / "mlflow.db"
    assert not mlflow_db.exists() or not MlflowClient(f"sqlite:///{mlflow_db}").search_registered_models()


def test_the_canary_password_appears_nowhere_a_run_writes(setting, trained):
    """The block's password reached PostgreSQL (the runs authenticated with it) and nothing else."""
    canary, api = setting["warehouse"].canary, setting["api"]
    flow_runs = post(api, "/flow_runs/filter", {})
    assert len(flow_runs) >= 5  # train, its train-segments subflow, the retried run and its subflow, the comparisons
    scanned = {
        "flow-run parameters": json.dumps([r["parameters"] for r in flow_runs]),
        "prefect logs": json.dumps(post(api, "/logs/filter", {})),
        "prefect artifacts": json.dumps(post(api, "/artifacts/filter", {})),
        "task runs": json.dumps(post(api, "/task_runs/filter", {})),
        "command output": "\n".join(setting["outputs"]),
        "forecast table": json.dumps(vintage_rows(setting["warehouse"], "finance.flow_forecasts"), default=str),
    }
    assert "finance-warehouse" in scanned["flow-run parameters"] and setting["warehouse"].url() in scanned["flow-run parameters"]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{setting['root'] / 'state' / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    scanned["mlflow params and tags"] = json.dumps([{**r.data.params, **r.data.tags} for r in runs])
    files = [p for p in (setting["root"] / "state").rglob("*") if p.is_file()]
    assert any(p.name == "MLmodel" for p in files)
    for path in files:  # the MLflow database and artifacts, Prefect results, exports
        scanned[str(path.relative_to(setting["root"]))] = path.read_bytes().decode("latin-1")
    leaks = [where for where, text in scanned.items() if canary in text]
    assert not leaks, f"the canary leaked into: {leaks}"
