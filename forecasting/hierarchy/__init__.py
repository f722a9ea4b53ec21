"""Forecasting a hierarchy of segments: every level of the segment columns (the total, each region,
each region x product, ...) forecast as segments, then reconciled so every parent is the sum of its
children (hierarchicalforecast's methods; ``auto`` picks one on the backtest). See docs/hierarchy.md."""

from forecasting.hierarchy.levels import AGGREGATED, METHODS, TOTAL, HierarchySpec, Level, parse_levels
from forecasting.hierarchy.reconcile import Reconciliation, ReconciliationError, reconcile
from forecasting.hierarchy.structure import Hierarchy, build_hierarchy

__all__ = ["AGGREGATED", "METHODS", "TOTAL", "Hierarchy", "HierarchySpec", "Level", "Reconciliation", "ReconciliationError",
           "build_hierarchy", "parse_levels", "reconcile"]
