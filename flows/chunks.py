"""Splitting work into task runs: one task run per chunk of segments or models, never one per model."""

from __future__ import annotations


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive chunks of ``size`` (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]
