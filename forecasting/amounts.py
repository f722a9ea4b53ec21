"""Amounts as finance reads them, in charts, bridges, summaries and the CLI."""

from __future__ import annotations


def amount(value: float, sign: bool = False) -> str:
    """Whole numbers with thousands separators; three significant digits below 100 (a bridge of
    quarterly visitor nights in millions is not all zeros). ``sign``: always show it (a change)."""
    if abs(value) >= 100 or value == 0:
        return f"{value:+,.0f}" if sign else f"{value:,.0f}"
    return f"{value:+,.3g}" if sign else f"{value:,.3g}"
