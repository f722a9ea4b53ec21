"""Model families behind one interface, and the registry that names them.

Adding a family: write one module with a :class:`Forecaster` subclass and add one entry to FAMILIES.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from forecasting.models.arima import ArimaForecaster
from forecasting.models.base import (
    FORECAST_COLUMNS,
    Forecaster,
    SeriesContext,
    check_forecast,
)
from forecasting.models.ces import CESForecaster
from forecasting.models.ensemble import EnsembleForecaster
from forecasting.models.ets import ETSForecaster
from forecasting.models.global_model import GlobalMember
from forecasting.models.naive import (
    DriftForecaster,
    MeanForecaster,
    NaiveForecaster,
    SeasonalNaiveForecaster,
)
from forecasting.models.options import (
    FAMILY_OPTIONS,
    HolidayEvent,
    ProphetOptions,
    XGBoostOptions,
)
from forecasting.models.prophet_model import ProphetForecaster
from forecasting.models.theta import ThetaForecaster
from forecasting.models.xgboost_model import XGBoostForecaster

FAMILIES: dict[str, type[Forecaster]] = {
    cls.name: cls
    for cls in (
        NaiveForecaster,
        SeasonalNaiveForecaster,
        DriftForecaster,
        MeanForecaster,
        ETSForecaster,
        ThetaForecaster,
        ArimaForecaster,
        CESForecaster,
        ProphetForecaster,
        XGBoostForecaster,
        GlobalMember,
        EnsembleForecaster,
    )
}
BASELINES = ("naive", "seasonal_naive", "drift", "mean")
# ``global`` is fitted across segments: a run with fewer than two segments of a frequency leaves it out
# (forecasting.global_fit.require_global).
DEFAULT_MODELS = ["ets", "theta", "arima", "ces", "prophet", "xgboost", "global", "ensemble"]


class ModelSpec(BaseModel):
    """Which families compete, and how their forecasts are shaped."""

    models: list[str] = Field(default_factory=lambda: list(DEFAULT_MODELS))
    level: float = Field(0.9, gt=0.5, lt=1, description="prediction interval level")
    seed: int = 0
    holidays_country: str | None = Field("US", description="ISO country for holiday effects; empty for none")
    transform: Literal["none", "log"] = "none"
    non_negative: bool = Field(False, description="clip forecasts and bounds at zero")
    # pooled: chosen on Tourism monthly/quarterly (mean distance from the nominal level at 0.9 and 0.8:
    # 0.080 pooled, 0.085 own, 0.096 shrunk; docs/models-and-selection.md "Intervals")
    calibration: Literal["own", "pooled", "shrunk"] = Field(
        "pooled", description="interval calibration from the segment's own backtest errors, from those of every segment of the same "
                           "frequency and similar history length (pooled), or the own shrunk towards the pool")
    all_models: bool = Field(False, description="also forecast with every candidate, not only the champion (one row per candidate and date)")
    prophet: ProphetOptions = Field(default_factory=ProphetOptions, description="Prophet's settings, and an optional search")
    xgboost: XGBoostOptions = Field(default_factory=XGBoostOptions, description="XGBoost's settings, and an optional search")

    @field_validator("models", mode="before")
    @classmethod
    def _known_models(cls, value):
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [name for name in value if name not in FAMILIES]
        if unknown:
            raise ValueError(f"unknown model {unknown[0]!r}; known models: {', '.join(FAMILIES)}")
        if not value:
            raise ValueError("at least one model is needed")
        # order-preserving de-duplication
        return list(dict.fromkeys(value))

    @field_validator("holidays_country", mode="before")
    @classmethod
    def _country(cls, value):
        if value in ("", None, "none", "None"):
            return None
        import holidays

        if value not in holidays.list_supported_countries():
            raise ValueError(f"unknown holidays country {value!r}; use an ISO code such as US, GB, DE")
        return value

    def family_options(self) -> dict[str, dict]:
        """Every family's options as plain data, the way a :class:`SeriesContext` carries them (events
        inline: a holidays file is read once, here, not on every worker)."""
        return {"prophet": self.prophet.model_dump(mode="json", exclude={"holidays_file"}),
                "xgboost": self.xgboost.model_dump(mode="json")}

    def candidates(self) -> list[str]:
        """Families to backtest: the baselines always, then the requested ones (ensemble last)."""
        names = list(dict.fromkeys([*BASELINES, *self.models]))
        if "ensemble" in names:
            names.remove("ensemble")
            names.append("ensemble")
        return names


def make_forecaster(name: str, context: SeriesContext, params: dict | None = None) -> Forecaster:
    return FAMILIES[name](context, params)


__all__ = [
    "BASELINES",
    "DEFAULT_MODELS",
    "FAMILIES",
    "FAMILY_OPTIONS",
    "FORECAST_COLUMNS",
    "Forecaster",
    "HolidayEvent",
    "ModelSpec",
    "ProphetOptions",
    "XGBoostOptions",
    "SeriesContext",
    "check_forecast",
    "make_forecaster",
]
