"""The short leaderboard the `forecast` command prints: one line per segment."""

from __future__ import annotations

import pandas as pd


def summary_lines(run, metric: str) -> list[str]:
    """A short leaderboard: one line per segment with its champion, the baseline and the honest holdout,
    then why that champion, the segment's forecastability and its notes."""
    from forecasting.selection import (
        BASELINE,  # here: exports must not import every model family
    )

    header = f"{'segment':40s} {'champion':15s} {metric:>8s} {BASELINE:>15s} {'gain':>7s}  holdout"
    notes = [f"note: {note}" for note in (run.report.notes if getattr(run, "report", None) is not None else [])]
    lines = [*notes, header, "-" * len(header)]
    for outcome in run.outcomes.values():
        if outcome.status == "skipped":
            lines.append(f"{outcome.segment[:40]:40s} SKIPPED         {outcome.reason[:90]}")
            continue
        if outcome.status != "trained":
            lines.append(f"{outcome.segment[:40]:40s} FAILED          {outcome.reason[:90]}")
            continue
        sel = outcome.selection
        board = sel.leaderboard.set_index("model")
        champ = board.loc[sel.champion, metric]
        base = board.loc[BASELINE, metric] if BASELINE in board.index else None
        gain = f"{(1 - champ / base):7.1%}" if _num(champ) and _num(base) and base else "      -"
        hold = sel.holdout
        holdout = f"{hold['model']} {hold.get(metric, float('nan')):.3f} vs {hold.get(f'{BASELINE}_{metric}', float('nan')):.3f}" if hold else "-"
        lines.append(f"{outcome.segment[:40]:40s} {sel.champion:15s} {_fmt(champ):>8s} {_fmt(base):>15s} {gain}  {holdout}")
        if sel.why:
            lines.append(f"  why: {sel.why}")
        if getattr(outcome, "forecastability", None) is not None:
            from forecasting.explain.forecastability import grade_line

            lines.append(f"  {grade_line(outcome.forecastability)}")
            if outcome.forecastability.note:
                lines.append(f"  note: {outcome.forecastability.note}")
        if sel.low_confidence:
            lines.append(f"  LOW CONFIDENCE: {sel.low_confidence}")
        for finding in outcome.report.warnings:
            lines.append(f"  warning: {finding.message}")
        for finding in outcome.report.infos:
            lines.append(f"  note: {finding.message}")
        for note in sel.notes:
            lines.append(f"  note: {note}")
    return lines


def _num(value) -> bool:
    return value is not None and not pd.isna(value)


def _fmt(value) -> str:
    return f"{value:.3f}" if _num(value) else "-"


def accounting_columns(accounting) -> dict:
    """A segment's row accounting as table columns (leaderboards, the Prefect validation artifact)."""
    return {"rows_read": accounting.rows_read, "rows_used": accounting.rows_used, "rows_dropped": accounting.rows_dropped,
            "rows_merged": accounting.rows_merged,
            "values_changed": "; ".join(f"{c.count} {c.column} {c.what}: {c.method}" for c in accounting.changes)[:1000],
            "drops": "; ".join(f"{d.rows} {d.reason} ({d.first} .. {d.last})" for d in accounting.drops)[:1000]}


def validation_lines(report) -> list[str]:
    """The `validate` command's report: every segment's status, span and findings, and where every input
    row went (read = used + dropped + merged), with every value the tool created or changed."""
    lines = [f"note: {note}" for note in report.notes]
    total = sum(seg.accounting.rows_read for seg in report.segments.values())
    ok = [k for k, seg in report.segments.items() if seg.ok and not seg.skipped]
    lines.append(f"{len(report.segments)} segment(s), {total} data row(s): {len(ok)} can be forecast, {len(report.failed)} cannot, "
                 f"{len(report.skipped)} skipped" + (f"; the data's last date is {report.last_date}" if report.last_date else ""))
    for key, seg in report.segments.items():
        status = "SKIPPED" if seg.ok and seg.skipped else "ok" if seg.ok else "CANNOT BE FORECAST"
        span = f" {seg.frequency} {seg.first} .. {seg.last}" if seg.first else ""
        lines.append(f"{key}: {status}{span}")
        lines.append(f"  rows: {seg.accounting.summary()}")
        for drop in seg.accounting.drops:
            lines.append(f"  dropped {drop.rows} row(s) {drop.reason} ({drop.first} .. {drop.last}){': ' + drop.detail if drop.detail else ''}")
        for change in seg.accounting.changes:
            where = f" (e.g. {', '.join(change.dates[:3])})" if change.dates else ""
            lines.append(f"  {change.what} {change.count} {change.column} value(s): {change.method}{where}")
        if seg.low_confidence:
            lines.append(f"  LOW CONFIDENCE: {seg.low_confidence}")
        for finding in seg.findings:
            lines.append(f"  {finding.level}: {finding.message}")
    return lines
