"""Tree-model predictions split by feature: the SHAP values XGBoost (``pred_contribs``) and LightGBM
(``pred_contrib``) compute natively, summed into components by a feature -> component map."""

from __future__ import annotations

import numpy as np


def grouped_contributions(contributions: np.ndarray, prediction: np.ndarray, feature_components: list[str],
                          bias_component: str = "trend") -> dict[str, np.ndarray]:
    """Each component's share of ``prediction``, row by row.

    Args:
        contributions: one row per prediction, one column per feature and the bias last (the layout both
            XGBoost and LightGBM return).
        prediction: the model's prediction for each row (what the rows must add up to).
        feature_components: the component each feature column belongs to.
        bias_component: where the bias (the trees' base value) goes.

    Returns:
        ``{component: values}``; ``remainder`` holds what the contributions miss of the prediction
        (float32 rounding in the trees, ~1e-7 relative), so the components add up to ``prediction``.
    """
    contributions = np.asarray(contributions, dtype=float)
    if contributions.shape[1] != len(feature_components) + 1:
        raise ValueError(f"{contributions.shape[1]} contribution columns for {len(feature_components)} features and a bias")
    out: dict[str, np.ndarray] = {}
    for column, component in enumerate([*feature_components, bias_component]):
        out[component] = out.get(component, 0.0) + contributions[:, column]
    total = sum(out.values())
    out["remainder"] = out.get("remainder", 0.0) + (np.asarray(prediction, dtype=float) - total)
    return out


def xgboost_contributions(booster, rows: np.ndarray) -> np.ndarray:
    """SHAP values of an XGBoost booster for ``rows`` (features plus the bias column)."""
    import xgboost as xgb

    return np.asarray(booster.predict(xgb.DMatrix(np.asarray(rows, dtype=float)), pred_contribs=True), dtype=float)
