"""Loading what a user hands over: the data table and, optionally, a separate covariates table (promo
calendars, prices) joined to it on the date and the segment columns it shares."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecasting.contract import COVARIATES_FILE_ROW, DataSpec
from forecasting.errors import DataError
from forecasting.sources import Credentials, DataSource, read_source
from forecasting.tables import read_table
from forecasting.validation.dates import DateFormat, choose_date_format
from forecasting.validation.parsing import parse_dates
from forecasting.validation.report import SegmentReport


def load_data(path: str | Path | DataSource, spec: DataSpec, delimiter: str = "auto", sheet: str | int | None = None,
              covariates_path: str | Path | None = None, covariates_sheet: str | int | None = None,
              credentials: Credentials | None = None) -> tuple[pd.DataFrame, DataSpec]:
    """The table to validate (a file, or a SQL or Unity Catalog source: :mod:`forecasting.sources`), and
    the spec with the covariates file's columns added as covariates when the spec names none."""
    frame = read_source(path, credentials, [spec.time_col, spec.target_col, *spec.segment_cols], delimiter=delimiter, sheet=sheet)
    if not covariates_path:
        return frame, spec
    covariates = read_table(covariates_path, delimiter, covariates_sheet)
    return join_covariates(frame, covariates, spec, Path(covariates_path).name)


def join_covariates(frame: pd.DataFrame, covariates: pd.DataFrame, spec: DataSpec, source: str = "covariates") -> tuple[pd.DataFrame, DataSpec]:
    """Join ``covariates`` (a time column, optionally some of the segment columns, and covariate columns)
    onto ``frame``. Dates of the covariates table the data does not have are added as rows marked
    ``COVARIATES_FILE_ROW``: validation keeps those after a segment's last observation as its future
    rows (their target empty), so the covariates cover the horizon, and ignores and reports the earlier
    ones. Returns the joined table and the spec with its covariate columns."""
    time = spec.time_col
    if time not in covariates.columns:
        raise DataError(f"{source}: no time column {time!r} (the covariates file joins on it); found columns: {', '.join(map(str, covariates.columns[:12]))}")
    keys = [c for c in spec.segment_cols if c in covariates.columns]
    names = spec.covariate_cols or [c for c in covariates.columns if c not in (time, *spec.segment_cols, spec.target_col)]
    missing = [c for c in names if c not in covariates.columns and c not in frame.columns]
    if missing:
        raise DataError(f"{source}: covariate column {missing[0]!r} is in neither the data nor the covariates file")
    joined = [c for c in names if c in covariates.columns]
    both = [c for c in joined if c in frame.columns]
    if both:
        raise DataError(f"{source}: column {both[0]!r} is in both the data and the covariates file; keep it in one")
    if not joined:
        raise DataError(f"{source}: no covariate columns (it has only {', '.join(map(str, covariates.columns))})")
    data_format = choose_date_format(frame[time], time, spec.date_format, "data")
    left = frame.assign(**{time: _dates(frame[time], time, "data", data_format)})
    cov_format = data_format if data_format.format and not spec.date_format and _same_shape(frame[time], covariates[time]) \
        else choose_date_format(covariates[time], time, spec.date_format, source)
    right = covariates[[time, *keys, *joined]].assign(**{time: _dates(covariates[time], time, source, cov_format)})
    duplicated = right.duplicated([time, *keys])
    if duplicated.any():
        first = right[duplicated].iloc[0]
        raise DataError(f"{source}: {int(duplicated.sum())} row(s) repeat a date{' and segment' if keys else ''} "
                        f"(e.g. {first[time].date()}{''.join(f', {k}={first[k]}' for k in keys)})")
    # one row per segment of the data and date of the covariates file
    segments = left[spec.segment_cols].drop_duplicates() if spec.segment_cols else pd.DataFrame(index=[0])
    if keys:
        right = right.astype({k: left[k].dtype for k in keys}, errors="ignore")
        expanded = segments.merge(right, on=keys, how="inner")
    else:
        expanded = segments.merge(right, how="cross") if spec.segment_cols else right
    out = left.merge(expanded, on=[*spec.segment_cols, time], how="left")
    extra = expanded.merge(left[[*spec.segment_cols, time]], on=[*spec.segment_cols, time], how="left", indicator=True)
    added = extra[extra["_merge"] == "left_only"].drop(columns="_merge").assign(**{COVARIATES_FILE_ROW: True})
    out = pd.concat([out.assign(**{COVARIATES_FILE_ROW: False}), added], ignore_index=True)  # the data's rows first: their spreadsheet rows stay right
    if data_format.format:  # the data's own text, the added rows written the same way: validation reads them as one column
        out[time] = pd.concat([frame[time].reset_index(drop=True), added[time].dt.strftime(data_format.format)], ignore_index=True)
    else:
        out[time] = out[time].dt.strftime("%Y-%m-%d")
    return out, spec.model_copy(update={"covariate_cols": list(dict.fromkeys([*spec.covariate_cols, *joined]))})


def _dates(values: pd.Series, column: str, source: str, date_format: DateFormat) -> pd.Series:
    report = SegmentReport(segment=source)
    parsed = parse_dates(values.reset_index(drop=True), pd.Series(range(2, len(values) + 2)), column, report, date_format.format)
    if parsed is None:
        raise DataError(f"{source}: {report.errors[0].message}")
    return pd.Series(parsed.to_numpy(), index=values.index)


def _same_shape(data: pd.Series, covariates: pd.Series) -> bool:
    """Both date columns written the same way (so the data's day/month order applies to the file)."""
    from forecasting.validation.parsing import date_shape

    shapes = {date_shape(str(v).strip()) for v in pd.concat([data.dropna().iloc[:50], covariates.dropna().iloc[:50]])}
    return len(shapes) == 1
