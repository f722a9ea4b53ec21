"""What changed since the previous forecast: per segment, the change in the total over the periods both
vintages forecast, split exactly into new actuals (data), a change of champion (model) and the rest.

The split, per segment, over the overlap (the periods both vintages forecast):

* **data**: the previous forecast's average miss on the actuals that arrived in between, carried over
  every overlap period: how far the forecast moves if it simply follows the level the new actuals
  showed (0 when no actual arrived);
* **model**: when the champion changed and the current vintage also holds the previous champion's
  forecast (``--all-models``), the current champion's total minus the previous champion's, both on
  today's data; when it changed and that forecast is not there, what data does not explain (``model``
  then includes the rest, and ``split`` says so);
* **rest**: everything else (re-estimated parameters, the season's shape, covariates), so that
  ``data + model + rest == change`` exactly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

COLUMNS = ["segment", "previous_as_of", "current_as_of", "previous_champion", "current_champion", "overlap_periods", "first", "last",
           "new_actuals", "previous_total", "current_total", "change", "change_pct", "data", "model", "rest", "split"]


def what_changed(previous: pd.DataFrame, current: pd.DataFrame, actuals: pd.DataFrame, key: str = "segment") -> pd.DataFrame:
    """The change of every segment's forecast total over the overlap of two vintages, biggest first.

    Args:
        previous: the previous vintage: ``key``, ``ds``, ``yhat``, ``model`` (its champion) and
            ``as_of``; with a ``champion`` column only its champion rows count.
        current: the current vintage, the same columns; with ``champion`` (``--all-models``) its other
            candidates' rows let the model change be measured on today's data.
        actuals: ``key``, ``ds``, ``y``: the actuals, of which those after the previous vintage's
            ``as_of`` up to the current one's are the new ones.

    Returns:
        One row per segment in both vintages, ordered by the size of ``change`` (largest first):
        ``data + model + rest == change == current_total - previous_total``; ``split`` says how
        ``model`` was measured.
    """
    rows = []
    for segment, now_all in current.groupby(key, sort=True):
        before = _champion(previous[previous[key] == segment])
        if before.empty:
            continue
        now = _champion(now_all)
        before_as_of, now_as_of = pd.Timestamp(before["as_of"].iloc[0]), pd.Timestamp(now["as_of"].iloc[0])
        overlap = np.intersect1d(pd.DatetimeIndex(before["ds"]).values, pd.DatetimeIndex(now["ds"]).values)
        if not len(overlap):
            continue
        before_total, now_total = _total(before, overlap), _total(now, overlap)
        change = now_total - before_total
        seen = actuals[actuals[key] == segment].assign(ds=lambda f: pd.to_datetime(f["ds"]))
        new = seen[(seen["ds"] > before_as_of) & (seen["ds"] <= now_as_of)]
        missed = new.merge(before.assign(ds=pd.to_datetime(before["ds"]))[["ds", "yhat"]], on="ds")
        data = float((missed["y"] - missed["yhat"]).mean() * len(overlap)) if len(missed) else 0.0
        was, is_ = str(before["model"].iloc[0]), str(now["model"].iloc[0])
        if was == is_:
            model, split = 0.0, "same champion"
        else:
            old = now_all[now_all["model"].astype(str) == was]
            if len(old) and set(pd.DatetimeIndex(old["ds"]).values) >= set(overlap):
                model, split = now_total - _total(old, overlap), f"{is_} vs {was} on the current data"
            else:
                model, split = change - data, f"champion changed ({was} -> {is_}); no {was} forecast in the current vintage: model includes the rest"
        rows.append({"segment": segment, "previous_as_of": str(before_as_of.date()), "current_as_of": str(now_as_of.date()),
                     "previous_champion": was, "current_champion": is_, "overlap_periods": len(overlap),
                     "first": str(pd.Timestamp(overlap.min()).date()), "last": str(pd.Timestamp(overlap.max()).date()),
                     "new_actuals": len(missed), "previous_total": before_total, "current_total": now_total, "change": change,
                     "change_pct": change / abs(before_total) if before_total else float("nan"),
                     "data": data, "model": model, "rest": change - data - model, "split": split})
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = table["change"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True).rename(columns={"segment": key})


def _champion(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["champion"].astype(bool)] if "champion" in frame.columns else frame


def _total(frame: pd.DataFrame, dates: np.ndarray) -> float:
    return float(frame[pd.DatetimeIndex(frame["ds"]).isin(dates)]["yhat"].sum())
