"""Understanding commands: ``lstm explain``, ``lstm tasks run|compare``, ``lstm gradients``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .._english import count
from .common import (
    UsageError,
    check_input,
    check_output,
    comma_list,
    finite_float,
    positive_float,
    positive_int,
    refuse_clashes,
)
from .seq2seq import _Formatter

TASK_NAMES = ("adding", "copy", "temporal_order", "reber")


def add_parsers(sub) -> None:
    """Add this group's subcommands to the `lstm` parser."""
    p = sub.add_parser(
        "explain", help="show what a language model's gates and cells do on a text (HTML report, PNG figures)",
        description="Run a model from `lstm train-text` (or `lstm demo`) on a text and write a self-contained HTML "
                    "page (no network; open it from disk): the text coloured by any unit (layer, i/f/g/o/c/h, unit "
                    "number) with exact values on hover, top-activating contexts, select-a-span → units on → other "
                    "spans where they are on (LSTMVis), gate saturation per layer (Karpathy et al. 2015) and, for "
                    "Python source, the units that track strings, comments, brackets or indentation.",
        epilog="example: lstm explain benchmarks/models/pycode_char.safetensors --file snippet.py "
               "--out report.html --png figures/",
        formatter_class=_Formatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="a language model file (model.safetensors)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--text", help="the text to read")
    src.add_argument("--file", type=Path, help="a UTF-8 text file to read (see --encoding)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of --file (default utf-8)")
    p.add_argument("--out", type=Path, default=Path("report.html"), help="HTML report to write (default report.html)")
    p.add_argument("--png", type=Path, default=None, metavar="DIR", help="also write the figures as PNG into DIR")
    p.add_argument("--max-tokens", type=positive_int, default=1000,
                   help="read at most this many tokens (the page holds every gate of every step; default 1000)")
    p.add_argument("--features", choices=("auto", "python", "none"), default="auto",
                   help="look for units tracking Python structure (default auto: when a character model reads text "
                        "that parses as Python)")
    p.add_argument("--unit", default=None, metavar="L:K:U", help="unit shown first, e.g. 0:c:17 (default: the best "
                   "feature unit, else the most variable cell)")
    p.add_argument("--threshold", type=finite_float, default=0.3,
                   help="select/match: a unit is on at values >= this (default 0.3)")
    p.set_defaults(func=run_explain)

    p = tasks = sub.add_parser(
        "tasks", help="the long-time-lag experiments: adding, copy memory, temporal order, embedded Reber",
        description="Train LSTM, GRU or tanh RNN on the classic tasks that show why gating matters. Each reports "
                    "its test metric beside the published baseline and success criterion.",
        epilog="examples:\n  lstm tasks run adding --model lstm --length 200 --seed 0\n"
               "  lstm tasks run reber --json\n  lstm tasks compare adding --length 100 --steps 1500 --out curves.png",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    tsub = p.add_subparsers(dest="tasks_command", metavar="{run,compare}", parser_class=type(p))
    for name in ("run", "compare"):
        q = tsub.add_parser(
            name,
            help="train one model on a task" if name == "run" else "train LSTM, GRU and RNN with equal budgets, "
                                                                   "plot learning curves",
            description=(
                "Train a network on a task and report the test metric beside the baseline."
                if name == "run" else
                "Train each model with the same steps, batch, hidden size and learning rate (no early stop), and "
                "plot validation curves (PNG)."),
            epilog=("example: lstm tasks run adding --model rnn --length 200 --steps 2000 --json" if name == "run"
                    else "example: lstm tasks compare temporal_order --steps 1500 --out to.png"))
        q.add_argument("task", choices=TASK_NAMES, metavar="TASK", help=f"one of: {', '.join(TASK_NAMES)}")
        if name == "run":
            q.add_argument("--model", choices=("lstm", "gru", "rnn"), default="lstm", help="default lstm")
        else:
            q.add_argument("--models", default="lstm,gru,rnn", help="comma-separated models (default lstm,gru,rnn)")
            q.add_argument("--out", type=Path, default=None, help="learning-curve PNG (default TASK_compare.png)")
        q.add_argument("--length", type=positive_int, default=None,
                       help="sequence length T (adding, copy; default 200 and 100)")
        q.add_argument("--steps", type=positive_int, default=None, help="training steps (default per task)")
        q.add_argument("--hidden", type=positive_int, default=None, help="hidden units (default per task)")
        q.add_argument("--batch", type=positive_int, default=None, help="sequences per step (default per task)")
        q.add_argument("--lr", type=positive_float, default=None, help="Adam learning rate (default per task)")
        q.add_argument("--forget-bias", type=finite_float, default=None,
                       help="LSTM forget-gate bias at init (default per task, see lstm.tasks.DEFAULTS)")
        q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
        q.add_argument("--backend", choices=("auto", "numba", "reference"), default="auto",
                       help="kernel backend (default auto: compiled when available)")
        q.add_argument("--json", action="store_true", help="end with one JSON line of the results")
        q.add_argument("--quiet", action="store_true", help="no progress bar")
        if name == "run":
            q.add_argument("--no-early-stop", action="store_true",
                           help="train the full budget even after the validation set meets the criterion")
        q.set_defaults(func=run_tasks_run if name == "run" else run_tasks_compare)
    p.set_defaults(func=lambda args: _missing_subcommand(tasks))

    p = sub.add_parser(
        "gradients", help="the vanishing gradient made visible: ‖∂L/∂h_t‖ against lag, RNN versus LSTM",
        description="Measure the norm of the gradient reaching each hidden state h_t from a loss at the last step "
                    "of the adding problem, against the lag T−1−t, at initialisation and after training, for a tanh "
                    "RNN and an LSTM. The plot is on a log scale: the RNN's falls by orders of magnitude.",
        epilog="example: lstm gradients --length 200 --out gradients.png")
    p.add_argument("--model", choices=("lstm", "rnn", "gru", "both"), default="both", help="default both (RNN, LSTM)")
    p.add_argument("--length", type=positive_int, default=200, help="sequence length T (default 200)")
    p.add_argument("--steps", type=int, default=3000,
                   help="at most this many training steps on the adding problem, stopping once solved "
                        "(default 3000; 0 = initialisation only)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--backend", choices=("auto", "numba", "reference"), default="auto",
                   help="kernel backend (default auto: compiled when available)")
    p.add_argument("--out", type=Path, default=Path("gradients.png"), help="PNG to write (default gradients.png)")
    p.add_argument("--json", action="store_true", help="end with one JSON line of the measured norms")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run_gradients)


def _missing_subcommand(parser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_explain(args) -> int:
    from .. import load
    from ..viz import explain, figures

    if args.out.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"--out must end in .html, got {args.out}")
    check_output(args.out, "--out")
    if args.png is not None:
        figures.check_dir(args.png, "--png")
        figures.pyplot()                   # fail before writing anything when matplotlib is missing
    check_input(args.model, "a language model file (model.safetensors)")
    refuse_clashes([("--out", args.out)], [("MODEL", args.model), ("--file", args.file)])
    if args.file is not None:
        from ..data.text import read_text

        text = read_text([args.file], encoding=args.encoding)
    else:
        text = args.text
        if not text:
            raise UsageError("--text is empty; give some text to read, or use --file")
    model = load(args.model)
    if not (hasattr(model, "vocab_") and hasattr(getattr(model, "net_", None), "rnn")):
        raise UsageError(f"{args.model} is not a language model (it holds {type(model).__name__}); explain needs one "
                         "from `lstm train-text` or `lstm demo`")
    level = model.vocab_.level
    if args.features == "python" and level != "char":
        raise UsageError(f"--features python marks Python structure per character, but {args.model} is a "
                         f"{level}-level model; use --features none (or auto)")
    if args.unit is not None:
        _check_unit(args.unit, model, text)
    meta = {"model": args.model.name, "source": args.file.name if args.file else "--text",
            "vocabulary": count(len(model.vocab_), level)}
    ex = explain(model, text, out=args.out, png=args.png, max_tokens=args.max_tokens, features=args.features,
                 unit=args.unit, threshold=args.threshold, title=f"What {args.model.name} does", meta=meta)
    _notes(model, text, args.max_tokens)          # after the work: a refusal stays the only line on stderr
    tt = ex.trace
    print(f"read {count(tt.steps, level)} with {count(tt.num_layers, 'layer')} × {count(tt.hidden_size, 'unit')}")
    if ex.saturation:
        print("gate saturation (fraction of steps < 0.1 / > 0.9):")
        for r in ex.saturation:
            print(f"  layer {r['layer']} {r['gate']}: {r['left']:6.1%} / {r['right']:6.1%}   "
                  f"({r['units_mostly_right']}/{r['units']} units mostly > 0.9)")
    if ex.features:
        print("units tracking Python structure (Pearson r over the text):")
        seen = set()
        for r in ex.features:
            if r["feature"] in seen:
                continue
            seen.add(r["feature"])
            print(f"  {r['feature']:<14} layer {r['layer']} {r['kind']}[{r['unit']}]  r = {r['r']:+.3f}")
    u = ex.initial
    print(f"report: {ex.report} (shows layer {u['layer']} {u['kind']}[{u['unit']}] first; open it in a browser)")
    if ex.pngs:
        print(f"figures: {count(len(ex.pngs), 'PNG file')} in {args.png}")
    return 0


def _check_unit(spec: str, model, text: str) -> None:
    """Refuse an --unit the model does not have, naming the option and what it has (checked on one token, before
    the whole text is traced)."""
    from ..inspect import trace_text
    from ..viz.explain import parse_unit

    one = trace_text(model, text, max_tokens=1)
    try:
        parse_unit(spec, one)
    except (ValueError, TypeError) as err:
        if str(err).startswith("--unit"):
            raise UsageError(str(err)) from None
        raise UsageError(f"--unit {spec}: {err}; this model has layers 0–{one.num_layers - 1}, kinds "
                         f"{', '.join(one.values)} and units 0–{one.hidden_size - 1}") from None


def _notes(model, text: str, max_tokens: int) -> None:
    """On stderr: the text was cut at --max-tokens; tokens the model never saw (of those read) are read as <unk>."""
    vocab = model.vocab_
    pieces = vocab.tokenize(text)
    read = pieces[:max_tokens]
    unseen = list(dict.fromkeys(t for t in read if t not in vocab.index))
    if unseen:
        shown = ", ".join(repr(t) for t in unseen[:10]) + (" …" if len(unseen) > 10 else "")
        print(f"note: {len(unseen)} {vocab.level}(s) the model never saw are read as <unk> (shown as themselves): "
              f"{shown}", file=sys.stderr)
    if len(pieces) > len(read):
        print(f"note: read the first {len(read)} of {count(len(pieces), vocab.level)}; pass --max-tokens "
              f"{len(pieces)} to read them all (a larger page)", file=sys.stderr)


def _task_kwargs(args) -> dict:
    kw = dict(length=args.length, steps=args.steps, hidden=args.hidden, batch=args.batch, lr=args.lr, seed=args.seed,
              progress=not (args.quiet or args.json), backend=args.backend)
    if args.forget_bias is not None:
        kw["forget_bias"] = args.forget_bias
    return kw


def _describe(r) -> str:
    b = r.baseline
    value = r.metrics[b.metric]
    what = b.metric.removeprefix("test_").replace("_", " ")
    shown = f"{value:.2%}" if "accuracy" in b.metric else f"{value:.4g}"
    base = f"{b.value:.2%}" if "accuracy" in b.metric else f"{b.value:.4g}"
    length = f", T = {r.length}" if r.length else ""
    return (f"{r.task}{length}, {r.model.upper()} ({r.config['hidden']} units, {r.config['parameters']:,} parameters), "
            f"{r.steps} steps in {r.seconds:.0f} s, seed {r.seed}\n"
            f"  test {what}: {shown}   baseline: {base} ({b.source})\n"
            f"  criterion: {b.target}: {'met' if r.solved else 'NOT met'}")


def run_tasks_run(args) -> int:
    from ..tasks import run_task

    kw = _task_kwargs(args)
    _check_length(args)
    _check_forget_bias(args, [args.model], f"--model {args.model}", "use --model lstm")
    r = run_task(args.task, args.model, stop_when_solved=False if args.no_early_stop else None, **kw)
    print(_describe(r))
    if args.json:
        print(json.dumps(r.summary()))
    return 0


def _check_length(args) -> None:
    if args.length is not None and args.task in ("temporal_order", "reber"):
        raise UsageError(f"{args.task} has its own sequence lengths (from its definition); drop --length")
    if args.task == "adding" and args.length is not None and args.length < 2:
        raise UsageError(f"--length must be at least 2 for adding (one marked number in each half), got "
                         f"{args.length}; give --length 2 or more")


def _check_forget_bias(args, models, given: str, fix: str) -> None:
    """A non-zero --forget-bias needs an LSTM among the models: GRU and tanh RNN have no forget gate; and it must fit
    the float32 bias (beyond ±20 the gate is saturated anyway)."""
    if args.forget_bias is not None and abs(args.forget_bias) > 3.4e38:
        raise UsageError(f"--forget-bias must be a finite number within float32 range (|b| <= 3.4e38), got "
                         f"{args.forget_bias:g}; a bias of 3 already keeps the forget gate at 0.95")
    if args.forget_bias and "lstm" not in models:
        raise UsageError(f"--forget-bias applies to the LSTM's forget gate; {given} has none (drop --forget-bias or "
                         f"{fix})")


def run_tasks_compare(args) -> int:
    from ..tasks import run_task
    from ..viz import figures

    models = comma_list(args.models, "--models", "model", "lstm,gru,rnn")
    bad = [m for m in models if m not in ("lstm", "gru", "rnn")]
    if not models or bad:
        raise UsageError(f"--models must be a comma-separated list from lstm, gru, rnn; got {args.models!r}")
    _check_length(args)
    _check_forget_bias(args, models, f"--models {','.join(models)}", "add lstm to --models")
    out = args.out or Path(f"{args.task}_compare.png")
    check_output(out, "--out", ".png")
    figures.pyplot()                       # fail before training when matplotlib is missing
    kw = _task_kwargs(args)
    results = [run_task(args.task, m, stop_when_solved=False, **kw) for m in models]
    for r in results:
        print(_describe(r))
    figures.learning_curves(results, out)
    print(f"learning curves: {out}")
    if args.json:
        print(json.dumps({"task": args.task, "results": [r.summary() for r in results]}))
    return 0


def span_of_lags(length: int) -> tuple[int, int]:
    """(start, end) lags, multiples of 5, 100 apart when the sequence allows: from lag 10 (past the direct
    read-out path at lag 0) to lag 110; shorter sequences use what they have."""
    start = 10 if length > 115 else 0
    end = min(start + 100, length - 1)
    return start, end - end % 5


def run_gradients(args) -> int:
    from ..inspect.gradients import gradient_study
    from ..viz import figures

    if args.steps < 0:
        raise UsageError(f"--steps must be >= 0 (0 = initialisation only), got {args.steps}")
    if args.length < 6:
        raise UsageError(f"--length must be at least 6 (lags 0 and 5 to compare), got {args.length}; give --length 6 "
                         "or more")
    check_output(args.out, "--out", ".png")
    figures.pyplot()
    models = ("rnn", "lstm") if args.model == "both" else (args.model,)
    steps = args.steps
    study = gradient_study(models, length=args.length, steps=steps, seed=args.seed, backend=args.backend,
                           progress=not (args.quiet or args.json))
    start, lag = span_of_lags(args.length)
    print(f"‖∂L/∂h_t‖ at lag {lag} relative to lag {start} (adding problem, T = {args.length}; "
          f"lag = T − 1 − t):")
    cstart = start or int(study.profiles[0].lags[1])    # ‖∂L/∂c_t‖ is 0 at lag 0: measure it from the next lag
    for p in study.profiles:
        cell = ""
        if p.cell_norms is not None and cstart < lag:       # T <= 10: lags 0 and 5 only, no span for the cell
            since = f" relative to lag {cstart}" if cstart != start else ""
            cell = f"   (‖∂L/∂c_t‖{since}: {p.ratio(lag, cstart, cell=True):.3g})"
        print(f"  {p.model.upper():<4} {p.label:<15} {p.ratio(lag, start):.3g}{cell}")
    for kind, m in study.training.items():
        print(f"  {kind.upper()} after {m['steps']} training steps: test MSE {m['test_mse']:.4g} (baseline 0.167)")
    figures.gradient_figure(study, args.out)
    print(f"plot: {args.out}")
    if args.json:
        print(json.dumps({"length": args.length, "start": start, "lag": lag,
                          "profiles": [p.as_dict() for p in study.profiles],
                          "ratios": {f"{p.model}_{p.label}": p.ratio(lag, start) for p in study.profiles},
                          "training": study.training}))
    return 0
