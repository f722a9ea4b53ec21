"""Command-line options for data sources and forecast tables: ``--data`` is a file or a URL (SQLAlchemy or
``databricks://catalog.schema.table``) with ``--query`` or ``--table``; ``--output URL --output-table NAME``
appends the run's vintage to a forecast table. Passwords never go on the command line: PGPASSWORD,
~/.pgpass, FORECAST_FLOWS_SQL_PASSWORD, or (Prefect runs) ``--credentials-block``."""

from __future__ import annotations

import argparse

CREDENTIALS_HELP = ("a prefect-sqlalchemy SqlAlchemyConnector block holding the SQL user and password "
                    "(default: PGPASSWORD / ~/.pgpass, or FORECAST_FLOWS_SQL_PASSWORD)")


def add_source_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--query", default=None, help='with a SQL or databricks:// --data: the SELECT whose rows are the table')
    parser.add_argument("--table", default=None, help="with a SQL --data: the table or view to read, schema.name or name")


def add_output_table_args(parser: argparse.ArgumentParser, output: bool = False, credentials: bool = False) -> None:
    """``--output-table`` (and ``--output`` when the command has none yet, ``--credentials-block`` for
    commands that run a Prefect flow)."""
    if output:
        parser.add_argument("--output", default=None, help="append this run's forecasts (a vintage with lineage) to a forecast table: "
                                                            "a database URL with --output-table, or databricks://catalog.schema.table")
    parser.add_argument("--output-table", default=None, help="with a database URL --output: the forecast table, schema.name or name")
    if credentials:
        parser.add_argument("--credentials-block", default=None, help=CREDENTIALS_HELP)


def data_source(location: str, args, delimiter: str = "auto", sheet=None):
    """The :class:`DataSource` the flags name; one line (password redacted) when they do not fit."""
    from forecasting.sources import DataSource

    return _validated(DataSource, location=location, query=getattr(args, "query", None), table=getattr(args, "table", None),
                      delimiter=delimiter, sheet=sheet)


def forecast_target(url: str | None, table: str | None):
    """The forecast table ``--output``/``--output-table`` name, or None when ``--output`` is a file."""
    from forecasting.forecast_table import ForecastTableTarget
    from forecasting.sources import source_kind

    if not url or source_kind(url) == "file":
        if table:
            from forecasting.errors import ConfigError

            raise ConfigError("--output-table needs a database URL as --output (postgresql+psycopg://user@host/db, sqlite:///file.db)")
        return None
    return _validated(ForecastTableTarget, url=url, table=table)


def _validated(model, **fields):
    """The model, or a ConfigError with pydantic's message alone (its input echo could show a password)."""
    from pydantic import ValidationError

    from forecasting.errors import ConfigError

    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def add_forecasts_args(parser: argparse.ArgumentParser) -> None:
    """`compare-actuals`: the forecast table whose vintages are compared (default: the forecasts frozen in MLflow)."""
    parser.add_argument("--forecasts", default=None, help="compare with the forecast table's vintages: a database URL with --forecasts-table, "
                                                          "or databricks://catalog.schema.table (segments it lacks: MLflow's promoted forecasts)")
    parser.add_argument("--forecasts-table", default=None, help="with a database URL --forecasts: the forecast table")
    parser.add_argument("--credentials-block", default=None, help=CREDENTIALS_HELP)


def open_output_table(url: str | None, table: str | None):
    """The forecast table ``--output`` names (checked writable now, before any training), or None for a file."""
    from forecasting.forecast_table import open_table

    target = forecast_target(url, table)
    if target is None:
        return None
    opened = open_table(target)
    opened.check_writable()
    return opened


def write_forecast_run(output_table, run, job, source) -> str:
    """Append the run's vintage under a fresh run id (every invocation is its own run); where it went."""
    from forecasting.forecast_table import new_run_id
    from forecasting.forecast_table.runs import forecast_run_vintage

    run_id = new_run_id()
    output_table.write(forecast_run_vintage(run, job, run_id, source.describe()))
    return f"{output_table.where} (run_id {run_id})"


def source_parameters(args, data: str | None = None) -> dict:
    """The run parameters for ``--data`` (or ``data``) with ``--query``/``--table`` and ``--output``/``--output-table``:
    a file stays ``data_path`` (as before), a database becomes ``data_source``; credentials only by block name."""
    location = data or args.data
    block = getattr(args, "credentials_block", None)
    source = data_source(location, args, args.delimiter, getattr(args, "sheet", None))
    fields = {}
    if source.kind == "file":
        fields.update(data_path=location, delimiter=args.delimiter, sheet=getattr(args, "sheet", None))
    else:
        fields["data_source"] = source.model_dump(exclude_none=True) | ({"credentials_block": block} if block and source.kind == "sql" else {})
    output = getattr(args, "output", None)
    table = forecast_table_parameters(output, getattr(args, "output_table", None), block)
    if output and table is None:
        from forecasting.errors import ConfigError

        raise ConfigError(f"--output {output!r}: train appends its forecasts to a forecast table: a database URL with --output-table, "
                          "or databricks://catalog.schema.table (the run report is --report)")
    return fields | ({"forecast_table": table} if table else {})


def forecast_table_parameters(url: str | None, table: str | None, block: str | None) -> dict | None:
    """The ``forecast_table`` run parameter for ``url``/``table`` (None when ``url`` is a file or absent)."""
    target = forecast_target(url, table)
    if target is None:
        return None
    return target.model_dump(exclude_none=True) | ({"credentials_block": block} if block and target.table else {})


def actuals_parameters(args) -> dict:
    """`compare-actuals`: ``actuals_path`` for a file, ``actuals_source`` for a database; ``forecast_table`` from ``--forecasts``."""
    source = data_source(args.actuals, args, args.delimiter)
    block = args.credentials_block
    fields = {"actuals_path": args.actuals} if source.kind == "file" else {
        "actuals_source": source.model_dump(exclude_none=True) | ({"credentials_block": block} if block and source.kind == "sql" else {})}
    if args.forecasts is None and args.forecasts_table:
        from forecasting.errors import ConfigError

        raise ConfigError("--forecasts-table needs --forecasts (the database URL)")
    table = forecast_table_parameters(args.forecasts, args.forecasts_table, block)
    if args.forecasts and table is None:
        from forecasting.errors import ConfigError

        raise ConfigError("--forecasts must be a database URL (with --forecasts-table) or databricks://catalog.schema.table")
    return fields | ({"forecast_table": table} if table else {})
