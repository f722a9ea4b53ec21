"""How forecastable a segment is, from measured features of its history: spectral entropy (how much of
its variation is structure rather than noise), seasonal and trend strength (STL, Wang, Smith & Hyndman
2006), series length and intermittency; a grade, and a note where aggregating would help."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from forecasting.explain.decompose import stl_split

# The grade is read from the relative noise (the STL remainder's spread over the mean level): on M3
# monthly it ranks the champion's test sMAPE best of the features (Spearman 0.87; spectral entropy 0.57,
# trend strength -0.64). The cuts are where the median champion sMAPE reaches 5, 10 and 20 % on M3
# monthly; checked on Tourism monthly and M3 quarterly (docs/explain.md).
GRADES = ("A", "B", "C", "D")
NOISE_CUTS = (0.025, 0.065, 0.135)
TYPICAL_SMAPE = {"A": "under 5 %", "B": "5-10 %", "C": "10-20 %", "D": "over 20 %"}
# Syntetos & Boylan (2005): demand with an average interval between non-zero values above 1.32 is
# intermittent (a zero share above ~24 %), where level-and-season models forecast poorly.
INTERMITTENT_ADI = 1.32
COARSER = {"D": "W-MON", "B": "W-MON", "W": "MS", "M": "QS", "Q": "YS"}


@dataclass(frozen=True)
class Forecastability:
    """Measured features of a segment's history and the grade they give."""

    grade: str  # A (most forecastable) .. D
    spectral_entropy: float  # 0 (one clean cycle) .. 1 (white noise)
    seasonal_strength: float | None  # 0 .. 1; None without a season to measure
    trend_strength: float | None
    periods: int
    seasons: float | None  # full seasons of history (None without a season)
    zero_share: float  # share of periods with a zero value (intermittency)
    relative_noise: float  # spread of the irregular (STL remainder) over the mean level
    note: str = ""  # what would help a weak segment (empty for A and B)

    def as_columns(self) -> dict:
        return {f"forecastability_{k}" if k != "grade" else "forecastability": v for k, v in asdict(self).items()}


def spectral_entropy(values: np.ndarray) -> float:
    """Normalized Shannon entropy of the periodogram (Goerg's ForeCA measure): near 0 for a series
    that is one clean cycle, 1 for white noise. Taken on the demeaned, linearly detrended series."""
    from scipy.signal import periodogram

    values = np.asarray(values, dtype=float)
    if len(values) < 8 or np.std(values) == 0:
        return 0.0
    _, power = periodogram(values, detrend="linear", scaling="spectrum")
    power = power[1:]
    if power.sum() <= 0:
        return 0.0
    p = power / power.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum() / np.log(len(power)))


def strengths(values: np.ndarray, season: int) -> tuple[float | None, float | None]:
    """Seasonal and trend strength ``max(0, 1 - Var(R) / Var(S + R))`` (resp. ``T + R``) from STL."""
    values = np.asarray(values, dtype=float)
    if season < 2 or len(values) < 2 * season + 1:
        return None, None
    trend, seasonal, remainder = stl_split(values, season)
    strength = lambda part: float(max(0.0, 1 - np.var(remainder) / np.var(part + remainder))) if np.var(part + remainder) > 0 else 0.0  # noqa: E731
    return strength(seasonal), strength(trend)


def relative_noise(values: np.ndarray, season: int) -> float:
    """The irregular's spread over the level: ``std(STL remainder) / mean(|y|)`` (without a season to
    split, the remainder around a centred 5-period moving average)."""
    values = np.asarray(values, dtype=float)
    level = float(np.mean(np.abs(values))) if len(values) else 0.0
    if level == 0:
        return float("inf")
    if season >= 2 and len(values) >= 2 * season + 1:
        remainder = stl_split(values, season)[2]
    else:
        remainder = values - np.convolve(np.pad(values, 2, mode="edge"), np.ones(5) / 5, mode="valid")
    return float(np.std(remainder) / level)


def assess(values, season: int, frequency: str = "") -> Forecastability:
    """The features of a history (observed values, oldest first) and its grade: A to D by relative
    noise (typical champion sMAPE under 5 %, 5-10 %, 10-20 %, over 20 %), one grade lower for a history
    under two seasons (or 10 periods), D when intermittent; a note for C and D says what would help."""
    y = np.asarray(values, dtype=float)
    n = len(y)
    seasonal, trend = strengths(y, season)
    noise = relative_noise(y, season)
    zero_share = float(np.mean(y == 0)) if n else 0.0
    nonzero = int(np.count_nonzero(y))
    grade = GRADES[int(np.searchsorted(NOISE_CUTS, noise, side="right"))] if np.isfinite(noise) else "D"
    reasons = [f"its irregular movement is {noise:.0%} of its level" if np.isfinite(noise) else "its values average zero"]
    short = n < max(2 * season, 10)
    if short and grade != "D":
        grade = GRADES[GRADES.index(grade) + 1]
        reasons.append(f"only {n} periods of history")
    if nonzero and n / nonzero > INTERMITTENT_ADI:
        grade = "D"
        reasons.append(f"intermittent: {zero_share:.0%} of periods are zero")
    note = ""
    if grade in ("C", "D"):
        coarser = COARSER.get(frequency[:1] if frequency else "", None)
        help_ = f"aggregating it (--aggregate {coarser}) or merging it with a related segment" if coarser else "merging it with a related segment"
        note = f"weak ({'; '.join(reasons)}): {help_} would give a steadier series to forecast"
    return Forecastability(grade, spectral_entropy(y), seasonal, trend, n, n / season if season >= 2 else None, zero_share, noise, note)


def grade_line(result: Forecastability) -> str:
    """One line for the CLI summary."""
    season = f", seasonal strength {result.seasonal_strength:.2f}" if result.seasonal_strength is not None else ""
    return (f"forecastability {result.grade} (typical error {TYPICAL_SMAPE[result.grade]}): relative noise {result.relative_noise:.1%}, "
            f"spectral entropy {result.spectral_entropy:.2f}{season}, {result.periods} periods" + (f", {result.zero_share:.0%} zeros" if result.zero_share else ""))
