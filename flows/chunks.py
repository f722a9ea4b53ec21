"""Splitting work into task runs: one task run per chunk of segments or models, never one per model."""

from __future__ import annotations


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive chunks of ``size`` (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def longest_first(segments: list) -> list:
    """Segments with the costliest training first (stable): started first, so the short ones fill the
    tail and fewer workers wait for the last long one (see forecasting.system.pool.ordered_map)."""
    from forecasting.pipeline import segment_cost

    return sorted(segments, key=lambda segment: -segment_cost(segment))
