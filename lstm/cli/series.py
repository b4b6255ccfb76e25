"""Time-series command: ``lstm forecast`` (forecasts with quantiles, backtests against baselines, plots)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from pathlib import Path

import numpy as np

from .._english import count
from .common import (
    UsageError,
    check_output,
    comma_list,
    positive_float,
    positive_int,
    probability,
    refuse_clashes,
    refuse_repeats,
)

EXAMPLES = ("airline", "sunspots", "stocks")
_DROPOUT_HELP = "dropout between stacked layers, so it needs --layers 2 or more (default 0)"


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "forecast", help="forecast a time series from a CSV file, with quantiles, backtests and plots",
        description=_wrap("Fit an LSTM to one column of a CSV file (one row per time step) and forecast the next "
                    "--horizon steps with a 0.1-0.9 quantile band. With --backtest N it refits on N rolling-origin "
                    "windows and scores the LSTM beside the naive, seasonal-naive and drift baselines (MAE, RMSE, "
                    "MAPE, sMAPE, MASE). FILE may also name a bundled example: airline, sunspots, stocks."),
        epilog="examples:\n"
               "  lstm forecast airline --horizon 12 --season 12 --backtest 4 --json\n"
               "  lstm forecast sales.csv --target units --horizon 8 --out forecast.csv --plot forecast.png\n"
               "  lstm forecast stocks --target GOOG --horizon 4 --quantiles 0.05,0.5,0.95",
        formatter_class=_Formatter)
    p.add_argument("file", metavar="FILE", help="CSV file (header row; one row per time step) or an example name")
    p.add_argument("--target", help="column to forecast (default: the only numeric column)")
    p.add_argument("--horizon", type=positive_int, help="steps to forecast (required for files)")
    p.add_argument("--season", type=positive_int,
                   help="seasonal period m for seasonal naive and MASE (default: from the time column, e.g. 12 for "
                        "monthly data, else 1)")
    p.add_argument("--backtest", type=positive_int, metavar="N", help="score N rolling-origin windows")
    p.add_argument("--quantiles", default="0.1,0.5,0.9",
                   help="comma-separated quantile levels to forecast, trained with the quantile (pinball) loss; the "
                        "forecast column is the median, a column q0.5 only if 0.5 is listed; 'none' trains a point "
                        "forecast with --loss (default 0.1,0.5,0.9)")
    p.add_argument("--out", type=Path, help="write the forecast to this CSV file")
    p.add_argument("--plot", type=Path, help="write a PNG plot (with --backtest also NAME-backtest.png)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    p.add_argument("--save", type=Path, metavar="MODEL", help="save the model fitted on all the data")
    g = p.add_argument_group("data")
    g.add_argument("--time-col", help="time column (default: detected; 'none' = rows in file order)")
    g.add_argument("--features", help="comma-separated extra columns used as past covariates")
    g.add_argument("--fill", choices=("ffill", "bfill", "linear", "zero", "mean", "drop"),
                   help="how to fill missing values (default: refuse them)")
    g = p.add_argument_group("model")
    g.add_argument("--lookback", type=positive_int, help="input window (default 2 x season, or 2 x horizon, >= 8)")
    g.add_argument("--strategy", choices=("direct", "recursive"), default="direct",
                   help="direct: one head predicts every step (default); recursive: one step, fed back")
    g.add_argument("--transform", choices=("auto", "log", "sqrt", "none"), default="auto",
                   help="auto: log (sqrt with zeros) when the spread grows with the level (default)")
    g.add_argument("--normalize", choices=("auto", "last", "mean", "season", "none"), default="auto",
                   help="reference the network predicts around (default auto: seasonal naive for stable seasons, "
                        "else the last value)")
    g.add_argument("--loss", choices=("mse", "huber", "mae"),
                   help="loss of a point forecast, used with --quantiles none (default mse)")
    g.add_argument("--hidden", type=positive_int, default=64, help="LSTM hidden size (default 64)")
    g.add_argument("--layers", type=positive_int, default=1, help="stacked LSTM layers (default 1)")
    g.add_argument("--dropout", type=probability, default=0.0, help=_DROPOUT_HELP)
    g.add_argument("--steps", type=positive_int, default=300, help="training steps per fit (default 300)")
    g.add_argument("--batch", type=positive_int, default=32, help="windows per step (default 32)")
    g.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default 0.003)")
    g.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress output (the forecast is still printed)")
    p.set_defaults(func=run_forecast)



class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of the example epilogs; descriptions are wrapped by :func:`_wrap`."""


def _wrap(text: str) -> str:
    return textwrap.fill(text, 80)


def _warn(line: str) -> None:
    """One line on stderr about an option that has no effect (printed with --quiet too: it is not progress)."""
    print(f"warning: {line}", file=sys.stderr, flush=True)


def _qname(level: float) -> str:
    """The column of a quantile level: 10 significant digits, so levels the model keeps apart stay apart."""
    return f"q{round(level, 10):.10g}"


def _warn_unused_dropout(args) -> None:
    if args.dropout > 0 and args.layers == 1:
        _warn(f"dropout acts between stacked layers, so --dropout {args.dropout:g} with --layers 1 does nothing; "
              "use --layers 2 or more")




def _load_series(args):
    from .. import datasets
    from ..data.series import parse_csv, read_series

    features = _feature_list(args.features)
    path = Path(args.file)
    opts = dict(target=args.target, time_col=args.time_col, features=features, fill=args.fill)
    if path.exists():
        return read_series(path, **opts), None
    if args.file in EXAMPLES:
        name = args.file
        info = datasets.SERIES[name]
        opts["target"] = args.target or info[1]
        return parse_csv(datasets.csv_text(name), source=name, **opts), info
    raise UsageError(f"no such file: {args.file} (or name a bundled example: {', '.join(EXAMPLES)})")


def _feature_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    features = comma_list(text, "--features", "column", show=repr)
    if not features:
        raise UsageError(f"--features names no column (got {text!r}); give comma-separated column names like "
                         "price,promo, or leave the option out")
    return features


def _infer_season(series) -> tuple[int, str]:
    """m from the spacing of the time column: monthly 12, quarterly 4, weekly 52, business days 5, daily 7, hourly
    24; else (yearly too) 1."""
    from ..data.series import business_daily

    if series.time_kind != "datetime" or len(series) < 3:
        return 1, "no calendar time column"
    if business_daily(series.calendar_keys):
        return 5, "business-day data"
    step = float(np.median(np.diff(series.calendar_keys))) / 86400.0       # days
    for lo, hi, m, what in ((364, 367, 1, "yearly"), (27, 32, 12, "monthly"), (88, 93, 4, "quarterly"),
                            (6.5, 7.5, 52, "weekly"), (0.99, 1.01, 7, "daily"),
                            (1 / 24 - 1e-3, 1 / 24 + 1e-3, 24, "hourly")):
        if lo <= step <= hi:
            return m, f"{what} data"
    per_day = 1 / step if step > 0 else 0.0
    if per_day > 1 and abs(per_day - round(per_day)) < 1e-6:         # e.g. 15-minute data: 96 steps a day
        minutes = 1440 / round(per_day)
        every = f"{minutes / 60:g}-hour" if minutes % 60 == 0 else f"{minutes:g}-minute"
        return 1, f"{every} data, no season assumed: --season {round(per_day)} sets a daily cycle"
    return 1, "no regular calendar spacing"


def _quantiles(text: str):
    if text.strip().lower() in ("none", ""):
        return None
    try:
        levels = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise UsageError(f"--quantiles must be comma-separated numbers in (0, 1) like 0.1,0.5,0.9, got {text!r}") \
            from None
    if not levels or any(not 0 < q < 1 for q in levels):
        raise UsageError(f"--quantiles must be numbers strictly between 0 and 1, got {text!r}")
    refuse_repeats(levels, "--quantiles", "quantile", "0.1,0.5,0.9", show="{:g}".format)
    return levels


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.3f}"


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, np.generic):
        return _clean(v.item())
    return v


def _backtest_plot(path: Path) -> Path:
    return path.with_name(path.stem + "-backtest.png")


def _capped_lookback(probe, rows: int) -> int:
    """--lookback as given, else the default (2 x season, ...) capped to half of ``rows`` minus the head (so the
    first fit has more training windows than the lookback), but not below 8."""
    if probe.lookback:
        return int(probe.lookback)
    return min(probe._default_lookback(), max(8, (rows - probe.steps_out) // 2))


def run_forecast(args) -> int:
    from ..data.series import missing_steps
    from ..forecast import backtest
    from ..forecast.metrics import mase_scale
    from ..models.forecaster import LSTMForecaster

    check_output(args.out, "--out")
    check_output(args.plot, "--plot", ".png")
    if args.plot and args.backtest:
        check_output(_backtest_plot(args.plot), "--plot (its backtest plot)", ".png")
    check_output(args.save, "--save")
    refuse_clashes([("--out", args.out), ("--plot", args.plot),
                     ("--plot (its backtest plot)", args.plot and args.backtest and _backtest_plot(args.plot)),
                     ("--save", args.save)], [("data file", Path(args.file))])
    out = sys.stderr if args.json else sys.stdout
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=out, flush=True))
    show = (lambda *a: None) if args.quiet and args.json else (lambda *a: print(*a, file=out, flush=True))
    quantiles = _quantiles(args.quantiles)
    if args.loss is not None and quantiles:
        _warn(f"--loss {args.loss} is not used with quantiles: the quantile (pinball) loss is trained for "
              f"{','.join(f'{v:g}' for v in quantiles)}; pass --quantiles none to train a point forecast with "
              f"--loss {args.loss}")
    _warn_unused_dropout(args)
    series, info = _load_series(args)
    gap = missing_steps(series)
    if gap:
        print(f"warning: {gap}", file=sys.stderr, flush=True)
    y, X = series.y, series.X
    horizon = args.horizon or (info[3] if info else None)
    if horizon is None:
        raise UsageError("--horizon is required: how many steps to forecast (e.g. --horizon 12)")
    if args.season:
        season, why = args.season, "--season"
    elif info and info[2]:
        season, why = info[2], f"the {args.file} example"
    else:
        season, why = _infer_season(series)
    if len(y) > 1 and np.ptp(y) == 0:                   # (one row is refused below as too few)
        raise UsageError(f"target column {series.target!r} is constant (every value is {y[0]:g}): there is nothing "
                         "to forecast, and MASE is undefined for it")
    if X is not None and args.strategy == "recursive" and horizon > 1:
        raise UsageError("forecasting several steps with --features needs --strategy direct (the recursive strategy "
                         "would need future values of the features)")
    params = dict(horizon=horizon, lookback=args.lookback, season=season, strategy=args.strategy,
                  quantiles=quantiles, loss=args.loss or "mse", transform=args.transform, normalize=args.normalize,
                  hidden_size=args.hidden, num_layers=args.layers, dropout=args.dropout, steps=args.steps,
                  batch_size=args.batch, lr=args.lr, seed=args.seed)
    probe = LSTMForecaster(**params)
    probe._check_params()
    first_fit = len(y) - (args.backtest or 0) * horizon        # rows the first backtest window trains on
    params["lookback"] = lookback = _capped_lookback(probe, first_fit)
    need = lookback + probe.steps_out
    if len(y) < need:
        raise UsageError(f"{series.source} has {count(len(y), 'row')}, too few for lookback {lookback} + "
                         f"horizon {probe.steps_out}: at least {need} are needed (use a shorter --lookback or "
                         "--horizon)")
    read = f", read {series.date_order}" if series.date_order else ""
    say(f"lstm forecast: {series.source}, target {series.target!r}, {count(len(y), 'row')}"
        + (f" ({series.time[0]} .. {series.time[-1]}{read})" if series.time else "")
        + f", horizon {horizon}, season m={season} ({why})")
    if lookback < probe._default_lookback():
        say(f"lookback {lookback} (the default {probe._default_lookback()} would leave too few training windows "
            f"in {count(first_fit, 'row')})")
    result_json = {}
    bt = None
    if args.backtest:
        mase_scale(y, season)            # one line if the whole series is constant at lag m
        say(f"backtest: {count(args.backtest, 'rolling-origin window')} of {count(horizon, 'step')}, refitting "
            "each time")

        def window_done(w, res):
            c = res.cutoffs[w]
            row = {k: v[w]["mase"] for k, v in res.window_metrics.items()}
            when = series.time[c] if series.time else f"row {c}"
            say(f"  window {w + 1}/{len(res.cutoffs)} from {when}: MASE "
                + "  ".join(f"{k.replace('_', ' ')} {v:.3f}" for k, v in row.items()))

        fitted = []

        def make_model():
            fitted.append(LSTMForecaster(**params))
            return fitted[-1]

        bt = backtest(make_model, y, X, horizon=horizon, n_windows=args.backtest, season=season, min_train=need,
                      callback=window_done)
        last = fitted[-1]
        say(f"model: LSTM {args.hidden} x {args.layers}, transform {last.transform_}, normalize {last.normalize_}, "
            f"lookback {last.lookback_}, {count(args.steps, 'step')} per fit")
        _print_backtest(bt, show)
        for line in bt.warnings():
            print(line, file=sys.stderr)
        result_json.update(bt.to_json())
    if not args.backtest or args.json or args.out or args.plot or args.save:
        model = LSTMForecaster(**params)
        say(f"fitting on all {count(len(y), 'row')} ({count(args.steps, 'step')}) ...")
        model.fit(y, X, progress=not (args.quiet or args.json))
        from ..data.series import future_labels

        labels = future_labels(series, horizon)
        levels = sorted(quantiles) if quantiles else None     # the columns asked for (the model adds the median)
        if quantiles:
            every = model.predict_quantiles(horizon)
            point = every[:, model.quantiles_.index(0.5)]
            q = every[:, [model.quantiles_.index(round(v, 10)) for v in levels]]
        else:
            q, point = None, model.predict(horizon)
        say(f"transform {model.transform_}, normalize {model.normalize_}, lookback {model.lookback_}")
        _print_forecast(labels, point, q, levels, show)
        if args.out:
            _write_forecast_csv(args.out, labels, point, q, levels)
            show(f"forecast written to {args.out}")
        if args.plot:
            from ..viz.forecast_plots import plot_backtest, plot_forecast

            hist_labels = list(series.time) if series.time else [str(k) for k in range(len(y))]
            lo = hi = None
            interval = ""
            if q is not None and len(levels) > 1:
                lo, hi = q[:, 0], q[:, -1]
                interval = f"{levels[0]:g}–{levels[-1]:g}"
            plot_forecast(args.plot, y, point, lower=lo, upper=hi, labels=hist_labels + labels, interval=interval,
                          title=f"{series.target}: {horizon}-step LSTM forecast", ylabel=series.target,
                          show_last=max(4 * horizon, 60))
            show(f"plot written to {args.plot}")
            if bt is not None:
                bpath = _backtest_plot(args.plot)
                plot_backtest(bpath, y, bt, labels=hist_labels, ylabel=series.target,
                              title=f"{series.target}: backtest, {count(len(bt.cutoffs), 'window')} of {horizon}")
                show(f"backtest plot written to {bpath}")
        if args.save:
            model.save(args.save)
            show(f"model saved to {args.save}")
        fc = {"time": labels, "point": [float(v) for v in point]}
        if q is not None:
            for j, lev in enumerate(levels):
                fc[_qname(lev)] = [float(v) for v in q[:, j]]
        result_json["forecast"] = fc
    if args.json:
        print(json.dumps(result_json, default=_clean))
    return 0


def _print_backtest(bt, say) -> None:
    m = bt.metrics
    say(f"{'model':16s} " + " ".join(f"{k:>9s}" for k in ("MAE", "RMSE", "MAPE%", "sMAPE%", "MASE")))
    for name, row in m.items():
        say(f"{name.replace('_', ' '):16s} " + " ".join(f"{_fmt(row[k]):>9s}"
                                                        for k in ("mae", "rmse", "mape", "smape", "mase")))
    cov = bt.coverage
    if cov:
        lo, hi = cov["interval"]
        say(f"interval {lo:g}-{hi:g}: empirical coverage {cov['empirical']:.1%} over {count(cov['points'], 'point')} "
            f"(nominal {cov['nominal']:.0%})")


def _print_forecast(labels, point, q, levels, say) -> None:
    w = max([12] + [len(lab) for lab in labels])
    head = f"{'time':>{w}s} {'forecast':>12s}"
    if q is not None:
        head += "".join(f" {_qname(lev):>10s}" for lev in levels)
    say(head)
    for k, lab in enumerate(labels):
        line = f"{lab:>{w}s} {point[k]:12.4g}"
        if q is not None:
            line += "".join(f" {v:10.4g}" for v in q[k])
        say(line)


def _write_forecast_csv(path, labels, point, q, levels) -> None:
    from ..io.safefile import write_atomic

    head = ["time", "forecast"] + ([_qname(lev) for lev in levels] if q is not None else [])
    lines = [",".join(head)]
    for k, lab in enumerate(labels):
        vals = [lab, repr(float(point[k]))] + ([repr(float(v)) for v in q[k]] if q is not None else [])
        lines.append(",".join(vals))
    write_atomic(path, ("\n".join(lines) + "\n").encode())
