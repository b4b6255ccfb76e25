"""Sequence commands: ``lstm forecast`` (time series) and ``lstm classify train|predict`` (labelled sequences)."""

from __future__ import annotations

import argparse
import json
import math
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np

from .._english import article, count
from .common import (
    UsageError,
    check_input,
    check_output,
    comma_list,
    finite_float,
    free_name,
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

    p = sub.add_parser("classify", help="train or apply an LSTM sequence classifier",
                       description="Classify whole sequences: `lstm classify train` fits a model on labelled "
                                   "sequences, `lstm classify predict` applies it.")
    csub = p.add_subparsers(dest="classify_command", metavar="{train,predict}")
    t = csub.add_parser(
        "train", help="fit a classifier on labelled sequences (CSV, long CSV or JSONL)",
        description=_wrap("Fit an LSTM (optionally bidirectional) that reads each sequence and classifies it from its "
                    "final state. Reports accuracy, macro-F1 and a confusion matrix on held-out sequences "
                    "(--test FILE, else a --test-fraction of FILE). FILE may be `mnist1d` (generated offline by "
                    "the mnist1d package, 4,000 train / 1,000 test sequences of length 40)."),
        epilog="layouts: wide CSV (label + one value per column), long CSV (--id COL, one row per step) or JSONL "
               "({\"label\": ..., \"sequence\": [...]}).\n"
               "examples:\n"
               "  lstm classify train mnist1d --out runs/mnist1d.safetensors\n"
               "  lstm classify train walks.csv --label activity --id walk --time-col t --out walks.safetensors",
        formatter_class=_Formatter)
    _sequence_args(t)
    t.add_argument("--test", type=Path, help="held-out file in the same layout")
    t.add_argument("--test-fraction", type=probability, default=0.2,
                   help="fraction of FILE held out when there is no --test (default 0.2)")
    t.add_argument("--out", type=Path,
                   help="model file (default runs/<FILE name>-classifier.safetensors, or …-classifier-2.safetensors, "
                        "… if that exists)")
    t.add_argument("--hidden", type=positive_int, default=64, help="LSTM hidden size (default 64)")
    t.add_argument("--layers", type=positive_int, default=1, help="stacked LSTM layers (default 1)")
    t.add_argument("--bidirectional", action="store_true", help="read each sequence in both directions")
    t.add_argument("--dropout", type=probability, default=0.0, help=_DROPOUT_HELP)
    t.add_argument("--forget-bias", type=finite_float, default=1.0,
                   help="initial forget-gate bias: 1 keeps early memories (default 1; 0 = PyTorch's init)")
    t.add_argument("--class-weight", choices=("balanced",), help="weight classes by inverse frequency")
    t.add_argument("--epochs", type=positive_int, default=30, help="passes over the training data (default 30)")
    t.add_argument("--batch", type=positive_int, default=64, help="sequences per step (default 64)")
    t.add_argument("--lr", type=positive_float, default=1e-2, help="Adam learning rate (default 0.01)")
    t.add_argument("--val-fraction", type=probability, default=0.1,
                   help="training sequences held out to keep the best epoch (default 0.1)")
    t.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    t.add_argument("--json", action="store_true", help="print the test metrics as one JSON object on the last line")
    t.add_argument("--quiet", action="store_true", help="no progress output (the results are still printed)")
    t.set_defaults(func=run_classify_train)

    q = csub.add_parser(
        "predict", help="classify sequences with a trained model (and score them if the file has labels)",
        description=_wrap("Apply a model from `lstm classify train` to FILE. If FILE has labels, prints accuracy, "
                          "macro-F1 and the confusion matrix; labels the model never saw are refused."),
        epilog="example: lstm classify predict walks.safetensors new_walks.csv --out predictions.csv",
        formatter_class=_Formatter)
    q.add_argument("model", type=Path, metavar="MODEL", help="a model file written by `lstm classify train`")
    _sequence_args(q, remembered=True)
    q.add_argument("--out", type=Path, help="write predictions and class probabilities to this CSV file")
    q.add_argument("--json", action="store_true", help="print the result as one JSON object on the last line")
    q.set_defaults(func=run_classify_predict)
    p.set_defaults(func=lambda args: _classify_help(p))


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the line breaks of the example epilogs; descriptions are wrapped by :func:`_wrap`."""


def _wrap(text: str) -> str:
    return textwrap.fill(text, 80)


def _classify_help(parser) -> int:
    parser.print_help()
    return 2


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


_LAYOUT = ("label", "id_col", "time_col", "features")
_JSONL = (".jsonl", ".ndjson", ".json")          # read as JSONL (as lstm.data.sequences does), other files as CSV


def _warn_unread_layout(args, path) -> None:
    """One warning naming the options given that FILE's layout does not read (--features with a wide CSV, ...)."""
    jsonl = Path(path).suffix.lower() in _JSONL
    unused = [option for option, key in (("--id", "id_col"), ("--time-col", "time_col"), ("--features", "features"))
              if getattr(args, key) is not None and (jsonl or (key != "id_col" and args.id_col is None))]
    if unused:
        layout = "a JSONL file" if jsonl else "a wide CSV (one sequence per row; --id COL reads one row per step)"
        _warn(f"{path} is read as {layout}, so {' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} "
              "not used")


def _sequence_args(p, remembered: bool = False) -> None:
    """FILE and how to read it; ``remembered``: each option defaults to what the model was trained with."""
    was = " (default: as the model was trained)" if remembered else ""
    p.add_argument("file", metavar="FILE", help="CSV (wide or long with --id) or JSONL file")
    p.add_argument("--label", default=None if remembered else "label",
                   help="label column / JSON key" + (was or " (default 'label')"))
    p.add_argument("--id", dest="id_col", help="long CSV: the column naming each sequence" + was)
    p.add_argument("--time-col", help="long CSV: column (numbers or dates) to order each sequence's rows by" + was)
    p.add_argument("--features", help="long CSV: comma-separated feature columns" + (was or " (default: all other "
                                                                                     "columns)"))


# ---------------------------------------------------------------------------------------------------------------
# forecast
# ---------------------------------------------------------------------------------------------------------------

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


# ---------------------------------------------------------------------------------------------------------------
# classify
# ---------------------------------------------------------------------------------------------------------------

def _read_sequences(args, path, need_label: bool):
    from ..data.sequences import read_sequences

    features = _feature_list(args.features)
    return read_sequences(path, label=args.label, id_col=args.id_col, time_col=args.time_col, features=features,
                          need_label=need_label)


def _print_report(rep: dict, say, title: str) -> None:
    n = sum(map(sum, rep["confusion"]))
    say(f"{title}: accuracy {rep['accuracy']:.2%}, macro-F1 {rep['macro_f1']:.3f} ({count(n, 'sequence')})")
    labels = [str(v) for v in rep["labels"]]
    w = max(5, max(len(v) for v in labels) + 1)
    say("confusion matrix (rows = true label, columns = predicted):")
    say(" " * w + "".join(f"{v[:w - 1]:>{w}s}" for v in labels))
    for lab, row in zip(labels, rep["confusion"]):
        say(f"{lab[:w - 1]:>{w}s}" + "".join(f"{c:>{w}d}" for c in row))


def run_classify_train(args) -> int:
    from ..models.classifier import LSTMClassifier, classification_report

    outpath = args.out or free_name(Path("runs") / f"{Path(args.file).stem}-classifier.safetensors")
    check_output(outpath, "--out")
    refuse_clashes([("--out", outpath)], [("training file", Path(args.file)), ("--test file", args.test)])
    out = sys.stderr if args.json else sys.stdout
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, file=out, flush=True))
    show = (lambda *a: None) if args.quiet and args.json else (lambda *a: print(*a, file=out, flush=True))
    _warn_unused_dropout(args)
    if args.file == "mnist1d" and not Path(args.file).exists():
        from ..datasets import load_mnist1d

        unused = [option for option, given in (("--label", args.label != "label"), ("--id", args.id_col),
                                               ("--time-col", args.time_col), ("--features", args.features),
                                               ("--test", args.test), ("--test-fraction", args.test_fraction != 0.2))
                  if given]
        if unused:
            _warn(f"mnist1d comes with its own labels and 1,000 test sequences, so {' and '.join(unused)} "
                  f"{'is' if len(unused) == 1 else 'are'} not used")

        xa, ya, xt, yt = load_mnist1d()
        train_x, train_y = list(xa[:, :, None]), ya.astype(str)
        test_x, test_y = list(xt[:, :, None]), yt.astype(str)
        source = "mnist1d (generated offline: 4,000 train / 1,000 test, length 40)"
    else:
        _warn_unread_layout(args, args.file)
        data = _read_sequences(args, args.file, need_label=True)
        source = data.source
        if args.test and Path(args.file).is_file() and Path(args.file).resolve() == args.test.resolve():
            _warn(f"--test {args.test} is the training file itself, so the test scores are not held-out; give a "
                  "separate file, or leave out --test to hold out --test-fraction of FILE")
        if args.test:
            test = _read_sequences(args, args.test, need_label=True)
            train_x, train_y, test_x, test_y = data.sequences, data.labels, test.sequences, test.labels
        else:
            n = len(data)
            n_test = int(round(n * args.test_fraction))
            order = np.random.default_rng(args.seed).permutation(n)
            te, tr = np.sort(order[:n_test]), np.sort(order[n_test:])
            train_x, train_y = [data.sequences[i] for i in tr], data.labels[tr]
            test_x, test_y = [data.sequences[i] for i in te], data.labels[te]
    if len(train_x) < 2:
        raise UsageError(f"{source}: need at least 2 training sequences, got {len(train_x)}")
    unknown = sorted(set(np.asarray(test_y).tolist()) - set(np.asarray(train_y).tolist()))
    if unknown:                                        # refused before training, so nothing is written
        raise UsageError(f"the test sequences have {'a label' if len(unknown) == 1 else 'labels'} "
                         f"{', '.join(map(repr, unknown[:10]))} that no training sequence has; use more training "
                         "data or a different split (--seed)")
    model = LSTMClassifier(hidden_size=args.hidden, num_layers=args.layers, bidirectional=args.bidirectional,
                           dropout=args.dropout, forget_bias=args.forget_bias, class_weight=args.class_weight,
                           epochs=args.epochs,
                           batch_size=args.batch, lr=args.lr, val_fraction=args.val_fraction, seed=args.seed)
    lengths = [len(s) for s in train_x]
    span = f"length {lengths[0]}" if min(lengths) == max(lengths) else f"lengths {min(lengths)}-{max(lengths)}"
    say(f"lstm classify train: {source}: {count(len(train_x), 'training sequence')} and "
        f"{count(len(test_x), 'test sequence')}, {span}, {count(len(set(train_y.tolist())), 'class', 'classes')}")
    model.fit(train_x, train_y, progress=not (args.quiet or args.json))
    model.data_layout_ = {key: getattr(args, key) for key in _LAYOUT}     # classify predict reads files alike
    model.save(outpath)
    show(f"model saved to {outpath}")
    rep = {"train_accuracy": float(np.mean(model.predict(train_x) == train_y))}
    show(f"training accuracy {rep['train_accuracy']:.2%}")
    if len(test_x):
        test_rep = classification_report(test_y, model.predict(test_x), labels=model.classes_.tolist())
        _print_report(test_rep, show, "test")
        rep.update(test_rep)
    if args.json:
        print(json.dumps(rep, default=_clean))
    return 0


def run_classify_predict(args) -> int:
    from .. import load
    from ..models.classifier import LSTMClassifier, classification_report

    out = sys.stderr if args.json else sys.stdout
    say = lambda *a: print(*a, file=out, flush=True)  # noqa: E731
    check_input(args.model, "a model file written by `lstm classify train`")
    check_output(args.out, "--out")
    refuse_clashes([("--out", args.out)], [("model", args.model), ("data file", Path(args.file))])
    model = load(args.model)
    if not isinstance(model, LSTMClassifier):
        kind = type(model).__name__
        raise UsageError(f"{args.model} holds {article(kind)} {kind}, not a classifier from `lstm classify train`")
    layout = getattr(model, "data_layout_", None) or {}
    _warn_unread_layout(args, args.file)                # the options given here (remembered ones may not apply)
    for key in _LAYOUT:                                  # options not given: read FILE as the training file was
        if getattr(args, key) is None:
            setattr(args, key, layout.get(key) or ("label" if key == "label" else None))   # (older files: "")
    data = _read_sequences(args, args.file, need_label=False)
    if data.sequences[0].shape[1] != model.n_features_:
        raise UsageError(f"{data.source} has {count(data.sequences[0].shape[1], 'feature')} per step; the model "
                         f"was trained on {model.n_features_}")
    classes = [str(c) for c in model.classes_.tolist()]
    if data.labels is not None:
        unknown = sorted(set(data.labels.tolist()) - set(classes))
        if unknown:
            raise UsageError(f"{data.source} has {'a label' if len(unknown) == 1 else 'labels'} the model never "
                             f"saw: {', '.join(map(repr, unknown[:10]))}; known labels: {', '.join(classes[:20])}")
    repeats = [(i, n) for i, n in Counter(map(str, data.ids)).most_common() if n > 1]
    if repeats:
        _warn(f"{data.source}: id {repeats[0][0]!r} names {repeats[0][1]} sequences"
              + (f" ({count(len(repeats), 'id')} repeat)" if len(repeats) > 1 else "")
              + "; the predictions are in file order, so give each sequence its own id to tell them apart")
    proba = model.predict_proba(data.sequences)
    pred = model.classes_[np.argmax(proba, axis=1)].astype(str)
    result = {"n": len(pred), "ids": [str(i) for i in data.ids], "predictions": pred.tolist()}
    if args.out:
        import csv
        import io

        from ..io.safefile import write_atomic

        text = io.StringIO()                             # csv quotes ids and labels that hold commas or quotes
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["id", "predicted"] + [f"p_{c}" for c in classes])
        for sid, p, pr in zip(data.ids, pred, proba):
            writer.writerow([str(sid), str(p)] + [f"{v:.6f}" for v in pr])
        write_atomic(args.out, text.getvalue().encode())
        say(f"{count(len(pred), 'prediction')} written to {args.out}")
    else:
        for sid, p in list(zip(data.ids, pred))[:20]:
            say(f"{sid}: {p}")
        if len(pred) > 20:
            say(f"... ({len(pred)} in all; --out FILE writes every prediction with class probabilities)")
    if data.labels is not None:
        rep = classification_report(data.labels, pred, labels=classes)
        _print_report(rep, say, "scored against the file's labels")
        result.update(rep)
    if args.json:
        print(json.dumps(result, default=_clean))
    return 0
