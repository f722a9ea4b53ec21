"""The executive summary: one markdown builder for training and for the actuals comparison. Template
text (works offline); numbers come from the rows given, nothing is invented. An LLM may rewrite the
template's prose (see :mod:`forecasting.llm_summary`); the template is what it falls back to."""

from __future__ import annotations

from collections import Counter

from forecasting.amounts import amount


def _pct(value: float | None) -> str:
    return "n/a" if value is None or value != value else f"{value:.1%}"


def _num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None or value != value else f"{value:.{digits}f}"


def plain(text) -> str:
    """Text as markdown shows it: angle brackets escaped, or a renderer takes ``<all>`` (an aggregate
    node's segment value) for an HTML tag and drops it (the Prefect UI does)."""
    return str(text).replace("<", "\\<").replace(">", "\\>")


def _cell(value) -> str:
    return plain(str(value).replace("|", "/").replace("\n", " ")[:300])


def _link(url: str) -> str:
    """A web address as a markdown link; anything else (a sqlite path, a note) as it is."""
    return f"[{url}]({url})" if url.startswith(("http://", "https://")) and " " not in url else url


class Markdown:
    """Headings, paragraphs, tables and links, in the order they are added."""

    def __init__(self, title: str):
        self.lines = [f"# {title}", ""]

    def para(self, text: str) -> "Markdown":
        self.lines += [text, ""]
        return self

    def heading(self, text: str) -> "Markdown":
        self.lines += [f"## {text}", ""]
        return self

    def table(self, heading: str | None, columns: list[str], rows: list[list]) -> "Markdown":
        if rows:
            self.lines += ([f"## {heading}", ""] if heading else []) + ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
            self.lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
            self.lines.append("")
        return self

    def links(self, links: dict[str, str] | None) -> "Markdown":
        if links:
            self.lines += ["## Where to look", ""] + [f"- {name}: {_link(url)}" for name, url in links.items()] + [""]
        return self

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def training_summary(rows: list[dict], metric: str, links: dict[str, str] | None = None, worst: int = 5,
                     changes: dict | None = None) -> str:
    """Markdown for a training run. ``rows``: one per segment with status, champion, ``metric_value``,
    ``baseline_value``, ``reason``, ``run_url``; ``changes``: what changed since the last forecast
    (:func:`forecasting.ops.changes.changes_since`, with ``looked_in``), shown when given."""
    trained = [r for r in rows if r["status"] in ("trained", "cached")]
    failed = [r for r in rows if r["status"] == "failed"]
    doc = Markdown("Forecast training summary")
    doc.para(f"**{len(trained)} of {len(rows)} segments trained** ({sum(r['status'] == 'cached' for r in rows)} reused from an earlier run), **{len(failed)} failed**.")
    if trained:
        mix = Counter(r["champion"] for r in trained)
        doc.para("Champion mix: " + ", ".join(f"{name} {count}" for name, count in mix.most_common()) + ".")
        comparable = [r for r in trained if r.get("metric_value") is not None and r.get("baseline_value")]
        if comparable:
            beat = sum(r["metric_value"] < r["baseline_value"] for r in comparable)
            gain = sum(1 - r["metric_value"] / r["baseline_value"] for r in comparable) / len(comparable)
            doc.para(f"Against the seasonal-naive baseline ({metric.upper()}, rolling-origin backtest): the champion is better in "
                     f"**{beat} of {len(comparable)}** segments, by {_pct(gain)} on average.")
        ranked = sorted((r for r in trained if r.get("metric_value") is not None), key=lambda r: r["metric_value"], reverse=True)[:worst]
        doc.table(f"Worst segments by {metric.upper()}", ["segment", "champion", metric, "baseline", "why this champion", "run"],
                  [[r["segment"], r["champion"], _num(r["metric_value"]), _num(r.get("baseline_value") or None), r.get("why") or "",
                    f"[MLflow]({r['run_url']})" if r.get("run_url") else ""] for r in ranked])
    if changes is not None:
        what_changed_section(doc, changes)
    doc.table("Low-confidence segments (thin backtest evidence)", ["segment", "champion", "why"],
              [[r["segment"], r["champion"], r["low_confidence"]] for r in trained if r.get("low_confidence")])
    doc.table("Failed segments", ["segment", "reason"], [[r["segment"], r["reason"]] for r in failed])
    doc.table("Notes", ["segment", "note"], [[r["segment"], note] for r in trained for note in r.get("notes") or []])
    return doc.links(links).text()


CHANGES_SHOWN = 10


def what_changed_section(doc: Markdown, changes: dict, shown: int = CHANGES_SHOWN) -> None:
    """Per segment, the change of its forecast total since the previous vintage, split into new actuals
    (data), a change of champion (model) and the rest; the segments that moved most first."""
    moved, looked_in = changes["segments"], changes.get("looked_in") or ", ".join(changes.get("sources") or []) or "the previous vintages"
    doc.heading("What changed since the last forecast")
    if not moved and not changes.get("unchanged") and not changes.get("no_overlap"):
        doc.para(f"**First forecast**: no previous vintage of these dates for any of the {len(changes['first'])} segment(s) in {looked_in}: "
                 "nothing to compare with yet.")
        return
    if moved:
        doc.para(f"Against {looked_in}: each segment's forecast total over the periods both vintages forecast; **change = data** (the "
                 "previous forecast's miss on the actuals that arrived since, carried over those periods) **+ model** (a new champion) "
                 "**+ rest**; the segments that moved most first"
                 + (f" ({len(moved) - shown} more in the run report, `changes`)" if len(moved) > shown else "") + ".")
    money = lambda v, sign=True: "n/a" if v is None else amount(v, sign)  # noqa: E731
    doc.table(None, ["segment", "champion (before → now)", "periods", "new actuals", "before", "now", "change", "data", "model", "rest"],
              [[r["segment"], r["previous_champion"] if r["previous_champion"] == r["current_champion"]
                else f"{r['previous_champion']} → {r['current_champion']}", f"{r['first']} .. {r['last']} ({r['overlap_periods']})",
                r["new_actuals"], money(r["previous_total"], False), money(r["current_total"], False),
                money(r["change"]) + (f" ({_pct(r['change_pct'])})" if r.get("change_pct") is not None else ""),
                money(r["data"]), money(r["model"]) + (" (with the rest)" if "includes the rest" in str(r.get("split")) else ""),
                money(r["rest"])] for r in moved[:shown]])
    if changes.get("first"):
        doc.para(f"First forecast of these dates for {len(changes['first'])} segment(s): {_few(changes['first'])}.")
    if changes.get("unchanged"):
        doc.para(f"{len(changes['unchanged'])} segment(s) kept the champion version that made their previous forecast (same data, "
                 f"configuration and code): unchanged, {_few(changes['unchanged'])}.")
    if changes.get("no_overlap"):
        doc.para(f"No period in common with the previous vintage: {_few(changes['no_overlap'])}.")


def _few(segments: list[str], n: int = 10) -> str:
    return plain(", ".join(segments[:n]) + (f" and {len(segments) - n} more" if len(segments) > n else ""))


def comparison_summary(report, band_metric: str, links: dict[str, str] | None = None, worst: int = 5) -> str:
    """Markdown for an actuals comparison (a :class:`forecasting.comparison.ComparisonReport`)."""
    totals, segments = report.totals, report.segments
    doc = Markdown("Forecast vs actuals")
    if segments.empty:
        doc.para("**No actuals matched a champion forecast.** Check that the actuals cover dates after the last training run.")
    else:
        doc.para(f"**{totals['segments']} segments, {totals['periods']} periods compared.** Overall (volume-weighted): "
                 f"WAPE **{_pct(totals['wape'])}**, MAPE {_pct(totals['mape'])}, bias {_pct(totals['bias'])} "
                 f"({'over' if (totals['bias'] or 0) > 0 else 'under'}-forecast), interval coverage {_pct(totals['coverage'])} "
                 f"— status **{totals['status']}** on {band_metric.upper()}.")
        counts = totals["status_counts"]
        doc.para("Segments by status: " + ", ".join(f"{name} {counts.get(name, 0)}" for name in ("excellent", "good", "fair", "poor", "critical")) + ".")
        drifting = report.drifting
        if drifting:
            doc.para(f"**{len(drifting)} segment(s) keep missing** and need retraining: {plain(', '.join(drifting[:10]))}"
                     + (" …" if len(drifting) > 10 else "") + ".")
        ranked = segments.sort_values(band_metric, ascending=False, na_position="first").head(worst)
        doc.table(f"Largest misses by {band_metric.upper()}", ["segment", "status", "WAPE", "MAPE", "bias", "coverage", "champion"],
                  [[r.segment, r.status, _pct(r.wape), _pct(r.mape), _pct(r.bias), _pct(r.coverage), f"{r.family} v{r.version}"]
                   for r in ranked.itertuples()])
    if report.unmatched:
        doc.para(f"{len(report.unmatched)} segment(s) with actuals but no champion forecast for those dates: "
                 + plain(", ".join(report.unmatched[:10])) + ".")
    return doc.links(links).text()
