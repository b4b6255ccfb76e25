"""Dates in time columns: reading them (ISO with or without a UTC offset, NN/NN/YYYY in either order, month
names, quarters, compact forms) and writing future dates the way the column writes its own.

``parse_date`` turns one cell into a naive datetime (UTC for a time written with an offset, so a daylight-saving
change is neither a gap nor a repeat); ``date_order`` decides once per column whether NN/NN/YYYY is month- or
day-first; ``write_time`` writes a datetime in the style of a label (dates stay dates).
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta, timezone

import numpy as np

EPOCH = datetime(1970, 1, 1)         # datetime keys are seconds since it
DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S", "%Y/%m/%d", "%d.%m.%Y",
                "%Y-%m", "%Y/%m", "%b %Y", "%Y %b", "%Y-%b", "%b-%Y", "%Y%m%d")
_ISO = re.compile(r"(\d{4}-\d{2}-\d{2})(?:([T ])(\d{2}:\d{2})(:\d{2})?(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?")     # NN/NN/YYYY [HH:MM[:SS]]
MONTH_FIRST, DAY_FIRST = "month/day/year", "day/month/year"
# A quarter, as pandas writes a Period (2020Q1) and as people do (2020-Q1, 2020 q1, Q1 2020, Q1-2020).
QUARTER = re.compile(r"(?P<year>\d{4})(?P<sep>[- ]?)(?P<q>[Qq])(?P<n>[1-4])|(?P<q2>[Qq])(?P<n2>[1-4])(?P<sep2>[- ]?)"
                     r"(?P<year2>\d{4})")


def quarter_date(m: re.Match) -> datetime:
    """The first day of the quarter the QUARTER match ``m`` names (as a pandas Period's start_time)."""
    year, n = (m["year"], m["n"]) if m["year"] else (m["year2"], m["n2"])
    return datetime(int(year), 3 * int(n) - 2, 1)


def write_quarter(d: datetime, m: re.Match) -> str:
    """The quarter holding ``d`` written as the QUARTER match ``m`` is (year first or last, separator, q or Q)."""
    n = (d.month - 1) // 3 + 1
    if m["year"]:
        return f"{d.year}{m['sep']}{m['q']}{n}"
    return f"{m['q2']}{n}{m['sep2']}{d.year}"


def slash_date(m: re.Match, order: str) -> datetime | None:
    """The NN/NN/YYYY [HH:MM[:SS]] match ``m`` read in ``order`` (MONTH_FIRST or DAY_FIRST), or None if no date."""
    month, day = (int(m[1]), int(m[2])) if order == MONTH_FIRST else (int(m[2]), int(m[1]))
    try:
        return datetime(int(m[3]), month, day, int(m[4] or 0), int(m[5] or 0), int(m[6] or 0))
    except ValueError:
        return None


def parse_date(cell: str, order: str | None = None) -> datetime | None:
    """A date, or None.  Times with a UTC offset (Z, +02:00) become UTC, so a daylight-saving change is neither a
    gap nor a repeat; NN/NN/YYYY is read in ``order`` (None: month-first, else day-first if that is no date)."""
    s = cell.strip()
    m = SLASH.fullmatch(s)
    if m:
        return slash_date(m, order) if order else slash_date(m, MONTH_FIRST) or slash_date(m, DAY_FIRST)
    m = QUARTER.fullmatch(s)
    if m:
        return quarter_date(m)
    if _ISO.fullmatch(s):
        try:
            d = datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            return None
        return d if d.tzinfo is None else d.astimezone(timezone.utc).replace(tzinfo=None)
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(s, fmt)
        except ValueError:
            continue
    return None


def wall_clock(cell: str) -> datetime | None:
    """The time as written, its UTC offset dropped (2024-03-31T00:00+02:00 → 2024-03-31 00:00), for a cell that
    carries an offset; None for any other cell."""
    s = cell.strip()
    m = _ISO.fullmatch(s)
    if not m or not m[6]:
        return None
    return parse_date(s[:m.start(6)])


def evenly_spaced(dates: list) -> bool:
    """Increasing by one fixed duration, or by a fixed number of months on one day of the month (or month ends)."""
    if any(d is None for d in dates):
        return False
    steps = np.diff([(d - EPOCH).total_seconds() for d in dates])
    if (steps <= 0).any():
        return False
    months = {(b.year - a.year) * 12 + b.month - a.month for a, b in zip(dates, dates[1:])}
    same_day = len({d.day for d in dates}) == 1 or all((d + timedelta(days=1)).day == 1 for d in dates)
    return bool((steps == steps[0]).all()) or (len(months) == 1 and same_day)


def date_order(cells: list[str]) -> str | None:
    """How a time column's NN/NN/YYYY dates are read: "month/day/year" (01/02/2024 is 2 January, as in pandas and
    US spreadsheets) unless a first field is over 12, or the day-first reading is evenly spaced and the month-first
    one is not (monthly data written 01/01/2024, 01/02/2024, ...): then "day/month/year".  None when the column
    does not hold such dates."""
    found = [SLASH.fullmatch(c.strip()) for c in cells]
    if not found or not all(found):
        return None
    if max(int(m[1]) for m in found) > 12:
        return DAY_FIRST
    if max(int(m[2]) for m in found) > 12:
        return MONTH_FIRST
    by_month, by_day = ([slash_date(m, order) for m in found] for order in (MONTH_FIRST, DAY_FIRST))
    return DAY_FIRST if evenly_spaced(by_day) and not evenly_spaced(by_month) else MONTH_FIRST


def add_months(d: datetime, k: int, month_end: bool = False) -> datetime:
    """``d`` moved by ``k`` months, on the month's last day with ``month_end`` (or when the day does not exist)."""
    year, month = d.year + (d.month - 1 + k) // 12, (d.month - 1 + k) % 12 + 1
    last = calendar.monthrange(year, month)[1]
    return d.replace(year=year, month=month, day=last if month_end else min(d.day, last))


def write_time(d: datetime, text: str, local: bool = False) -> str:
    """``d`` written like the label ``text``: ISO keeps its precision and UTC offset (``d`` is in UTC then, or
    already in the label's local time with ``local``),
    NN/NN/YYYY becomes YYYY-MM-DD (which shows how it was read), other formats (Jan 2020, 31.01.2020, 2020Q1) are
    kept."""
    iso = _ISO.fullmatch(text)
    if iso:
        _, sep, hm, sec, frac, tz = iso.groups()
        fmt = "%Y-%m-%d" + (f"{sep}%H:%M" if hm else "") + (":%S" if sec else "")
        if tz and tz != "Z" and not local:
            sign = -1 if tz[0] == "-" else 1
            d = d + sign * timedelta(hours=int(tz[1:3]), minutes=int(tz[-2:]))
        out = d.strftime(fmt)
        if frac:
            out += f".{d.microsecond:06d}"[:len(frac)]
        return out + (tz or "")
    quarter = QUARTER.fullmatch(text)
    if quarter:
        return write_quarter(d, quarter)
    slash = SLASH.fullmatch(text)
    if slash:
        return d.strftime("%Y-%m-%d" + (" %H:%M" if slash[4] else "") + (":%S" if slash[6] else ""))
    for fmt in DATE_FORMATS:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            continue
        return d.strftime(fmt)
    return d.isoformat(sep=" ")
