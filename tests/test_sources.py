"""Data sources and the forecast table without a server: SQLite as the database (any SQLAlchemy dialect
is read the same way), the table's fixed schema keeping every output column, and the one-line refusals
of sources that cannot be read as given."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import FINANCE_DAILY, FINANCE_SEGMENT_COLS

from forecasting.errors import ConfigError


@pytest.fixture
def database(tmp_path):
    """The bundled daily data in SQLite, dates as DATE."""
    from sqlalchemy import create_engine

    url = f"sqlite:///{tmp_path / 'finance.db'}"
    engine = create_engine(url)
    daily = pd.read_csv(FINANCE_DAILY)
    daily.assign(ds=pd.to_datetime(daily["ds"]).dt.date).to_sql("daily", engine, index=False)
    engine.dispose()
    return url


def test_forecast_from_a_sqlite_table_to_a_sqlite_forecast_table(database, tmp_path, monkeypatch, capsys):
    from sqlalchemy import create_engine

    from flows.cli import main

    monkeypatch.setenv("FORECAST_FLOWS_HOME", str(tmp_path / "home"))
    args = ["forecast", "--data", database, "--table", "daily", "--segment-cols", ",".join(FINANCE_SEGMENT_COLS), "--models", "ets,theta",
            "--horizon", "7", "--folds", "1", "--holidays", "none", "--workers", "1", "--output", database, "--output-table", "forecasts"]
    assert main(args) == 0 and main(args) == 0
    engine = create_engine(database)
    vintages = pd.read_sql("SELECT run_id, as_of, ds, yhat, source FROM forecasts", engine)
    latest = pd.read_sql("SELECT run_id, ds FROM forecasts_latest", engine)
    engine.dispose()
    assert len(vintages) == 16 and vintages["run_id"].nunique() == 2  # 7 days + the incomplete last day, per run
    assert set(vintages["as_of"]) == {"2025-11-18"} and set(vintages["source"]) == {f"{database} table daily"}
    assert len(latest) == 8 and latest["run_id"].nunique() == 1
    assert "to " + database + " table forecasts (run_id " in capsys.readouterr().out


def test_every_output_column_of_a_run_is_kept_in_the_fixed_schema():
    from forecasting.forecast_table import NAMES, Lineage, vintage_frame

    rows = pd.DataFrame({"segment": ["region=EU"] * 2, "region": "EU", "ds": ["2026-01-01", "2026-01-02"], "yhat": [10.0, 11.0],
                         "family": "ets", "version": "3", "level": "region", "yhat_base": [9.5, 10.5], "promo_lift": [0.1, None]})
    vintage = vintage_frame(rows, Lineage(run_id="r1", origin="forecast", interval_level=90.0), ["region"], as_of={"region=EU": "2025-12-31"})
    assert list(vintage.columns) == NAMES
    first = vintage.iloc[0]
    assert (first["model"], first["model_version"], first["hierarchy_level"], first["yhat_base"]) == ("ets", "3", "region", 9.5)
    assert json.loads(first["extras"]) == {"promo_lift": 0.1} and vintage["extras"].iloc[1] is None  # nothing dropped
    assert json.loads(first["segment_values"]) == {"region": "EU"} and str(first["as_of"]) == "2025-12-31" and first["champion"]


@pytest.mark.parametrize("location,fields,needle", [
    ("postgresql+psycopg://forecaster:s3cr3t@db/finance", {"query": "SELECT 1"}, "postgresql+psycopg://forecaster:***@db/finance: the URL carries a password"),
    ("postgresql+psycopg://forecaster@db/finance", {}, "a SQL source needs a query"),
    ("postgresql+psycopg://forecaster@db/finance", {"query": "SELECT 1", "table": "finance.daily"}, "give a query or a table, not both"),
    ("actuals.csv", {"query": "SELECT 1"}, "actuals.csv is a file: query and table are for SQL"),
    ("databricks://main.finance", {}, "'main.finance' is not catalog.schema.table"),
    ("databricks://main.finance.daily?warehouse=x", {}, "unknown option 'warehouse'"),
])
def test_a_source_that_cannot_be_read_as_given_is_refused_in_one_line(location, fields, needle):
    from flows.cli.sources import data_source

    class Args:
        query, table = fields.get("query"), fields.get("table")

    with pytest.raises(ConfigError) as refused:
        data_source(location, Args())
    assert needle in str(refused.value) and "s3cr3t" not in str(refused.value) and "\n" not in str(refused.value)
