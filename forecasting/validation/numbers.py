"""Numbers as finance exports write them: ``1,234.50``, ``$1,234``, ``(1,234)`` for a negative, ``12.5%``,
``1.234,50`` with a decimal comma, ``EUR 1 234``. What is still not a number stays NaN and is reported
by the caller with its rows."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

MISSING_MARKERS = {"", "nan", "na", "n/a", "null", "none", "#n/a"}
ZERO_MARKERS = {"-", "--", "–", "—"}  # how accounting formats show a zero
_CURRENCY = r"(?:[$€£¥₹₩₽₺₪]|[A-Z]{3}\b)"
_EDGE_CURRENCY = re.compile(rf"^\s*{_CURRENCY}\s*|\s*{_CURRENCY}\s*$")
_SPACES = "\u00a0\u202f\u2009 "
# Thousands groups: 1,234,567.89 (decimal point) or 1.234.567,89 (decimal comma); spaces and
# apostrophes group in both conventions.
_POINT = re.compile(r"^\d{1,3}(?:[, '\u00a0\u202f\u2009]\d{3})*(?:\.\d*)?$|^\d+(?:\.\d*)?$|^\.\d+$")
_COMMA = re.compile(r"^\d{1,3}(?:[. '\u00a0\u202f\u2009]\d{3})*(?:,\d*)?$|^\d+(?:,\d*)?$|^,\d+$")
_SCIENTIFIC = re.compile(r"^\d+(?:\.\d*)?[eE][+-]?\d+$")


def parse_number(text: str, decimal: str = ".") -> float:
    """One cell: a float, NaN when it is a missing marker, None when it is not a number."""
    s = text.strip()
    if s.lower() in MISSING_MARKERS:
        return float("nan")
    if _EDGE_CURRENCY.sub("", s).strip() in ZERO_MARKERS:
        return 0.0
    negative = False
    if s.startswith("(") and s.endswith(")"):  # accounting negative
        negative, s = True, s[1:-1].strip()
    s = s.replace("\u2212", "-")  # the unicode minus sign
    if s.startswith("-"):
        negative, s = not negative, s[1:].strip()
    s = _EDGE_CURRENCY.sub("", s)
    if s.startswith("-"):  # $-1,234
        negative, s = not negative, s[1:].strip()
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
    if s.startswith("+"):
        s = s[1:]
    if decimal == "." and _SCIENTIFIC.match(s):
        value = float(s)
    elif decimal == "." and _POINT.match(s):
        value = float(re.sub(f"[,'{_SPACES}]", "", s) or "nan")
    elif decimal == "," and _COMMA.match(s):
        value = float(re.sub(f"[.'{_SPACES}]", "", s).replace(",", ".") or "nan")
    else:
        return None
    value = -value if negative else value
    return value / 100 if percent else value


def parse_numbers(raw: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    """Every cell of a column as a float. Returns (values, not_a_number): blanks and missing markers
    are NaN and not flagged; cells that are no number in any of the accepted forms are NaN and flagged.

    Plain numbers take the fast path (``pd.to_numeric``); only the rest is read cell by cell, and with
    a decimal comma every text cell is (``1.234`` then means one thousand two hundred thirty-four)."""
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        values = raw.astype(float)
        return values, pd.Series(False, index=raw.index)
    values = pd.to_numeric(raw, errors="coerce").astype(float) if decimal == "." else pd.Series(np.nan, index=raw.index)
    text = raw.astype("string")
    todo = values.isna() & text.notna()
    if decimal == ",":
        numeric = raw.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        values[numeric] = raw[numeric].astype(float)
        todo &= ~numeric
    bad = pd.Series(False, index=raw.index)
    for index, cell in text[todo].items():
        parsed = parse_number(str(cell), decimal)
        if parsed is None:
            bad[index] = True
        else:
            values[index] = parsed
    return values, bad
