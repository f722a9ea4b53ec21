"""Artifacts shown in the Prefect UI: validation report, leaderboard, progress, summary, failures."""

from __future__ import annotations

import sys

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)

from forecasting.metrics import METRICS
from forecasting.ops.summary import training_summary
from forecasting.validation import ValidationReport


def table_artifact(rows: list[dict], key: str, description: str) -> None:
    if rows:
        create_table_artifact(table=rows, key=key, description=description)


def validation_artifact(report: ValidationReport) -> None:
    rows = [
        {"segment": key, "status": "ok" if seg.ok else "error", "rows": seg.rows, "frequency": seg.frequency or "",
         "first": seg.first or "", "last": seg.last or "", "errors": len(seg.errors), "warnings": len(seg.warnings),
         "findings": " | ".join(f.message for f in seg.findings)[:500]}
        for key, seg in report.segments.items()
    ]
    table_artifact(rows, "validation-report", "Validation report: one row per segment")


def leaderboard_artifact(trained) -> None:
    """Segment x model x metrics, champion marked, the seasonal naive baseline in the same table."""
    rows = []
    for seg in trained:
        for row in seg.leaderboard:
            rows.append({"segment": seg.segment, "model": row["model"], "champion": "★" if row["champion"] else "",
                         "status": row["status"], **{m: (None if row[m] is None or row[m] != row[m] else round(row[m], 4)) for m in METRICS},
                         "confidence": ("low: " + seg.low_confidence) if seg.low_confidence and row["champion"] else ""})
    table_artifact(rows, "leaderboard", "Backtest leaderboard per segment (★ = champion; naive and seasonal_naive are the baselines)")


def failures_artifact(rows: list[dict]) -> None:
    failed = [{"segment": r["segment"], "stage": r.get("stage", ""), "reason": str(r["reason"])[:500]} for r in rows if r["status"] == "failed"]
    table_artifact(failed, "failures", "Segments that failed, with the reason")


def notes_artifact(rows: list[dict]) -> None:
    """One row per note of a segment: a selection fallback ("X was ranked first but ... next candidate
    used"), a reused MLflow run, publishing left to the publish stage."""
    notes = [{"segment": r["segment"], "note": str(note)[:500]} for r in rows for note in r.get("notes") or []]
    table_artifact(notes, "segment-notes", "Notes per segment: selection fallbacks, reused runs, deferred publishing")


def summary_artifact(rows: list[dict], metric: str, links: dict[str, str], summary=None) -> str:
    """The training summary (template, or an LLM rewrite of it when ``summary.llm_endpoint`` is set)."""
    from forecasting.ops.llm_summary import executive_summary

    markdown, _ = executive_summary(training_summary(rows, metric, links), summary)
    create_markdown_artifact(markdown=markdown, key="training-summary", description="Executive summary of the training run")
    return markdown


class Progress:
    """A progress artifact updated as segments finish."""

    def __init__(self, total: int):
        self.total, self.done = max(total, 1), 0
        self.artifact_id = create_progress_artifact(progress=0.0, key="training-progress", description=f"Segments trained out of {total}")

    def advance(self, n: int) -> None:
        self.done += n
        share = self.done / self.total
        update_progress_artifact(self.artifact_id, progress=100.0 * share)
        bar = "#" * int(30 * share)
        sys.stderr.write(f"\rtraining [{bar:<30s}] {self.done}/{self.total} segments")
        sys.stderr.write("\n" if self.done >= self.total else "")
        sys.stderr.flush()


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
