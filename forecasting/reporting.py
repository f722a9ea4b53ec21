"""The short leaderboard the `forecast` command prints: one line per segment."""

from __future__ import annotations

import pandas as pd


def summary_lines(run, metric: str) -> list[str]:
    """A short leaderboard: one line per segment with its champion, the baseline and the honest holdout."""
    from forecasting.selection import (
        BASELINE,  # here: exports must not import every model family
    )

    header = f"{'segment':40s} {'champion':15s} {metric:>8s} {BASELINE:>15s} {'gain':>7s}  holdout"
    lines = [header, "-" * len(header)]
    for outcome in run.outcomes.values():
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
