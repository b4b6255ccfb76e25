"""Time series from CSV files: reading, missing values, time order, scaling fitted on the train part, windows.

The pipeline a forecaster needs, each step a small pure function:

    read_series(path, target=..., time_col=..., features=..., fill=...)  -> Series   (checked, in time order)
    scaler = SeriesScaler(transform="log").fit(y[:n_train])                         (train part only)
    z = scaler.transform(y)
    inputs, targets = make_windows(z, lookback=L, horizon=H)     inputs (N, L, F), targets (N, H)

Window k covers ``z[k : k+L]`` as input and ``z[k+L : k+L+H]`` as target, so N = n − L − H + 1.  Splits are in
time order (:func:`time_split`): the model never trains on values that come after the ones it is judged on.

Every function refuses bad input with one line saying what was expected, what was found and how to fix it: a
target column that is missing (the columns are listed) or not numeric, missing values without a ``fill`` method,
duplicate or decreasing timestamps, too few rows for lookback + horizon (the number needed is given).
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from pathlib import Path

import numpy as np

from .._english import count
from .times import EPOCH, SLASH, add_months, date_order, parse_date, wall_clock, write_time

MISSING = frozenset({"", "na", "nan", "n/a", "null", "none", "?", "-", "#n/a"})
TRANSFORMS = ("none", "log", "sqrt")
FILL_METHODS = ("ffill", "bfill", "linear", "zero", "mean", "drop")
TIME_NAMES = ("date", "time", "timestamp", "datetime", "ds", "month", "year", "period", "day", "week", "quarter")

__all__ = ["Series", "read_series", "parse_csv", "SeriesScaler", "make_windows", "time_split", "fill_missing",
           "future_labels", "detect_time_column", "missing_steps", "business_daily", "csv_dialect", "MISSING",
           "FILL_METHODS"]


@dataclass
class Series:
    """One target series (and optional covariates) in time order.

    ``y`` (n,) float64 target; ``X`` (n, k) float64 covariates or None; ``time`` (n,) the time labels as written in
    the file (or None: rows are in file order); ``time_keys`` (n,) float sort keys (seconds since 1970 for dates,
    in UTC for times written with an offset; the number itself for numeric times); ``time_kind`` "datetime",
    "number" or None; ``date_order`` how NN/NN/YYYY dates were read ("month/day/year" or "day/month/year", see
    :func:`date_order`), None for other time columns.
    """

    y: np.ndarray
    target: str
    columns: list[str]
    X: np.ndarray | None = None
    features: list[str] = field(default_factory=list)
    time: list[str] | None = None
    time_col: str | None = None
    time_keys: np.ndarray | None = None
    time_kind: str | None = None
    source: str = "<data>"
    date_order: str | None = None
    dropped: int = 0                    # rows removed for missing values (fill="drop")

    def __len__(self) -> int:
        return len(self.y)

    @cached_property
    def calendar_keys(self) -> np.ndarray | None:
        """Keys for reasoning in the calendar (days, weekdays, months, the season): the times as written, offsets
        dropped, when every one carries a UTC offset and all fall at one time of day — daily or coarser data, whose
        local midnights are 23 or 25 hours apart across a daylight-saving change; else ``time_keys`` (in UTC, where
        an hour is an hour)."""
        if self.time_kind != "datetime" or not self.time:
            return self.time_keys
        walls = [wall_clock(t) for t in self.time]
        if any(w is None for w in walls) or len({w.time() for w in walls}) != 1:
            return self.time_keys
        return np.array([(w - EPOCH).total_seconds() for w in walls])


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------

def read_data_text(path: Path, what: str) -> str:
    """The text of a UTF-8 data file (a leading BOM dropped); a missing file, a directory, a binary file or bytes
    that are not UTF-8 are refused with one line naming the file."""
    if path.is_dir():
        raise ValueError(f"{path} is a directory; give {what}")
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise ValueError(f"{path} is not UTF-8 text (it has NUL bytes: binary, or UTF-16); give {what} saved as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte {err.start}: {data[err.start:err.start + 1]!r}); re-save "
                         f"it as UTF-8, e.g. iconv -f latin1 -t utf-8 {path} > {path.stem}-utf8{path.suffix}") from None


def csv_dialect(text: str):
    """The CSV dialect of ``text``: its delimiter (comma, semicolon or tab) and quoting, sniffed from its start."""
    try:
        return csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        return csv.excel


def _rows(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    """Header and data rows of CSV text (blank lines skipped); every row must have the header's width."""
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text), csv_dialect(text))
    rows = [[cell.strip() for cell in r] for r in reader if any(cell.strip() for cell in r)]
    if not rows:
        raise ValueError(f"{source} is empty: expected a CSV file with a header row and one row per time step")
    header = rows[0]
    if len(set(header)) != len(header):
        dup = sorted({h for h in header if header.count(h) > 1})
        raise ValueError(f"{source}: column names must be unique, {dup} appear more than once")
    for k, r in enumerate(rows[1:]):
        if len(r) != len(header):
            raise ValueError(f"{source}: data row {k + 1} has {len(r)} fields, the header has {len(header)}; "
                             "every row needs one value per column (leave a missing value empty)")
    if len(rows) < 2:
        raise ValueError(f"{source} has a header but no data rows")
    return header, rows[1:]


def _is_missing(cell: str) -> bool:
    return cell.strip().lower() in MISSING


def _to_float(cell: str) -> float:
    """A number, or NaN for a missing marker; ValueError for anything else."""
    if _is_missing(cell):
        return math.nan
    return float(cell.replace("_", ""))


def _grouped(cell: str) -> str:
    """A hint for a number written with thousands separators or a decimal comma ("" for any other cell)."""
    if re.fullmatch(r"[-+]?\d{1,3}([,.' ]\d{3})+([.,]\d+)?|[-+]?\d+,\d+", cell.strip()):
        return ": write numbers without thousands separators and with a decimal point, like 1234.5"
    return ""


def _numeric_column(cells: list[str]) -> tuple[np.ndarray | None, int | None]:
    """(values with NaN for missing, None) or (None, index of the first non-numeric cell)."""
    out = np.empty(len(cells))
    for k, cell in enumerate(cells):
        try:
            out[k] = _to_float(cell)
        except ValueError:
            return None, k
    if np.isinf(out).any():
        return None, int(np.flatnonzero(np.isinf(out))[0])
    return out, None


def parse_times(cells: list[str], name: str, source: str, order: str | None = None) -> tuple[np.ndarray, str]:
    """Sort keys for a time column: (keys (n,), kind) with kind "number" or "datetime"; ``order`` reads NN/NN/YYYY
    dates (see :func:`date_order`)."""
    values, bad = _numeric_column(cells)
    if values is not None:
        if np.isnan(values).any():
            k = int(np.flatnonzero(np.isnan(values))[0])
            raise ValueError(f"{source}: time column {name!r} is empty at data row {k + 1}; every row needs a time")
        return values, "number"
    keys = np.empty(len(cells))
    for k, cell in enumerate(cells):
        d = parse_date(cell, order)
        if d is None:
            if order and SLASH.fullmatch(cell.strip()):
                raise ValueError(f"{source}: time column {name!r} holds {cell!r} at data row {k + 1}, which is no "
                                 f"date when read {order} as the column's other dates must be; fix it or write the "
                                 "dates as YYYY-MM-DD")
            raise ValueError(f"{source}: time column {name!r} holds {cell!r} at data row {k + 1}, which is neither "
                             "a number nor a date (e.g. 2020-01-31, 2020-01, 01/31/2020); fix it or pass another "
                             "--time-col")
        keys[k] = (d - EPOCH).total_seconds()
    return keys, "datetime"


def detect_time_column(header: list[str], rows: list[list[str]]) -> str | None:
    """The time column: one named like a time (date, month, year, timestamp, ds, ...) or else the first column
    whose every value is a date.  None when there is none (rows are then taken in file order)."""
    lowered = [h.lower() for h in header]
    for name in TIME_NAMES:
        if name in lowered:
            return header[lowered.index(name)]
    for h, low in zip(header, lowered):
        if "date" in low or "time" in low:
            return h
    for j, h in enumerate(header):
        cells = [r[j] for r in rows[:50]]
        if all(not _is_missing(c) and _numeric_column([c])[0] is None and parse_date(c) is not None for c in cells):
            return h
    return None


def check_time_order(keys: np.ndarray, labels: list[str], name: str, source: str) -> None:
    """Refuse duplicate or decreasing timestamps, naming the first offending rows."""
    d = np.diff(keys)
    if (d <= 0).any():
        k = int(np.flatnonzero(d <= 0)[0])
        if d[k] == 0:
            raise ValueError(f"{source}: duplicate timestamp {labels[k + 1]!r} in column {name!r} (data rows {k + 1} "
                             f"and {k + 2}); each time must appear once: aggregate or drop the duplicates")
        raise ValueError(f"{source}: timestamps in column {name!r} are not increasing: data row {k + 2} "
                         f"({labels[k + 1]!r}) comes after row {k + 1} ({labels[k]!r}); sort the file by time")


def business_daily(keys) -> bool:
    """Daily data on business days: every time a Monday to Friday at one time of day, a median step of one day,
    and weekends skipped (some step is longer)."""
    if keys is None or len(keys) < 3:
        return False
    keys = np.asarray(keys, dtype=np.float64)
    steps = np.diff(keys)
    if np.median(steps) != 86400 or not (steps > 86400).any() or len(set(np.mod(keys, 86400))) != 1:
        return False
    return bool(np.is_busday(np.floor(keys / 86400).astype(np.int64).astype("datetime64[D]")).all())


def missing_steps(series: Series) -> str | None:
    """One line saying where the time column skips steps, or None when its spacing is regular (or there is none).

    The models read rows as equally spaced, so a gap (a missing month, a week without rows) silently joins values
    further apart than the rest.  The regular step is the median spacing: a number of months when every date falls
    on the same day of the month or on month ends, a number of business days for daily data on weekdays only, else
    a duration (or a difference, for numeric times).  A spacing over 1.5 steps is a gap; on business days one missing
    day (a holiday) is not."""
    keys, labels = series.calendar_keys, series.time
    if keys is None or labels is None or len(keys) < 3:
        return None
    steps, tolerance = np.diff(keys), 1.5
    unit = ("", 1.0) if series.time_kind == "number" else None
    if series.time_kind == "datetime":
        dates = [EPOCH + timedelta(seconds=float(k)) for k in keys]    # as parse_times read them
        month_end = all((d + timedelta(days=1)).day == 1 for d in dates)
        months = np.array([(b.year - a.year) * 12 + b.month - a.month for a, b in zip(dates, dates[1:])], float)
        if (len({d.day for d in dates}) == 1 or month_end) and (months > 0).all():
            steps, unit = months, (" month", 1.0)
        elif np.median(steps) == 86400 and all(d.weekday() < 5 for d in dates):
            days = np.array([d.date() for d in dates], dtype="datetime64[D]")
            steps, tolerance = np.busday_count(days[:-1], days[1:]).astype(float), 2.0
            unit = (" business day", 1.0)
    typical = float(np.median(steps))
    if not typical > 0:
        return None
    gaps = np.flatnonzero(steps > tolerance * typical)
    if not gaps.size:
        return None
    if unit is None:                                               # a duration: in its largest whole unit
        unit = next(((f" {name}", sec) for name, sec in (("day", 86400), ("hour", 3600), ("minute", 60))
                     if typical % sec == 0), (" second", 1.0))
    n = typical / unit[1]
    step = f"{n:g}{unit[0]}{'s' if unit[0] and n != 1 else ''}"
    missing = int(sum(round(steps[g] / typical) - 1 for g in gaps))
    k = int(gaps[0])
    first = "the first between" if gaps.size > 1 else "between"
    fix = ("--fill drop removed the rows with missing values: fill them instead (e.g. --fill linear)" if series.dropped
           else "so add the missing times as rows with empty values and --fill them")
    return (f"{series.source}: time column {series.time_col!r} skips ~{count(missing, 'step')} of {step} in "
            f"{count(int(gaps.size), 'gap')}, {first} {labels[k]!r} and {labels[k + 1]!r}; rows are read as equally "
            f"spaced, {'and ' if series.dropped else ''}{fix}")


def fill_missing(values: np.ndarray, method: str) -> np.ndarray:
    """Fill NaNs in a 1-D or 2-D (rows = time) array: ffill, bfill, linear, zero or mean ("drop" is done by rows
    in :func:`parse_csv`).  Leading NaNs that ffill cannot reach take the first value (and bfill the reverse)."""
    if method not in FILL_METHODS or method == "drop":
        raise ValueError(f"fill method must be one of {', '.join(m for m in FILL_METHODS if m != 'drop')}, "
                         f"got {method!r}")
    a = np.array(values, dtype=np.float64)
    cols = a.reshape(len(a), -1)
    for j in range(cols.shape[1]):
        col = cols[:, j]
        nan = np.isnan(col)
        if not nan.any():
            continue
        if nan.all():
            raise ValueError("a column has no values at all; nothing to fill from")
        idx = np.arange(len(col))
        good = idx[~nan]
        if method == "zero":
            col[nan] = 0.0
        elif method == "mean":
            col[nan] = col[~nan].mean()
        elif method == "linear":
            col[nan] = np.interp(idx[nan], good, col[good])
        else:
            if method == "bfill":
                col = col[::-1]
            last = np.maximum.accumulate(np.where(np.isnan(col), 0, idx))   # index of the last seen value
            first = int(np.flatnonzero(~np.isnan(col))[0])
            last[:first] = first
            col = col[last]
            if method == "bfill":
                col = col[::-1]
            cols[:, j] = col
    return cols.reshape(a.shape)


def parse_csv(text: str, *, target: str | None = None, time_col: str | None = None, features=None,
              fill: str | None = None, source: str = "<data>") -> Series:
    """Parse CSV text into a checked :class:`Series`; see :func:`read_series`."""
    header, rows = _rows(text, source)
    columns = list(header)
    listing = ", ".join(columns)
    if time_col is None:
        tcol = detect_time_column(header, rows)
    elif time_col.lower() == "none":
        tcol = None
    else:
        if time_col not in header:
            raise ValueError(f"{source}: time column {time_col!r} not found; the columns are: {listing}")
        tcol = time_col
    numeric, not_numeric = {}, {}
    for j, h in enumerate(header):
        if h == tcol:
            continue
        values, bad = _numeric_column([r[j] for r in rows])
        if values is None:
            not_numeric[h] = (bad, rows[bad][j])
        elif not np.isnan(values).all():
            numeric[h] = values
    if target is None:
        if len(numeric) != 1:
            what = f"the numeric columns are: {', '.join(numeric)}" if numeric else "it has no numeric column"
            if not numeric and not_numeric:
                h, (k, cell) = next(iter(not_numeric.items()))
                what += f" ({h!r} holds {cell!r} at data row {k + 1}{_grouped(cell)})"
            raise ValueError(f"{source}: say which column to forecast with --target; {what} (all columns: {listing})")
        target = next(iter(numeric))
    if target not in header:
        raise ValueError(f"{source}: target column {target!r} not found; the columns are: {listing}")
    if target == tcol:
        raise ValueError(f"{source}: {target!r} is the time column; choose a value column as --target "
                         f"(numeric columns: {', '.join(numeric) or 'none'})")
    if target not in numeric:
        if target in not_numeric:
            k, cell = not_numeric[target]
            raise ValueError(f"{source}: target column {target!r} is not numeric (data row {k + 1} holds {cell!r}"
                             f"{_grouped(cell)}); "
                             f"choose a numeric --target: {', '.join(numeric) or 'there is none'}")
        raise ValueError(f"{source}: target column {target!r} has no values")
    feats = [] if features is None else list(features)
    for f in feats:
        if f not in header:
            raise ValueError(f"{source}: feature column {f!r} not found; the columns are: {listing}")
        if f in (target, tcol):
            raise ValueError(f"{source}: feature column {f!r} is the {'target' if f == target else 'time'} column")
        if f not in numeric:
            raise ValueError(f"{source}: feature column {f!r} is not numeric; numeric columns: {', '.join(numeric)}")
    y = numeric[target]
    X = np.stack([numeric[f] for f in feats], axis=1) if feats else None
    labels = [r[header.index(tcol)] for r in rows] if tcol else None
    keys, kind, order = None, None, None
    if tcol:
        order = date_order(labels)
        keys, kind = parse_times(labels, tcol, source, order)
        check_time_order(keys, labels, tcol, source)
    # missing values
    dropped = 0
    holes = np.isnan(y) if X is None else np.isnan(y) | np.isnan(X).any(axis=1)
    if holes.any():
        if fill is None:
            k = int(np.flatnonzero(holes)[0])
            where = f"{count(int(holes.sum()), 'row')} with missing values (first: data row {k + 1}"
            where += f", time {labels[k]!r})" if labels else ")"
            raise ValueError(f"{source}: {where}; pass --fill with one of {', '.join(FILL_METHODS)} "
                             "(ffill = carry the last value forward)")
        if fill == "drop":
            keep, dropped = ~holes, int(holes.sum())
            y = y[keep]
            X = None if X is None else X[keep]
            labels = None if labels is None else [lab for lab, k in zip(labels, keep) if k]
            keys = None if keys is None else keys[keep]
        else:
            y = fill_missing(y, fill)
            X = None if X is None else fill_missing(X, fill)
    if len(y) == 0:
        raise ValueError(f"{source}: no rows are left after dropping missing values")
    return Series(y=y, target=target, columns=columns, X=X, features=feats, time=labels, time_col=tcol,
                  time_keys=keys, time_kind=kind, source=source, date_order=order, dropped=dropped)


def read_series(path, *, target=None, time_col=None, features=None, fill=None) -> Series:
    """Read a CSV file (one row per time step) into a :class:`Series`.

    ``target``: the column to forecast (default: the only numeric column); ``time_col``: the time column
    (default: detected by name, e.g. date/month/year, or by its values parsing as dates; "none" = file order);
    ``features``: extra numeric columns used as (past) covariates; ``fill``: how to treat missing values
    (None = refuse them; ffill, bfill, linear, zero, mean, drop).
    """
    path = Path(path)
    return parse_csv(read_data_text(path, "a CSV file"), target=target, time_col=time_col, features=features,
                     fill=fill, source=str(path))


# ---------------------------------------------------------------------------------------------------------------
# future time labels
# ---------------------------------------------------------------------------------------------------------------

def future_labels(series: Series, horizon: int) -> list[str]:
    """Labels for the ``horizon`` steps after the series, in the style of its time column.

    Regular monthly (same day of the month, or month ends), yearly, business-day and fixed-step times are extended,
    written as the column writes them (dates stay dates; see :func:`write_time`); anything else becomes "+1", "+2", ...
    """
    fallback = [f"+{k}" for k in range(1, horizon + 1)]
    if not series.time or len(series.time) < 2:
        return fallback
    keys = series.calendar_keys
    if series.time_kind == "number":
        steps = np.diff(keys)
        if not np.allclose(steps, steps[-1]):
            return fallback
        written = [t.strip() for t in series.time]
        if not any(c in t for t in written for c in "eE"):        # plain decimals: as many places as the column
            places = max(len(t.partition(".")[2]) for t in written)
            step = round(float(steps[-1]), places)
            return [f"{round(keys[-1] + step * k, places) + 0.0:.{places}f}" for k in range(1, horizon + 1)]
        as_int = all(float(k).is_integer() for k in keys) and float(steps[-1]).is_integer()
        nxt = [keys[-1] + steps[-1] * k for k in range(1, horizon + 1)]
        if as_int and "." not in series.time[-1]:
            return [str(int(v)) for v in nxt]
        return [f"{v:g}" if as_int else repr(float(v)) for v in nxt]
    dates = [EPOCH + timedelta(seconds=float(k)) for k in keys[-3:]]      # as parse_times read them
    last = dates[-1]
    months = [(b.year - a.year) * 12 + b.month - a.month for a, b in zip(dates, dates[1:])]
    month_end = all((d + timedelta(days=1)).day == 1 for d in dates)
    same_time = len({d.time() for d in dates}) == 1
    if same_time and len(set(months)) == 1 and months[0] > 0 and (len({d.day for d in dates}) == 1 or month_end):
        out = [add_months(last, months[0] * k, month_end) for k in range(1, horizon + 1)]
    elif business_daily(keys):                                           # the next business days
        day = np.datetime64(last.date(), "D")
        ahead = np.busday_offset(day, np.arange(1, horizon + 1), roll="forward") - day
        out = [last + timedelta(days=int(n)) for n in ahead.astype(np.int64)]
    else:
        step = np.diff(keys)
        if not np.allclose(step[-min(len(step), 5):], step[-1]):
            return fallback
        out = [last + timedelta(seconds=float(step[-1]) * k) for k in range(1, horizon + 1)]
    local = keys is not series.time_keys                                 # the times as written, not in UTC
    return [write_time(d, series.time[-1].strip(), local) for d in out]


# ---------------------------------------------------------------------------------------------------------------
# scaling, windows, splits
# ---------------------------------------------------------------------------------------------------------------

class SeriesScaler:
    """z = (g(y) − μ) / σ with g = log, sqrt (``transform=``) or identity, μ, σ fitted on the training part only.

    ``method``: "standard" (μ mean, σ standard deviation), "minmax" (μ min, σ max − min) or "none" (μ 0, σ 1).
    Works column-wise on (n,) or (n, k) arrays; the inverse maps forecasts (and quantiles: g is increasing) back
    (for sqrt, g⁻¹(v) = max(v, 0)², which keeps forecasts of a non-negative series non-negative).
    """

    def __init__(self, method: str = "standard", transform: str = "none"):
        if method not in ("standard", "minmax", "none"):
            raise ValueError(f"scaling must be 'standard', 'minmax' or 'none', got {method!r}")
        if transform not in TRANSFORMS:
            raise ValueError(f"transform must be one of {', '.join(TRANSFORMS)}, got {transform!r}")
        self.method, self.transform_name = method, transform
        self.loc = self.scale = None

    def _g(self, y):
        y = np.asarray(y, dtype=np.float64)
        if self.transform_name == "log":
            if (y <= 0).any():
                raise ValueError(f"transform 'log' needs positive values, got a minimum of {y.min():g}; "
                                 "use --transform none")
            return np.log(y)
        if self.transform_name == "sqrt":
            if (y < 0).any():
                raise ValueError(f"transform 'sqrt' needs non-negative values, got a minimum of {y.min():g}; "
                                 "use --transform none")
            return np.sqrt(y)
        return y

    def fit(self, y) -> "SeriesScaler":
        g = self._g(y)
        if self.method == "standard":
            loc, scale = g.mean(axis=0), g.std(axis=0)
        elif self.method == "minmax":
            loc, scale = g.min(axis=0), g.max(axis=0) - g.min(axis=0)
        else:
            loc, scale = np.zeros(g.shape[1:]), np.ones(g.shape[1:])
        self.loc = np.asarray(loc, dtype=np.float64)
        self.scale = np.where(np.asarray(scale) > 1e-12, scale, 1.0).astype(np.float64)
        return self

    def transform(self, y) -> np.ndarray:
        return (self._g(y) - self.loc) / self.scale

    def inverse(self, z) -> np.ndarray:
        g = np.asarray(z, dtype=np.float64) * self.scale + self.loc
        if self.transform_name == "log":
            return np.exp(g)
        if self.transform_name == "sqrt":
            return np.maximum(g, 0.0) ** 2
        return g

    def to_config(self) -> dict:
        return {"method": self.method, "transform": self.transform_name,
                "loc": np.atleast_1d(self.loc).tolist(), "scale": np.atleast_1d(self.scale).tolist(),
                "shape": list(np.shape(self.loc))}

    @classmethod
    def from_config(cls, cfg: dict) -> "SeriesScaler":
        s = cls(cfg["method"], cfg["transform"])
        shape = tuple(cfg.get("shape", ()))
        s.loc = np.asarray(cfg["loc"], dtype=np.float64).reshape(shape)
        s.scale = np.asarray(cfg["scale"], dtype=np.float64).reshape(shape)
        return s


def make_windows(z, lookback: int, horizon: int, X=None) -> tuple[np.ndarray, np.ndarray]:
    """Sliding windows over a (scaled) series.

    ``z`` (n,), ``X`` (n, k) or None  →  inputs (N, L, 1 + k) = [z, X] at steps k..k+L−1 and targets (N, H) = z at
    steps k+L..k+L+H−1, for k = 0 .. N−1 with N = n − L − H + 1.
    """
    z = np.asarray(z, dtype=np.float64)
    n, L, H = len(z), int(lookback), int(horizon)
    if L < 1 or H < 1:
        raise ValueError(f"lookback and horizon must be positive, got {L} and {H}")
    if n < L + H:
        raise ValueError(f"the series has {n} rows, too few for lookback {L} + horizon {H}: at least {L + H} are "
                         "needed; use a shorter --lookback or --horizon, or more data")
    cols = z[:, None] if X is None else np.concatenate([z[:, None], np.asarray(X, dtype=np.float64)], axis=1)
    N = n - L - H + 1
    idx = np.arange(N)[:, None]
    inputs = cols[idx + np.arange(L)[None, :]]                     # (N, L, F)
    targets = z[idx + L + np.arange(H)[None, :]]                   # (N, H)
    return inputs, targets


def time_split(n: int, val_fraction: float = 0.0, test_fraction: float = 0.0) -> tuple[slice, slice, slice]:
    """Train / validation / test slices of ``n`` time steps, in time order (train first, test last)."""
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"{name} must be in [0, 1), got {f!r}")
    n_test = int(round(n * test_fraction))
    n_val = int(round(n * val_fraction))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{n} rows leave nothing to train on after val_fraction={val_fraction} and "
                         f"test_fraction={test_fraction}")
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n)
