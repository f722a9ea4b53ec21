"""SQL sources and the forecast table on a real PostgreSQL cluster: `forecast --data postgresql+psycopg://…
--query … --output postgresql+psycopg://… --output-table …` appends one vintage per run with lineage, a
retry of a run replaces its rows, a writer killed mid-way leaves nothing, and every bad input is one line
naming the source with no password, exit 2, nothing written."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from finance_warehouse import SEGMENTS, finance_warehouse, training_query

from benchmarks.postgres import unavailable
from forecasting.system.processes import free_port

pytestmark = pytest.mark.skipif(unavailable() is not None, reason=f"no local PostgreSQL cluster: {unavailable()}")
FAST = ["--models", "ets,theta", "--horizon", "7", "--folds", "1", "--holidays", "none", "--workers", "1"]


@pytest.fixture(scope="module")
def warehouse():
    with finance_warehouse() as built:
        yield built


@pytest.fixture
def as_forecaster(warehouse, monkeypatch, tmp_path):
    """The forecaster's password where libpq looks for it (never on the command line)."""
    monkeypatch.setenv("PGPASSWORD", warehouse.canary)
    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PGPASSFILE", raising=False)
    return warehouse


def forecast(warehouse, *args: str, data: str | None = None, query: str | None = None, output: str | None = None,
             table: str = "finance.forecasts") -> int:
    from flows.cli import main

    return main(["forecast", "--data", data or warehouse.url(), "--query", query or training_query(), "--segment-cols", SEGMENTS, *FAST,
                 "--output", output or warehouse.url(), "--output-table", table, *args])


VINTAGE = ("SELECT run_id, origin, as_of, created_at, segment, segment_values, ds, yhat, yhat_lower <= yhat AND yhat <= yhat_upper, "
           "interval_level, model, champion, model_version, data_fingerprint, source FROM finance.{table} ORDER BY created_at, ds")


def rows(warehouse, table: str = "forecasts") -> list[list[str]]:
    return [["" if v is None else str(v) for v in row] for row in warehouse.fetch(VINTAGE.format(table=table))]


def test_forecast_appends_a_vintage_with_lineage_per_run_and_a_latest_view(as_forecaster, capsys):
    warehouse = as_forecaster
    assert forecast(warehouse) == 0
    out = capsys.readouterr().out
    assert f"to {warehouse.url()} table finance.forecasts (run_id " in out
    first = rows(warehouse)
    assert len(first) == 7 and len({r[0] for r in first}) == 1
    run_id, origin, as_of, _, segment, values, ds, _, bounded, level, model, champion, version, fingerprint, source = first[0]
    assert (origin, as_of, ds, level, champion, version) == ("forecast", "2025-11-05", "2025-11-06", "90.0", "True", "")
    assert segment == "BUSINESS_SEGMENT=Classic|IS_CGNA=1|MX_TYPE=Enterprise" and values == '{"IS_CGNA": 1, "BUSINESS_SEGMENT": "Classic", "MX_TYPE": "Enterprise"}'
    assert bounded == "True" and model in ("ets", "theta", "seasonal_naive") and len(fingerprint) == 16 and source == warehouse.url()
    assert [r[6] for r in first] == [f"2025-11-{d:02d}" for d in range(6, 13)]

    assert forecast(warehouse) == 0  # the same data again: a second vintage, never an overwrite
    both = rows(warehouse)
    runs = list(dict.fromkeys(r[0] for r in both))
    assert len(both) == 14 and len(runs) == 2 and {r[13] for r in both} == {fingerprint}
    latest = warehouse.query("SELECT DISTINCT run_id FROM finance.forecasts_latest")
    assert latest == [runs[1]] and warehouse.query("SELECT count(*) FROM finance.forecasts_latest") == ["7"]
    assert warehouse.canary not in out + "".join("|".join(r) for r in both)


def test_all_models_rows_fill_the_same_table_with_candidates_marked(as_forecaster):
    warehouse = as_forecaster
    assert forecast(warehouse, "--all-models", table="finance.candidates") == 0
    counts = warehouse.query("SELECT champion, count(DISTINCT model), count(*) FROM finance.candidates GROUP BY champion ORDER BY champion")
    assert counts[-1] == "t|1|7" and counts[0].startswith("f|") and int(counts[0].split("|")[2]) >= 7
    assert forecast(warehouse, table="finance.candidates") == 0  # a run without the option writes to the same table
    assert warehouse.query("SELECT count(DISTINCT run_id) FROM finance.candidates") == ["2"]


WRITER = """
import sys, time
import pandas as pd
from forecasting.forecast_table import ForecastTableTarget, Lineage, open_table, vintage_frame
rows = pd.DataFrame({"segment": "region=EU", "region": "EU", "ds": pd.date_range("2026-01-01", periods=10).strftime("%Y-%m-%d"),
                     "yhat": float(sys.argv[3]), "model": "ets"})
vintage = vintage_frame(rows, Lineage(run_id=sys.argv[2], origin="forecast"), ["region"])
def progress(done, total):
    print(f"chunk {done}/{total}", flush=True)
    time.sleep(float(sys.argv[4]))
open_table(ForecastTableTarget(url=sys.argv[1], table="finance.killed")).write(vintage, chunk_rows=3, progress=progress)
print("committed", flush=True)
"""


def writer(url: str, run_id: str, yhat: float, pause: float, kill_after: str | None = None) -> list[str]:
    """The forecast-table writer in its own process; SIGKILLed between two chunks once it prints ``kill_after``."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen([sys.executable, "-c", WRITER, url, run_id, str(yhat), str(pause)], stdout=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in process.stdout:
            lines.append(line.strip())
            if line.strip() == kill_after:
                os.kill(process.pid, signal.SIGKILL)
                break
    finally:
        process.wait(timeout=120)
    return lines


def test_a_writer_killed_between_chunks_leaves_no_half_vintage_and_a_retry_replaces_its_run(as_forecaster):
    warehouse = as_forecaster
    count = lambda run: warehouse.query(f"SELECT count(*), min(yhat) FROM finance.killed WHERE run_id = '{run}'")[0]  # noqa: E731
    assert writer(warehouse.url(), "run-a", 1.0, 0)[-1] == "committed"
    assert count("run-a") == "10|1"
    assert writer(warehouse.url(), "run-b", 2.0, 60, kill_after="chunk 1/4")[-1] == "chunk 1/4"  # 3 rows inserted, uncommitted
    assert count("run-b") == "0|" and count("run-a") == "10|1"
    assert writer(warehouse.url(), "run-b", 3.0, 0)[-1] == "committed"  # the retry of run-b
    assert writer(warehouse.url(), "run-a", 4.0, 0)[-1] == "committed"  # run-a again: replaced, never duplicated
    assert count("run-b") == "10|3" and count("run-a") == "10|4"


def test_a_password_in_the_url_is_refused_and_redacted(as_forecaster, capsys):
    warehouse = as_forecaster
    leaked = warehouse.url().replace("forecaster@", f"forecaster:{warehouse.canary}@")
    assert forecast(warehouse, data=leaked) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and warehouse.canary not in err and "forecaster:***@" in err and "the URL carries a password" in err


def test_the_sql_retraining_deployment_is_valid_and_paused_until_set_up():
    from deployments.catalog import DEPLOYMENTS
    from flows.parameters import TrainingParameters

    deployment = next(d for d in DEPLOYMENTS if d.name == "weekly-retraining-sql")
    params = TrainingParameters.model_validate(deployment.parameters["params"])
    assert params.source().kind == "sql" and params.data_source.credentials_block == params.forecast_table.credentials_block
    assert params.forecast_table.table == "finance.forecasts" and not deployment.active


@pytest.fixture(scope="module")
def untouched(warehouse):
    """finance.untouched: a forecast table holding one vintage of 10 rows, which no bad run may change."""
    from forecasting.forecast_table import ForecastTableTarget, Lineage, open_table, vintage_frame
    from forecasting.sources import Credentials

    rows = pd.DataFrame({"segment": "region=EU", "region": "EU", "ds": pd.date_range("2026-01-01", periods=10).strftime("%Y-%m-%d"), "yhat": 1.0})
    table = open_table(ForecastTableTarget(url=warehouse.url(), table="finance.untouched"), Credentials(password=warehouse.canary))
    table.write(vintage_frame(rows, Lineage(run_id="before", origin="forecast"), ["region"]))
    return "finance.untouched"


@pytest.mark.parametrize("case", ["unreachable", "bad credentials", "no rows", "missing columns", "no write permission"])
def test_a_bad_source_or_table_is_one_line_naming_it_exit_2_and_nothing_written(warehouse, untouched, monkeypatch, tmp_path, capsys, case):
    from flows.cli import main

    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(warehouse.pgpass(tmp_path)))
    data, query, output, needle = warehouse.url(), training_query(), warehouse.url(), ""
    if case == "unreachable":
        port = free_port()
        data = warehouse.url(port=port)
        needle = f'{data}: cannot connect: connection failed: connection to server at "127.0.0.1", port {port} failed: Connection refused'
    elif case == "bad credentials":
        monkeypatch.setenv("PGPASSWORD", "wrong-password-71c3")
        monkeypatch.delenv("PGPASSFILE")
        # the output table is checked first (before any reading or training), so the message names it
        needle = f'{output} table {untouched}: cannot connect: connection failed: connection to server at "127.0.0.1", ' \
                 f'port {warehouse.cluster.port} failed: FATAL: password authentication failed for user "forecaster"'
    elif case == "no rows":
        query = training_query(cutoff="1999-12-31")
        needle = f"{data}: the query returned no rows"
    elif case == "missing columns":
        query = 'SELECT ds, "IS_CGNA" FROM finance.daily'
        needle = f"{data}: missing columns 'y', 'BUSINESS_SEGMENT', 'MX_TYPE'; found columns: ds, IS_CGNA"
    else:
        output = warehouse.url("reader")
        needle = f"{output} table {untouched}: cannot write: permission denied for table untouched"
    code = main(["forecast", "--data", data, "--query", query, "--segment-cols", SEGMENTS, *FAST, "--output", output, "--output-table", untouched])
    captured = capsys.readouterr()
    assert code == 2 and captured.err.count("\n") == 1 and captured.err.startswith("error: "), captured.err
    assert needle in captured.err, captured.err
    for secret in (warehouse.canary, warehouse.reader_password, "wrong-password-71c3"):
        assert secret not in captured.err + captured.out
    assert "champion" not in captured.out  # refused before any training
    assert warehouse.query(f"SELECT count(*), min(run_id), max(run_id) FROM {untouched}") == ["10|before|before"]


def test_validate_reads_the_same_query_and_accounts_for_every_row(as_forecaster, tmp_path, capsys):
    import json

    from flows.cli import main

    report = tmp_path / "validation.json"
    code = main(["validate", "--data", as_forecaster.url(), "--query", training_query(), "--segment-cols", SEGMENTS, "--report", str(report)])
    assert code == 0, capsys.readouterr().err
    assert "BUSINESS_SEGMENT=Classic|IS_CGNA=1|MX_TYPE=Enterprise" in capsys.readouterr().out
    written = json.loads(report.read_text())
    assert written["rows_read"] == 675 and written["last_date"] == "2025-11-05"  # 2024-01-01 .. 2025-11-05, every row
