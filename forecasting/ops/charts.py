"""Forecast charts as markdown that carries its own images, for places that store text only (the
Prefect UI's artifacts): which segments get a chart, one card per segment, and an index of all; the
same for the bridges from last year (waterfalls), with the run's total.

The Prefect UI renders the first line of an artifact's description as markdown on the run's Artifacts
tab (the body only on the artifact's own page), so a card's description is one line holding the chart:
it is what people see first. The tab orders cards by artifact id (random), so each card says where its
segment ranks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from forecasting.amounts import amount
from forecasting.contract import segment_slug
from forecasting.ops.summary import plain
from forecasting.plots import close, data_uri

CHARTS_PER_END = 5  # charts for the worst and the best N segments; every segment when there are 2N or fewer
CARD_SIZE, CARD_DPI = (5.2, 2.6), 80  # fits a card on the Artifacts tab (~400 px wide)
PAGE_SIZE, PAGE_DPI = (10, 4), 80
TABLE_ROWS = 60


@dataclass
class Chart:
    """One segment's chart as a Prefect artifact: its key, the card (description) and the page (body)."""

    segment: str
    key: str
    description: str
    markdown: str


def chart_key(prefix: str, segment: str) -> str:
    """An artifact key (lowercase letters, digits and dashes) unique per segment, stable across runs,
    so the UI's Artifacts page shows each segment's chart run after run."""
    return f"{prefix}-{segment_slug(segment, max_len=80).replace('_', '-')}"


def alt_text(segment: str, kind: str = "forecast") -> str:
    """The image's alt text and title: how a reader (and the UI check) finds a segment's chart
    (``kind``: forecast, bridge, reconciled total). Markdown's own characters are replaced, and the
    angle brackets of an aggregate node's ``<all>`` too (the Prefect UI shows them escaped twice)."""
    text = f"{kind} chart {segment}".replace('"', "'").replace("]", ")").replace("[", "(")
    return text.replace("<", "‹").replace(">", "›")


def ends(scores: dict[str, float | None], per_end: int = CHARTS_PER_END) -> tuple[list[str], list[str]]:
    """The segments to chart: ``(worst, best)`` by score (lower is better; an undefined score counts as
    the worst). Every segment, worst first, when there are ``2 * per_end`` or fewer."""
    def badness(item):
        value = item[1]
        return (0, 0.0, item[0]) if value is None or not math.isfinite(value) else (1, -value, item[0])

    ranked = [segment for segment, _ in sorted(scores.items(), key=badness)]
    if len(ranked) <= 2 * per_end:
        return ranked, []
    return ranked[:per_end], ranked[-per_end:][::-1]


def _num(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def _link(text: str, url: str | None) -> str:
    return f"[{text}]({url})" if url else ""


def _table(frame: pd.DataFrame, columns: list[str]) -> str:
    rows = frame[columns].head(TABLE_ROWS)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows.itertuples(index=False):
        lines.append("| " + " | ".join(_num(v) if isinstance(v, float) else str(v) for v in row) + " |")
    more = len(frame) - len(rows)
    return "\n".join(lines) + (f"\n\n… {more} more rows" if more > 0 else "")


def _image(figure_factory, size, dpi, alt: str) -> str:
    figure = figure_factory(size)
    try:
        return f'![{alt}]({data_uri(figure, dpi)} "{alt}")'
    finally:
        close(figure)


def history_window(horizon: int) -> int:
    """History shown before a forecast: four horizons (at least 60 periods), so the forecast is not a
    sliver at the right edge of a year of days."""
    return max(4 * horizon, 60)


def rank_labels(worst: list[str], best: list[str], total: int) -> dict[str, str]:
    """Where each charted segment ranks, for its card: "worst 1 of 40", "best 2 of 40" ("1 of 3" when
    every segment is charted)."""
    if not best:
        return {segment: f"{i} of {total}, worst first" for i, segment in enumerate(worst, start=1)}
    labels = {segment: f"worst {i} of {total}" for i, segment in enumerate(worst, start=1)}
    return labels | {segment: f"best {i} of {total}" for i, segment in enumerate(best, start=1)}


def _card(segment: str, label: str, line: str, image: str) -> str:
    """One line: the UI shows only a description's first line on the card."""
    return f"**{plain(segment)}** · {plain(label)} · {plain(line)} {image}"


def forecast_chart(segment: str, champion: str, metric: str, score: float | None, baseline: float | None,
                   history: pd.DataFrame, forecast: pd.DataFrame, runner_up: str | None = None,
                   runner_up_forecast: pd.DataFrame | None = None, run_url: str | None = None, label: str = "") -> Chart:
    """A trained segment's card: history, the champion's forecast and interval, the runner-up dashed."""
    from forecasting.plots import forecast_figure

    line = f"{champion} · backtest {metric.upper()} {_num(score)} (seasonal naive {_num(baseline)})"

    def figure(size):
        return forecast_figure(segment, history, None, forecast, champion, window=history_window(len(forecast)), runner_up=runner_up,
                               runner_up_forecast=runner_up_forecast, subtitle=line, size=size)

    alt = alt_text(segment)
    description = _card(segment, label, line, _image(figure, CARD_SIZE, CARD_DPI, alt))
    frame = forecast.assign(ds=pd.to_datetime(forecast["ds"]).dt.strftime("%Y-%m-%d"))
    body = [f"# {plain(segment)}", "", f"Champion **{champion}**" + (f", runner-up {runner_up} (dashed)" if runner_up else "")
            + f"; backtest {metric.upper()} {_num(score)} against the seasonal-naive baseline's {_num(baseline)}.", ""]
    if run_url:
        body += [f"MLflow run: {_link(run_url, run_url)}", ""]
    body += [_image(figure, PAGE_SIZE, PAGE_DPI, alt), "", "## Forecast", "",
             _table(frame, ["ds", "yhat", "yhat_lower", "yhat_upper"]), ""]
    return Chart(segment, chart_key("forecast", segment), description, "\n".join(body))


def comparison_chart(segment: str, family: str, version: str, band_metric: str, score: float | None, status: str,
                     periods: pd.DataFrame, label: str = "") -> Chart:
    """A compared segment's card: what the champion forecast against what happened."""
    from forecasting.plots import comparison_figure

    line = f"{family} v{version} · {band_metric.upper()} {_pct(score)} · {status}"

    def figure(size):
        return comparison_figure(segment, periods, family, subtitle=line, size=size)

    alt = alt_text(segment)
    description = _card(segment, label, line, _image(figure, CARD_SIZE, CARD_DPI, alt))
    frame = periods.assign(ds=pd.to_datetime(periods["ds"]).dt.strftime("%Y-%m-%d"))
    body = [f"# {plain(segment)}: forecast vs actuals", "", f"Champion {family} v{version}; {band_metric.upper()} {_pct(score)}, status **{status}**.", "",
            _image(figure, PAGE_SIZE, PAGE_DPI, alt), "", "## Periods", "",
            _table(frame, ["ds", "y", "yhat", "yhat_lower", "yhat_upper"]), ""]
    return Chart(segment, chart_key("actuals", segment), description, "\n".join(body))


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.1%}"


def index_markdown(title: str, intro: str, columns: list[str], rows: list[list], chart_urls: dict[str, str | None],
                   charted: set[str]) -> str:
    """Every segment in one table, with a link to its chart's page (or "on the tab") when it has one."""
    lines = [f"# {title}", "", intro, "", "| " + " | ".join([*columns, "chart"]) + " |", "|" + "---|" * (len(columns) + 1)]
    for row in rows:
        segment = row[0]
        chart = (_link("chart", chart_urls.get(segment)) or "on this tab") if segment in charted else ""
        lines.append("| " + " | ".join(plain(str(v).replace("|", "\\|")) for v in [*row, chart]) + " |")
    return "\n".join(lines) + "\n"


def bridge_line(bridge) -> str:
    """Last year's total, the forecast's and the change, in one line."""
    values = bridge.table["value"].to_numpy(float)
    change = f" ({values[-1] / values[0] - 1:+.1%})" if values[0] else ""
    return f"last year {amount(values[0])} → forecast {amount(values[-1])}{change}"


def bridge_steps(bridge) -> str:
    """The bridge's changes in one cell: ``trend +3,515,208, season +34,716``."""
    return ", ".join(f"{step} {amount(value, sign=True)}" for step, value, kind in bridge.table.itertuples(index=False) if kind == "change")


def bridge_chart(segment: str, bridge, label: str = "", run_url: str | None = None, key: str | None = None) -> Chart:
    """A segment's bridge from last year as a card: the waterfall (last year's actual, each component's
    change, the forecast) with the totals in its line; the page has it full size and as a table."""
    from forecasting.plots import waterfall_figure

    line = bridge_line(bridge)

    def figure(size):
        return waterfall_figure(segment, bridge.table, bridge.window, size=size)

    alt = alt_text(segment, "bridge")
    description = _card(segment, label, line, _image(figure, CARD_SIZE, CARD_DPI, alt))
    body = [f"# {plain(segment)}: the bridge from last year", "", f"{bridge.window}: {line}.", ""]
    if bridge.note:
        body += [f"Note: {plain(bridge.note)}.", ""]
    if run_url:
        body += [f"MLflow run: {_link(run_url, run_url)}", ""]
    steps = bridge.table.assign(value=[amount(v, sign=k == "change") for v, k in zip(bridge.table["value"], bridge.table["kind"])])
    body += [_image(figure, PAGE_SIZE, PAGE_DPI, alt), "", "## Bridge", "", _table(steps, ["step", "value"]), ""]
    return Chart(segment, key or chart_key("bridge", segment), description, "\n".join(body))


def run_total(bridges: dict[str, dict], total_segment: str | None = None, reconciled: bool = True) -> tuple[str | None, object | None, str]:
    """The run's total bridge: a hierarchy's total node when ``total_segment`` names it (``reconciled``:
    its bridge has the reconciliation), else the sum of the segments' bridges when they share a frequency
    and cover the same forecast periods (those that cover other periods, or have no bridge, are left out
    and named). ``bridges``: segment -> bridge record with its ``frequency``. Returns (title,
    :class:`~forecasting.explain.bridge.Bridge` or None, how it was made or why there is none)."""
    from forecasting.explain.bridge import Bridge, summed

    if total_segment is not None:  # never the sum of a hierarchy's nodes: that counts every bottom segment once per level
        record = bridges.get(total_segment)
        if record is None or not record["periods"]:
            return None, None, f"the total {total_segment} has no bridge" + (f": {record['note']}" if record else "")
        how = "the hierarchy's total node, " + ("reconciled" if reconciled else "not reconciled (the reconciliation failed)")
        return f"total ({total_segment})", Bridge.from_record(record), how
    if len(bridges) < 2:
        return None, None, "one segment: its own bridge is the total"
    frequencies = sorted({r.get("frequency", "") for r in bridges.values()})
    if len(frequencies) > 1:
        return None, None, f"no total: the segments have different frequencies ({', '.join(frequencies)})"
    available = {k: r for k, r in bridges.items() if r["periods"]}
    windows: dict[tuple, list[str]] = {}
    for key, record in available.items():
        windows.setdefault((record["first"], record["last"], record["periods"], record["horizon"]), []).append(key)
    if not windows:
        return None, None, "no total: no segment has a bridge"
    common = max(windows.values(), key=len)
    left_out = sorted(set(bridges) - set(common))
    if len(common) < 2:
        return None, None, "no total: no two segments' bridges cover the same forecast periods"
    note = f"the sum of {len(common)} segments' bridges"
    if left_out:
        note += (f"; {len(left_out)} left out (no bridge, or a bridge over other periods: a shorter history): "
                 + ", ".join(left_out[:5]) + (" …" if len(left_out) > 5 else ""))
    return f"total of {len(common)} segments", summed([Bridge.from_record(bridges[k]) for k in sorted(common)]), note
