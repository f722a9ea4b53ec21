"""Hierarchy benchmark: our reconciled forecasts (every node trained like a segment, ``--reconcile
auto``) beside hierarchicalforecast's own pipeline (statsforecast AutoETS base forecasts of every node,
MinTrace mint_shrink, normality intervals) on real grouped public data, in the same run.

Each set's last ``horizon`` periods are held out; everything is fitted on the rest. Reported per set:
all-level MASE (mean over every node) of ours and of the anchor, the total and the bottom level
reconciled vs our base forecasts, coverage of the reconciled 90 % intervals, each method's test MASE,
what auto would choose under each rule, and the wall time relative to forecasting the bottom
segments alone. The auto rule was chosen on ``prison`` and is confirmed on the others.

    python -m benchmarks.hierarchy [--sets visnights,prison,tourism_zones] [--models ...]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.hierarchy_data import DATASETS
from benchmarks.machine import environment
from forecasting.metrics import mase

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "hierarchy.json"
HORIZON, FOLDS, LEVEL, SEASON, FREQ = 8, 3, 0.9, 4, "QS-JAN"
# The default families less Prophet and XGBoost (minutes on 2 cores for 81 nodes, and rarely the
# champion on quarterly data): the statistical families and their ensemble, with the baselines.
MODELS = "ets,theta,arima,ces,ensemble"
TUNE_SET = "prison"


def split(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    dates = sorted(frame["ds"].unique())
    cut = dates[-HORIZON]
    return frame[frame["ds"] < cut].copy(), frame[frame["ds"] >= cut].copy()


def node_truth(frame: pd.DataFrame, hierarchy) -> tuple[np.ndarray, list[np.ndarray]]:
    """Every node's values (rows in hierarchy order) from a long bottom table, by summing through S."""
    from forecasting.contract import segment_keys

    cols = list(hierarchy.segment_cols)
    keyed = frame.assign(_key=segment_keys(frame, cols).to_numpy())
    wide = keyed.pivot_table(index="_key", columns="ds", values="y", aggfunc="sum").reindex(list(hierarchy.bottom)).fillna(0.0)
    return hierarchy.S @ wide.to_numpy(float), list(wide.columns)


def per_node_mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray) -> np.ndarray:
    return np.array([_value(mase(a, f, i, SEASON)) for a, f, i in zip(actual, forecast, insample)])


def _value(metric) -> float:
    return metric.value if metric.defined else np.nan


def coverage(actual, lower, upper) -> float:
    return float(np.mean((actual >= lower) & (actual <= upper)))


def ours(name: str, train: pd.DataFrame, test: pd.DataFrame, cols: list[str], levels: str | None, models: str, workers: int) -> dict:
    from forecasting.hierarchy import HierarchySpec, reconcile
    from forecasting.hierarchy.evidence import choose_method
    from forecasting.hierarchy.run import run_hierarchy_forecast
    from forecasting.pipeline import ForecastJob, run_forecast

    job = ForecastJob.model_validate({"data": {"segment_cols": cols}, "models": {"models": models, "level": LEVEL, "holidays_country": None},
                                      "backtest": {"horizon": HORIZON, "folds": FOLDS}})
    data = train.assign(ds=train["ds"].dt.strftime("%Y-%m-%d"))
    started = time.perf_counter()
    bottom_only = run_forecast(data, job, workers=workers)
    bottom_seconds = time.perf_counter() - started
    started = time.perf_counter()
    result = run_hierarchy_forecast(data, job, HierarchySpec(reconcile="auto", levels=levels), workers=workers)
    seconds = time.perf_counter() - started
    h = result.hierarchy
    truth, dates = node_truth(test, h)
    history, _ = node_truth(train, h)
    assert [pd.Timestamp(d) for d in dates] == list(result.dates), "test dates differ from the forecast's"
    insample = list(history)
    scores = {"base": per_node_mase(truth, result.base, insample), "reconciled": per_node_mase(truth, result.yhat, insample)}
    by_method = {}
    for method in result.evidence.scores:
        if method == "base":
            continue
        try:
            values, _ = reconcile(method, h, result.base, result.reconciliation.residuals)
        except Exception as exc:  # reported, not fatal: a method can fail on a set
            by_method[method] = f"failed: {exc}"
            continue
        by_method[method] = round(float(np.nanmean(per_node_mase(truth, values, insample))), 4)
    levels_out = {}
    for level in h.levels:
        index = [i for i, n in enumerate(h.nodes) if h.level_of[n] == level.name]
        levels_out[level.name] = {"nodes": len(index), "base": _mean(scores["base"][index]), "reconciled": _mean(scores["reconciled"][index])}
    scored = len(result.evidence.scored)
    rules = {rule: choose_method(result.evidence, scored, True, rule, h) for rule in ("nodes", "levels")}
    base_lower = np.vstack([result.run.outcomes[n].selection.forecast["yhat_lower"].to_numpy(float) for n in h.nodes])
    base_upper = np.vstack([result.run.outcomes[n].selection.forecast["yhat_upper"].to_numpy(float) for n in h.nodes])
    bottom = [i for i, n in enumerate(h.nodes) if n in h.bottom]
    return {
        "nodes": len(h.nodes), "bottom": len(h.bottom), "levels": [level.name for level in h.levels],
        "method": result.method, "why": result.why, "auto_by_rule": rules,
        "auto_by_rule_test_mase": {rule: by_method.get(m) for rule, m in rules.items()},
        "all_level_mase": _mean(scores["reconciled"]), "all_level_mase_base": _mean(scores["base"]),
        "total_mase": _mean(scores["reconciled"][:1]), "total_mase_base": _mean(scores["base"][:1]),
        "bottom_mase": _mean(scores["reconciled"][bottom]), "bottom_mase_base": _mean(scores["base"][bottom]),
        "by_level": levels_out, "test_mase_by_method": by_method,
        "backtest_all_level_by_method": {m: round(result.evidence.total(m), 4) for m in result.evidence.scores},
        "coverage_90": round(coverage(truth, result.lower, result.upper), 4),
        "coverage_90_base": round(coverage(truth, base_lower, base_upper), 4),
        "interval_method": result.reconciliation.interval_method,
        "coverage_90_calibrated": round(coverage(truth, *result.calibrated_bounds), 4),
        "coherence_max_gap": float(np.max(np.abs(result.yhat - h.S @ result.yhat[len(h.aggregates):]) / np.maximum(np.abs(h.S @ result.yhat[len(h.aggregates):]), 1))),
        "seconds": round(seconds, 1), "bottom_only_seconds": round(bottom_seconds, 1),
        "time_ratio_to_bottom_only": round(seconds / bottom_seconds, 2), "node_ratio": round(len(h.nodes) / len(h.bottom), 2),
        "steps_seconds": result.seconds, "bottom_only_segments": len(bottom_only.trained),
        # CPU seconds of every candidate's fits (measured in the workers): the cost without the machine's load
        "fit_cpu_seconds": round(_fit_cpu(result.run), 1), "bottom_only_fit_cpu_seconds": round(_fit_cpu(bottom_only), 1),
        "fit_cpu_ratio_to_bottom_only": round(_fit_cpu(result.run) / _fit_cpu(bottom_only), 2),
        "notes": result.notes,
    }


def anchor(train: pd.DataFrame, test: pd.DataFrame, cols: list[str], levels: list[list[str]]) -> dict:
    """hierarchicalforecast's own pipeline: aggregate, AutoETS on every node, MinTrace(mint_shrink) with
    in-sample residuals, normality intervals."""
    from hierarchicalforecast.core import HierarchicalReconciliation
    from hierarchicalforecast.methods import MinTrace
    from hierarchicalforecast.utils import aggregate
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS

    spec = [["_total", *level] for level in levels]
    started = time.perf_counter()
    Y_train, S_df, tags = aggregate(train.assign(_total="total"), spec)
    Y_test, _, _ = aggregate(test.assign(_total="total"), spec)
    sf = StatsForecast(models=[AutoETS(season_length=SEASON)], freq=FREQ, n_jobs=1)
    Y_hat = sf.forecast(df=Y_train, h=HORIZON, level=[90], fitted=True)
    fitted = sf.forecast_fitted_values()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rec = HierarchicalReconciliation([MinTrace(method="mint_shrink")]).reconcile(
            Y_hat_df=Y_hat, Y_df=fitted, S_df=S_df, tags=tags, level=[90], intervals_method="normality")
    seconds = time.perf_counter() - started
    column = next(c for c in rec.columns if c.startswith("AutoETS/") and "-lo-" not in c and "-hi-" not in c)
    ids = list(S_df["unique_id"])
    wide = lambda frame, col: frame.pivot(index="unique_id", columns="ds", values=col).reindex(ids).to_numpy(float)  # noqa: E731
    truth, history = wide(Y_test, "y"), [Y_train[Y_train["unique_id"] == i]["y"].to_numpy(float) for i in ids]
    scores = per_node_mase(truth, wide(rec, column), history)
    base = per_node_mase(truth, wide(rec, "AutoETS"), history)
    bottom = len(S_df.columns) - 1
    return {"nodes": len(ids), "all_level_mase": _mean(scores), "all_level_mase_base": _mean(base),
            "total_mase": _mean(scores[:1]), "bottom_mase": _mean(scores[-bottom:]),
            "coverage_90": round(coverage(truth, wide(rec, f"{column}-lo-90"), wide(rec, f"{column}-hi-90")), 4),
            "seconds": round(seconds, 1)}


def _fit_cpu(run) -> float:
    return float(sum(o.selection.leaderboard["fit_seconds"].sum() for o in run.trained))


def _mean(values) -> float:
    values = np.asarray(values, dtype=float)
    return round(float(np.nanmean(values)), 4) if values.size and not np.isnan(values).all() else None


def anchor_levels(cols: list[str], levels: str | None) -> list[list[str]]:
    from forecasting.hierarchy import parse_levels

    return [list(level.columns) for level in parse_levels(levels, cols)]


def main(argv: list[str] | None = None) -> int:
    from forecasting.system.runtime import usable_cores

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default=",".join(DATASETS))
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    workers = usable_cores()
    out = {"horizon": HORIZON, "folds": FOLDS, "level": LEVEL, "models": args.models, "tuned_on": TUNE_SET, "workers": workers,
           "machine": {"cores": workers, **environment(("hierarchicalforecast", "statsforecast", "numpy", "pandas"))}, "sets": {}}
    for name in args.sets.split(","):
        load, cols, levels = DATASETS[name]
        frame = load()
        frame["ds"] = pd.to_datetime(frame["ds"])
        train, test = split(frame)
        print(f"{name}: {frame.groupby(cols).ngroups} bottom series, {train['ds'].nunique()} periods to train, {HORIZON} held out", flush=True)
        mine = ours(name, train, test, cols, levels, args.models, workers)
        theirs = anchor(train, test, cols, anchor_levels(cols, levels))
        out["sets"][name] = {"ours": mine, "anchor": theirs}
        print(f"  ours  ({mine['method']}): all-level MASE {mine['all_level_mase']} (base {mine['all_level_mase_base']}), total "
              f"{mine['total_mase']} (base {mine['total_mase_base']}), bottom {mine['bottom_mase']} (base {mine['bottom_mase_base']}), "
              f"90% coverage {mine['coverage_90']} ({mine['interval_method']}; calibrated {mine['coverage_90_calibrated']}, base {mine['coverage_90_base']}), "
              f"{mine['seconds']}s = "
              f"{mine['time_ratio_to_bottom_only']}x the bottom-only run (fits' CPU {mine['fit_cpu_ratio_to_bottom_only']}x, nodes "
              f"{mine['node_ratio']}x)", flush=True)
        print(f"  anchor (AutoETS + mint_shrink): all-level MASE {theirs['all_level_mase']} (base {theirs['all_level_mase_base']}), total "
              f"{theirs['total_mase']}, bottom {theirs['bottom_mase']}, 90% coverage {theirs['coverage_90']}, {theirs['seconds']}s", flush=True)
        print(f"  test MASE by method: {mine['test_mase_by_method']}; auto by rule: {mine['auto_by_rule']}", flush=True)
        Path(args.output).write_text(json.dumps(out, indent=1, default=str))
    print(f"results: {Path(args.output).relative_to(ROOT) if Path(args.output).is_relative_to(ROOT) else args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
