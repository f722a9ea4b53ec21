"""Domain library of finance-forecast-flows. No orchestration (Prefect) inside.

Layers, lowest first; an import only ever points down this list:

- the domain, at this package's top: ``contract`` (data spec, segment keys), ``tables`` (reading and
  writing tables), ``frequency``, ``validation/``, ``models/``, ``metrics``, ``backtest``,
  ``selection``, ``pipeline``, plus ``system/`` (state directory, processes, retry classification);
- ``mlops/``: MLflow tracking, the pyfunc, registry, smoke tests, promotion, router;
- ``serving/``: deployment targets (local ``mlflow models serve``, Databricks Model Serving);
- ``ops/``: actuals comparison, batch forecasts, monitoring, health, summaries, exports.

``mlflow_model`` and ``router`` at this level are aliases kept for models registered before the
layout change (their pickles name those paths).
"""

__version__ = "0.1.0"
