"""Synthetic daily finance segments (trend, weekly and yearly seasonality, holidays, noise) for the
demo, tests and benchmarks. Deterministic for a given seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

REGIONS = ["EU", "US", "APAC", "LATAM", "MEA"]
PRODUCTS = ["Cards", "Loans", "Deposits", "Payments"]


def segment_series(dates: pd.DatetimeIndex, rng: np.random.Generator, level: float) -> np.ndarray:
    import holidays

    t = np.arange(len(dates), dtype=float)
    trend = level * (1 + rng.uniform(-0.1, 0.4) * t / 365.25)
    weekly = 1 + rng.uniform(0.05, 0.25) * np.where(dates.dayofweek >= 5, -1.0, 0.4)
    yearly = 1 + rng.uniform(0.03, 0.12) * np.sin(2 * np.pi * (dates.dayofyear + rng.uniform(0, 365)) / 365.25)
    days_off = holidays.country_holidays("US", years=range(dates[0].year, dates[-1].year + 1))
    holiday = np.where([d in days_off for d in dates.date], 1 - rng.uniform(0.2, 0.5), 1.0)
    noise = rng.normal(1.0, rng.uniform(0.02, 0.06), len(dates))
    return trend * weekly * yearly * holiday * noise


def finance_segments(n_segments: int = 3, days: int = 730, start: str = "2023-11-01", seed: int = 7) -> pd.DataFrame:
    """Long table with columns region, product, ds, y (one series per region x product)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range(start, periods=days, freq="D")
    combos = [(r, p) for p in PRODUCTS for r in REGIONS]
    if n_segments > len(combos):
        combos = [(f"{r}{i}", p) for i in range(n_segments // len(combos) + 1) for r, p in combos]
    frames = []
    for region, product in combos[:n_segments]:
        y = segment_series(dates, rng, level=rng.uniform(5e4, 5e5))
        frames.append(pd.DataFrame({"region": region, "product": product, "ds": dates, "y": np.round(y, 2)}))
    return pd.concat(frames, ignore_index=True)
