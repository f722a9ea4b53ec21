"""What logging one segment to MLflow costs: `python -m benchmarks.tracking [--segments 8] [--tracking-uri URI]`.

Trains N synthetic daily finance segments (`forecasting.synthetic`, 2 years, horizon 30) without MLflow,
then logs each one as the training task does (`forecasting.mlops.segment_run.record_segment`: the child
run, params, metrics, tables, forecast plot, the champion as a pyfunc model) into a fresh store, and
times every call. The first call (imports, the experiment, warm caches) is reported apart; the rest
give the median and the mean. Default store: SQLite in a temporary directory.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

FAST_MODELS = "ets,theta,arima,ces,xgboost,ensemble"  # the default set but Prophet: the same metrics table, less fitting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tracking", description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--models", default=FAST_MODELS)
    parser.add_argument("--tracking-uri", default=None, help="default: SQLite in a temporary directory")
    parser.add_argument("--plot", default=None, choices=["always", "never"], help="forecast.png in every run, or none (default: the setting's default)")
    args = parser.parse_args(argv)

    from forecasting.system.runtime import pin_native_threads

    pin_native_threads()
    os.environ["FORECAST_FLOWS_HOME"] = tempfile.mkdtemp(prefix="bench-tracking-")
    from forecasting.backtest import BacktestSpec
    from forecasting.contract import DataSpec
    from forecasting.mlops.config import TrackingConfig
    from forecasting.mlops.segment_run import record_segment
    from forecasting.mlops.tracking import start_training_run
    from forecasting.models import ModelSpec
    from forecasting.pipeline import ForecastJob, prepare, train_segment
    from forecasting.synthetic import finance_segments

    frame = finance_segments(args.segments, days=730)
    frame["ds"] = frame["ds"].dt.strftime("%Y-%m-%d")
    job = ForecastJob(data=DataSpec(segment_cols=["region", "product"]), models=ModelSpec(models=args.models.split(",")),
                      backtest=BacktestSpec(horizon=30))
    report, prepared = prepare(frame.astype(str), job)
    outcomes = [(prepared[key], train_segment(segment, report.segments[key], job)) for key, segment in prepared.items()]
    settings = {"experiment": "bench-tracking", "tracking_uri": args.tracking_uri}
    if args.plot and "forecast_plot" in TrackingConfig.model_fields:
        settings["forecast_plot"] = args.plot
    config = TrackingConfig(**settings)
    parent = start_training_run(config, {"benchmark": "tracking"})
    statements = count_sql_statements()
    seconds, queries, files = [], [], []
    for segment, outcome in outcomes:
        before, started = statements[0], time.perf_counter()
        record = record_segment(config, parent, segment, outcome.report, outcome.backtest, outcome.selection, 30, {"benchmark": "tracking"})
        seconds.append(time.perf_counter() - started)
        queries.append(statements[0] - before)
        files.append(len(_files(record.run_id)))
    rest = seconds[1:] or seconds
    print(f"{len(seconds)} segments logged to {config.resolved_tracking_uri()}")
    print("seconds per segment: " + ", ".join(f"{s:.3f}" for s in seconds))
    print(f"SQL statements per segment (after the first): {statistics.median(queries[1:] or queries):.0f}; artifact files in a segment's run: {files[-1]}")
    print(f"first {seconds[0]:.3f} s; the rest: median {statistics.median(rest):.3f} s, mean {statistics.mean(rest):.3f} s")
    return 0


def count_sql_statements() -> list[int]:
    """A counter of the SQL statements MLflow's store sends (round trips to the database)."""
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    counter = [0]

    @event.listens_for(Engine, "before_cursor_execute")
    def _count(*_):
        counter[0] += 1

    return counter


def _files(run_id: str) -> list[str]:
    """The run's own artifact files (the model is stored apart, as a logged model)."""
    from mlflow.tracking import MlflowClient

    return [a.path for a in MlflowClient().list_artifacts(run_id) if not a.is_dir]


if __name__ == "__main__":
    sys.exit(main())
