"""Unity Catalog tables through a SQL warehouse (the Statement Execution API), against the local server of
tests/databricks_contract.py: reading a table in chunks (EXTERNAL_LINKS in Arrow, INLINE JSON_ARRAY),
polling, the forecast table's vintages written with one atomic REPLACE WHERE, and the failures a user
meets. A contract test of our reading of the API, not of Databricks (docs/serving.md)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import FINANCE_DAILY, FINANCE_SEGMENT_COLS
from databricks_contract import ContractServer

from forecasting.sources import DataSource, read_source

TOKEN = "dapi-uc-canary-5f2e9d0c41"
ACTUALS = "databricks://main.finance.actuals?warehouse_id=wh-contract"
FORECASTS = "databricks://main.finance.forecasts?warehouse_id=wh-contract"
FAST = ["--models", "ets,theta", "--horizon", "7", "--folds", "1", "--holidays", "none"]


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """The contract server with the bundled daily finance data as main.finance.actuals."""
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path))
    monkeypatch.delenv("DATABRICKS_CONFIG_PROFILE", raising=False)
    monkeypatch.delenv("DATABRICKS_WAREHOUSE_ID", raising=False)
    server = ContractServer()
    monkeypatch.setenv("DATABRICKS_HOST", server.url)
    monkeypatch.setenv("DATABRICKS_TOKEN", TOKEN)
    daily = pd.read_csv(FINANCE_DAILY, dtype=str)
    columns = ["ds", *FINANCE_SEGMENT_COLS, "y"]
    server.sql.db.execute('CREATE TABLE "main.finance.actuals" (ds DATE, IS_CGNA TEXT, BUSINESS_SEGMENT TEXT, MX_TYPE TEXT, y DOUBLE)')
    server.sql.db.executemany('INSERT INTO "main.finance.actuals" VALUES (?, ?, ?, ?, ?)', daily[columns].values.tolist())
    yield server
    server.close()


def daily() -> pd.DataFrame:
    return pd.read_csv(FINANCE_DAILY, dtype=str)[["ds", *FINANCE_SEGMENT_COLS, "y"]]


def test_a_table_is_read_in_external_link_chunks_fetched_without_our_token(workspace):
    workspace.sql.chunk_rows = 100
    frame = read_source(DataSource(location=ACTUALS), required=["ds", "y"])
    expected = daily()
    assert len(frame) == 689 and list(frame.columns) == list(expected.columns)
    assert frame["ds"].tolist() == expected["ds"].tolist()  # Arrow dates as ISO text, like a CSV
    assert frame["y"].astype(float).tolist() == expected["y"].astype(float).tolist()
    (submit,) = workspace.calls("POST", "/api/2.0/sql/statements")
    assert submit["body"]["statement"] == "SELECT * FROM `main`.`finance`.`actuals`"
    assert (submit["body"]["disposition"], submit["body"]["format"], submit["body"]["warehouse_id"]) == ("EXTERNAL_LINKS", "ARROW_STREAM", "wh-contract")
    statement = workspace.sql.statements[next(iter(workspace.sql.statements))]["id"]
    polls = [r for r in workspace.requests if r["method"] == "GET" and r["path"] == f"/api/2.0/sql/statements/{statement}"]
    assert len(polls) == 2  # PENDING on submit, RUNNING, then SUCCEEDED
    assert len(workspace.calls("GET", "/result/chunks/")) == 6 and len(workspace.calls("GET", "/external-results/")) == 7
    assert all("authorization" not in {k.lower() for k in r["headers"]} for r in workspace.calls("GET", "/external-results/"))
    assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in workspace.requests if r["path"].startswith("/api/"))


def test_inline_json_array_chunks_and_a_query(workspace):
    workspace.sql.chunk_rows = 250
    frame = read_source(DataSource(location=ACTUALS + "&disposition=inline"))
    assert len(frame) == 689 and frame["y"].tolist() == [str(float(v)) for v in daily()["y"]]  # JSON_ARRAY: every value a string
    assert len(workspace.calls("GET", "/result/chunks/")) == 2 and not workspace.calls("GET", "/external-results/")
    query = read_source(DataSource(location="databricks://?warehouse_id=wh-contract",
                                   query="SELECT ds, y FROM main.finance.actuals WHERE ds >= '2025-11-01' ORDER BY ds"))
    assert query["ds"].tolist() == [d for d in daily()["ds"] if d >= "2025-11-01"]


def test_a_poll_answered_503_is_retried_by_the_sdk(workspace):
    workspace.sql.fail_polls = 1
    assert len(read_source(DataSource(location=ACTUALS))) == 689 and workspace.sql.fail_polls == 0


@pytest.mark.parametrize("location,needle", [
    ("databricks://main.finance.missing?warehouse_id=wh-contract", "[TABLE_OR_VIEW_NOT_FOUND] The table or view `main`.`finance`.`missing` cannot be found"),
    ("databricks://main.finance.actuals?warehouse_id=wh-gone", "SQL warehouse wh-gone does not exist"),
    ("databricks://main.finance.actuals", "no SQL warehouse: add ?warehouse_id=ID to the URL or set DATABRICKS_WAREHOUSE_ID"),
])
def test_a_source_that_cannot_be_read_is_one_line_naming_it(workspace, location, needle, capsys):
    from flows.cli import main

    code = main(["forecast", "--data", location, "--segment-cols", ",".join(FINANCE_SEGMENT_COLS), *FAST, "--output", "out.csv"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in err and "databricks table" not in err
    assert location.split("?")[0] in err and TOKEN not in err


def forecast(*extra: str) -> int:
    from flows.cli import main

    return main(["forecast", "--data", ACTUALS, "--segment-cols", ",".join(FINANCE_SEGMENT_COLS), *FAST, "--output", FORECASTS, *extra])


def vintages(workspace) -> pd.DataFrame:
    rows = workspace.sql.query('SELECT run_id, origin, as_of, segment, ds, yhat, model, champion, data_fingerprint, source FROM "main.finance.forecasts"')
    return pd.DataFrame(rows, columns=["run_id", "origin", "as_of", "segment", "ds", "yhat", "model", "champion", "data_fingerprint", "source"])


def test_forecast_reads_unity_catalog_and_appends_a_vintage_per_run(workspace, capsys):
    assert forecast() == 0
    assert "to databricks table main.finance.forecasts (run_id " in capsys.readouterr().out
    first = vintages(workspace)
    assert len(first) == 8 and first["run_id"].nunique() == 1 and set(first["origin"]) == {"forecast"}
    assert {str(v) for v in first["as_of"]} == {"2025-11-18"} and min(str(d) for d in first["ds"]) == "2025-11-19"
    assert first["data_fingerprint"].str.len().eq(16).all() and set(first["source"]) == {ACTUALS}
    statements = workspace.sql.executed
    assert any(s.startswith("CREATE TABLE IF NOT EXISTS `main`.`finance`.`forecasts`") and "USING DELTA" in s for s in statements)
    assert sum(s.startswith("INSERT INTO `main`.`finance`.`forecasts` REPLACE WHERE run_id = :run_id SELECT") for s in statements) == 2  # probe + vintage
    (submit,) = [r for r in workspace.calls("POST", "/api/2.0/sql/statements") if "REPLACE WHERE" in r["body"]["statement"] and "staging" in r["body"]["statement"]]
    assert submit["body"]["parameters"] == [{"name": "run_id", "value": first["run_id"][0], "type": "STRING"}]
    assert not workspace.sql.query("SELECT name FROM sqlite_master WHERE name LIKE '%staging%'")  # the staging table is dropped

    assert forecast() == 0  # identical data: a second vintage all the same
    both = vintages(workspace)
    assert both["run_id"].nunique() == 2 and len(both) == 16 and both["data_fingerprint"].nunique() == 1
    latest = workspace.sql.query('SELECT count(*), count(DISTINCT run_id) FROM "main.finance.forecasts_latest"')
    assert latest == [(8, 1)]

    from forecasting.forecast_table import ForecastTableTarget, open_table

    read = open_table(ForecastTableTarget(url=FORECASTS)).read(start="2025-11-20", end="2025-11-21")
    assert len(read) == 4 and read["champion"].all() and read["yhat"].dtype == float


def test_a_principal_without_modify_fails_before_training_and_writes_nothing(workspace, capsys):
    workspace.sql.read_only = {"main.finance.forecasts"}
    workspace.sql.db.execute('CREATE TABLE "main.finance.forecasts" (run_id TEXT)')
    assert forecast() == 2
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 1 and "databricks table main.finance.forecasts: [INSUFFICIENT_PERMISSIONS]" in captured.err
    assert "does not have MODIFY on Table `main`.`finance`.`forecasts`" in captured.err
    assert "champion" not in captured.out  # refused before any training
    assert workspace.sql.query('SELECT count(*) FROM "main.finance.forecasts"') == [(0,)]


WRITER = """
import sys, time
import pandas as pd
from forecasting.forecast_table import ForecastTableTarget, Lineage, open_table, vintage_frame
def small_vintage(run_id, yhat):
    rows = pd.DataFrame({"segment": "region=EU", "region": "EU", "ds": pd.date_range("2026-01-01", periods=10).strftime("%Y-%m-%d"),
                         "yhat": yhat, "model": "ets"})
    return vintage_frame(rows, Lineage(run_id=run_id, origin="forecast"), ["region"])
def progress(done, total):
    print(f"chunk {done}/{total}", flush=True)
    time.sleep(float(sys.argv[4]))
open_table(ForecastTableTarget(url=sys.argv[1])).write(small_vintage(sys.argv[2], float(sys.argv[3])), chunk_rows=3, progress=progress)
print("committed", flush=True)
"""


def small_vintage(run_id: str, yhat: float) -> pd.DataFrame:
    """Ten forecast rows of one segment under ``run_id`` (the writer script builds the same)."""
    from forecasting.forecast_table import Lineage, vintage_frame

    rows = pd.DataFrame({"segment": "region=EU", "region": "EU", "ds": pd.date_range("2026-01-01", periods=10).strftime("%Y-%m-%d"),
                         "yhat": yhat, "model": "ets"})
    return vintage_frame(rows, Lineage(run_id=run_id, origin="forecast"), ["region"])


def killed_writer(url: str, run_id: str, yhat: float, kill_after: str) -> list[str]:
    """A writer in its own process, SIGKILLed between two chunks once it prints ``kill_after``."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, url, run_id, str(yhat), "30"], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.strip())
            if line.strip() == kill_after:
                break
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    return lines


def test_a_writer_killed_mid_way_leaves_the_table_untouched_and_its_retry_replaces_the_run(workspace):
    from forecasting.forecast_table import ForecastTableTarget, open_table

    workspace.sql.polls = 0  # every statement done on submit: this test is about the write protocol, not polling
    table = open_table(ForecastTableTarget(url=FORECASTS))
    count = lambda run: workspace.sql.query(f"SELECT count(*), min(yhat) FROM \"main.finance.forecasts\" WHERE run_id = '{run}'")[0]  # noqa: E731
    table.write(small_vintage("run-a", 1.0), chunk_rows=3)
    assert count("run-a") == (10, 1.0)
    assert killed_writer(FORECASTS, "run-b", 2.0, kill_after="chunk 1/4")[-1] == "chunk 1/4"
    assert workspace.sql.query("SELECT count(*) FROM \"main.finance.forecasts__staging_run_b\"") == [(3,)]  # it was killed mid-way
    assert count("run-b") == (0, None) and count("run-a") == (10, 1.0)  # staged rows never reached the table
    table.write(small_vintage("run-b", 3.0), chunk_rows=3)  # the retry of run-b
    assert count("run-b") == (10, 3.0) and count("run-a") == (10, 1.0)
    table.write(small_vintage("run-a", 4.0), chunk_rows=3)  # a retry replaces, never duplicates
    assert count("run-a") == (10, 4.0)
    assert not workspace.sql.query("SELECT name FROM sqlite_master WHERE name LIKE '%staging%'")
