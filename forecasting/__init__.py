"""Domain library of finance-forecast-flows: data contract, validation, models, backtesting,
selection. No orchestration (Prefect) inside."""

__version__ = "0.1.0"
