"""The structure of a hierarchy: its nodes in order, the summing matrix S and the nodes of each level,
built with hierarchicalforecast's ``aggregate`` from the bottom segments' values."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.contract import segment_key
from forecasting.hierarchy.levels import TOTAL, Level, node_values


@dataclass(frozen=True, eq=False)
class Hierarchy:
    """Nodes coarsest level first (S's rows), the bottom segments last (S's columns, in the same order).
    ``S[i, j]`` is 1 when bottom segment ``j`` adds up into node ``i``."""

    segment_cols: tuple[str, ...]
    levels: tuple[Level, ...]
    nodes: tuple[str, ...]
    values: dict[str, dict[str, object]]  # node -> segment column values, <all> where aggregated away
    level_of: dict[str, str]  # node -> level name
    S: np.ndarray
    strict: bool  # every node has one parent (a tree): top_down and middle_out need it
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def bottom(self) -> tuple[str, ...]:
        return self.nodes[len(self.nodes) - self.S.shape[1]:]

    @property
    def aggregates(self) -> tuple[str, ...]:
        return self.nodes[: len(self.nodes) - self.S.shape[1]]

    @property
    def total(self) -> str:
        """The node every bottom segment adds up into."""
        return next(node for node in self.nodes if self.level_of[node] == TOTAL)

    def level_nodes(self, name: str) -> list[str]:
        return [node for node in self.nodes if self.level_of[node] == name]

    def children(self, node: str) -> list[str]:
        """The bottom segments that add up into ``node``."""
        row = self.S[self.nodes.index(node)]
        return [b for b, used in zip(self.bottom, row) if used]

    def tags(self) -> dict[str, np.ndarray]:
        """hierarchicalforecast's ``tags``: level name -> the node keys of that level."""
        return {level.name: np.array(self.level_nodes(level.name), dtype=object) for level in self.levels}

    def is_coherent(self, values: np.ndarray, rtol: float = 1e-6) -> bool:
        """Every node equals the sum of its bottom segments, to ``rtol`` of its size, at every column."""
        values = np.asarray(values, dtype=float)
        implied = self.S @ values[len(self.aggregates):]
        scale = np.maximum(np.abs(implied), 1.0)
        return bool(np.all(np.abs(values - implied) <= rtol * scale))


def build_hierarchy(bottom: dict[str, dict[str, object]], levels: list[Level], segment_cols: list[str]) -> Hierarchy:
    """The hierarchy of ``bottom`` (segment key -> its values) over ``levels`` (coarsest first, the
    bottom level last). A level that groups the bottom segments exactly as the total or a finer level
    does (``city`` when each city lies in one region of ``region,city``) is left out with a note."""
    from hierarchicalforecast.utils import aggregate, is_strictly_hierarchical

    keys = sorted(bottom)
    kept, notes = _distinct_levels(bottom, keys, levels)
    # Values become order-preserving tokens, distinct across columns: aggregate joins them with "/", which a
    # value may contain, and names a node by its values alone.
    tokens = {col: {v: f"c{j}v{i:06d}" for i, v in enumerate(sorted({str(bottom[k][col]) for k in keys}))}
              for j, col in enumerate(segment_cols)}
    coded = {k: tuple(tokens[col][str(bottom[k][col])] for col in segment_cols) for k in keys}
    frame = pd.DataFrame({"_total": "t", **{col: [coded[k][i] for k in keys] for i, col in enumerate(segment_cols)}, "ds": 0, "y": 0.0})
    _, S_df, tags = aggregate(frame, [["_total", *level.columns] for level in kept])
    by_id: dict[str, tuple[str, str, dict]] = {}
    for level in kept:
        positions = [segment_cols.index(c) for c in level.columns]
        sample = {tuple(coded[k][p] for p in positions): k for k in keys}  # a bottom segment of each node
        for node_id in tags["/".join(["_total", *level.columns])]:
            member = sample[tuple(str(node_id).split("/")[1:])]
            values = node_values(bottom[member], level, segment_cols)
            key = member if level.columns == tuple(segment_cols) else segment_key(values)
            by_id[str(node_id)] = (key, level.name, values)
    ids = [str(i) for i in S_df["unique_id"]]
    nodes = tuple(by_id[i][0] for i in ids)
    bottom_ids = [str(c) for c in S_df.columns if c != "unique_id"]
    if [by_id[c][0] for c in bottom_ids] != list(nodes[len(nodes) - len(bottom_ids):]):
        raise AssertionError("aggregate's S columns are not its bottom rows in order")
    S = S_df[[c for c in S_df.columns if c != "unique_id"]].to_numpy(dtype=float)
    level_of = {by_id[i][0]: by_id[i][1] for i in ids}
    values = {by_id[i][0]: by_id[i][2] for i in ids}
    tag_index = {level.name: np.array([i for i, n in enumerate(nodes) if level_of[n] == level.name]) for level in kept}
    strict = len(kept) <= 2 or bool(is_strictly_hierarchical(S, tag_index))
    return Hierarchy(tuple(segment_cols), tuple(kept), nodes, values, level_of, S, strict, tuple(notes))


def _distinct_levels(bottom, keys, levels: list[Level]) -> tuple[list[Level], list[str]]:
    """The total and the bottom level always; a level between them when its grouping of the bottom
    segments differs from the total's and from every finer level's."""
    def grouping(level: Level) -> frozenset:
        groups: dict[tuple, set] = {}
        for k in keys:
            groups.setdefault(tuple(str(bottom[k][c]) for c in level.columns), set()).add(k)
        return frozenset(frozenset(g) for g in groups.values())

    groupings = [grouping(level) for level in levels]
    kept, notes = [levels[0]], []
    for i in range(1, len(levels) - 1):
        same = next((levels[j] for j in [*range(len(levels) - 1, i, -1), 0] if groupings[j] == groupings[i]), None)
        if same is None:
            kept.append(levels[i])
        else:
            notes.append(f"level {levels[i].name!r} has the same nodes as {same.name!r}: not repeated")
    return [*kept, levels[-1]], notes
