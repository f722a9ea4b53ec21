"""The levels of a segment hierarchy and the keys of its nodes.

A level is a set of segment columns: ``()`` is the total, ``("region",)`` one node per region, and the
bottom level (every segment column) holds the segments of the data. A node of a higher level is keyed
like any segment (:func:`forecasting.contract.segment_key`) with each aggregated-away column set to
``<all>``: ``product=<all>|region=EU`` is the EU region, ``product=<all>|region=<all>`` the total. Every
key names every segment column, so a node key never equals a bottom key (a bottom value ``<all>`` is
refused), and a request with ``<all>`` in a column computes the node's key with the same function.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from forecasting.contract import segment_key
from forecasting.errors import ConfigError

AGGREGATED = "<all>"
TOTAL = "total"
METHODS = ("bottom_up", "top_down", "middle_out", "ols", "wls_struct", "mint_shrink")
Method = Literal["none", "bottom_up", "top_down", "middle_out", "ols", "wls_struct", "mint_shrink", "auto"]


class HierarchySpec(BaseModel):
    """How the segments are reconciled: the method, the levels, the middle level of ``middle_out``."""

    reconcile: Method = Field("none", description="none (each segment alone, as before), a method, or auto (the best all-level backtest score)")
    levels: str | None = Field(None, description="levels as 'region;region,product' (';' between levels, ',' inside one); "
                               "default every combination of the segment columns; the total is always included")
    middle_level: str | None = Field(None, description="the level middle_out anchors on, e.g. 'region'")

    @field_validator("levels", "middle_level", mode="before")
    @classmethod
    def _blank_is_none(cls, value):
        return None if value is None or not str(value).strip() else str(value).strip()

    @property
    def active(self) -> bool:
        return self.reconcile != "none"


@dataclass(frozen=True)
class Level:
    """One level: its segment columns (in the order of the segment columns) and its name."""

    columns: tuple[str, ...]

    @property
    def name(self) -> str:
        return ",".join(self.columns) if self.columns else TOTAL


def parse_levels(text: str | None, segment_cols: list[str]) -> list[Level]:
    """The levels, coarsest first: the total, the levels named (or every combination of the segment
    columns), and the bottom level (every segment column) last.

    Raises:
        ConfigError: no segment columns, or a level names a column that is not a segment column.
    """
    if not segment_cols:
        raise ConfigError("--reconcile needs --segment-cols: a hierarchy is built from the segment columns")
    order = {col: i for i, col in enumerate(segment_cols)}
    if text is None:
        wanted = [cols for size in range(1, len(segment_cols)) for cols in combinations(segment_cols, size)]
    else:
        wanted = []
        for part in text.split(";"):
            cols = [c.strip() for c in part.split(",") if c.strip()]
            if not cols or (cols == [TOTAL] and TOTAL not in order):  # the total is always there
                continue
            unknown = [c for c in cols if c not in order]
            if unknown:
                raise ConfigError(f"--levels names column {unknown[0]!r}, which is not one of --segment-cols ({', '.join(segment_cols)})")
            if len(set(cols)) != len(cols):
                raise ConfigError(f"--levels repeats a column inside the level {part.strip()!r}")
            wanted.append(tuple(sorted(cols, key=order.get)))
    levels = [(), *wanted, tuple(segment_cols)]
    unique = list(dict.fromkeys(levels))
    return [Level(cols) for cols in sorted(unique, key=len)]


def node_values(values: dict[str, object], level: Level, segment_cols: list[str]) -> dict[str, object]:
    """A bottom segment's values as seen from ``level``: the columns it aggregates away are ``<all>``."""
    return {col: (values[col] if col in level.columns else AGGREGATED) for col in segment_cols}


def node_key(values: dict[str, object], level: Level, segment_cols: list[str]) -> str:
    """The key of the node of ``level`` that a bottom segment with ``values`` belongs to."""
    return segment_key(node_values(values, level, segment_cols))
