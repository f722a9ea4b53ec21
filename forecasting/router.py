"""Kept importable for routers registered before the layout change: their pickles name
``forecasting.router.RouterModel``. The code lives in :mod:`forecasting.mlops.router`."""

from forecasting.mlops.router import RouterModel  # noqa: F401
