"""Prophet with country holidays and custom events, covariates as regressors, seasonalities chosen from
data length, the user's options (:class:`forecasting.models.options.ProphetOptions`) and an optional
search of seasonality mode and prior scales on an inner split of the window it is fitted on."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from forecasting.frequency import future_dates, periods_per_year
from forecasting.models.base import Forecaster, PathForecast
from forecasting.models.calendar import holiday_names
from forecasting.models.options import PROPHET_GRID, ProphetOptions, search


def weekly_holidays(history_dates: pd.DatetimeIndex, freq: str, country: str) -> pd.DataFrame:
    """Prophet's holidays table for weekly data: each holiday of the history's years and the next three,
    named, on the week it falls in (the 7 days ending on the W- anchor date)."""
    anchor = pd.tseries.frequencies.to_offset(freq)
    rows = [(name, anchor.rollforward(day)) for day, name in holiday_names(country, history_dates[0].year - 1, history_dates[-1].year + 3)]
    return pd.DataFrame(rows, columns=["holiday", "ds"]).drop_duplicates().reset_index(drop=True)


def _quiet_prophet() -> None:
    """cmdstanpy configures its logger on first use unless it already has a handler, and prophet sets
    its own to INFO on import: pre-empt the one, then quiet the other."""
    stan = logging.getLogger("cmdstanpy")
    if not stan.handlers:
        stan.addHandler(logging.NullHandler())
    stan.setLevel(logging.WARNING)
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)  # "plotly not installed" at import
    import prophet  # noqa: F401

    logging.getLogger("prophet").setLevel(logging.ERROR)


class ProphetForecaster(Forecaster):
    name = "prophet"
    complexity = 4
    uses_covariates = True
    # with options.search, fold 1 searches and later folds refit its choice (see Forecaster)
    reuses_search = True

    def options(self) -> ProphetOptions:
        return ProphetOptions.model_validate(self.context.family_options("prophet"))

    def _build(self, n: int, settings: dict | None = None, options: ProphetOptions | None = None):
        _quiet_prophet()
        from prophet import Prophet

        options = options or self.options()
        settings = settings or options.settings()
        freq = self.context.frequency
        per_year = periods_per_year(freq)
        daily_like = freq in ("D", "B")
        holidays = options.events_frame()
        if self._weekly_holidays():  # weekly dates rarely fall on the holiday: each holiday marks the week it falls in
            weekly = weekly_holidays(self._history_dates, freq, self.context.holidays_country)
            holidays = weekly if holidays is None else pd.concat([holidays, weekly], ignore_index=True)
        model = Prophet(
            growth=options.growth,
            yearly_seasonality=bool(n >= 1.5 * per_year),
            weekly_seasonality=daily_like and n >= 14,
            daily_seasonality=False,
            holidays=holidays,
            interval_width=self.context.level,
            uncertainty_samples=300,
            **settings,
        )
        if self.context.holidays_country and daily_like:
            model.add_country_holidays(country_name=self.context.holidays_country)
        for name in self.context.covariates:
            model.add_regressor(name)
        return model

    def _weekly_holidays(self) -> bool:
        return bool(self.context.holidays_country) and self.context.frequency.startswith("W-")

    def _fit(self, y, covariates):
        frame = pd.DataFrame({"ds": self._history_dates, "y": y})
        if covariates is not None:
            frame = pd.concat([frame, covariates.reset_index(drop=True)], axis=1)
        options = self.options()
        settings, record = options.settings(), None
        if "search" in self.params:  # an earlier fold's search: refit its choice, never search again
            record = self.params["search"]
            settings.update(record.get("chosen") or {})
        elif options.search:
            chosen, record = search(lambda setting, train, test: self._fit_predict(options, {**settings, **setting}, train, test),
                                    self._grid(y), frame, self.context.season_length, min_train=2 * self.context.season_length + 10)
            settings.update(chosen or {})
        self.model = self._build(len(y), settings, options)
        self.model.fit(frame, algorithm="LBFGS")
        self.params = {
            "yearly_seasonality": bool(self.model.yearly_seasonality),
            "weekly_seasonality": bool(self.model.weekly_seasonality),
            "holidays_country": self.context.holidays_country,
            "growth": options.growth,
            **settings,
            "events": len(options.events),
        }
        if record is not None:
            self.params["search"] = record

    @staticmethod
    def _grid(y) -> list[dict]:
        """Multiplicative seasonality scales with the level: only offered for a positive series."""
        return [s for s in PROPHET_GRID if s["seasonality_mode"] == "additive" or float(np.min(y)) > 0]

    def _fit_predict(self, options: ProphetOptions, settings: dict, train: pd.DataFrame, test: pd.DataFrame):
        model = self._build(len(train), settings, options)
        model.uncertainty_samples = 0  # the search scores point forecasts only
        model.fit(train, algorithm="LBFGS")
        return model.predict(test.drop(columns=["y"]))["yhat"].to_numpy(float)

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("model", None)  # stored with Prophet's own JSON serializer, not pickle
        return state

    def _save_extra(self, path: Path) -> None:
        from prophet.serialize import model_to_json

        (path / "prophet.json").write_text(model_to_json(self.model))

    def _load_extra(self, path: Path) -> None:
        _quiet_prophet()
        from prophet.serialize import model_from_json

        self.model = model_from_json((path / "prophet.json").read_text())

    def _path(self, steps, covariates):
        future = pd.DataFrame({"ds": future_dates(self.last_date, steps, self.context.frequency)})
        if covariates is not None:
            future = pd.concat([future, covariates.reset_index(drop=True)], axis=1)
        np.random.seed(self.context.seed)  # Prophet's interval sampling uses the global generator
        out = self.model.predict(future)
        return PathForecast(out["yhat"].to_numpy(float), out["yhat_lower"].to_numpy(float), out["yhat_upper"].to_numpy(float))
