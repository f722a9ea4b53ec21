"""The forecast plot of a segment: history, the last backtest fold, the forecast and its interval."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import (
    Figure,  # no pyplot: no global figure registry, safe in worker threads
)


def forecast_figure(segment: str, history: pd.DataFrame, holdout: pd.DataFrame | None, forecast: pd.DataFrame, champion: str, window: int = 365):
    """History (last ``window`` periods), champion's last backtest fold vs actuals, forecast with interval."""
    fig = Figure(figsize=(10, 4))
    # fixed margins instead of a tight bounding box: saving draws the figure once, not twice
    fig.subplots_adjust(left=0.07, right=0.98, top=0.92, bottom=0.16)
    ax = fig.add_subplot()
    recent = history.iloc[-window:]
    ax.plot(recent["ds"], recent["y"], color="#333333", linewidth=1, label="history")
    if holdout is not None and len(holdout):
        ax.plot(holdout["ds"], holdout["yhat"], color="#e07b00", linewidth=1.2, linestyle="--", label=f"{champion} backtest (last fold)")
    ax.plot(forecast["ds"], forecast["yhat"], color="#1f5fbf", linewidth=1.5, label=f"{champion} forecast")
    ax.fill_between(forecast["ds"], forecast["yhat_lower"], forecast["yhat_upper"], color="#1f5fbf", alpha=0.2, label="interval")
    ax.set_title(segment, fontsize=10)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def close(fig) -> None:
    """Kept for callers: a pyplot-free figure is freed with its last reference."""
    fig.clear()
