"""How often validation speaks up on complete, real data: the share of series with an outlier warning
and the number whose last period is called incomplete, with the product's own rules
(``forecasting.preprocess``) and the default policy, on M3, M1 and Tourism.

    python -m benchmarks.validation_checks

Competition series are complete by construction: every incomplete-period call on them is a false
alarm, and an outlier warning on most of them would be noise.
"""

from __future__ import annotations

import numpy as np

from benchmarks.datasets import SETS
from forecasting.frequency import season_length
from forecasting.preprocess import checks_trailing, outlier_scores, trailing_drop
from forecasting.validation import ValidationPolicy


def main() -> int:
    policy = ValidationPolicy()
    print(f"{'set':20s} {'series':>7s} {'outlier warning':>16s} {'incomplete last period':>24s}")
    for name in ("m3-yearly", "m3-quarterly", "m3-monthly", "m3-other", "m1-yearly", "m1-quarterly", "m1-monthly",
                 "tourism-yearly", "tourism-quarterly", "tourism-monthly"):
        series = SETS[name]()
        flagged = trailing = 0
        for s in series:
            y = np.asarray(s.train, float)
            season = season_length(s.frequency)
            flagged += bool((outlier_scores(y, season) > policy.outlier_threshold).any())
            if checks_trailing(s.frequency):
                trailing += trailing_drop(y, season, policy.incomplete_ratio, policy.outlier_threshold) is not None
        print(f"{name:20s} {len(series):7d} {flagged / len(series):15.1%} {trailing:24d}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
