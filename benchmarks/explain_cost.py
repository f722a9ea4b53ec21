"""What explaining each champion adds to a training: `python -m benchmarks.explain_cost [--segments 7] [--plot never|always]`.

The throughput benchmark's data (synthetic daily finance segments, `forecasting.synthetic`, 2 years, the
default model set with the ensemble, horizon 30). Per segment, in one process: training with the
explanation (components, the actuals' split, the bridge: `SegmentOutcome.explain_seconds` apart), then
logging the segment to MLflow (SQLite in a temporary directory) as the training task does, twice, side by
side: without the explanation and with it (`components.csv`, `bridge.csv`, the two tags and, with
`--plot always`, `waterfall.png`), in alternating order. The first segment (imports, warm caches) is left
out of the means. `--plot never` is what a run of more than 50 segments does (no PNG per segment).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.explain_cost", description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=7)
    parser.add_argument("--plot", default="never", choices=["always", "never"])
    args = parser.parse_args(argv)

    from forecasting.system.runtime import pin_native_threads

    pin_native_threads()
    os.environ["FORECAST_FLOWS_HOME"] = tempfile.mkdtemp(prefix="bench-explain-")
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        os.environ.pop(name, None)
    from forecasting.mlops.config import TrackingConfig
    from forecasting.mlops.segment_run import record_segment
    from forecasting.mlops.tracking import start_training_run
    from forecasting.pipeline import ForecastJob, prepare, train_segment
    from forecasting.synthetic import finance_segments
    from tasks.train import explanation_tags

    frame = finance_segments(args.segments)
    job = ForecastJob.model_validate({"data": {"segment_cols": [c for c in frame.columns if c not in ("ds", "y")]}, "backtest": {"horizon": 30}})
    report, prepared = prepare(frame, job)
    config = TrackingConfig(experiment="explain-cost").resolved().model_copy(update={"forecast_plot": args.plot})
    parent = start_training_run(config, {"benchmark": "explain_cost"})
    rows = []
    for i, (key, segment) in enumerate(prepared.items()):
        started = time.perf_counter()
        outcome = train_segment(segment, report.segments[key], job, explain=True)
        train = time.perf_counter() - started - outcome.explain_seconds
        logged = {}
        for explained in ((False, True) if i % 2 == 0 else (True, False)):
            started = time.perf_counter()
            record_segment(config, parent, segment, report.segments[key], outcome.backtest, outcome.selection, len(segment.future),
                           {"champion_reason": outcome.selection.why[:4000], **(explanation_tags(outcome.explanation) if explained else {})},
                           outcome.explanation if explained else None)
            logged[explained] = time.perf_counter() - started
        rows.append((train, outcome.explain_seconds, logged[False], logged[True]))
        print(f"{key}: champion {outcome.selection.champion}, train {train:.2f}s, explain {outcome.explain_seconds:.3f}s, "
              f"log {logged[False]:.3f}s -> {logged[True]:.3f}s with the explanation", flush=True)
    train, explain, plain, explained = (statistics.mean(column) for column in zip(*rows[1:]))
    extra = explain + explained - plain
    print(f"--plot {args.plot}, segments 2..{len(rows)}: train {train:.2f}s, explain {explain:.3f}s, logging {plain:.3f}s -> {explained:.3f}s; "
          f"extra per segment {extra:.3f}s = {extra / (train + plain):.1%} of training and logging")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
