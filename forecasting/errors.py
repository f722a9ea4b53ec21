"""Errors a user can cause, each with a one-line message naming the segment, column or value."""


class ForecastingError(Exception):
    """Base class: the CLI prints the message on one line and exits non-zero."""


class DataError(ForecastingError):
    """The input table or a segment of it cannot be used as given."""


class ConfigError(ForecastingError, ValueError):
    """A setting is invalid (unknown model, impossible horizon, ...)."""


class ModelFitError(ForecastingError):
    """A model family could not produce a usable forecast for a segment."""


class SourceError(DataError):
    """A data source or forecast table cannot be read or written: unreachable, refused, empty, or
    missing columns. The message names the source with its password redacted. ``transient``: a
    connection-level failure that a retry may fix (an unreachable database), not a refusal."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.transient = transient

    def __reduce__(self):  # picklable with its flag (task results and states are persisted)
        return (SourceError, (str(self), self.transient))
