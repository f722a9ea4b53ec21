"""How the forecastability grade was chosen and checked: each series' features (forecasting.explain.
forecastability) against the champion's test sMAPE that the accuracy benchmark recorded for it
(benchmarks/results/accuracy*.json, per_series). No model is fitted here.

    .venv/bin/python -m benchmarks.forecastability

Chosen on M3 monthly (the relative-noise cuts are where the median champion sMAPE reaches 5, 10 and 20 %),
checked on Tourism monthly and M3 quarterly: the grades must order the error there too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.datasets import competition
from forecasting.explain.forecastability import NOISE_CUTS, assess

RESULTS = Path(__file__).resolve().parent / "results"
SETS = [("m3", "monthly", "accuracy.json", "m3-monthly", "chosen on"), ("tourism", "monthly", "accuracy-tourism.json", "tourism-monthly", "checked on"),
        ("m3", "quarterly", "accuracy.json", "m3-quarterly", "checked on")]


def features(collection: str, kind: str, results: str, name: str) -> pd.DataFrame:
    scored = {row["series"]: row for row in json.loads((RESULTS / results).read_text())["sets"][name]["per_series"]}
    rows = []
    for series in competition(collection, kind):
        row = scored.get(series.name)
        if row is None:
            continue
        grade = assess(series.train, series.season, series.frequency)
        rows.append({"series": series.name, "grade": grade.grade, "relative_noise": grade.relative_noise, "spectral_entropy": grade.spectral_entropy,
                     "seasonal_strength": grade.seasonal_strength, "trend_strength": grade.trend_strength, "periods": grade.periods,
                     "smape": row["smape"]["champion"]})
    return pd.DataFrame(rows)


def cuts_from(frame: pd.DataFrame, bands=(5, 10, 20), window: int = 151) -> list[float]:
    """The relative noise at which the running median sMAPE (over ``window`` series ordered by noise) reaches each band."""
    ordered = frame.sort_values("relative_noise")
    median = ordered["smape"].rolling(window, center=True, min_periods=window // 2).median().to_numpy()
    noise = ordered["relative_noise"].to_numpy()
    return [float(noise[np.argmax(median >= band)]) for band in bands]


def main() -> None:
    for collection, kind, results, name, role in SETS:
        frame = features(collection, kind, results, name)
        ranks = frame[["relative_noise", "spectral_entropy", "seasonal_strength", "trend_strength", "periods", "smape"]].corr(method="spearman")["smape"]
        print(f"{name} ({role}; {len(frame)} series): Spearman with the champion's sMAPE: "
              + ", ".join(f"{k} {v:+.2f}" for k, v in ranks.drop("smape").items()))
        if role == "chosen on":
            print(f"  relative noise where the median sMAPE reaches 5/10/20 %: {', '.join(f'{c:.4f}' for c in cuts_from(frame))} (used: {NOISE_CUTS})")
        by_grade = frame.groupby("grade")["smape"].agg(["count", "median"])
        print("  grade: " + "; ".join(f"{g} {int(r['count'])} series, median sMAPE {r['median']:.1f} %" for g, r in by_grade.iterrows())
              + f"; Spearman(grade, sMAPE) {frame['grade'].rank().corr(frame['smape'].rank()):.2f}")


if __name__ == "__main__":
    main()
