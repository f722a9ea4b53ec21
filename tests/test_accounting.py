"""Every input row accounted for, on random small tables: segments with gaps, duplicates, blank targets
and flags, numbers in finance formats, future rows and a training window. The report's counts reconcile
exactly with the input, and no value in the model input differs from the parsed input except those the
report lists."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.contract import DataSpec
from forecasting.validation import ValidationPolicy, validate
from forecasting.validation.numbers import ACCOUNTING_NEGATIVE, CURRENCY, GROUPED

HORIZON = 3


def written(value: float, style: int) -> str:
    """A number as a finance export might write it."""
    if style == 1:
        return f"{value:,.2f}"
    if style == 2:
        return f"({-value:,.2f})" if value < 0 else f"${value:,.2f}"
    return f"{value:.2f}"


@st.composite
def tables(draw):
    freq = draw(st.sampled_from(["D", "MS"]))
    segments = draw(st.integers(1, 3))
    rows, truth = [], {}
    for s in range(segments):
        n = draw(st.integers(12, 40))
        dates = pd.date_range("2024-01-01", periods=n, freq=freq)
        seg_rows = []
        for i, day in enumerate(dates):
            present = i in (0, n - 1) or draw(st.booleans()) or draw(st.booleans())  # ~75 % of periods have a row
            copies = (2 if draw(st.integers(0, 15)) == 0 else 1) if present else 0
            for _ in range(copies):
                value = round(1000 + 100 * np.sin(i) + draw(st.integers(-50, 50)) * (-1 if draw(st.integers(0, 30)) == 0 else 1), 2)
                if draw(st.integers(0, 12)) == 0 and 0 < i < n - 1:
                    cell = ""
                else:
                    cell = written(value if draw(st.integers(0, 20)) else -abs(value), draw(st.integers(0, 2)))
                promo = "" if draw(st.integers(0, 8)) == 0 else str(draw(st.integers(0, 1)))
                seg_rows.append({"seg": f"S{s}", "ds": day.strftime("%Y-%m-%d"), "y": cell, "promo": promo})
        future = draw(st.integers(0, 6))
        for day in pd.date_range(dates[-1], periods=future + 1, freq=freq)[1:]:
            seg_rows.append({"seg": f"S{s}", "ds": day.strftime("%Y-%m-%d"), "y": "", "promo": str(draw(st.integers(0, 1)))})
        rows += seg_rows
        truth[f"seg=S{s}"] = seg_rows
    order = draw(st.permutations(range(len(rows))))
    start = draw(st.sampled_from([None, "2024-01-03"]))
    duplicates = draw(st.sampled_from(["sum", "mean", "last"]))
    return pd.DataFrame([rows[i] for i in order]), truth, start, duplicates


def parse(cell: str) -> float:
    if cell == "":
        return float("nan")
    negative = cell.startswith("(")
    value = float(cell.strip("()$").replace(",", ""))
    return -value if negative else value


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(tables())
def test_every_row_is_accounted_for_and_nothing_changes_unreported(case):
    frame, truth, start, duplicates = case
    spec = DataSpec(segment_cols=["seg"], covariate_cols=["promo"], start=start)
    policy = ValidationPolicy(duplicates=duplicates, max_missing_fraction=0.6, incomplete_trailing="keep")
    report, prepared = validate(frame, spec, policy, HORIZON, 2)
    assert sum(seg.accounting.rows_read for seg in report.segments.values()) == len(frame)
    for key, seg_rows in truth.items():
        accounting = report.segments[key].accounting
        assert accounting.rows_read == len(seg_rows)
        assert accounting.rows_read == accounting.rows_used + accounting.rows_dropped + accounting.rows_merged
        cells = pd.Series([r["y"] for r in seg_rows])
        parsed = {form: sum(c.count for c in accounting.changes if c.column == "y" and c.what == "parsed" and c.method == form)
                  for form in (ACCOUNTING_NEGATIVE, CURRENCY, GROUPED)}
        assert parsed[ACCOUNTING_NEGATIVE] == cells.str.startswith("(").sum()
        assert parsed[CURRENCY] == cells.str.startswith("$").sum()
        assert parsed[GROUPED] == cells.str.contains(",").sum()
        if key not in prepared:
            assert accounting.rows_used == 0 and accounting.drops[-1].reason == "segment_not_forecast"
            continue
        segment = prepared[key]
        in_file = frame[frame["seg"] == key.removeprefix("seg=")]  # file order: "last" is the last row of the file
        inputs = in_file.assign(ds=lambda f: pd.to_datetime(f["ds"]), y=lambda f: f["y"].map(parse))
        if start:
            before = inputs["ds"] < pd.Timestamp(start)
            assert sum(d.rows for d in accounting.drops if d.reason == "before_start") == before.sum()
            inputs = inputs[~before]
        observed = inputs[inputs["y"].notna()]
        future_rows = inputs[inputs["ds"] > observed["ds"].max()]
        beyond = future_rows["ds"] > segment.future["ds"].iloc[-1]
        assert sum(d.rows for d in accounting.drops if d.reason == "beyond_horizon") == beyond.sum()
        history = segment.history.set_index("ds")
        per_period = inputs[inputs["ds"] <= history.index[-1]].groupby("ds")
        counts = per_period.size().reindex(history.index, fill_value=0)
        # merged: every extra row of a period, and the periods combined
        assert accounting.rows_merged == int((counts - 1).clip(lower=0).sum())
        combined = sum(c.count for c in accounting.changes if c.column == "y" and c.what == "merged")
        assert combined == int((counts > 1).sum())
        # filled: exactly the periods with no row or no value
        given_y = per_period["y"].count().reindex(history.index, fill_value=0)
        filled = sum(c.count for c in accounting.changes if c.column == "y" and c.what == "filled")
        assert filled == int((given_y == 0).sum())
        # a period with one row and a value reaches the model unchanged; a combined one as the policy says
        single = counts.index[(counts == 1) & (given_y == 1)]
        np.testing.assert_allclose(history.loc[single, "y"], per_period["y"].first().reindex(single), rtol=0, atol=1e-9)
        many = counts.index[(counts > 1) & (given_y > 0)]
        how = {"sum": "sum", "mean": "mean", "last": "last"}[duplicates]
        np.testing.assert_allclose(history.loc[many, "y"], per_period["y"].agg(how).reindex(many), rtol=1e-12, atol=1e-9)
        # the flag: blank or absent periods are filled (0) and counted, the others unchanged
        promo = inputs.assign(promo=pd.to_numeric(inputs["promo"], errors="coerce"))
        promo_given = promo[promo["ds"] <= history.index[-1]].groupby("ds")["promo"].count().reindex(history.index, fill_value=0)
        promo_filled = sum(c.count for c in accounting.changes if c.column == "promo" and c.what == "filled" and c.method.startswith("history"))
        assert promo_filled == int((promo_given == 0).sum())
        assert set(history["promo"].unique()) <= {0.0, 1.0} or duplicates != "last"
