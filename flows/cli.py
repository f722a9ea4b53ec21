"""The ``forecast-flows`` command line.

Errors a user can cause print one line and exit non-zero (2: nothing could run; 1: some segments
failed, the rest were written). ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from forecasting.runtime import pin_native_threads

PACKAGE_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DATA = PACKAGE_ROOT / "examples" / "data" / "finance_segments.csv"

EXIT_OK, EXIT_SEGMENTS_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", required=True, help="CSV or Parquet long table")
    parser.add_argument("--time-col", default="ds")
    parser.add_argument("--target-col", default="y")
    parser.add_argument("--segment-cols", default="", help="comma-separated segment columns")
    parser.add_argument("--covariates", default="", help="comma-separated covariate columns")
    parser.add_argument("--frequency", default="auto", help="auto, D, B, W-MON, MS, ME, QS-JAN, QE-DEC, ...")
    parser.add_argument("--delimiter", default="auto", help="CSV delimiter (auto-detected among , ; tab |)")
    parser.add_argument("--horizon", type=int, default=30, help="periods to forecast")
    parser.add_argument("--folds", type=int, default=3, help="rolling-origin backtest folds")
    parser.add_argument("--models", default=None, help="comma-separated families (default: all)")
    parser.add_argument("--metric", default="mase", help="selection metric: mase, smape, wape, mape, rmse")
    parser.add_argument("--level", type=float, default=0.9, help="prediction interval level")
    parser.add_argument("--holidays", default="US", help="holiday country code, or none")
    parser.add_argument("--duplicates", default="error", help="error, sum, mean or last")
    parser.add_argument("--fill-missing", default="interpolate", help="error, interpolate, zero or ffill")
    parser.add_argument("--transform", default="none", help="none or log")
    parser.add_argument("--non-negative", action="store_true", help="clip forecasts at zero")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forecast-flows", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    forecast = sub.add_parser("forecast", help="validate, backtest, select and forecast every segment (no server needed)")
    _add_data_args(forecast)
    forecast.add_argument("--output", required=True, help="output table (.csv or .parquet)")
    forecast.add_argument("--leaderboard", default=None, help="also write the full leaderboard here")
    forecast.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    smoke = sub.add_parser("smoke", help="smoke-test a registered model by exact version (models:/name/version)")
    smoke.add_argument("model_uri")
    smoke.add_argument("--router", action="store_true", help="the model is a multi-segment router")
    smoke.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)

    demo = sub.add_parser("demo", help="run the main job on the bundled sample data")
    demo.add_argument("--output-dir", default="out", help="where the demo writes its files")
    demo.add_argument("--debug", action="store_true", default=argparse.SUPPRESS)
    return parser


def job_from_args(args):
    from forecasting.pipeline import ForecastJob

    models = {"level": args.level, "holidays_country": args.holidays, "transform": args.transform, "non_negative": args.non_negative}
    if args.models:
        models["models"] = args.models
    return ForecastJob.model_validate(
        {
            "data": {
                "time_col": args.time_col,
                "target_col": args.target_col,
                "segment_cols": args.segment_cols,
                "covariate_cols": args.covariates,
                "frequency": args.frequency,
            },
            "validation": {"duplicates": args.duplicates, "fill_missing": args.fill_missing},
            "models": models,
            "backtest": {"horizon": args.horizon, "folds": args.folds, "metric": args.metric},
        }
    )


def cmd_forecast(args) -> int:
    from forecasting.contract import read_table
    from forecasting.pipeline import forecast_frame, leaderboard_frame, run_forecast
    from forecasting.reporting import summary_lines, write_table

    job = job_from_args(args)
    frame = read_table(args.data, args.delimiter)
    started = time.perf_counter()
    run = run_forecast(frame, job)
    for line in summary_lines(run, job.backtest.metric):
        print(line)
    for outcome in run.failed:
        print(f"error: segment {outcome.segment!r}: {outcome.reason}", file=sys.stderr)
    if not run.trained:
        print("error: no segment could be trained; nothing written", file=sys.stderr)
        return EXIT_BAD_INPUT
    table = forecast_frame(run, job.data.segment_cols)
    write_table(table, args.output)
    if args.leaderboard:
        write_table(leaderboard_frame(run), args.leaderboard)
    print(f"wrote {len(table)} rows for {len(run.trained)} segment(s) to {args.output} in {time.perf_counter() - started:.1f}s")
    return EXIT_SEGMENTS_FAILED if run.failed else EXIT_OK


def cmd_demo(args) -> int:
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    print(f"demo: forecasting the bundled sample data {SAMPLE_DATA.relative_to(PACKAGE_ROOT)} (3 segments, 30 days)")
    demo_args = build_parser().parse_args(
        ["forecast", "--data", str(SAMPLE_DATA), "--segment-cols", "region,product", "--horizon", "30",
         "--output", str(out / "forecast.csv"), "--leaderboard", str(out / "leaderboard.csv")]
    )
    return cmd_forecast(demo_args)


def cmd_smoke(args) -> int:
    from forecasting.errors import ConfigError
    from forecasting.router import smoke_test_router
    from forecasting.smoke import smoke_test
    from forecasting.tracking import quiet_mlflow

    if not args.model_uri.startswith("models:/") or "@" in args.model_uri or args.model_uri.rstrip("/").endswith("latest"):
        raise ConfigError(f"smoke tests take an exact version, models:/name/version; got {args.model_uri!r}")
    quiet_mlflow()
    report = (smoke_test_router if args.router else smoke_test)(args.model_uri)
    print(report.summary())
    return EXIT_OK if report.passed else EXIT_SEGMENTS_FAILED


COMMANDS = {"forecast": cmd_forecast, "smoke": cmd_smoke, "demo": cmd_demo}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    pin_native_threads()
    try:
        return COMMANDS[args.command](args)
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def one_line(exc: Exception) -> str:
    """A user-facing one-line message, including for pydantic's multi-line validation errors."""
    from pydantic import ValidationError

    from forecasting.errors import ForecastingError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        return f"invalid setting {where}: {message} (got {first.get('input')!r})"
    if isinstance(exc, ForecastingError):
        return str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (rerun with --debug for the traceback)"


if __name__ == "__main__":
    sys.exit(main())
