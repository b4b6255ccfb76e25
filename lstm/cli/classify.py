"""Sequence classification commands: ``lstm classify train`` (fit on labelled sequences) and ``lstm classify
predict`` (apply a fitted model)."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .._english import article, count
from .common import (
    UsageError,
    check_input,
    check_output,
    finite_float,
    free_name,
    positive_float,
    positive_int,
    probability,
    refuse_clashes,
)
from .series import _DROPOUT_HELP, _clean, _feature_list, _Formatter, _warn, _warn_unused_dropout, _wrap


def add_parsers(sub) -> None:
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


def _classify_help(parser) -> int:
    parser.print_help()
    return 2


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
