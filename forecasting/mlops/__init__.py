"""The MLOps layer: MLflow tracking of every training run and segment, the pyfunc every registered
model is, the registry (versions, aliases, cleanup), smoke tests, promotion, and the multi-segment
router. Depends only on the domain (``forecasting``'s top level)."""
