"""Numbers as finance exports write them: ``1,234.50``, ``$1,234``, ``(1,234)`` for a negative, ``12.5%``,
``1.234,50`` with a decimal comma, ``EUR 1 234``. What is still not a number stays NaN and is reported
by the caller with its rows; so is a cell with two signs (``(-5)``, ``--5``): which one was meant is a
guess we do not make. Every cell that needed more than a plain number parse is counted by the form it
was written in, so the report can say what was read how."""

from __future__ import annotations

import re
from collections import Counter

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
_MINUS = "-\u2212"  # the ASCII hyphen-minus and the unicode minus sign

# The forms a cell was read in (the report lists each with its count).
ZERO_MARKER = "accounting zero ('-') read as 0"
ACCOUNTING_NEGATIVE = "accounting negative '(…)'"
CURRENCY = "currency symbol or code removed"
GROUPED = "thousands separators removed"
PERCENT = "percentage divided by 100"
DECIMAL_COMMA = "decimal comma"


def parse_number(text: str, decimal: str = ".", forms: list[str] | None = None) -> float | None:
    """One cell: a float, NaN when it is a missing marker, None when it is not a number (two signs
    included). ``forms``, when given, receives the forms the cell was written in (see the constants)."""
    forms = [] if forms is None else forms
    s = text.strip()
    if s.lower() in MISSING_MARKERS:
        return float("nan")
    if _EDGE_CURRENCY.sub("", s).strip() in ZERO_MARKERS:
        forms.append(ZERO_MARKER)
        return 0.0
    signs = 0
    if s.startswith("(") and s.endswith(")"):  # accounting negative
        signs, s = 1, s[1:-1].strip()
        forms.append(ACCOUNTING_NEGATIVE)
    if s[:1] and s[0] in _MINUS:
        signs, s = signs + 1, s[1:].strip()
    stripped = _EDGE_CURRENCY.sub("", s)
    if stripped != s:
        forms.append(CURRENCY)
    s = stripped
    if s[:1] and s[0] in _MINUS:  # $-1,234
        signs, s = signs + 1, s[1:].strip()
    if s.startswith("+") and not signs:
        s = s[1:].strip()
    if signs > 1 or s[:1] in ("+", "(", *_MINUS):  # two signs: '--5', '(-5)', '-(5)', '+-5'
        return None
    percent = s.endswith("%")
    if percent:
        s = s[:-1].strip()
        forms.append(PERCENT)
    if decimal == "." and _SCIENTIFIC.match(s):
        value = float(s)
    elif decimal == "." and _POINT.match(s):
        plain = re.sub(f"[,'{_SPACES}]", "", s)
        if plain != s:
            forms.append(GROUPED)
        value = float(plain or "nan")
    elif decimal == "," and _COMMA.match(s):
        plain = re.sub(f"[.'{_SPACES}]", "", s)
        if plain != s:
            forms.append(GROUPED)
        if "," in plain:
            forms.append(DECIMAL_COMMA)
        value = float(plain.replace(",", ".") or "nan")
    else:
        return None
    value = -value if signs else value
    return value / 100 if percent else value


def parse_numbers(raw: pd.Series, decimal: str = ".", forms: Counter | None = None) -> tuple[pd.Series, pd.Series]:
    """Every cell of a column as a float. Returns (values, not_a_number): blanks and missing markers
    are NaN and not flagged; cells that are no number in any of the accepted forms are NaN and flagged.
    ``forms``, when given, counts the cells read in each non-plain form (thousands separators,
    currency, accounting negatives, percentages, accounting zeros, decimal commas).

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
        cell_forms: list[str] = []
        parsed = parse_number(str(cell), decimal, cell_forms)
        if parsed is None:
            bad[index] = True
        else:
            values[index] = parsed
            if forms is not None:
                forms.update(set(cell_forms))
    return values, bad
