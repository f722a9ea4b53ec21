"""The charts of a segment: history with the champion's forecast, its interval and the runner-up's
forecast (dashed); a forecast against the actuals that came in; a bridge from last year as a waterfall.
Drawn without pyplot (no global figure registry, safe in worker threads); the same figures go to MLflow
and to the Prefect UI."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from forecasting.amounts import amount

HISTORY = "#333333"
CHAMPION = "#1f5fbf"
RUNNER_UP = "#e07b00"
BACKTEST = "#8a8a8a"


def _dates(frame: pd.DataFrame) -> pd.DataFrame:
    """Records from task results carry ISO strings; plot them as dates."""
    return frame.assign(ds=pd.to_datetime(frame["ds"]))


def forecast_figure(segment: str, history: pd.DataFrame, holdout: pd.DataFrame | None, forecast: pd.DataFrame, champion: str,
                    window: int = 365, runner_up: str | None = None, runner_up_forecast: pd.DataFrame | None = None,
                    subtitle: str | None = None, size: tuple[float, float] = (10, 4)) -> Figure:
    """History (its last ``window`` periods), the champion's forecast with its interval, the runner-up's
    forecast dashed when given, and the champion's last backtest fold when ``holdout`` is given.

    Args:
        segment: the segment key (the title).
        history: ``ds``, ``y``.
        holdout: the champion's last backtest fold (``ds``, ``yhat``), or None.
        forecast: the champion's ``ds, yhat, yhat_lower, yhat_upper``.
        champion: the champion's family (the legend).
        runner_up, runner_up_forecast: the next-ranked candidate and its ``ds, yhat``, or None.
        subtitle: a second title line (e.g. the backtest score against the baseline).
    """
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    recent = _dates(history.iloc[-window:])
    forecast = _dates(forecast)
    ax.plot(recent["ds"], recent["y"], color=HISTORY, linewidth=1, label="history")
    if holdout is not None and len(holdout):
        holdout = _dates(holdout)
        ax.plot(holdout["ds"], holdout["yhat"], color=BACKTEST, linewidth=1, linestyle=":", label="backtest, last fold")
    ax.fill_between(forecast["ds"], forecast["yhat_lower"], forecast["yhat_upper"], color=CHAMPION, alpha=0.2, linewidth=0,
                    label="interval")
    ax.plot(forecast["ds"], forecast["yhat"], color=CHAMPION, linewidth=1.6, label=f"champion: {champion}")
    if runner_up and runner_up_forecast is not None and len(runner_up_forecast):
        other = _dates(runner_up_forecast)
        ax.plot(other["ds"], other["yhat"], color=RUNNER_UP, linewidth=1.3, linestyle="--", label=f"runner-up: {runner_up}")
    _finish(fig, ax, segment, subtitle)
    return fig


def comparison_figure(segment: str, periods: pd.DataFrame, family: str, history: pd.DataFrame | None = None,
                      subtitle: str | None = None, size: tuple[float, float] = (10, 4)) -> Figure:
    """What was forecast (line and interval) against what happened (dots and line) over the compared
    periods, after the recent ``history`` when given.

    Args:
        periods: ``ds``, ``y`` (actual), ``yhat``, ``yhat_lower``, ``yhat_upper``.
        family: the champion that made the forecast (the legend).
    """
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    periods = _dates(periods).sort_values("ds")
    if history is not None and len(history):
        history = _dates(history)
        ax.plot(history["ds"], history["y"], color=HISTORY, linewidth=1, alpha=0.6, label="history")
    ax.fill_between(periods["ds"], periods["yhat_lower"], periods["yhat_upper"], color=CHAMPION, alpha=0.2, linewidth=0,
                    label="interval")
    ax.plot(periods["ds"], periods["yhat"], color=CHAMPION, linewidth=1.6, label=f"forecast: {family}")
    ax.plot(periods["ds"], periods["y"], color=HISTORY, linewidth=1.2, marker="o", markersize=2.5, label="actual")
    _finish(fig, ax, segment, subtitle)
    return fig


def _finish(fig: Figure, ax, segment: str, subtitle: str | None) -> None:
    """Title above, the legend in one row below (never over the lines), compact dates."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.ticker import FuncFormatter

    fig.suptitle(segment if not subtitle else f"{segment}\n{subtitle}", fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7, frameon=False, handlelength=1.6,
               columnspacing=1.0)
    locator = AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}" if abs(value) < 1e4 else f"{value:,.0f}"))
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)


def png_bytes(fig: Figure, dpi: int = 72) -> bytes:
    """The figure as PNG (tight bounding box)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def data_uri(fig: Figure, dpi: int = 72) -> str:
    """The figure as a ``data:image/png;base64,...`` URI, for markdown that must carry its images
    (a Prefect artifact has no storage of its own)."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(fig, dpi)).decode("ascii")


def close(fig) -> None:
    """Kept for callers: a pyplot-free figure is freed with its last reference."""
    fig.clear()


UP, DOWN, TOTAL = "#2e8b57", "#c0392b", "#555555"


def waterfall_figure(segment: str, table: pd.DataFrame, subtitle: str | None = None, size: tuple[float, float] = (8, 4)) -> Figure:
    """A bridge as a waterfall: the first total as a bar from zero, each change as a bar floating from
    the running total (green up, red down, its value on it), the last total as a bar from zero.

    Args:
        table: ``step``, ``value``, ``kind`` (``total`` or ``change``), in order
            (:class:`forecasting.explain.bridge.Bridge`'s table).
    """
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.add_subplot()
    running = 0.0
    for i, (step, value, kind) in enumerate(table[["step", "value", "kind"]].itertuples(index=False)):
        if kind == "total":
            bottom, height, color = 0.0, value, TOTAL
            running = value
        else:
            bottom, height, color = running, value, UP if value >= 0 else DOWN
            running += value
        ax.bar(i, height, bottom=bottom, color=color, width=0.6)
        label = amount(value, sign=kind != "total")
        ax.annotate(label, (i, bottom + height), ha="center", va="bottom" if height >= 0 else "top", fontsize=7)
        if i < len(table) - 1:
            ax.plot([i + 0.3, i + 0.7], [running, running], color=TOTAL, linewidth=0.6)
    ax.set_xticks(range(len(table)), [str(s) for s in table["step"]], rotation=20, ha="right", fontsize=7)
    # the axis starts near the lowest running total, not at zero: changes of a few percent stay visible
    values, kinds = table["value"].to_numpy(float), table["kind"].to_numpy()
    levels = np.array([values[0], *np.cumsum(np.where(kinds == "total", 0.0, values))[1:-1] + values[0], values[-1]])
    span = max(float(levels.max() - levels.min()), 1e-9)
    low, high = float(levels.min()) - 0.6 * span, float(levels.max()) + 0.25 * span
    if levels.min() >= 0 > low:
        low = 0.0
    ax.set_ylim(low, high)
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}" if abs(value) < 1e4 else f"{value:,.0f}"))
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.suptitle(segment if not subtitle else f"{segment}\n{subtitle}", fontsize=9)
    return fig


def stacked_total_figure(total: str, history: pd.DataFrame, forecast: pd.DataFrame, children: dict[str, pd.DataFrame],
                         method: str, size: tuple[float, float] = (8, 4)) -> Figure:
    """A reconciled hierarchy at a glance: the total's history and forecast as a line, its children's
    reconciled forecasts stacked under it (they add up to the line), the interval shaded."""
    fig = Figure(figsize=size, layout="constrained")
    ax = fig.subplots()
    history, forecast = _dates(history), _dates(forecast)
    ax.plot(history["ds"], history["y"], color="black", linewidth=1, label="actual (total)")
    dates = forecast["ds"]
    layers = [children[name].set_index(pd.to_datetime(children[name]["ds"]))["yhat"].reindex(pd.DatetimeIndex(dates)).to_numpy(float)
              for name in children]
    if layers:
        ax.stackplot(dates, *layers, labels=list(children), alpha=0.6)
    ax.plot(dates, forecast["yhat"], color="black", linestyle="--", linewidth=1.2, label=f"total forecast ({method})")
    ax.fill_between(dates, forecast["yhat_lower"], forecast["yhat_upper"], color="grey", alpha=0.2, label="interval")
    _finish(fig, ax, total, f"children stacked: they add up to the total ({method})")
    return fig
