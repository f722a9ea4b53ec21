"""The executive summary: one markdown builder for training and actuals comparison. Template text
(works offline); numbers come from the rows given, nothing is invented."""

from __future__ import annotations

from collections import Counter


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def training_summary(rows: list[dict], metric: str, links: dict[str, str] | None = None, worst: int = 5) -> str:
    """Markdown for a training run. ``rows``: one per segment with status, champion, ``metric_value``,
    ``baseline_value``, ``reason``, ``run_url``."""
    trained = [r for r in rows if r["status"] in ("trained", "cached")]
    failed = [r for r in rows if r["status"] == "failed"]
    lines = ["# Forecast training summary", ""]
    lines.append(f"**{len(trained)} of {len(rows)} segments trained** ({sum(r['status'] == 'cached' for r in rows)} reused from an earlier run), **{len(failed)} failed**.")
    if trained:
        mix = Counter(r["champion"] for r in trained)
        lines.append("")
        lines.append("Champion mix: " + ", ".join(f"{name} {count}" for name, count in mix.most_common()) + ".")
        comparable = [r for r in trained if r.get("metric_value") is not None and r.get("baseline_value")]
        if comparable:
            beat = sum(r["metric_value"] < r["baseline_value"] for r in comparable)
            gain = sum(1 - r["metric_value"] / r["baseline_value"] for r in comparable) / len(comparable)
            lines.append("")
            lines.append(f"Against the seasonal-naive baseline ({metric.upper()}, rolling-origin backtest): the champion is better in "
                         f"**{beat} of {len(comparable)}** segments, by {_pct(gain)} on average.")
        ranked = sorted((r for r in trained if r.get("metric_value") is not None), key=lambda r: r["metric_value"], reverse=True)[:worst]
        if ranked:
            lines += ["", f"## Worst segments by {metric.upper()}", "", f"| segment | champion | {metric} | baseline | run |", "|---|---|---|---|---|"]
            for r in ranked:
                base = f"{r['baseline_value']:.3f}" if r.get("baseline_value") else "n/a"
                run = f"[MLflow]({r['run_url']})" if r.get("run_url") else ""
                lines.append(f"| {r['segment']} | {r['champion']} | {r['metric_value']:.3f} | {base} | {run} |")
    if failed:
        lines += ["", "## Failed segments", "", "| segment | reason |", "|---|---|"]
        for r in failed:
            lines.append(f"| {r['segment']} | {str(r['reason']).replace('|', '/')[:300]} |")
    if links:
        lines += ["", "## Where to look", ""] + [f"- {name}: {url}" for name, url in links.items()]
    return "\n".join(lines) + "\n"
