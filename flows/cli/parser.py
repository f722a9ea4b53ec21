"""The ``forecast-flows`` argument parser. Flags that set a model's field default to ``None`` ("not
given"): the pydantic models hold every default, and the help text shows it from there."""

from __future__ import annotations

import argparse

from pydantic import BaseModel

from flows.cli.sources import add_forecasts_args, add_output_table_args, add_source_args


def default_of(model: type[BaseModel], field: str):
    """A pydantic field's default, for help texts."""
    info = model.model_fields[field]
    return info.default_factory() if info.default_factory is not None else info.default


def _field(parser, flag: str, model: type[BaseModel], field: str, help: str, **kwargs) -> None:
    parser.add_argument(flag, default=None, help=f"{help} (default: {default_of(model, field)})", **kwargs)


def _debug(parser) -> None:
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")


def add_data_args(parser: argparse.ArgumentParser) -> None:
    """The data contract, validation, model and backtest options `forecast` and `train` share."""
    from forecasting.backtest import BacktestSpec
    from forecasting.contract import DataSpec
    from forecasting.models import ModelSpec
    from forecasting.validation import ValidationPolicy

    parser.add_argument("--data", required=True, help="CSV, Parquet or Excel (.xlsx) long table, or a database: a SQLAlchemy URL "
                        "(postgresql+psycopg://user@host/db, no password) or databricks://catalog.schema.table, with --query or --table")
    add_source_args(parser)
    parser.add_argument("--sheet", default=None, help="Excel sheet name, or its position from 0 (default: the first)")
    parser.add_argument("--covariates-file", default=None, help="a covariates table (promo calendar, prices) joined on the date and the segment columns it has")
    _field(parser, "--time-col", DataSpec, "time_col", "time column")
    _field(parser, "--target-col", DataSpec, "target_col", "target column")
    parser.add_argument("--segment-cols", default=None, help="comma-separated segment columns (default: none, one segment)")
    parser.add_argument("--covariates", default=None, help="comma-separated covariate columns (default: none)")
    _field(parser, "--frequency", DataSpec, "frequency", "auto, D, B, W-MON, MS, ME, QS-JAN, QE-DEC, ...")
    parser.add_argument("--delimiter", default="auto", help="CSV delimiter (default: auto-detected among , ; tab |)")
    _field(parser, "--decimal", DataSpec, "decimal", "decimal separator of numbers written as text: . or ,")
    parser.add_argument("--date-format", default=None, help="strftime format of the time column, e.g. %%d/%%m/%%Y (default: ISO, or the one "
                        "day/month order that gives a regular calendar; refused when both or neither do)")
    parser.add_argument("--aggregate", default=None, help="aggregate each segment to this frequency first: W-MON, MS, QS, YS, ... (default: no)")
    parser.add_argument("--aggregate-how", default=None, help="sum (default), mean, last, max or min; per column as y=last,price=mean")
    parser.add_argument("--start", default=None, help="first date of the training window (default: the first date)")
    parser.add_argument("--end", default=None, help="last date of the training window; later rows give only future covariates (default: the last date)")
    _field(parser, "--horizon", BacktestSpec, "horizon", "periods to forecast", type=int)
    _field(parser, "--folds", BacktestSpec, "folds", "rolling-origin backtest folds", type=int)
    parser.add_argument("--models", default=None, help=f"comma-separated families (default: {','.join(default_of(ModelSpec, 'models'))})")
    _field(parser, "--metric", BacktestSpec, "metric", "selection metric: mase, smape, wape, mape, rmse")
    _field(parser, "--level", ModelSpec, "level", "prediction interval level", type=float)
    _field(parser, "--holidays", ModelSpec, "holidays_country", "holiday country code, or none")
    _field(parser, "--duplicates", ValidationPolicy, "duplicates", "error, sum, mean or last")
    _field(parser, "--fill-missing", ValidationPolicy, "fill_missing", "error, interpolate, zero or ffill")
    _field(parser, "--covariate-missing", ValidationPolicy, "covariate_missing",
           "missing covariate values: auto, error, zero, ffill, mean or last; per column as promo=zero,price=ffill")
    _field(parser, "--incomplete-trailing", ValidationPolicy, "incomplete_trailing", "a last period far below the ones before it: drop, warn or keep")
    _field(parser, "--stale", ValidationPolicy, "stale", "a segment ending well before the data's last date: error, warn (forecast from its "
           "own end, low confidence) or skip", choices=["error", "warn", "skip"])
    _field(parser, "--stale-after", ValidationPolicy, "stale_after", "periods behind the data's last date that make a segment stale", type=int)
    _field(parser, "--transform", ModelSpec, "transform", "none or log")
    parser.add_argument("--non-negative", action="store_true", default=None, help="clip forecasts at zero")
    parser.add_argument("--all-models", action="store_true", default=None, help="also write every candidate's forecast (a row per candidate and date)")
    parser.add_argument("--model-option", action="append", default=None, metavar="FAMILY.OPTION=VALUE",
                        help="a Prophet or XGBoost option, repeatable: prophet.seasonality_mode=multiplicative, "
                             "prophet.changepoint_prior_scale=0.5, prophet.holidays_file=events.csv, prophet.search=true, "
                             "xgboost.max_depth=6, xgboost.lags=14, xgboost.search=true (docs/models-and-selection.md)")


def add_hierarchy_args(parser: argparse.ArgumentParser) -> None:
    """Forecast every level of the segment columns and reconcile them (docs/hierarchy.md)."""
    from forecasting.hierarchy import HierarchySpec

    _field(parser, "--reconcile", HierarchySpec, "reconcile", "none (each segment alone), bottom_up, top_down, middle_out, ols, "
           "wls_struct, mint_shrink, or auto (the best all-level backtest score)",
           choices=["none", "bottom_up", "top_down", "middle_out", "ols", "wls_struct", "mint_shrink", "auto"])
    parser.add_argument("--levels", default=None, help='levels to forecast and reconcile, e.g. "region;region,product" (";" between '
                        'levels, "," inside one; the total and the bottom are always there; default: every combination of --segment-cols)')
    parser.add_argument("--middle-level", default=None, help="the level middle_out anchors on, e.g. region (default: none)")


def build_parser() -> argparse.ArgumentParser:
    from flows.parameters import (
        CleanupParameters,
        ComparisonParameters,
        MonitorParameters,
        RunPolicy,
    )
    from forecasting.contract import DataSpec
    from forecasting.mlops.config import RegistryConfig, TrackingConfig
    from forecasting.ops.comparison import ComparisonPolicy
    from forecasting.serving.config import DeployConfig

    parser = argparse.ArgumentParser(prog="forecast-flows", description="Forecast every segment of a finance table, from a laptop to Prefect.")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    forecast = sub.add_parser("forecast", help="validate, backtest, select and forecast every segment (no server needed)")
    add_data_args(forecast)
    forecast.add_argument("--output", required=True, help="output table: .csv, .parquet, or .xlsx (a workbook that audits itself: summary with "
                          "live totals, one sheet per segment, components, bridge and audit sheets; needs the excel extra), or a forecast "
                          "table: a database URL with --output-table, or databricks://catalog.schema.table")
    add_output_table_args(forecast)
    forecast.add_argument("--leaderboard", default=None, help="also write the full leaderboard here")
    forecast.add_argument("--components", action="store_true", help="add the champion's additive components (component_trend, component_season, "
                          "..., adding up to yhat) to the output, and print each segment's bridge from the same periods last year")
    forecast.add_argument("--workers", type=int, default=None,
                          help="segments fitted at once, in worker processes (default: the cores this machine lets us use)")
    add_hierarchy_args(forecast)
    _debug(forecast)

    check = sub.add_parser("validate", help="validate every segment, no training: where every input row went, every value changed")
    add_data_args(check)
    check.add_argument("--report", default=None, help="also write the report as JSON here")
    _debug(check)

    train = sub.add_parser("train", help="run the forecast-training flow: train, register, smoke-test, promote, deploy")
    add_data_args(train)
    add_hierarchy_args(train)
    train.add_argument("--skip-deploy", action="store_true", default=None, help="stop after promoting the champions")
    _field(train, "--task-runner", RunPolicy, "task_runner", "processes, threads or dask", choices=["processes", "threads", "dask"])
    train.add_argument("--workers", "--max-workers", type=int, default=None, dest="workers",
                       help="segments trained at once (default: the cores this machine lets the run use)")
    train.add_argument("--dask-address", default=None, help="tcp://host:port of a Dask scheduler, with --task-runner dask (default: a local cluster)")
    train.add_argument("--result-storage", default=None, help="Prefect storage block for task results, e.g. s3-bucket/results (default: Prefect's "
                       "default result storage when set, else local, in the state directory; Dask workers on other machines need one)")
    _field(train, "--segments-per-task", RunPolicy, "segments_per_task", "segments per task run", type=int)
    _field(train, "--max-failed-fraction", RunPolicy, "max_failed_fraction", "fail the run when more segments than this fail", type=float)
    _field(train, "--experiment", TrackingConfig, "experiment", "MLflow experiment")
    _field(train, "--model-prefix", RegistryConfig, "model_prefix", "prefix of every registered model name")
    _field(train, "--target", DeployConfig, "target", "where the router is served", choices=["local", "databricks"])
    _field(train, "--catalog", RegistryConfig, "uc_catalog", "Unity Catalog catalog for the registered models (with --schema; registry databricks-uc)")
    _field(train, "--schema", RegistryConfig, "uc_schema", "Unity Catalog schema for the registered models")
    _field(train, "--endpoint", DeployConfig, "endpoint_name", "Databricks serving endpoint")
    _field(train, "--workload-size", DeployConfig, "workload_size", "Databricks endpoint size", choices=["Small", "Medium", "Large"])
    train.add_argument("--scale-to-zero", action=argparse.BooleanOptionalAction, default=None,
                       help=f"Databricks endpoint scales to zero when idle (default: {default_of(DeployConfig, 'scale_to_zero')})")
    _field(train, "--inference-table", DeployConfig, "inference_table", "catalog.schema.prefix: the Databricks endpoint logs every request "
                                                                         "and response there (AI Gateway inference table)")
    _field(train, "--databricks-profile", DeployConfig, "databricks_profile", "~/.databrickscfg profile")
    train.add_argument("--report", default=None, help="write the JSON run report here")
    add_output_table_args(train, output=True, credentials=True)
    _debug(train)

    serve = sub.add_parser("serve", help="the local serving endpoint (status, stop, rollback); Databricks endpoints (list, delete NAME)")
    serve.add_argument("action", choices=["status", "stop", "rollback", "list", "delete"])
    serve.add_argument("name", nargs="?", default=None, help="the Databricks endpoint to delete")
    serve.add_argument("--json", action="store_true")
    _field(serve, "--databricks-profile", DeployConfig, "databricks_profile", "~/.databrickscfg profile (list, delete)")
    _debug(serve)

    server = sub.add_parser("server", help="the local Prefect server the CLI starts for process/Dask runners and the demo")
    server.add_argument("action", choices=["start", "status", "stop"])
    server.add_argument("--database", default=None, help="start: sqlite (in the state directory), or a PostgreSQL URL "
                        "postgresql://user:password@host:5432/prefect for real load (default: sqlite)")
    _debug(server)

    predict = sub.add_parser("predict", help="ask the deployed endpoint for a segment's forecast")
    predict.add_argument("--segment", required=True, help='segment key or part of it, e.g. "region=EU"')
    predict.add_argument("--periods", type=int, default=14)
    predict.add_argument("--json", action="store_true")
    _debug(predict)

    health = sub.add_parser("health", help="check the Prefect API, MLflow tracking and registry, serving, Databricks auth")
    health.add_argument("--json", action="store_true")
    _field(health, "--target", DeployConfig, "target", "serving target", choices=["local", "databricks"])
    _field(health, "--databricks-profile", DeployConfig, "databricks_profile", "~/.databrickscfg profile")
    _field(health, "--endpoint-name", DeployConfig, "endpoint_name", "Databricks serving endpoint")
    _debug(health)

    smoke = sub.add_parser("smoke", help="smoke-test a registered model by exact version (models:/name/version)")
    smoke.add_argument("model_uri")
    smoke.add_argument("--router", action="store_true", help="the model is a multi-segment router")
    _debug(smoke)

    compare = sub.add_parser("compare-actuals", help="run the actuals-comparison flow: forecast vs actuals per segment, flag or retrain drifting ones")
    compare.add_argument("--actuals", required=True, help="actuals in the training data contract: CSV or Parquet, or a database URL "
                         "or databricks://catalog.schema.table with --query or --table")
    add_source_args(compare)
    add_forecasts_args(compare)
    _field(compare, "--time-col", DataSpec, "time_col", "time column")
    _field(compare, "--target-col", DataSpec, "target_col", "target column")
    compare.add_argument("--segment-cols", default=None, help="comma-separated segment columns")
    compare.add_argument("--delimiter", default="auto")
    _field(compare, "--band-metric", ComparisonPolicy, "band_metric", "metric the status band is read from", choices=["wape", "mape"])
    _field(compare, "--drift-threshold", ComparisonPolicy, "drift_threshold", "a period misses above this |error|/|actual|", type=float)
    _field(compare, "--consecutive-periods", ComparisonPolicy, "consecutive_periods", "misses in a row that make a drift", type=int)
    _field(compare, "--on-drift", ComparisonPolicy, "on_drift", "flag, or also retrain", choices=["flag", "retrain"])
    _field(compare, "--training-deployment", ComparisonParameters, "training_deployment", "deployment started for drifting segments")
    _field(compare, "--experiment", TrackingConfig, "experiment", "MLflow experiment")
    compare.add_argument("--llm-endpoint", default=None, help="Databricks chat endpoint for the summary (default: template)")
    compare.add_argument("--output", default=None, help="per-segment report: .csv, .parquet or .xlsx (a .md and .json land beside it)")
    _debug(compare)

    batch = sub.add_parser("predict-batch", help="run the batch-inference flow: every champion's next periods, one long table with lineage")
    batch.add_argument("--horizon", type=int, default=None, help="periods (default: each model's trained horizon)")
    batch.add_argument("--output", default=None, help=".csv, .parquet or .xlsx (default: in the state directory), or a forecast table: "
                       "a database URL with --output-table, or databricks://catalog.schema.table")
    add_output_table_args(batch, credentials=True)
    _field(batch, "--model-prefix", RegistryConfig, "model_prefix", "prefix of the registered models")
    _debug(batch)

    clean = sub.add_parser("cleanup", help="run the model-cleanup flow (dry run unless --apply)")
    _field(clean, "--keep", CleanupParameters, "keep", "newest versions kept per model; aliased versions are always kept", type=int)
    clean.add_argument("--apply", action="store_true", help="really delete (default: only show the plan)")
    _field(clean, "--model-prefix", RegistryConfig, "model_prefix", "prefix of the registered models")
    _debug(clean)

    monitor = sub.add_parser("monitor", help="run the endpoint-monitor flow: health and latency of the serving target")
    _field(monitor, "--target", DeployConfig, "target", "serving target", choices=["local", "databricks"])
    _field(monitor, "--endpoint-name", DeployConfig, "endpoint_name", "Databricks serving endpoint")
    _field(monitor, "--databricks-profile", DeployConfig, "databricks_profile", "~/.databrickscfg profile")
    _field(monitor, "--probes", MonitorParameters, "probes", "timed forecast requests", type=int)
    _field(monitor, "--max-latency-ms", MonitorParameters, "max_latency_ms", "p95 latency above this is unhealthy", type=float)
    _debug(monitor)

    demo = sub.add_parser("demo", help="run the main job on the bundled sample data")
    demo.add_argument("--output-dir", default="out", help="where the demo writes its files")
    _debug(demo)
    return parser


def given(**values) -> dict:
    """Only the options the user gave: ``None`` means "not given", so the model's default applies."""
    return {key: value for key, value in values.items() if value is not None}
