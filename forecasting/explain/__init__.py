"""Explaining forecasts the way finance reads them: additive components per period, a bridge from
the same periods last year, what changed since the previous forecast, and how forecastable a segment is."""
