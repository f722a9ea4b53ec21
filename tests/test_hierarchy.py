"""Forecasting a hierarchy of segments: levels and node keys, aggregate nodes built from the validated
bottom segments (every fill and range difference reported), reconciliation that always adds up, auto
that never looks ahead, the CLI on the bundled grouped sample, and each bad input as one line."""

from __future__ import annotations

import itertools
import pickle

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SAMPLE_SEGMENTS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from forecasting.contract import segment_key
from forecasting.hierarchy import AGGREGATED, HierarchySpec, build_hierarchy, parse_levels, reconcile
from forecasting.hierarchy.evidence import candidate_methods
from forecasting.pipeline import ForecastJob

GROUPED_SAMPLE = ROOT / "examples" / "data" / "tourism_zones.csv"
FAST = ["--models", "ets,theta", "--holidays", "none"]


def grouped_frame(regions=("EU", "US", "AS"), products=("a", "b", "c"), months=60, seed=0, start="2019-01-01") -> pd.DataFrame:
    """Monthly series per region x product with a yearly season, trend and noise, as CSV text cells."""
    rng = np.random.default_rng(seed)
    ds = pd.date_range(start, periods=months, freq="MS")
    parts = []
    for region in regions:
        for product in products:
            level = rng.uniform(50, 150)
            y = level * (1 + 0.2 * np.sin(2 * np.pi * ds.month / 12)) + rng.normal(0, 4, months) + np.arange(months) * 0.3
            parts.append(pd.DataFrame({"ds": ds.strftime("%Y-%m-%d"), "y": np.round(y, 3).astype(str), "region": region, "product": product}))
    return pd.concat(parts, ignore_index=True)


def job(horizon=6, folds=3, **models) -> ForecastJob:
    return ForecastJob.model_validate({"data": {"segment_cols": "region,product"},
                                       "models": {"models": ["ets", "theta"], "holidays_country": None, **models},
                                       "backtest": {"horizon": horizon, "folds": folds}})


def bottom_of(keys_values):
    return {segment_key(v): v for v in keys_values}


# ----------------------------------------------------------------------------------------------------- levels

def test_default_levels_are_every_combination_with_the_total_first_and_the_bottom_last():
    names = [level.name for level in parse_levels(None, ["region", "product"])]
    assert names == ["total", "region", "product", "region,product"]
    assert [level.name for level in parse_levels("region", ["region", "product"])] == ["total", "region", "region,product"]
    assert [level.name for level in parse_levels("product,region;total", ["region", "product"])] == ["total", "region,product"]


def test_node_keys_mark_the_aggregated_away_columns_and_never_equal_a_bottom_key():
    bottom = bottom_of({"region": r, "product": p} for r in ("EU", "US") for p in ("a", "b"))
    hierarchy = build_hierarchy(bottom, parse_levels(None, ["region", "product"]), ["region", "product"])
    assert hierarchy.nodes[0] == f"product={AGGREGATED}|region={AGGREGATED}"
    assert f"product={AGGREGATED}|region=EU" in hierarchy.nodes and f"product=a|region={AGGREGATED}" in hierarchy.nodes
    assert set(hierarchy.bottom) == set(bottom) and not set(hierarchy.aggregates) & set(bottom)
    assert hierarchy.children(f"product={AGGREGATED}|region=EU") == ["product=a|region=EU", "product=b|region=EU"]
    assert not hierarchy.strict  # a grouped structure: each bottom segment has a region and a product parent


def test_a_nested_column_does_not_repeat_its_level():
    bottom = bottom_of({"region": r, "city": c} for r, cities in (("N", "ab"), ("S", "cde")) for c in cities)
    hierarchy = build_hierarchy(bottom, parse_levels(None, ["region", "city"]), ["region", "city"])
    assert [level.name for level in hierarchy.levels] == ["total", "region", "region,city"]
    assert hierarchy.strict and "level 'city' has the same nodes as 'region,city'" in hierarchy.notes[0]


# ------------------------------------------------------------------------------------------ reconciliation

@st.composite
def hierarchies(draw):
    columns = ["c0", "c1", "c2"][: draw(st.integers(1, 3))]
    values = {col: [f"{col}v{i}" for i in range(draw(st.integers(2, 3)))] for col in columns}
    combos = [dict(zip(columns, combo)) for combo in itertools.product(*values.values())]
    chosen = draw(st.lists(st.sampled_from(range(len(combos))), min_size=2, max_size=len(combos), unique=True))
    nested = [";".join(",".join(columns[: j + 1]) for j in range(k)) for k in range(1, len(columns))]  # c0;c0,c1: a strict tree
    levels = draw(st.sampled_from([None, *nested]))
    return build_hierarchy(bottom_of(combos[i] for i in chosen), parse_levels(levels, columns), columns), draw(st.integers(0, 10_000))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hierarchies(), st.booleans())
def test_every_method_adds_up_at_every_date_and_node(drawn, non_negative):
    hierarchy, seed = drawn
    rng = np.random.default_rng(seed)
    bottom = rng.uniform(0, 100, (len(hierarchy.bottom), 5))
    base = hierarchy.S @ bottom * rng.uniform(0.7, 1.3, (len(hierarchy.nodes), 5)) - rng.uniform(0, 40, (len(hierarchy.nodes), 5))
    residuals = rng.normal(0, 5, (len(hierarchy.nodes), 12))
    inner = [level.name for level in hierarchy.levels[1:-1]]
    methods, _ = candidate_methods(hierarchy, inner[0] if inner else None)
    assert {"bottom_up", "ols", "wls_struct", "mint_shrink"} <= set(methods)
    for method in methods:
        values, frozen = reconcile(method, hierarchy, base, residuals, non_negative, inner[0] if inner else None)
        implied = hierarchy.S @ values[len(hierarchy.aggregates):]
        assert np.all(np.abs(values - implied) <= 1e-6 * np.maximum(np.abs(implied), 1)), method
        if non_negative:
            assert values.min() >= 0, method
        again = pickle.loads(pickle.dumps(frozen)).apply(base)
        assert np.allclose(again, values, rtol=1e-9, atol=1e-9), method


def test_linear_methods_freeze_a_projection_the_router_can_apply_alone():
    bottom = bottom_of({"region": r, "product": p} for r in ("EU", "US", "AS") for p in ("a", "b"))
    hierarchy = build_hierarchy(bottom, parse_levels(None, ["region", "product"]), ["region", "product"])
    rng = np.random.default_rng(1)
    base = rng.uniform(10, 20, (len(hierarchy.nodes), 4))
    for method in ("bottom_up", "ols", "wls_struct", "mint_shrink"):
        values, frozen = reconcile(method, hierarchy, base, rng.normal(0, 1, (len(hierarchy.nodes), 10)))
        assert frozen.P is not None and np.allclose(frozen.S @ frozen.P @ base, values)
        assert frozen.nodes == hierarchy.nodes
    assert np.allclose(reconcile("bottom_up", hierarchy, base)[0][len(hierarchy.aggregates):], base[len(hierarchy.aggregates):])


def test_top_down_on_grouped_levels_is_a_clear_error():
    from forecasting.hierarchy import ReconciliationError

    bottom = bottom_of({"region": r, "product": p} for r in ("EU", "US") for p in ("a", "b"))
    hierarchy = build_hierarchy(bottom, parse_levels(None, ["region", "product"]), ["region", "product"])
    with pytest.raises(ReconciliationError, match="top_down needs a strict hierarchy"):
        reconcile("top_down", hierarchy, np.ones((len(hierarchy.nodes), 3)))


# ------------------------------------------------------------------------------------------ aggregate nodes

def test_aggregates_are_the_sums_of_the_validated_segments_and_say_what_they_did():
    from forecasting.hierarchy.nodes import hierarchy_segments
    from forecasting.pipeline import prepare

    frame = grouped_frame(regions=("EU", "US"), products=("a", "b"), months=48)
    late = (frame["region"] == "US") & (frame["product"] == "b") & (frame["ds"] < "2020-01-01")
    gap = (frame["region"] == "EU") & (frame["product"] == "a") & (frame["ds"] == "2021-06-01")
    frame = frame[~late & ~gap]
    the_job = job()
    report, prepared = prepare(frame, the_job)
    hierarchy, nodes, stopped = hierarchy_segments(report, prepared, HierarchySpec(reconcile="auto"), ["region", "product"], 6, 3)
    assert not stopped and [segment.key for segment, _ in nodes] == list(hierarchy.nodes)
    segments = {segment.key: (segment, rep) for segment, rep in nodes}
    total, total_report = segments[hierarchy.nodes[0]]
    bottoms = [prepared[key].history.set_index("ds")["y"] for key in hierarchy.bottom]
    expected = pd.concat(bottoms, axis=1).fillna(0.0).sum(axis=1)  # the late product adds zero before its start
    assert np.allclose(total.history.set_index("ds")["y"].reindex(expected.index), expected)
    assert total.history["ds"].iloc[0] == pd.Timestamp("2019-01-01")
    messages = " ".join(f.message for f in total_report.findings)
    assert "start after 2019-01-01 and add zero before their first period (e.g. product=b|region=US from 2020-01-01)" in messages
    assert "1 period(s) include values validation filled in a segment (e.g. 2021-06-01" in messages
    filled_at = total.history.index[total.history["ds"] == pd.Timestamp("2021-06-01")][0]
    assert filled_at in total.filled  # never scored as if it were observed
    assert any(f.check == "missing" for f in report.segments["product=a|region=EU"].warnings)


def test_a_segment_that_stops_early_adds_zero_after_it_and_is_not_forecast():
    from forecasting.hierarchy.nodes import hierarchy_segments
    from forecasting.pipeline import prepare

    frame = grouped_frame(regions=("EU", "US"), products=("a", "b"), months=48)
    frame = frame[~((frame["region"] == "US") & (frame["product"] == "a") & (frame["ds"] >= "2022-01-01"))]
    report, prepared = prepare(frame, job())
    hierarchy, nodes, stopped = hierarchy_segments(report, prepared, HierarchySpec(reconcile="auto"), ["region", "product"], 6, 3)
    assert stopped == ["product=a|region=US"] and "product=a|region=US" not in hierarchy.nodes
    us = dict((s.key, r) for s, r in nodes)[f"product={AGGREGATED}|region=US"]
    assert any("stopped before 2022-12-01 and add zero after their last period" in f.message for f in us.findings)


# ------------------------------------------------------------------------------------------ the whole path

@pytest.fixture(scope="module")
def reconciled():
    from forecasting.hierarchy.run import run_hierarchy_forecast

    return run_hierarchy_forecast(grouped_frame(), job(folds=4), HierarchySpec(reconcile="auto"))


def test_the_run_forecasts_every_node_and_the_reconciled_forecasts_add_up(reconciled):
    from forecasting.hierarchy.output import hierarchy_forecast_frame, reconciliation_frame

    table = hierarchy_forecast_frame(reconciled, ["region", "product"])
    assert len(table) == 16 * 6 and list(table["level"].unique()) == ["total", "region", "product", "region,product"]
    assert table.loc[table["level"] == "total", ["region", "product"]].isna().all().all()
    wide = table.pivot(index="segment", columns="ds", values="yhat")
    bottom = table[table["level"] == "region,product"]
    for (level, col) in (("region", "region"), ("product", "product")):
        sums = bottom.groupby([col, "ds"])["yhat"].sum()
        nodes = table[table["level"] == level].set_index([col, "ds"])["yhat"]
        assert np.allclose(nodes.sort_index(), sums.sort_index(), rtol=1e-6)
    assert np.allclose(wide.loc[reconciled.hierarchy.nodes[0]], bottom.groupby("ds")["yhat"].sum(), rtol=1e-6)
    assert (table["yhat_lower"] <= table["yhat"]).all() and (table["yhat"] <= table["yhat_upper"]).all()
    assert (table["reconciliation"] == reconciled.method).all() and reconciled.method in reconciled.evidence.scores
    levels = reconciliation_frame(reconciled)
    assert list(levels["level"]) == ["total", "region", "product", "region,product", "all levels"]
    assert {"base", "bottom_up", "ols", "wls_struct", "mint_shrink"} <= set(levels.columns)


def test_the_frozen_reconciliation_reproduces_the_written_forecasts(reconciled):
    from forecasting.hierarchy.reconcile import normality_bounds

    frozen = pickle.loads(pickle.dumps(reconciled.reconciliation))
    assert np.allclose(frozen.apply(reconciled.base), reconciled.yhat)
    assert set(frozen.calibrations) == set(reconciled.hierarchy.nodes)
    assert frozen.interval_method == "normality"  # auto picks a MinT method or bottom_up on this data
    selections = [reconciled.run.outcomes[node].selection.forecast for node in reconciled.hierarchy.nodes]
    lower, upper = normality_bounds(frozen, reconciled.base, np.vstack([f["yhat_lower"] for f in selections]),
                                    np.vstack([f["yhat_upper"] for f in selections]), 0.9)
    assert np.allclose(np.minimum(lower, reconciled.yhat), reconciled.lower) and np.allclose(np.maximum(upper, reconciled.yhat), reconciled.upper)


def test_auto_never_looks_ahead(reconciled):
    """Data after a fold's cutoff, poisoned, changes no choice auto made at or before that fold; it does
    change that fold's scores (the test can fail)."""
    from forecasting.hierarchy.run import run_hierarchy_forecast

    evidence = reconciled.evidence
    assert len(evidence.cutoffs) == 4 and len(evidence.choices) == 5
    cutoff = evidence.cutoffs[-1]
    frame = grouped_frame()
    later = pd.to_datetime(frame["ds"]) > cutoff
    rng = np.random.default_rng(7)
    frame.loc[later, "y"] = (frame.loc[later, "y"].astype(float) * rng.uniform(1.5, 3.0, later.sum())).round(3).astype(str)
    poisoned = run_hierarchy_forecast(frame, job(folds=4), HierarchySpec(reconcile="auto")).evidence
    assert poisoned.cutoffs == evidence.cutoffs
    assert poisoned.choices[:4] == evidence.choices[:4]
    for method in evidence.scores:  # every scored fold before the poisoned one scores the same
        assert np.allclose(poisoned.scores[method][:-1], evidence.scores[method][:-1], equal_nan=True), method
    assert not np.allclose(poisoned.scores["base"][-1], evidence.scores["base"][-1])


# ------------------------------------------------------------------------------------------------- the CLI

def run_cli(args, capsys):
    from flows.cli import main

    code = main(args)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.timeout(120)
def test_reconcile_none_writes_todays_forecast_byte_for_byte(tmp_path, capsys):
    common = ["forecast", "--data", str(SAMPLE_SEGMENTS), "--segment-cols", "region,product", "--horizon", "14", "--folds", "2", *FAST,
              "--workers", "1"]
    code, _, err = run_cli([*common, "--output", str(tmp_path / "today.csv")], capsys)
    assert code == 0, err
    code, _, err = run_cli([*common, "--reconcile", "none", "--output", str(tmp_path / "none.csv")], capsys)
    assert code == 0, err
    assert (tmp_path / "none.csv").read_bytes() == (tmp_path / "today.csv").read_bytes()
    assert "level" not in (tmp_path / "none.csv").read_text().splitlines()[0]


@pytest.mark.timeout(300)
def test_the_grouped_sample_forecasts_every_level_reconciled_through_the_cli(tmp_path, capsys):
    out = tmp_path / "forecast.xlsx"
    board = tmp_path / "board.csv"
    code, stdout, err = run_cli(["forecast", "--data", str(GROUPED_SAMPLE), "--segment-cols", "state,zone", "--horizon", "8",
                                 "--reconcile", "auto", *FAST, "--output", str(out), "--leaderboard", str(board)], capsys)
    assert code == 0, err
    assert "(chosen by auto); why: " in stdout and "sums: every parent equals the sum of its children" in stdout
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == ["summary", "total", "state", "zone", "state,zone"]
    table = pd.concat(list(sheets.values())[1:], ignore_index=True)
    assert len(table) == 20 * 8 and table["reconciliation"].nunique() == 1
    bottom = table[table["level"] == "state,zone"]
    total = table[table["level"] == "total"].set_index("ds")["yhat"]
    assert np.allclose(total.sort_index(), bottom.groupby("ds")["yhat"].sum().sort_index(), rtol=1e-6)
    states = table[table["level"] == "state"].set_index(["state", "ds"])["yhat"].sort_index()
    assert np.allclose(states, bottom.groupby(["state", "ds"])["yhat"].sum().sort_index(), rtol=1e-6)
    assert set(sheets["summary"]["level"]) == {"total", "state", "zone", "state,zone", "all levels"}
    assert "level" in pd.read_csv(board).columns
    assert pd.read_csv(tmp_path / "board.reconciliation.csv")["used"].iloc[0] == table["reconciliation"].iloc[0]


def bad_grouped(tmp_path, change) -> str:
    frame = grouped_frame(regions=("EU", "US"), products=("a", "b"), months=36)
    frame = change(frame)
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    return str(path)


def _duplicate_row(frame):
    return pd.concat([frame, frame.iloc[[5]]], ignore_index=True)


def _negative(frame):
    frame.loc[7, "y"] = "-12.5"
    return frame


def _marker_value(frame):
    frame.loc[frame["product"] == "b", "product"] = AGGREGATED
    return frame


BAD = [
    ("level-not-a-segment-column", lambda f: f, ["--levels", "country;region"],
     "--levels names column 'country', which is not one of --segment-cols (region, product)"),
    ("duplicate-key", _duplicate_row, [],
     "segment 'product=a|region=EU': 2 rows share a timestamp (e.g. 2019-06-01"),
    ("negative-with-non-negative", _negative, ["--non-negative"],
     "segment 'product=a|region=EU': target has 1 negative value(s) (min -12.5); --non-negative keeps every node of the hierarchy >= 0"),
    ("value-is-the-marker", _marker_value, [],
     "segment column 'product' has the value '<all>', which names an aggregated-away column"),
    ("top-down-on-grouped-levels", lambda f: f, ["--reconcile", "top_down"], "top_down needs a strict hierarchy"),
    ("middle-out-without-a-middle-level", lambda f: f, ["--reconcile", "middle_out", "--levels", "region"],
     "middle_out needs --middle-level, one of the levels between the total and the bottom (region); got None"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", BAD, ids=[c[0] for c in BAD])
def test_bad_hierarchy_input_is_one_line_exit_2_and_nothing_written(case, tmp_path, capsys):
    _, change, args, needle = case
    out = tmp_path / "out.csv"
    argv = ["forecast", "--data", bad_grouped(tmp_path, change), "--segment-cols", "region,product", "--horizon", "6", *FAST,
            "--output", str(out)]
    if "--reconcile" not in args:
        argv += ["--reconcile", "auto"]
    code, _, err = run_cli([*argv, *args], capsys)
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], err
    assert "Traceback" not in err and not out.exists()
