"""Series data: CSV reading, missing values, time order, scaling, windows; metrics, baselines, backtests; the
bundled examples; `lstm forecast` refusing bad input; plots."""

import json

import numpy as np
import pytest

from lstm.cli import main
from lstm.cli.series import _infer_season
from lstm.data.series import (SeriesScaler, fill_missing, future_labels, make_windows, missing_steps, parse_csv,
                              read_series, time_split)
from lstm.datasets import SERIES, airline_csv, load_series
from lstm.forecast import (BASELINES, backtest, coverage, drift, mae, mape, mase, naive, rmse, rolling_origins,
                           seasonal_naive, smape)

MONTHLY = "month,sales,price\n2020-01,10,1.0\n2020-02,12,1.1\n2020-03,11,1.2\n2020-04,15,1.3\n"


# ---------------------------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------------------------

def test_time_column_is_detected_by_name_and_by_values():
    s = parse_csv(MONTHLY, target="sales", features=["price"])
    assert s.time_col == "month" and s.time_kind == "datetime" and s.y.tolist() == [10, 12, 11, 15]
    assert s.X.shape == (4, 1) and s.features == ["price"]
    s = parse_csv("when,v\n01/31/2020,1\n02/29/2020,2\n03/31/2020,3\n")          # named oddly, parsed as dates
    assert s.time_col == "when" and s.target == "v"
    s = parse_csv("a,b\n1,5\n2,7\n", target="b")                                   # no time column at all
    assert s.time_col is None and s.time is None
    with pytest.raises(ValueError, match="say which column to forecast with --target; the numeric columns are: a, b"):
        parse_csv("a,b\n1,5\n2,7\n", time_col="none")


@pytest.mark.parametrize("text,kw,message", [
    (MONTHLY, dict(target="units"), "target column 'units' not found; the columns are: month, sales, price"),
    ("month,name\n2020-01,a\n2020-02,b\n", dict(target="name"), "target column 'name' is not numeric \\(data row 1"),
    ("month,name\n2020-01,a\n2020-02,b\n", {}, "it has no numeric column"),
    ("month,v\n2020-01,1\n2020-03,2\n2020-02,3\n", {}, "not increasing: data row 3 \\('2020-02'\\) comes after"),
    ("month,v\n2020-01,1\n2020-01,2\n", {}, "duplicate timestamp '2020-01'"),
    ("month,v\n2020-01,1\n2020-02,\n2020-03,3\n", {}, "1 row with missing values .*pass --fill"),
    ("month,v\n2020-01,1\n2020-02,\n2020-03,\n", {}, "2 rows with missing values .*pass --fill"),
    ("month,v\n2020-01,1\nsoon,2\n", {}, "neither a number nor a date"),
    ("month,v\n2020-01,1,3\n", {}, "has 3 fields, the header has 2"),
    ("date,v\n13/01/2024,1\n01/13/2024,2\n", {}, "holds '01/13/2024' at data row 2, which is no date when read "
                                                  "day/month/year as the column's other dates must be"),
])
def test_bad_csv_is_refused_with_one_line(text, kw, message):
    with pytest.raises(ValueError, match=message) as err:
        parse_csv(text, **kw)
    assert "\n" not in str(err.value)


def test_files_that_are_not_utf8_csv_text_are_named_with_the_fix(tmp_path):
    (tmp_path / "latin.csv").write_bytes("month,v\n2020-01,caf\xe9\n".encode("latin-1"))
    (tmp_path / "bin.csv").write_bytes(b"\x7fELF\x02\x01\x00\x00" * 8)
    for path, message in ((tmp_path / "latin.csv", "latin.csv is not UTF-8 text .*re-save it as UTF-8"),
                          (tmp_path / "bin.csv", "bin.csv is not UTF-8 text .*NUL bytes"),
                          (tmp_path, "is a directory; give a CSV file")):
        with pytest.raises(ValueError, match=message):
            read_series(path)


def test_fill_methods():
    a = np.array([np.nan, 1.0, np.nan, 3.0, np.nan])
    assert fill_missing(a, "ffill").tolist() == [1, 1, 1, 3, 3]
    assert fill_missing(a, "bfill").tolist() == [1, 1, 3, 3, 3]
    assert fill_missing(a, "linear").tolist() == [1, 1, 2, 3, 3]
    assert fill_missing(a, "zero").tolist() == [0, 1, 0, 3, 0]
    assert fill_missing(a, "mean").tolist() == [2, 1, 2, 3, 2]
    s = parse_csv("month,v\n2020-01,1\n2020-02,\n2020-03,3\n", fill="drop")
    assert s.y.tolist() == [1, 3] and s.time == ["2020-01", "2020-03"]
    assert parse_csv("month,v\n2020-01,1\n2020-02,NA\n2020-03,3\n", fill="linear").y.tolist() == [1, 2, 3]


def test_read_series_from_a_file(tmp_path):
    (tmp_path / "s.csv").write_text(MONTHLY)
    assert read_series(tmp_path / "s.csv", target="price").y.tolist() == [1.0, 1.1, 1.2, 1.3]
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_series(tmp_path / "missing.csv")


def test_future_labels_continue_the_time_column():
    assert future_labels(parse_csv(MONTHLY, target="sales"), 3) == ["2020-05", "2020-06", "2020-07"]
    assert future_labels(parse_csv("year,v\n1998,1\n2000,2\n2002,4\n"), 2) == ["2004", "2006"]
    assert future_labels(parse_csv("date,v\n2020-01-01,1\n2020-01-08,2\n2020-01-15,3\n"), 1) == ["2020-01-22"]
    assert future_labels(parse_csv("a,v\n1,1\n2,5\n4,6\n", target="v", time_col="none"), 2) == ["+1", "+2"]


def _dated(times) -> str:
    return "date,v\n" + "".join(f"{t},{k}\n" for k, t in enumerate(times))


def test_slash_dates_are_read_month_first_unless_the_column_is_day_first():
    days = np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]").astype(object)
    us = parse_csv(_dated([d.strftime("%m/%d/%Y") for d in days]))
    eu = parse_csv(_dated([d.strftime("%d/%m/%Y") for d in days]))           # 13/01/2024 settles it
    assert us.date_order == "month/day/year" and eu.date_order == "day/month/year"
    assert us.time_keys.tolist() == eu.time_keys.tolist() and missing_steps(eu) is None
    assert future_labels(eu, 2) == future_labels(us, 2) == ["2024-03-01", "2024-03-02"]     # dates, no 00:00:00
    # every field <= 12: month-first, unless only the day-first reading is evenly spaced (monthly, written d/m/y)
    monthly_eu = parse_csv(_dated([f"01/{m:02d}/2023" for m in range(1, 13)] + ["01/01/2024", "01/02/2024"]))
    assert monthly_eu.date_order == "day/month/year" and missing_steps(monthly_eu) is None
    assert future_labels(monthly_eu, 2) == ["2024-03-01", "2024-04-01"]
    monthly_us = parse_csv(_dated([f"{m:02d}/01/2023" for m in range(1, 13)] + ["01/01/2024", "02/01/2024"]))
    assert monthly_us.date_order == "month/day/year" and future_labels(monthly_us, 1) == ["2024-03-01"]
    both_even = parse_csv(_dated(["01/01/2024", "02/01/2024", "03/01/2024"]))  # Jan, Feb, Mar or 1, 2, 3 Jan
    assert both_even.date_order == "month/day/year" and future_labels(both_even, 1) == ["2024-04-01"]
    timed = parse_csv(_dated([f"1/30/2024 {h}:00" for h in range(9, 13)]))
    assert future_labels(timed, 2) == ["2024-01-30 13:00", "2024-01-30 14:00"]
    assert parse_csv(MONTHLY, target="sales").date_order is None


def test_future_labels_are_written_like_the_time_column():
    def after(times, n=2):
        return future_labels(parse_csv(_dated(times)), n)

    assert after(["2024-03-01 22:00", "2024-03-01 23:00", "2024-03-02 00:00"]) == ["2024-03-02 01:00",
                                                                                  "2024-03-02 02:00"]
    assert after(["2024-03-01T00:00:00", "2024-03-01T00:15:00"]) == ["2024-03-01T00:30:00", "2024-03-01T00:45:00"]
    assert after(["2024-01-01 00:00:00.250Z", "2024-01-01 00:00:00.500Z"]) == ["2024-01-01 00:00:00.750Z",
                                                                             "2024-01-01 00:00:01.000Z"]
    assert after(["2020-01-31", "2020-02-29", "2020-03-31"], 3) == ["2020-04-30", "2020-05-31", "2020-06-30"]
    assert after(["2020-04-30", "2020-06-30", "2020-08-30"], 3) == ["2020-10-30", "2020-12-30", "2021-02-28"]
    assert after(["Jan 2020", "Feb 2020", "Mar 2020"]) == ["Apr 2020", "May 2020"]
    assert after(["30.01.2020", "31.01.2020", "01.02.2020"]) == ["02.02.2020", "03.02.2020"]


def test_quarters_are_dates_with_a_season_of_four_and_continue_in_their_own_style():
    """2020Q1 (pandas' Period), 2020-Q1, 2020 q1, Q1 2020: the quarter's first day; labels keep the column's form."""
    for first, second, want in [("2019Q3", "2019Q4", ["2020Q1", "2020Q2"]),
                                ("2019-Q4", "2020-Q1", ["2020-Q2", "2020-Q3"]),
                                ("2019 q4", "2020 q1", ["2020 q2", "2020 q3"]),
                                ("Q3 2019", "Q4 2019", ["Q1 2020", "Q2 2020"])]:
        s = parse_csv(_dated([first, second]))
        assert s.time_kind != "number" and missing_steps(s) is None and future_labels(s, 2) == want, first
    quarters = parse_csv(_dated([f"{y}Q{q}" for y in range(2015, 2020) for q in range(1, 5)]))
    assert _infer_season(quarters) == (4, "quarterly data") and missing_steps(quarters) is None
    gap = parse_csv(_dated(["2020Q1", "2020Q2", "2020Q3", "2021Q1", "2021Q2"]))
    assert "skips ~1 step of 3 months in 1 gap, between '2020Q3' and '2021Q1'" in missing_steps(gap)
    with pytest.raises(ValueError, match="2020Q5"):
        parse_csv(_dated(["2020Q4", "2020Q5"]))


def test_business_day_data_has_a_season_of_five_and_continues_after_the_weekend():
    days = [str(d) for d in np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]") if np.is_busday(d)]
    weekdays = parse_csv(_dated(days))                                       # ends on Thursday 2024-02-29
    assert _infer_season(weekdays) == (5, "business-day data") and missing_steps(weekdays) is None
    assert future_labels(weekdays, 3) == ["2024-03-01", "2024-03-04", "2024-03-05"]
    opening = parse_csv(_dated([f"{d} 09:30" for d in days]))
    assert future_labels(opening, 2) == ["2024-03-01 09:30", "2024-03-04 09:30"]
    every_day = parse_csv(_dated([str(d) for d in np.arange("2024-01-01", "2024-03-01", dtype="datetime64[D]")]))
    assert _infer_season(every_day) == (7, "daily data") and future_labels(every_day, 2) == ["2024-03-01",
                                                                                            "2024-03-02"]
    assert _infer_season(parse_csv(_dated([f"{y}-01-01" for y in range(2000, 2010)]))) == (1, "yearly data")


def test_future_labels_of_a_decimal_time_column_keep_its_decimal_places():
    def after(times, n=3):
        return future_labels(parse_csv("t,v\n" + "".join(f"{t},{k}\n" for k, t in enumerate(times)), time_col="t"), n)

    assert after([f"0.{k}" for k in range(1, 8)]) == ["0.8", "0.9", "1.0"]       # not 0.7999999999999999
    assert after(["0.25", "0.5", "0.75"]) == ["1.00", "1.25", "1.50"]
    assert after(["-0.3", "-0.2", "-0.1"]) == ["0.0", "0.1", "0.2"]
    assert after(["2000.0", "2001.0"]) == ["2002.0", "2003.0", "2004.0"]
    assert after(["10", "20", "30"]) == ["40", "50", "60"]


def test_times_with_a_utc_offset_cross_daylight_saving_without_a_gap_or_a_repeat():
    spring = ["2024-03-31T00:00:00+01:00", "2024-03-31T01:00:00+01:00", "2024-03-31T03:00:00+02:00",
              "2024-03-31T04:00:00+02:00"]                          # 02:00 local never happens: one hour apart
    autumn = ["2024-10-27T01:00:00+02:00", "2024-10-27T02:00:00+02:00", "2024-10-27T02:00:00+01:00",
              "2024-10-27T03:00:00+01:00"]                          # 02:00 local twice: one hour apart
    for times in (spring, autumn):
        s = parse_csv(_dated(times))
        assert np.diff(s.time_keys).tolist() == [3600.0] * 3 and missing_steps(s) is None
    assert future_labels(parse_csv(_dated(autumn)), 2) == ["2024-10-27T04:00:00+01:00", "2024-10-27T05:00:00+01:00"]
    gapped = spring[:2] + spring[3:] + ["2024-03-31T05:00:00+02:00"]
    assert "skips ~1 step of 1 hour in 1 gap, between '2024-03-31T01:00:00+01:00'" in missing_steps(
        parse_csv(_dated(gapped)))


def test_daily_and_monthly_times_with_a_utc_offset_keep_their_calendar_across_daylight_saving():
    """Local midnights are 23 or 25 hours apart across a change: the calendar (days, weekdays, months) is read in
    the time written, so labels continue at local midnight with the last row's offset and weekdays stay weekdays."""
    days = np.arange("2024-03-20", "2024-04-03", dtype="datetime64[D]")
    daily = [f"{d}T00:00:00{'+01:00' if d < np.datetime64('2024-03-31') else '+02:00'}" for d in days]
    s = parse_csv(_dated(daily))                                   # the change in the last five rows
    assert missing_steps(s) is None and _infer_season(s) == (7, "daily data")
    assert future_labels(s, 2) == ["2024-04-03T00:00:00+02:00", "2024-04-04T00:00:00+02:00"]
    weekdays = [f"{d} 09:30-0{5 if d < np.datetime64('2024-03-10') else 4}:00"          # New York across the change
                for d in np.arange("2024-02-20", "2024-03-15", dtype="datetime64[D]") if np.is_busday(d)]
    b = parse_csv(_dated(weekdays))
    assert _infer_season(b) == (5, "business-day data") and missing_steps(b) is None
    assert future_labels(b, 2) == ["2024-03-15 09:30-04:00", "2024-03-18 09:30-04:00"]
    monthly = [f"2024-{m:02d}-01T00:00:00{'+02:00' if 4 <= m <= 10 else '+01:00'}" for m in range(1, 13)]
    assert future_labels(parse_csv(_dated(monthly)), 1) == ["2025-01-01T00:00:00+01:00"]


def test_intraday_gaps_are_found_across_days():
    quarter_hours = np.arange("2024-03-01T00:00", "2024-03-03T00:00", 15, dtype="datetime64[m]")
    hours = np.arange("2024-03-01T00", "2024-03-05T00", dtype="datetime64[h]").astype("datetime64[m]")
    for stamps, step in ((quarter_hours, "15 minutes"), (hours, "1 hour")):
        times = [str(t).replace("T", " ")[:16] for t in stamps]
        assert missing_steps(parse_csv(_dated(times))) is None, step
        line = missing_steps(parse_csv(_dated(times[:50] + times[53:])))
        assert f"skips ~3 steps of {step} in 1 gap, between {times[49]!r} and {times[53]!r}" in line


def test_missing_time_steps_are_found_in_the_units_of_the_data():
    days = np.arange("2021-01-04", "2021-03-01", dtype="datetime64[D]")
    weekdays = [str(d) for d in days if np.is_busday(d)]
    regular = {
        "monthly": [f"2020-{m:02d}" for m in range(1, 13)],
        "month ends": ["2020-01-31", "2020-02-29", "2020-03-31", "2020-04-30"],
        "quarterly": ["2020-01-01", "2020-04-01", "2020-07-01", "2020-10-01"],
        "daily": [str(d) for d in days],
        "business days, one holiday": weekdays[:7] + weekdays[8:],
        "weekly": [str(d) for d in days[::7]],
        "hourly": [f"2020-01-01 {h:02d}:00" for h in range(12)],
    }
    for what, times in regular.items():
        assert missing_steps(parse_csv(_dated(times))) is None, what
    gapped = {
        "monthly": ([f"2020-{m:02d}" for m in range(1, 13) if m not in (5, 6)], "~2 steps of 1 month", "2020-04"),
        "month ends": (["2020-01-31", "2020-02-29", "2020-04-30", "2020-05-31"], "~1 step of 1 month",
                       "2020-02-29"),
        "quarterly": (["2020-01-01", "2020-04-01", "2020-10-01", "2021-01-01"], "of 3 months", "2020-04-01"),
        "daily": ([str(d) for d in days if d != days[5]], "~1 step of 1 day", str(days[4])),
        "business days": (weekdays[:7] + weekdays[9:], "~2 steps of 1 business day", weekdays[6]),
        "weekly": ([str(d) for d in days[::7] if d != days[14]], "of 7 days", str(days[7])),
        "hourly": ([f"2020-01-01 {h:02d}:00" for h in range(12) if h != 4], "of 1 hour", "2020-01-01 03:00"),
    }
    for what, (times, step, first) in gapped.items():
        line = missing_steps(parse_csv(_dated(times), source="f.csv"))
        assert line is not None and step in line and f"in 1 gap, between {first!r}" in line, (what, line)
        assert line.startswith("f.csv: time column 'date' skips") and "--fill" in line
    line = missing_steps(parse_csv("year,v\n1990,1\n1991,2\n1992,3\n1995,4\n1996,5\n"))
    assert "~2 steps of 1 in 1 gap, between '1992' and '1995'" in line
    line = missing_steps(parse_csv("year,v\n1990,1\n1992,2\n1993,3\n1994,4\n1995,5\n1996,6\n1998,7\n"))
    assert "~2 steps of 1 in 2 gaps, the first between '1990' and '1992'" in line
    assert missing_steps(parse_csv("a,v\n1,1\n2,5\n9,6\n", target="v", time_col="none")) is None
    assert missing_steps(load_series("airline")) is None


# ---------------------------------------------------------------------------------------------------------------
# scaling, windows, splits
# ---------------------------------------------------------------------------------------------------------------

def test_scaler_is_fitted_on_the_training_part_only_and_inverts():
    y = np.array([1.0, 2, 3, 4, 100, 200])
    train, _, test = time_split(len(y), 0.0, 1 / 3)
    s = SeriesScaler("standard").fit(y[train])
    assert s.loc == pytest.approx(2.5) and s.scale == pytest.approx(np.std([1, 2, 3, 4]))
    assert s.transform(y[test]) == pytest.approx((y[test] - 2.5) / np.std([1, 2, 3, 4]))
    for method, transform in (("standard", "log"), ("minmax", "sqrt"), ("none", "none")):
        s = SeriesScaler(method, transform).fit(y[:4])
        assert np.allclose(s.inverse(s.transform(y)), y)
        assert np.allclose(SeriesScaler.from_config(s.to_config()).transform(y), s.transform(y))
    with pytest.raises(ValueError, match="needs positive values"):
        SeriesScaler(transform="log").fit([1.0, 0.0])


def test_windows_and_time_ordered_splits():
    z = np.arange(10.0)
    X = 10 * np.arange(10.0)[:, None]
    inputs, targets = make_windows(z, lookback=3, horizon=2, X=X)
    assert inputs.shape == (6, 3, 2) and targets.shape == (6, 2)
    assert inputs[2, :, 0].tolist() == [2, 3, 4] and inputs[2, :, 1].tolist() == [20, 30, 40]
    assert targets[2].tolist() == [5, 6] and targets[-1].tolist() == [8, 9]
    with pytest.raises(ValueError, match="too few for lookback 8 \\+ horizon 3: at least 11 are needed"):
        make_windows(z, 8, 3)
    tr, va, te = time_split(10, 0.2, 0.3)
    assert (tr, va, te) == (slice(0, 5), slice(5, 7), slice(7, 10))


# ---------------------------------------------------------------------------------------------------------------
# metrics and baselines
# ---------------------------------------------------------------------------------------------------------------

def test_metrics_against_hand_computed_values():
    a, f = np.array([2.0, 4.0, 8.0]), np.array([1.0, 5.0, 8.0])
    assert mae(a, f) == pytest.approx(2 / 3)
    assert rmse(a, f) == pytest.approx(np.sqrt(2 / 3))
    assert mape(a, f) == pytest.approx(100 * (0.5 + 0.25) / 3)
    assert smape(a, f) == pytest.approx(100 * (2 / 3 + 2 / 9) / 3)
    train = np.array([1.0, 3, 2, 5, 4, 7])               # lag-2 diffs: 1, 2, 2, 2 → scale 7/4
    assert mase(a, f, train, m=2) == pytest.approx((2 / 3) / (7 / 4))
    assert np.isnan(mape([0.0, 1.0], [1.0, 1.0]))       # undefined, reported as NaN
    assert smape([0.0], [0.0]) == 0.0
    assert coverage([1, 2, 3, 4], [0, 2.5, 2, 5], [2, 3, 4, 6]) == 0.5
    with pytest.raises(ValueError, match="MASE is undefined: the training series is constant"):
        mase(a, f, np.full(10, 3.0), m=2)


def test_baselines():
    y = np.array([1.0, 2, 3, 10, 20, 30, 11])
    assert naive(y, 3).tolist() == [11, 11, 11]
    assert seasonal_naive(y, 4, m=3).tolist() == [20, 30, 11, 20]
    assert drift(y, 2).tolist() == pytest.approx([11 + 10 / 6, 11 + 20 / 6])
    assert set(BASELINES) == {"naive", "seasonal_naive", "drift"}


# ---------------------------------------------------------------------------------------------------------------
# backtests with stand-in forecasters
# ---------------------------------------------------------------------------------------------------------------

class Oracle:
    """Knows the whole series: forecasts the true future (plus an offset), with a symmetric band."""

    def __init__(self, y, offset=0.0, width=1.0, quantiles=True):
        self.y, self.offset, self.width = y, offset, width
        self.quantiles_ = [0.1, 0.5, 0.9] if quantiles else None

    def fit(self, y, X=None):
        self.n = len(y)
        return self

    def predict(self, h):
        return self.y[self.n:self.n + h] + self.offset

    def predict_quantiles(self, h):
        p = self.predict(h)
        return np.stack([p - self.width, p, p + self.width], axis=1)


def test_rolling_origins():
    assert rolling_origins(100, 10, 3) == [70, 80, 90]
    assert rolling_origins(100, 10, 3, step=5) == [80, 85, 90]
    with pytest.raises(ValueError, match="need 50 of the 50 rows and leave no rows to train the first one; it needs "
                                         "at least 15: use at most 3"):
        rolling_origins(50, 10, 5, min_train=15)
    with pytest.raises(ValueError, match="need 1000 of the 50 rows and leave no rows"):    # never a negative count
        rolling_origins(50, 10, 100)
    with pytest.raises(ValueError, match="leave only 10 rows to train the first one; it needs at least 15"):
        rolling_origins(50, 10, 4, min_train=15)


def test_too_many_backtest_windows_say_how_many_would_fit():
    with pytest.raises(ValueError, match="leave only 52 rows .* at least 53: use at most 1 window or more data"):
        rolling_origins(60, 4, 2, min_train=53)
    with pytest.raises(ValueError, match="at least 53: use more data or a shorter horizon"):
        rolling_origins(60, 20, 2, min_train=53)


def test_backtest_scores_every_model_on_the_same_windows():
    y = 10 + np.sin(np.arange(60) * 2 * np.pi / 6) + 0.1 * np.arange(60)
    seen = []
    res = backtest(lambda: Oracle(y), y, horizon=6, n_windows=3, season=6, callback=lambda w, r: seen.append(w))
    assert seen == [0, 1, 2] and res.cutoffs == [42, 48, 54]
    assert res.metrics["lstm"]["mae"] == 0 and res.metrics["seasonal_naive"]["mase"] > 0
    assert res.warnings() == []
    assert res.coverage == {"interval": [0.1, 0.9], "nominal": 0.8, "empirical": 1.0, "points": 18}
    assert res.interval == (0.1, 0.9, 0, 2)
    expected = np.mean([mase(y[c:c + 6], y[c - 6:c], y[:c], 6) for c in res.cutoffs])
    assert res.metrics["seasonal_naive"]["mase"] == pytest.approx(expected)
    bad = backtest(lambda: Oracle(y, offset=5.0, width=0.1), y, horizon=6, n_windows=3, season=6)
    assert any("seasonal naive baseline beats the LSTM" in w for w in bad.warnings())
    assert bad.coverage["empirical"] == 0.0
    assert json.loads(json.dumps(bad.to_json()))["metrics"]["drift"].keys() == {"mae", "rmse", "mape", "smape",
                                                                                "mase"}


def test_coverage_is_of_the_requested_interval_not_of_the_median_the_model_adds():
    y = 10 + np.sin(np.arange(60) * 2 * np.pi / 6)

    class Upper(Oracle):                      # asked for 0.6 and 0.9; 0.5 is added as the point forecast
        quantiles = (0.6, 0.9)

        def __init__(self):
            super().__init__(y)
            self.quantiles_ = [0.5, 0.6, 0.9]

        def predict_quantiles(self, h):
            p = self.predict(h)
            return np.stack([p - 2, p - 1, p + 1], axis=1)

    res = backtest(Upper, y, horizon=6, n_windows=2, season=6)
    assert res.interval == (0.6, 0.9, 1, 2)
    assert res.coverage["interval"] == [0.6, 0.9] and res.coverage["nominal"] == pytest.approx(0.3)


# ---------------------------------------------------------------------------------------------------------------
# bundled examples
# ---------------------------------------------------------------------------------------------------------------

def test_airline_is_the_classic_series():
    s = load_series("airline")
    assert len(s) == 144 and s.y.sum() == 40363 and s.y[-1] == 432 and s.y.max() == 622
    assert s.y[:12].tolist() == [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118]
    assert s.time[0] == "1949-01" and s.time[-1] == "1960-12"
    assert airline_csv().startswith("month,passengers\n")


def test_sunspots_and_stocks_come_from_installed_packages():
    pytest.importorskip("statsmodels")
    s = load_series("sunspots")
    assert len(s) == 309 and s.time[0] == "1700" and s.y.min() == 0
    pytest.importorskip("plotly")
    st = load_series("stocks", target="GOOG")
    assert len(st) > 100 and st.y[0] == 1.0 and "AAPL" in st.columns
    assert set(SERIES) == {"airline", "sunspots", "stocks"}


# ---------------------------------------------------------------------------------------------------------------
# `lstm forecast`: bad input is one line and exit 2
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text,extra,message", [
    ("month,name\n2020-01,a\n2020-02,b\n", [], "it has no numeric column"),
    (MONTHLY, ["--target", "units"], "target column 'units' not found; the columns are: month, sales, price"),
    (MONTHLY, ["--target", "sales"], "4 rows, too few for lookback 8 \\+ horizon 2: at least 10 are needed"),
    ("month,v\n2020-02,1\n2020-01,2\n", [], "not increasing"),
    ("month,v\n2020-01,1\n2020-01,2\n", [], "duplicate timestamp"),
    ("month,v\n" + "".join(f"20{k // 12 + 10}-{k % 12 + 1:02d},5\n" for k in range(30)), [],
     "constant .*MASE is undefined"),
    ("month,v\n2020-01,1\n2020-02,\n2020-03,3\n", [], "missing values .*pass --fill"),
    ("month,v\n2020-01,5\n", [], "has 1 row, too few for lookback 8 \\+ horizon 2"),
    ('month,v\n2020-01,"1,234.5"\n2020-02,"2,000"\n', [], "no numeric column \\('v' holds '1,234.5' at data row 1: "
     "write numbers without thousands separators"),
    (MONTHLY, ["--target", "sales", "--quantiles", "0.1,2"], "strictly between 0 and 1"),
])
def test_cli_forecast_bad_input_exits_2_with_one_line(tmp_path, capsys, text, extra, message):
    src = tmp_path / "in.csv"
    src.write_text(text)
    code = main(["forecast", str(src), "--horizon", "2"] + extra)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert __import__("re").search(message, err), err


def test_cli_forecast_needs_a_horizon_and_an_existing_file(tmp_path, capsys):
    (tmp_path / "s.csv").write_text(MONTHLY)
    assert main(["forecast", str(tmp_path / "s.csv"), "--target", "sales"]) == 2
    assert "--horizon is required" in capsys.readouterr().err
    assert main(["forecast", str(tmp_path / "nope.csv"), "--horizon", "2"]) == 2
    assert "bundled example: airline, sunspots, stocks" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------------------
# plots
# ---------------------------------------------------------------------------------------------------------------

def test_plots_are_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    from lstm.viz.forecast_plots import plot_backtest, plot_forecast

    y = 10 + np.sin(np.arange(60) * 2 * np.pi / 6)
    p = plot_forecast(tmp_path / "f.png", y, y[:6] + 1, lower=y[:6], upper=y[:6] + 2,
                      labels=[str(k) for k in range(66)], interval="0.1–0.9")
    res = backtest(lambda: Oracle(y, offset=0.3), y, horizon=6, n_windows=3, season=6)
    q = plot_backtest(tmp_path / "b.png", y, res, labels=[str(k) for k in range(60)])
    for path in (p, q):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(tmp_path.glob(".*tmp*"))                     # written atomically, no temporary left behind
    with pytest.raises(ValueError, match="ending in .png"):
        plot_forecast(tmp_path / "f.jpg", y, y[:3])


def test_backtest_legends_cover_no_bar_and_no_line():
    pytest.importorskip("matplotlib")
    from lstm.viz.forecast_plots import backtest_figure

    y = load_series("airline").y
    res = backtest(lambda: Oracle(y, offset=90.0, width=30.0), y, horizon=12, n_windows=3, season=12)   # tall bars
    fig = backtest_figure(y, res, labels=[str(k) for k in range(len(y))])
    fig.canvas.draw()
    top, bars = fig.axes
    for ax in (top, bars):
        box = ax.get_legend().get_window_extent()
        assert ax.get_legend().get_texts()
        assert not any(box.overlaps(p.get_window_extent()) for p in ax.patches), "the legend hides a bar"
        for line in ax.get_lines():
            xy = line.get_transform().transform(line.get_xydata())
            inside = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1) & (xy[:, 1] >= box.y0) & (xy[:, 1] <= box.y1)
            assert not inside.any(), f"the legend hides {line.get_label()!r}"
    assert len(bars.patches) == 12 and {t.get_text() for t in bars.get_legend().get_texts()} == {
        "lstm", "naive", "seasonal naive", "drift"}


def test_read_series_is_part_of_lstm_data():
    from pathlib import Path

    import lstm.datasets
    from lstm.data import read_series

    s = read_series(Path(lstm.datasets.__file__).parent / "airline_passengers.csv")
    assert len(s) == 144 and s.time[0] == "1949-01" and s.y[0] == 112
