"""Kept importable for models registered before the layout change: their pickles name
``forecasting.mlflow_model.ForecastModel``. The code lives in :mod:`forecasting.mlops.pyfunc`."""

from forecasting.mlops.pyfunc import ForecastModel  # noqa: F401
