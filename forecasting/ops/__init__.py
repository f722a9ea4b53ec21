"""The operations layer: forecast vs actuals, batch forecasts from the champions, endpoint monitoring,
health checks, executive summaries and exports. Depends on the domain, MLOps and serving layers."""
