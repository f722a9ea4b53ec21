"""A trained segment explained: its champion's components, the actuals split alike, and the bridge."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecasting.explain.bridge import Bridge, bridge
from forecasting.explain.components import Components, explain_forecast, with_reconciliation
from forecasting.explain.history import history_components


@dataclass
class Explanation:
    components: Components  # per forecast period, adding up to the champion's yhat
    bridge: Bridge  # last year's actual -> each component's change -> the forecast
    actuals_split: str  # how last year's actuals were split into the same components
    actuals: pd.DataFrame | None = None  # the history's actuals in components (what the bridge compares with)
    frequency: str = ""


def explain_segment(model, history: pd.DataFrame, future: pd.DataFrame, forecast: pd.DataFrame, frequency: str) -> Explanation:
    """Explain ``forecast`` (the champion ``model``'s, as written) given the ``history`` it was fitted on
    and the ``future`` covariates; raises when the components do not add up to its ``yhat``."""
    dates = pd.DatetimeIndex(forecast["ds"])
    components = explain_forecast(model, history, dates, future)
    yhat = forecast["yhat"].to_numpy(dtype=float)
    if not np.allclose(components.total(), yhat, rtol=1e-9, atol=1e-9):
        raise ValueError(f"{model.name}: the components do not add up to the forecast")
    actuals, how = history_components(model, history)
    return Explanation(components, bridge(components.frame, actuals, frequency), how, actuals, frequency)


def reconciled(explanation: Explanation, reconciled_yhat) -> Explanation:
    """The explanation of a reconciled forecast: a ``reconciliation`` component (reconciled minus the
    segment's own forecast) keeps the components' sum exact, and the bridge has it as a step."""
    if explanation.actuals is None:
        raise ValueError("this explanation kept no split of the actuals: its bridge cannot be rebuilt")
    components = with_reconciliation(explanation.components, reconciled_yhat)
    return replace(explanation, components=components, bridge=bridge(components.frame, explanation.actuals, explanation.frequency))
