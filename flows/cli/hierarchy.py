"""`forecast --reconcile METHOD`: every level of the segment columns forecast and reconciled."""

from __future__ import annotations

import sys
import time

from flows.cli.exits import EXIT_OK


def hierarchy_spec(args):
    from flows.cli.parser import given
    from forecasting.hierarchy import HierarchySpec

    return HierarchySpec.model_validate(given(reconcile=args.reconcile, levels=args.levels, middle_level=args.middle_level))


def cmd_forecast_hierarchy(args, job) -> int:
    """Validate the bottom segments, train every node, reconcile, write one table with every node."""
    from flows.cli.progress import ProgressBar
    from forecasting.hierarchy import parse_levels
    from forecasting.hierarchy.output import (
        hierarchy_forecast_frame,
        hierarchy_leaderboard,
        hierarchy_summary_lines,
        reconciliation_frame,
    )
    from forecasting.hierarchy.run import run_hierarchy_forecast
    from forecasting.intake import load_data
    from forecasting.ops.hierarchy_export import export_hierarchy, reconciliation_path
    from forecasting.reporting import summary_lines
    from forecasting.system.runtime import usable_cores
    from forecasting.tables import write_table

    spec = hierarchy_spec(args)
    parse_levels(spec.levels, job.data.segment_cols)  # a bad --levels fails before the data is read
    frame, data = load_data(args.data, job.data, args.delimiter, args.sheet, args.covariates_file)
    job = job.model_copy(update={"data": data})
    started = time.perf_counter()
    result = run_hierarchy_forecast(frame, job, spec, workers=args.workers or usable_cores(), progress=ProgressBar("forecast"))
    for line in [*summary_lines(result.run, job.backtest.metric), *hierarchy_summary_lines(result)]:
        print(line)
    for key in result.stopped:
        print(f"warning: segment {key!r} stopped before the others' last period: not forecast (it adds to the aggregates' history)", file=sys.stderr)
    table = hierarchy_forecast_frame(result, job.data.segment_cols)
    levels = reconciliation_frame(result)
    export_hierarchy(table, args.output, levels)
    if args.leaderboard:
        write_table(hierarchy_leaderboard(result, job.data.segment_cols), args.leaderboard)
        write_table(levels, reconciliation_path(args.leaderboard))
    print(f"wrote {len(table)} rows for {len(result.hierarchy.nodes)} node(s) in {len(result.hierarchy.levels)} level(s) to {args.output} "
          f"in {time.perf_counter() - started:.1f}s")
    return EXIT_OK
