"""`forecast --reconcile METHOD`: every level of the segment columns forecast and reconciled."""

from __future__ import annotations

import sys
import time

from flows.cli.exits import EXIT_OK


def hierarchy_spec(args):
    from flows.cli.parser import given
    from forecasting.hierarchy import HierarchySpec

    return HierarchySpec.model_validate(given(reconcile=args.reconcile, levels=args.levels, middle_level=args.middle_level))


def cmd_forecast_hierarchy(args, job, source, output_table=None) -> int:
    """Validate the bottom segments, train every node, reconcile, write one table with every node (a file,
    or a vintage of the forecast table ``output_table``: levels in ``hierarchy_level``, the base
    forecast in ``yhat_base``)."""
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
    frame, data = load_data(source, job.data, args.delimiter, args.sheet, args.covariates_file)
    job = job.model_copy(update={"data": data})
    started = time.perf_counter()
    result = run_hierarchy_forecast(frame, job, spec, workers=args.workers or usable_cores(), progress=ProgressBar("forecast"))
    for line in [*summary_lines(result.run, job.backtest.metric), *hierarchy_summary_lines(result)]:
        print(line)
    for key in result.stopped:
        print(f"warning: segment {key!r} stopped before the others' last period: not forecast (it adds to the aggregates' history)", file=sys.stderr)
    table = hierarchy_forecast_frame(result, job.data.segment_cols)
    levels = reconciliation_frame(result)
    if output_table is not None:
        written = write_hierarchy_vintage(output_table, result, table, job, source)
    else:
        export_hierarchy(table, args.output, levels)
        written = args.output
    if args.leaderboard:
        write_table(hierarchy_leaderboard(result, job.data.segment_cols), args.leaderboard)
        write_table(levels, reconciliation_path(args.leaderboard))
    print(f"wrote {len(table)} rows for {len(result.hierarchy.nodes)} node(s) in {len(result.hierarchy.levels)} level(s) to {written} "
          f"in {time.perf_counter() - started:.1f}s")
    return EXIT_OK


def write_hierarchy_vintage(output_table, result, table, job, source) -> str:
    """Every node's reconciled forecast as one vintage of the forecast table (a fresh run id)."""
    from forecasting.forecast_table import new_run_id
    from forecasting.forecast_table.schema import Lineage, interval_percent, vintage_frame
    from forecasting.pipeline import key_column

    run_id = new_run_id()
    lineage = Lineage(run_id=run_id, origin="forecast", source=source.describe(), interval_level=interval_percent(job.models.level))
    as_of = {o.segment: o.report.last for o in result.run.trained}
    output_table.write(vintage_frame(table, lineage, job.data.segment_cols, key_column(job.data.segment_cols), as_of=as_of))
    return f"{output_table.where} (run_id {run_id})"
