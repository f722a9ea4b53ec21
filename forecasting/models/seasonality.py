"""A yearly season too long for state-space models (52 weeks), as Fourier terms: estimated by
regression on the history and removed before a family fits, added back to its forecast. This is how
weekly data with a yearly pattern is modelled on two or three years of history, where seasonal ETS or
ARIMA at m = 52 either picks a non-seasonal form or takes minutes (Hyndman & Athanasopoulos, FPP3,
"Weekly data": dynamic harmonic regression)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_HARMONICS = 6


@dataclass
class FourierSeason:
    """The seasonal component ``sum_k a_k sin(2 pi k t / P) + b_k cos(2 pi k t / P)``, on the log scale
    for a positive series (a multiplicative season) or on the values otherwise."""

    period: float
    coefficients: np.ndarray  # a_1, b_1, ..., a_K, b_K
    log: bool

    @property
    def harmonics(self) -> int:
        return len(self.coefficients) // 2

    @classmethod
    def fit(cls, y: np.ndarray, period: float) -> "FourierSeason | None":
        """The number of harmonics (0 to 6) with the lowest AICc of ``level + trend + harmonics``; None
        with less than a full period of history or when no harmonic earns its place."""
        y = np.asarray(y, dtype=float)
        n = len(y)
        if n < period + 4:
            return None
        log = bool((y > 0).all())
        z = np.log(y) if log else y
        t = np.arange(n, dtype=float)
        base = np.column_stack([np.ones(n), t / n])
        best, best_aicc = None, _aicc(z, base)
        for k in range(1, MAX_HARMONICS + 1):
            design = np.column_stack([base, _terms(t, period, k)])
            if design.shape[1] >= n - 2:
                break
            aicc = _aicc(z, design)
            if aicc < best_aicc:
                best, best_aicc = (k, design), aicc
        if best is None:
            return None
        k, design = best
        coef, *_ = np.linalg.lstsq(design, z, rcond=None)
        return cls(period, coef[2:], log)

    def component(self, positions: np.ndarray) -> np.ndarray:
        """The seasonal component at positions counted from the first fitted period (0)."""
        return _terms(np.asarray(positions, dtype=float), self.period, self.harmonics) @ self.coefficients

    def remove(self, y: np.ndarray) -> np.ndarray:
        s = self.component(np.arange(len(y)))
        return y / np.exp(s) if self.log else y - s

    def restore(self, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        s = self.component(positions)
        return values * np.exp(s) if self.log else values + s


def _terms(t: np.ndarray, period: float, harmonics: int) -> np.ndarray:
    columns = []
    for k in range(1, harmonics + 1):
        angle = 2 * np.pi * k * t / period
        columns += [np.sin(angle), np.cos(angle)]
    return np.column_stack(columns) if columns else np.empty((len(t), 0))


def _aicc(z: np.ndarray, design: np.ndarray) -> float:
    n, p = design.shape
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    rss = float(np.sum((z - design @ coef) ** 2))
    if rss <= 0 or n - p - 1 <= 0:
        return float("inf")
    return n * np.log(rss / n) + 2 * p + 2 * p * (p + 1) / (n - p - 1)
