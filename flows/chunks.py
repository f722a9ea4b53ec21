"""Splitting work into task runs: one task run per chunk of segments or models, never one per model."""

from __future__ import annotations


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive chunks of ``size`` (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def scheduled_chunks(segments: list, size: int, workers: int, shrink: bool = True) -> list[list]:
    """Segments in task-run chunks of at most ``size``, the costliest segments first, and the chunks
    shrinking towards the end (guided self-scheduling: each takes at most a ``2 x workers``-th of what
    is left): the runs submitted first are big, so there are few of them (few task-run state writes),
    and the last ones are single segments, so no worker waits long for another at the end of a pass.
    Deterministic for the same segments (cache keys stay the same). ``shrink=False`` (a size the user
    set): every chunk but the last holds exactly ``size`` segments."""
    from forecasting.pipeline import segment_cost

    ordered = sorted(segments, key=lambda s: (-segment_cost(s), s.key))
    out, start = [], 0
    while start < len(ordered):
        take = max(1, min(size, -(-(len(ordered) - start) // (2 * max(workers, 1))))) if shrink else size
        out.append(ordered[start : start + take])
        start += take
    return out
