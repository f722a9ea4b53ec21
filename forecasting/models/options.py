"""Per-family options: typed, validated settings for Prophet and XGBoost (the Prefect form shows them),
and the small search each can run on an inner split of the history it is fitted on.

Honest by construction: a family searches only on the window it is given. In the backtest that is a
fold's training window (fold 1 searches, later folds reuse fold 1's choice, as ETS and ARIMA reuse
their form and order), so no fold's score depends on data after its cutoff; the final refit searches
the full history again."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, model_validator

from forecasting.errors import ConfigError


class HolidayEvent(BaseModel):
    """A dated event Prophet models like a holiday (a promotion, a closing, a one-off)."""

    model_config = ConfigDict(extra="forbid")

    ds: dt.date
    holiday: str = Field(..., min_length=1, description="the event's name; events sharing a name share an effect")
    lower_window: int = Field(0, le=0, ge=-366, description="days before ds the effect starts (0 or negative)")
    upper_window: int = Field(0, ge=0, le=366, description="days after ds the effect lasts")


class ProphetOptions(BaseModel):
    """Prophet's settings (Prophet's own defaults unless given)."""

    model_config = ConfigDict(extra="forbid")

    seasonality_mode: Literal["additive", "multiplicative"] = Field("additive", description="multiplicative: seasonal swings grow with the level")
    changepoint_prior_scale: float = Field(0.05, gt=0, le=10, description="trend flexibility: larger follows trend changes more closely")
    seasonality_prior_scale: float = Field(10.0, gt=0, le=100, description="seasonality flexibility")
    holidays_prior_scale: float = Field(10.0, gt=0, le=100, description="holiday and event effect flexibility")
    # logistic growth needs a capacity per date, which the data contract does not carry
    growth: Literal["linear", "flat"] = Field("linear", description="linear trend, or flat (no trend)")
    holidays_file: str | None = Field(None, description="CSV of events: ds, holiday[, lower_window, upper_window]; read into `events`")
    events: list[HolidayEvent] = Field(default_factory=list, description="events modelled like holidays (besides the country's)")
    search: bool = Field(False, description="choose seasonality mode and changepoint/seasonality prior scales (12 settings) on an inner split of each training window")

    @model_validator(mode="after")
    def _read_events(self) -> "ProphetOptions":
        if self.holidays_file:
            from_file = read_events(self.holidays_file)
            if self.events and self.events != from_file:
                raise ValueError(f"give holidays_file or events, not both (holidays_file {self.holidays_file!r} has other events)")
            self.events = from_file  # the events themselves, so a model and its cache key carry them
        return self

    def settings(self) -> dict:
        """The tunable settings Prophet is built with."""
        return {k: getattr(self, k) for k in ("seasonality_mode", "changepoint_prior_scale", "seasonality_prior_scale", "holidays_prior_scale")}

    def events_frame(self) -> pd.DataFrame | None:
        if not self.events:
            return None
        return pd.DataFrame([{**e.model_dump(), "ds": pd.Timestamp(e.ds)} for e in self.events])


class XGBoostOptions(BaseModel):
    """The gradient-boosted trees' settings."""

    model_config = ConfigDict(extra="forbid")

    n_estimators: int = Field(300, ge=10, le=5000, description="trees")
    max_depth: int = Field(4, ge=1, le=12, description="depth of each tree")
    learning_rate: float = Field(0.05, gt=0, le=1, description="shrinkage per tree")
    lags: int | None = Field(None, ge=1, le=366, description="lagged periods as features (default: the season, at least 7, at most 28)")
    search: bool = Field(False, description="choose depth, learning rate and trees (12 settings) on an inner split of each training window")

    def settings(self) -> dict:
        return {k: getattr(self, k) for k in ("n_estimators", "max_depth", "learning_rate")}


FAMILY_OPTIONS: dict[str, type[BaseModel]] = {"prophet": ProphetOptions, "xgboost": XGBoostOptions}

PROPHET_GRID = [
    {"changepoint_prior_scale": c, "seasonality_prior_scale": s, "seasonality_mode": m}
    for c, s, m in itertools.product((0.01, 0.05, 0.5), (1.0, 10.0), ("additive", "multiplicative"))
]
XGBOOST_GRID = [
    {"max_depth": d, "learning_rate": r, "n_estimators": n}
    for d, r, n in itertools.product((3, 5, 7), (0.03, 0.1), (200, 400))
]


def read_events(path: str) -> list[HolidayEvent]:
    """Events from a CSV with columns ds, holiday[, lower_window, upper_window]; a bad file is a one-line
    error naming the file, the row and the column."""
    file = Path(path).expanduser()
    if not file.is_file():
        raise ConfigError(f"holidays_file {path!r} does not exist")
    frame = pd.read_csv(file, dtype=str)
    missing = [c for c in ("ds", "holiday") if c not in frame.columns]
    if missing:
        raise ConfigError(f"holidays_file {path!r} needs columns ds, holiday[, lower_window, upper_window]; missing {', '.join(missing)}")
    events = []
    for i, row in enumerate(frame.to_dict("records"), start=2):  # row 1 is the header
        record = {k: v for k, v in row.items() if k in ("ds", "holiday", "lower_window", "upper_window") and isinstance(v, str) and v.strip()}
        try:
            events.append(HolidayEvent.model_validate(record))
        except ValueError as exc:
            first = exc.errors()[0] if hasattr(exc, "errors") else {"loc": ("?",), "msg": str(exc)}
            column = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"holidays_file {path!r}, row {i}, column {column}: {first['msg']} (got {row.get(column)!r})") from None
    if not events:
        raise ConfigError(f"holidays_file {path!r} has no events")
    return events


def inner_split(n: int, season: int) -> int:
    """Periods held out at the end of a window to score the search: a fifth of the window, at most two
    seasons (at least 12 periods of cap), at least one."""
    return max(1, min(n // 5, max(2 * season, 12)))


def search(fit_and_forecast, grid: list[dict], history: pd.DataFrame, season: int, min_train: int) -> tuple[dict | None, dict]:
    """Score every setting of ``grid`` on an inner split of ``history`` (fit on the start, forecast the
    held-out end, mean absolute error) and return the best setting with a record of the search: the
    last date it fitted on, the last date it scored (never after ``history``'s end), the scores.

    ``fit_and_forecast(setting, train, test) -> yhat`` fits one setting. A window too short to split
    (fewer than ``min_train`` periods before the held-out part) is not searched: ``(None, record)``."""
    n = len(history)
    held_out = inner_split(n, season)
    if n - held_out < min_train:
        return None, {"skipped": f"window of {n} periods is too short to search (needs {min_train + held_out})"}
    train, test = history.iloc[: n - held_out], history.iloc[n - held_out:]
    actual = test["y"].to_numpy(dtype=float)
    scores = []
    for setting in grid:
        try:
            yhat = np.asarray(fit_and_forecast(setting, train, test), dtype=float)
            error = float(np.mean(np.abs(actual - yhat)))
        except Exception:  # a setting that cannot fit this window is simply not chosen
            error = float("inf")
        scores.append(error if np.isfinite(error) else float("inf"))
    best = int(np.argmin(scores))
    if not np.isfinite(scores[best]):
        return None, {"skipped": "no setting could be fitted on the inner split"}
    record = {"settings": len(grid), "fitted_through": str(pd.Timestamp(train["ds"].iloc[-1]).date()),
              "scored_through": str(pd.Timestamp(test["ds"].iloc[-1]).date()), "held_out": held_out,
              "mae": round(scores[best], 6), "chosen": grid[best]}
    return grid[best], record


def option_names(family: str) -> list[str]:
    """The options a ``family.option=value`` assignment may set (events come from a holidays file)."""
    return [name for name in FAMILY_OPTIONS[family].model_fields if name != "events"]


def parse_assignments(assignments: list[str]) -> dict[str, dict]:
    """``["prophet.seasonality_mode=multiplicative", "xgboost.max_depth=6"]`` as ModelSpec fields,
    each value checked on its own: a bad name or value is a one-line :class:`ConfigError` naming the
    option and what it accepts."""
    from pydantic import ValidationError

    out: dict[str, dict] = {}
    for text in assignments:
        key, sep, value = text.partition("=")
        family, dot, option = key.strip().partition(".")
        if not sep or not dot or not option:
            raise ConfigError(f"model option {text!r}: expected FAMILY.OPTION=VALUE, e.g. prophet.seasonality_mode=multiplicative")
        if family not in FAMILY_OPTIONS:
            raise ConfigError(f"model option {key!r}: no options for {family!r}; families with options: {', '.join(FAMILY_OPTIONS)}")
        if option not in option_names(family):
            raise ConfigError(f"model option {key!r}: unknown option; {family} options: {', '.join(option_names(family))}")
        try:
            FAMILY_OPTIONS[family].model_validate({option: value.strip()})
        except ValidationError as exc:
            first = exc.errors()[0]
            message = first["msg"].removeprefix("Value error, ")
            raise ConfigError(f"model option {key}={value.strip()!r}: {message}; allowed: {allowed(family, option)}") from None
        out.setdefault(family, {})[option] = value.strip()
    return out


def allowed(family: str, option: str) -> str:
    """What an option accepts, in words: its choices, or its type and range."""
    import typing

    info = FAMILY_OPTIONS[family].model_fields[option]
    kind = info.annotation
    if typing.get_origin(kind) is Literal:
        return " | ".join(typing.get_args(kind))
    args = [a for a in typing.get_args(kind) if a is not type(None)] or [kind]
    name = {int: "an integer", float: "a number", bool: "true | false", str: "a file path"}.get(args[0], str(args[0]))
    bounds = []
    for rule in info.metadata:
        for attr, word in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<=")):
            if getattr(rule, attr, None) is not None:
                bounds.append(f"{word} {getattr(rule, attr)}")
    return name + (f" {' and '.join(bounds)}" if bounds else "")
