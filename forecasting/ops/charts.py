"""Forecast charts as markdown that carries its own images, for places that store text only (the
Prefect UI's artifacts): which segments get a chart, one card per segment, and an index of all.

The Prefect UI renders the first line of an artifact's description as markdown on the run's Artifacts
tab (the body only on the artifact's own page), so a card's description is one line holding the chart:
it is what people see first. The tab orders cards by artifact id (random), so each card says where its
segment ranks."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from forecasting.contract import segment_slug
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


def alt_text(segment: str) -> str:
    """The image's alt text and title: how a reader (and the UI check) finds a segment's chart."""
    return f"forecast chart {segment}".replace('"', "'").replace("]", ")").replace("[", "(")


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
    return f"**{segment}** · {label} · {line} {image}"


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
    body = [f"# {segment}", "", f"Champion **{champion}**" + (f", runner-up {runner_up} (dashed)" if runner_up else "")
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
    body = [f"# {segment}: forecast vs actuals", "", f"Champion {family} v{version}; {band_metric.upper()} {_pct(score)}, status **{status}**.", "",
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
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in [*row, chart]) + " |")
    return "\n".join(lines) + "\n"
