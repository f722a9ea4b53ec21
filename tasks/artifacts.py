"""Artifacts shown in the Prefect UI: validation report, leaderboard, progress, summary, failures,
forecast charts (training and the actuals comparison), and the bridges from last year as waterfalls."""

from __future__ import annotations

import pandas as pd
from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from forecasting.metrics import METRICS
from forecasting.ops.charts import (
    CHARTS_PER_END,
    Chart,
    bridge_chart,
    bridge_line,
    bridge_steps,
    comparison_chart,
    ends,
    forecast_chart,
    index_markdown,
    rank_labels,
    run_total,
)
from forecasting.ops.summary import training_summary
from forecasting.reporting import accounting_columns
from forecasting.validation import ValidationReport


def table_artifact(rows: list[dict], key: str, description: str) -> None:
    if rows:
        create_table_artifact(table=rows, key=key, description=description)


def validation_artifact(report: ValidationReport) -> None:
    """One row per segment: its status, span and findings, and where every input row went (read = used +
    dropped + merged) with every value the tool created or changed."""
    rows = [
        {"segment": key, "status": "skipped" if seg.ok and seg.skipped else "ok" if seg.ok else "error", "rows": seg.rows,
         "frequency": seg.frequency or "", "first": seg.first or "", "last": seg.last or "", "errors": len(seg.errors),
         "warnings": len(seg.warnings), **accounting_columns(seg.accounting), "findings": " | ".join(f.message for f in seg.findings)[:500]}
        for key, seg in report.segments.items()
    ]
    notes = "; ".join(report.notes)
    table_artifact(rows, "validation-report", "Validation report: one row per segment" + (f" ({notes})" if notes else ""))


def leaderboard_artifact(trained) -> None:
    """Segment x model x metrics, champion marked, the seasonal naive baseline in the same table."""
    rows = []
    for seg in trained:
        for row in seg.leaderboard:
            rows.append({"segment": seg.segment, "model": row["model"], "champion": "★" if row["champion"] else "",
                         "status": row["status"], **{m: (None if row[m] is None or row[m] != row[m] else round(row[m], 4)) for m in METRICS},
                         "confidence": ("low: " + seg.low_confidence) if seg.low_confidence and row["champion"] else "",
                         "why": seg.why if row["champion"] else ""})
    table_artifact(rows, "leaderboard", "Backtest leaderboard per segment (★ = champion; naive and seasonal_naive are the baselines)")


def failures_artifact(rows: list[dict]) -> None:
    failed = [{"segment": r["segment"], "stage": r.get("stage", ""), "reason": str(r["reason"])[:500]} for r in rows if r["status"] == "failed"]
    table_artifact(failed, "failures", "Segments that failed, with the reason")


def notes_artifact(rows: list[dict]) -> None:
    """One row per note of a segment: a selection fallback ("X was ranked first but ... next candidate
    used"), a reused MLflow run, publishing left to the publish stage."""
    notes = [{"segment": r["segment"], "note": str(note)[:500]} for r in rows for note in r.get("notes") or []]
    table_artifact(notes, "segment-notes", "Notes per segment: selection fallbacks, reused runs, deferred publishing")


def summary_artifact(rows: list[dict], metric: str, links: dict[str, str], summary=None, changes: dict | None = None) -> str:
    """The training summary (template, or an LLM rewrite of it when ``summary.llm_endpoint`` is set),
    with what changed since the last forecast when ``changes`` is given."""
    from forecasting.ops.llm_summary import executive_summary

    markdown, _ = executive_summary(training_summary(rows, metric, links, changes=changes), summary)
    create_markdown_artifact(markdown=markdown, key="training-summary", description="Executive summary of the training run")
    return markdown


class Progress:
    """A progress artifact updated as segments finish (the flow logs one line per segment: no bar on
    stderr, which interleaved with the log lines)."""

    def __init__(self, total: int):
        self.total, self.done = max(total, 1), 0
        self.artifact_id = create_progress_artifact(progress=0.0, key="training-progress", description=f"Segments trained out of {total}")

    def advance(self, n: int) -> None:
        self.done += n
        update_progress_artifact(self.artifact_id, progress=100.0 * self.done / self.total)


def _ui_url() -> str | None:
    from prefect.settings import get_current_settings

    url = get_current_settings().ui_url
    return url.rstrip("/") if url else None


def _publish_charts(charts: list[Chart]) -> dict[str, str | None]:
    """One markdown artifact per chart. Returns each segment's artifact page (None without a UI URL)."""
    ui = _ui_url()
    pages = {}
    for chart in charts:
        artifact_id = create_markdown_artifact(markdown=chart.markdown, key=chart.key, description=chart.description)
        pages[chart.segment] = f"{ui}/artifacts/artifact/{artifact_id}" if ui and artifact_id else None
    return pages


def forecast_chart_artifacts(trained, metric: str, run_urls: dict[str, str | None], per_end: int = CHARTS_PER_END) -> list[str]:
    """Charts of the trained segments (the worst and best ``per_end`` by backtest score when there are
    more than twice that many) on the run's Artifacts tab, and an index listing every segment. Returns
    the charted segments, worst first."""
    by_segment = {t.segment: t for t in trained if t.forecast}
    worst, best = ends({key: t.metrics.get(metric) for key, t in by_segment.items()}, per_end)
    labels = rank_labels(worst, best, len(by_segment))
    charts = []
    for key in worst + best:
        t = by_segment[key]
        runner_up = pd.DataFrame(t.runner_up_forecast) if t.runner_up_forecast else None
        charts.append(forecast_chart(key, t.champion, metric, t.metrics.get(metric), t.baseline.get(metric),
                                     pd.DataFrame(t.history_tail, columns=["ds", "y"]), pd.DataFrame(t.forecast),
                                     t.runner_up, runner_up, run_urls.get(key), labels[key]))
    pages = _publish_charts(charts)
    if not by_segment:
        return []
    which = (f"the worst {len(worst)} and the best {len(best)} of {len(by_segment)} segments" if best
             else f"all {len(by_segment)} segments, worst first")
    intro = (f"Charts for {which} by backtest {metric.upper()} (history, the champion's forecast and interval, the "
             "runner-up dashed). Every segment:")
    rows = [[key, t.champion, _fmt(t.metrics.get(metric)), _fmt(t.baseline.get(metric)), t.runner_up or "",
             f"[MLflow]({run_urls[key]})" if run_urls.get(key) else ""] for key, t in sorted(by_segment.items())]
    markdown = index_markdown("Forecast charts", intro, ["segment", "champion", metric, "seasonal naive", "runner-up", "run"],
                              rows, pages, set(worst + best))
    create_markdown_artifact(markdown=markdown, key="forecast-charts", description=f"Forecast charts: {which}; the index lists every segment")
    return worst + best


def bridge_chart_artifacts(trained, metric: str, run_urls: dict[str, str | None], total_segment: str | None = None,
                           reconciled: bool = True, per_end: int = CHARTS_PER_END) -> list[str]:
    """Waterfalls of the bridge from last year on the run's Artifacts tab: for the worst segments (the
    forecast charts' choice, :func:`forecasting.ops.charts.ends`) and for the run's total (a hierarchy's
    total node ``total_segment``, ``reconciled`` or not, else the sum of the segments' bridges:
    :func:`forecasting.ops.charts.run_total`); and an index, ``bridges``, with every segment's bridge in
    one row. Returns the charted segments, worst first, then the total's title."""
    from forecasting.explain.bridge import Bridge

    by_segment = {t.segment: t for t in trained if t.forecast}
    if not by_segment:
        return []
    bridges = {key: t.bridge for key, t in by_segment.items() if t.bridge}
    worst, best = ends({key: t.metrics.get(metric) for key, t in by_segment.items()}, per_end)
    labels = rank_labels(worst, best, len(by_segment))
    charted = [key for key in worst if bridges.get(key, {}).get("periods")]
    charts = [bridge_chart(key, Bridge.from_record(bridges[key]), labels[key], run_urls.get(key)) for key in charted]
    title, total, how = run_total(bridges, total_segment, reconciled)
    if total is not None:
        charts.append(bridge_chart(title, total, how, run_urls.get(total_segment) if total_segment else None, key="bridge-total"))
        charted.append(title)
    pages = _publish_charts(charts)
    which = f"the worst {len(worst)} of {len(by_segment)} segments" if best else f"all {len(by_segment)} segments, worst first"
    intro = (f"The bridge from the same periods last year (actual) to the forecast, over the horizon's total: each component's "
             f"change between them. Waterfalls for {which} by backtest {metric.upper()} (the forecast charts' choice) and for the "
             f"total: {how}. Every segment:")
    rows = []
    for key in sorted(by_segment):
        record = bridges.get(key)
        if record and record["periods"]:
            bridge = Bridge.from_record(record)
            rows.append([key, bridge_line(bridge), bridge_steps(bridge), f"{bridge.first} .. {bridge.last}"])
        else:
            rows.append([key, "no bridge", (record or {}).get("note") or "the champion could not be explained (see its notes)", ""])
    if total is not None:
        rows.insert(0, [title, bridge_line(total), bridge_steps(total), f"{total.first} .. {total.last}"])
    markdown = index_markdown("Bridges from last year", intro, ["segment", "totals", "changes", "periods"], rows, pages, set(charted))
    create_markdown_artifact(markdown=markdown, key="bridges", description=f"Bridges from last year: waterfalls for {which} and the total")
    return charted


def _fmt(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def comparison_chart_artifacts(report, band_metric: str, per_end: int = CHARTS_PER_END) -> list[str]:
    """Forecast vs actuals charts of the compared segments (the worst and best ``per_end`` by the band
    metric when there are more); the comparison table artifact is their index. Returns the charted
    segments, worst first."""
    segments = report.segments
    if segments.empty:
        return []
    rows = segments.set_index("segment")
    worst, best = ends({key: (None if pd.isna(v) else float(v)) for key, v in rows[band_metric].items()}, per_end)
    labels = rank_labels(worst, best, len(rows))
    charts = [comparison_chart(key, str(rows.at[key, "family"]), str(rows.at[key, "version"]), band_metric,
                               None if pd.isna(rows.at[key, band_metric]) else float(rows.at[key, band_metric]),
                               str(rows.at[key, "status"]), report.periods[report.periods["segment"] == key], labels[key])
              for key in worst + best]
    _publish_charts(charts)
    return worst + best


def comparison_artifacts(report, markdown: str) -> None:
    """The per-segment comparison table and the executive summary."""
    rows = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()} for row in report.segments.to_dict("records")]
    table_artifact(rows, "actuals-comparison", "Forecast vs actuals per segment: MAPE, WAPE, bias, coverage, status band, drift")
    create_markdown_artifact(markdown=markdown, key="actuals-comparison-summary", description="Executive summary: forecast vs actuals")


def plan_artifact(plan: list[dict], dry_run: bool) -> None:
    table_artifact(plan, "model-cleanup", "Registry cleanup plan (dry run: nothing deleted)" if dry_run else "Registry cleanup: what was deleted")


def monitor_artifact(report) -> str:
    problems = report.problems
    state = "DOWN" if not report.ready else ("UNHEALTHY" if problems else "healthy")
    p50 = f"{report.p50_ms:.0f} ms" if report.p50_ms is not None else "n/a"
    p95 = f"{report.p95_ms:.0f} ms" if report.p95_ms is not None else "n/a"
    markdown = (f"# Endpoint monitor: {state}\n\n- target: {report.target} {report.url or ''}\n- serving: {report.model or '-'} v{report.version or '-'}\n"
                f"- probes: {len(report.latencies_ms)} ok, {len(report.errors)} failed; p50 {p50}, p95 {p95} (limit {report.max_latency_ms:.0f} ms)\n"
                + "".join(f"- **problem**: {p}\n" for p in problems))
    create_markdown_artifact(markdown=markdown, key="endpoint-monitor", description=f"Endpoint monitor: {state}")
    return markdown
