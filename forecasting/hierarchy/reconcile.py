"""Reconciliation: base forecasts of every node in, coherent forecasts out (every parent the sum of
its children), by hierarchicalforecast's ``HierarchicalReconciliation``.

The outcome is frozen in a :class:`Reconciliation` a router can store and apply to new base forecasts:
the method, the node order, the summing matrix ``S``, and for the linear methods the projection ``P``
(reconciled = ``S @ P @ base``); top-down and middle-out (forecast proportions) and non-negative MinT
depend on the forecasts themselves, so it keeps what the library needs to compute them again.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.errors import ForecastingError
from forecasting.hierarchy.structure import Hierarchy
from forecasting.intervals import IntervalCalibration, apply

MINT = ("ols", "wls_struct", "mint_shrink")
NEEDS_RESIDUALS = ("mint_shrink",)
NEEDS_TREE = ("top_down", "middle_out")
NORMALITY = ("bottom_up", *MINT)  # the methods with hierarchicalforecast normality intervals


class ReconciliationError(ForecastingError):
    """A method cannot reconcile these levels or this data (a grouped structure for top-down, a
    singular covariance for MinT)."""


@dataclass(frozen=True, eq=False)
class Reconciliation:
    """A fitted reconciliation, picklable: ``apply(base)`` gives the same numbers the run wrote."""

    method: str
    nodes: tuple[str, ...]
    S: np.ndarray
    tags: dict[str, tuple[str, ...]]
    P: np.ndarray | None = None  # linear methods without --non-negative: reconciled = S @ P @ base
    residuals: np.ndarray | None = None  # nodes x observations: mint_shrink's covariance comes from them
    middle_level: str | None = None
    non_negative: bool = False
    calibrations: dict[str, IntervalCalibration] = field(default_factory=dict)  # node -> interval calibration
    # "normality": bounds by normality_bounds from each node's calibrated base interval (bottom_up, MinT);
    # "calibrated": each node's own family interval around the reconciled forecast, widened by ``calibrations``.
    interval_method: str = "calibrated"
    level: float = 0.9  # the interval level of the bounds

    def apply(self, base: np.ndarray) -> np.ndarray:
        """Reconciled forecasts of every node (rows in ``nodes`` order, a column per period)."""
        base = np.asarray(base, dtype=float)
        if self.P is not None:
            return self.S @ (self.P @ base)
        return reconcile_arrays(self.method, self.S, self.nodes, self.tags, base, self.residuals, self.non_negative, self.middle_level)[0]


def reconciled_forecasts(frozen: Reconciliation, base: np.ndarray, lower: np.ndarray, upper: np.ndarray, own_lower: np.ndarray,
                         own_upper: np.ndarray, steps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The reconciled forecasts and their interval, the same way at training and when a router serves:
    ``base`` with its calibrated interval (``lower``, ``upper``) and the family's own (``own_lower``,
    ``own_upper``), a row per node in ``frozen.nodes`` order, a column per period (``steps``: periods
    ahead of the last observation). ``normality``: a coherent normal interval around the reconciled
    means; ``calibrated``: each node's own interval moved to its reconciled forecast and widened by
    its calibration on the reconciled backtest errors."""
    values = frozen.apply(base)
    if frozen.interval_method == "normality":
        low, high = normality_bounds(frozen, base, lower, upper, frozen.level)
        low, high = np.minimum(low, values), np.maximum(high, values)
    else:
        low, high = np.empty_like(values), np.empty_like(values)
        for i, node in enumerate(frozen.nodes):
            near, far = values[i] - (base[i] - own_lower[i]), values[i] + (own_upper[i] - base[i])
            low[i], high[i] = apply(values[i], near, far, frozen.calibrations.get(node), steps)
    if frozen.non_negative:
        low, high = np.clip(low, 0, None), np.clip(high, 0, None)
    return values, low, high


def check_method(method: str, hierarchy: Hierarchy, middle_level: str | None) -> None:
    """Raise :class:`ReconciliationError` when ``method`` cannot run on these levels at all."""
    if method in NEEDS_TREE and not hierarchy.strict:
        names = ", ".join(level.name for level in hierarchy.levels)
        nested = f"{hierarchy.levels[1].name};{hierarchy.levels[-1].name}" if len(hierarchy.levels) > 2 else ""
        raise ReconciliationError(f"{method} needs a strict hierarchy, each level splitting the one above it; the levels {names} cross "
                                  f"(a grouped structure): name nested levels (--levels \"{nested}\"), or use bottom_up, ols, "
                                  "wls_struct or mint_shrink")
    if method == "middle_out":
        inner = [level.name for level in hierarchy.levels[1:-1]]
        if middle_level not in inner:
            raise ReconciliationError(f"middle_out needs --middle-level, one of the levels between the total and the bottom "
                                      f"({', '.join(inner) or 'there are none'}); got {middle_level!r}")


def reconcile(method: str, hierarchy: Hierarchy, base: np.ndarray, residuals: np.ndarray | None = None, non_negative: bool = False,
              middle_level: str | None = None) -> tuple[np.ndarray, Reconciliation]:
    """Reconcile ``base`` (a row per node in ``hierarchy.nodes`` order, a column per period).

    Args:
        method: bottom_up, top_down, middle_out, ols, wls_struct or mint_shrink.
        residuals: out-of-sample errors of the base forecasts (a row per node, NaN where unknown);
            mint_shrink estimates its covariance from them.
        non_negative: every reconciled value >= 0 (MinT: hierarchicalforecast's non-negative
            quadratic programme; the others are non-negative when their base forecasts are).

    Returns:
        The reconciled forecasts (coherent to 1e-6 relative) and the frozen :class:`Reconciliation`.

    Raises:
        ReconciliationError: the method cannot run on these levels or this data.
    """
    check_method(method, hierarchy, middle_level)
    tags = {name: tuple(nodes) for name, nodes in hierarchy.tags().items()}
    values, P = reconcile_arrays(method, hierarchy.S, hierarchy.nodes, tags, base, residuals, non_negative, middle_level)
    if not hierarchy.is_coherent(values):
        raise ReconciliationError(f"{method} gave forecasts that do not add up (numerically unstable on this data)")
    frozen = Reconciliation(method, hierarchy.nodes, hierarchy.S, tags, P,
                            None if residuals is None else np.asarray(residuals, dtype=float), middle_level, non_negative)
    return values, frozen


def reconcile_arrays(method, S, nodes, tags, base, residuals, non_negative, middle_level) -> tuple[np.ndarray, np.ndarray | None]:
    """hierarchicalforecast on plain arrays: (reconciled, P when the method is a fixed linear map)."""
    out, reconciler, column = _library(method, S, nodes, tags, base, residuals, non_negative, middle_level)
    n, steps = np.shape(base)
    values = out[column].to_numpy(dtype=float).reshape(n, steps)
    if non_negative and (values < 0).any():  # forecast proportions of a negative base: clip the bottom, add up again
        values = S @ np.clip(values[n - S.shape[1]:], 0, None)
    linear = method in ("bottom_up", *MINT) and not non_negative and getattr(reconciler, "P", None) is not None
    return values, (np.asarray(reconciler.P, dtype=float) if linear else None)


def normality_bounds(frozen: Reconciliation, base: np.ndarray, lower: np.ndarray, upper: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """hierarchicalforecast's normality intervals at ``level``: each node's standard deviation read off
    its base interval (``lower``, ``upper``), propagated through ``S P`` with the method's covariance
    (``W``): the interval of a coherent normal distribution. Only for bottom_up and MinT (``NORMALITY``)."""
    if frozen.method not in NORMALITY:
        raise ReconciliationError(f"{frozen.method} has no normality intervals (forecast proportions)")
    percent = round(level * 100, 6)
    percent = int(percent) if float(percent).is_integer() else percent
    bounds = (np.asarray(lower, float), np.asarray(upper, float), percent)
    out, _, column = _library(frozen.method, frozen.S, frozen.nodes, frozen.tags, base, frozen.residuals, frozen.non_negative,
                              frozen.middle_level, bounds)
    n, steps = np.shape(base)
    lo, hi = (out[f"{column}-{side}-{percent}"].to_numpy(float).reshape(n, steps) for side in ("lo", "hi"))
    return np.minimum(lo, hi), np.maximum(lo, hi)


def _library(method, S, nodes, tags, base, residuals, non_negative, middle_level, bounds=None):
    """One call of ``HierarchicalReconciliation.reconcile`` on arrays: (its output, the reconciler, the
    reconciled column)."""
    from hierarchicalforecast.core import HierarchicalReconciliation

    base = np.asarray(base, dtype=float)
    n, steps = base.shape
    if method in NEEDS_RESIDUALS and (residuals is None or np.asarray(residuals).shape[1] < 2):
        raise ReconciliationError(f"{method} needs out-of-sample errors from at least one earlier backtest fold")
    ids = np.array(nodes, dtype=object)
    S_df = pd.DataFrame(S, columns=list(nodes[n - S.shape[1]:]))
    S_df.insert(0, "unique_id", ids)
    Y_hat = pd.DataFrame({"unique_id": np.repeat(ids, steps), "ds": np.tile(np.arange(steps), n), "base": base.ravel()})
    extra = {}
    if bounds is not None:
        lower, upper, percent = bounds
        Y_hat[f"base-lo-{percent}"], Y_hat[f"base-hi-{percent}"] = lower.ravel(), upper.ravel()
        extra = {"level": [percent], "intervals_method": "normality"}
    Y = None
    if method in NEEDS_RESIDUALS:
        res = np.asarray(residuals, dtype=float)
        Y = pd.DataFrame({"unique_id": np.repeat(ids, res.shape[1]), "ds": np.tile(np.arange(res.shape[1]), n), "y": res.ravel(), "base": 0.0})
    reconciler = reconciler_for(method, non_negative, middle_level)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = HierarchicalReconciliation([reconciler]).reconcile(
                Y_hat_df=Y_hat, S_df=S_df, tags={k: np.array(v, dtype=object) for k, v in tags.items()}, Y_df=Y, is_balanced=True, **extra)
    except Exception as exc:  # the library's own failures (an ill-conditioned covariance) name no type of their own
        raise ReconciliationError(f"{method} failed on this data: {str(exc).strip().splitlines()[0]}") from exc
    column = next(c for c in out.columns if c.startswith("base/") and "-lo-" not in c and "-hi-" not in c)
    return out, reconciler, column


def reconciler_for(method: str, non_negative: bool, middle_level: str | None):
    from hierarchicalforecast.methods import BottomUp, MiddleOut, MinTrace, TopDown

    if method == "bottom_up":
        return BottomUp()
    if method == "top_down":
        return TopDown(method="forecast_proportions")
    if method == "middle_out":
        return MiddleOut(middle_level=middle_level, top_down_method="forecast_proportions")
    if method in MINT:
        return MinTrace(method=method, nonnegative=non_negative)
    raise ReconciliationError(f"unknown reconciliation method {method!r}")
