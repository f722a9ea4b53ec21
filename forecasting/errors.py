"""Errors a user can cause, each with a one-line message naming the segment, column or value."""


class ForecastingError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class DataError(ForecastingError):
    """The input table or a segment of it cannot be used as given."""


class ConfigError(ForecastingError, ValueError):
    """A setting is invalid (unknown model, impossible horizon, ...)."""


class ModelFitError(ForecastingError):
    """A model family could not produce a usable forecast for a segment."""
