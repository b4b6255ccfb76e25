"""Sequence-to-sequence commands: ``lstm train-seq2seq``, ``lstm translate``, ``lstm make-pairs``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .._english import article, count
from .common import (
    UsageError,
    check_output,
    positive_float,
    positive_int,
    refuse_clashes,
    run_folder,
    shell_quote,
    train_in_folder,
)

ATTENTION_CHOICES = ("luong", "bahdanau", "dot", "none")


class _Formatter(argparse.HelpFormatter):
    """Wrap the description; keep the line breaks of the examples (the epilog)."""

    def _fill_text(self, text, width, indent):
        if text.startswith("example"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "train-seq2seq", help="train an encoder–decoder LSTM (with attention) on source<TAB>target pairs",
        description="Train a sequence-to-sequence model: a bidirectional LSTM encoder, an LSTM decoder trained with "
                    "teacher forcing, and attention over the source (Luong 'general' score by default, Bahdanau's "
                    "additive score, Luong 'dot', or none). PAIRS.tsv holds one source<TAB>target pair per line. "
                    "5% of the pairs are held out for validation (with 20 pairs or more); the best weights are "
                    "kept. Writes OUT/model.safetensors (best weights, also on Ctrl-C), OUT/best.safetensors, "
                    "OUT/last.safetensors (resumable checkpoint) and OUT/metrics.jsonl; a run that fails before "
                    "writing any of them leaves no OUT folder behind.",
        epilog="example:\n  lstm make-pairs dates --n 50000 --out dates.tsv\n"
               "  lstm train-seq2seq dates.tsv --attention luong --minutes 5 --out runs/dates\n"
               "  lstm translate runs/dates/model.safetensors 'Tuesday, 3 March 1998'",
        formatter_class=_Formatter)
    p.add_argument("pairs", type=Path, metavar="PAIRS.tsv", help="UTF-8 file of source<TAB>target lines")
    p.add_argument("--attention", choices=ATTENTION_CHOICES, default="luong",
                   help="attention score: luong (general), bahdanau (additive), dot, or none (default luong)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=positive_int, default=None,
                        help="training steps (default 2000; with --resume the total to reach, not steps to add)")
    budget.add_argument("--minutes", type=positive_float, default=None, help="wall-clock budget instead of steps")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace the run --out already holds")
    p.add_argument("--source-level", choices=("char", "word"), default="char", help="source tokens (default char)")
    p.add_argument("--target-level", choices=("char", "word"), default="char", help="target tokens (default char)")
    p.add_argument("--hidden", type=positive_int, default=128, help="LSTM hidden size (default 128)")
    p.add_argument("--layers", type=positive_int, default=1, help="stacked LSTM layers per side (default 1)")
    p.add_argument("--embedding", type=positive_int, default=64, help="embedding size (default 64)")
    p.add_argument("--unidirectional", action="store_true", help="read the source left to right only")
    p.add_argument("--batch", type=positive_int, default=64, help="pairs per step (default 64)")
    p.add_argument("--lr", type=positive_float, default=3e-3, help="Adam learning rate (default 0.003)")
    p.add_argument("--max-len", type=positive_int, default=200,
                   help="most tokens a side may have; longer pairs are refused (default 200)")
    p.add_argument("--eval-every", type=positive_int, default=250, help="validate every N steps (default 250)")
    p.add_argument("--resume", action="store_true",
                   help="continue from OUT/last.safetensors (with the same pairs file and options)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or validation lines")
    p.set_defaults(func=run_train)

    p = sub.add_parser(
        "translate", help="translate text with a model from train-seq2seq (one output line per input line)",
        description="Decode with greedy search (--beam 1, the default) or beam search. With --file, each line is "
                    "a source; a line holding a tab is read as source<TAB>expected, and the exact-match accuracy "
                    "is printed to stderr at the end. Output line N always answers input line N: blank lines give "
                    "blank output lines, and a line that cannot be translated (a character or word the model never "
                    "saw, more tokens than its max_len, or nothing before the tab) is skipped with a warning on "
                    "stderr naming the line, and gives an empty output line. Exit status: 0 when every line was "
                    "translated, 1 when some were skipped, 2 on bad input (such as a TEXT the model cannot "
                    "translate) with nothing translated.",
        epilog="examples:\n  lstm translate runs/dates/model.safetensors '3/3/98'\n"
               "  lstm translate runs/dates/model.safetensors --file test.tsv --beam 4 > out.txt\n"
               "  lstm translate runs/dates/model.safetensors 'March 3rd, 1998' --heatmap attention.png "
               "--html attention.html",
        formatter_class=_Formatter)
    p.add_argument("model", type=Path, metavar="MODEL", help="a model.safetensors file written by train-seq2seq")
    p.add_argument("text", nargs="?", default=None, metavar="TEXT", help="one source text (or use --file)")
    p.add_argument("--file", type=Path, default=None,
                   help="translate every line of this UTF-8 file (output line N answers line N; see above)")
    p.add_argument("--beam", type=positive_int, default=1, help="beam width (default 1 = greedy)")
    p.add_argument("--length-penalty", type=float, default=0.0,
                   help="rank beam hypotheses by log p / ((5+n)/6)^A (default 0: plain log-probability)")
    p.add_argument("--heatmap", type=Path, default=None,
                   help="with TEXT: write the attention weights as a PNG (a path ending in .png; needs matplotlib)")
    p.add_argument("--html", type=Path, default=None,
                   help="with TEXT: write the attention weights as a self-contained HTML page")
    p.add_argument("--out", type=Path, default=None, help="write the translations here instead of stdout")
    p.set_defaults(func=run_translate)

    p = sub.add_parser(
        "make-pairs", help="write a built-in task's pairs as TSV (dates → ISO 8601, number words → digits)",
        description="Generate source<TAB>target pairs offline. dates: 'Tuesday, 3 March 1998', '3/3/98', "
                    "'March 3rd, 1998', ... → 1998-03-03 (slashes are US month/day, dots day.month). numbers: "
                    "'three hundred forty-two' → 342, for 0–999,999. --test draws from a different seed "
                    "(seed + 1000003), for a held-out test set.",
        epilog="example: lstm make-pairs dates --n 50000 --out dates.tsv && "
               "lstm make-pairs dates --n 2000 --test --out dates-test.tsv",
        formatter_class=_Formatter)
    p.add_argument("task", choices=("dates", "numbers"), help="which task")
    p.add_argument("--n", type=positive_int, default=50000, help="number of pairs (default 50000)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--test", action="store_true", help="the held-out stream (seed + 1000003)")
    p.add_argument("--pad-to", type=positive_int, default=None,
                   help="pad every source to this many characters with '_' at random offsets (long-input test)")
    p.add_argument("--out", type=Path, required=True, help="output .tsv file (written atomically)")
    p.set_defaults(func=run_make_pairs)


# ------------------------------------------------------------------------------------------------------------------
def _eval_printer(model, out=sys.stdout, limit: int = 500):
    """A trainer callback: at each validation, greedy exact match on (up to ``limit``) validation pairs (tokens
    not seen in training read as <unk>, as in the validation loss)."""
    def callback(trainer, event, info):
        if event == "eval" and getattr(model, "validation_", None):
            pairs = model.validation_[:limit]
            outs = model.translate([s for s, _ in pairs], errors="replace")    # held-out words may be new
            acc = sum(o == t for o, (_, t) in zip(outs, pairs)) / len(pairs)
            s, t = pairs[0]
            print(f"[step {info['step']}] val loss {info['val_loss']:.4f}  exact match {acc:.1%} on {len(pairs)}"
                  f"   {s!r} → {outs[0]!r} (want {t!r})", file=out, flush=True)
    return callback


def run_train(args) -> int:
    from ..data.seq2seq_tasks import read_pairs
    from ..models.seq2seq import Seq2Seq

    if args.resume and args.overwrite:
        raise UsageError("--resume continues the run in --out and --overwrite replaces it; give one of them")
    pairs = read_pairs(args.pairs)
    out = run_folder(args.out, args.out, resume=args.resume, overwrite=args.overwrite)
    if args.resume and not (out / "last.safetensors").exists():
        raise UsageError(f"--resume: no checkpoint at {out / 'last.safetensors'}; drop --resume to start afresh")
    if not args.unidirectional and args.hidden % 2:
        raise UsageError(f"--hidden must be even for the bidirectional encoder (H/2 per direction), got "
                         f"{args.hidden}; pass an even number or --unidirectional")
    model = Seq2Seq(source_level=args.source_level, target_level=args.target_level, attention=args.attention,
                    bidirectional=not args.unidirectional, hidden_size=args.hidden, num_layers=args.layers,
                    embedding_dim=args.embedding, batch_size=args.batch, lr=args.lr,
                    steps=args.steps if args.steps or args.minutes else 2000, minutes=args.minutes,
                    eval_every=args.eval_every, max_len=args.max_len, seed=args.seed)
    try:
        model._check_pairs(pairs, args.max_len, (args.source_level, args.target_level))
    except ValueError as err:   # name the line, not the pair index
        raise UsageError(f"{args.pairs}: {_line_of(err, pairs, args.pairs)}") from None
    callbacks = [] if args.quiet else [_eval_printer(model)]
    path, seconds = train_in_folder(model, out, lambda: model.fit(pairs, out_dir=out, resume=args.resume,
                                                                  callbacks=callbacks, progress=not args.quiet),
                                    resume=args.resume)
    res = model.train_result_
    ran = len(res.history)                      # the steps this command ran (a resumed run started further on)
    if args.resume and not ran:
        print(f"note: the checkpoint was already at step {res.steps}, so nothing was trained; give a larger --steps "
              "(a total, not a number to add) to continue")
    per_step = min(model.batch_size, model.n_train_pairs_)     # a batch never holds more than all the pairs
    upto = f" (to step {res.steps})" if ran != res.steps else ""
    lines = [f"trained {count(ran, 'step')}{upto} on {count(model.n_train_pairs_, 'pair')} in {seconds:.0f} s "
             f"({ran * per_step / max(seconds, 1e-9):,.0f} pairs/s)"]
    if res.best_val is not None:
        lines.append(f"best validation loss {res.best_val:.4f} nats/token at step {res.best_step}")
        val = model.validation_[:2000]
        acc = model.score(val, errors="replace")
        lines.append(f"validation exact match (greedy): {acc:.2%} on {count(len(val), 'held-out pair')}")
    lines.append(f"model saved to {path}")
    lines.append(f"next: lstm translate {shell_quote(path)} 'SOME TEXT'   (or --file FILE --beam 4)")
    print("\n".join(lines))
    return 0


def _line_of(err: Exception, pairs, path) -> str:
    """Turn 'pair i: ...' into 'line N: ...' (blank lines are skipped by read_pairs, so count again)."""
    msg = str(err)
    if msg.startswith("pair "):
        index = int(msg.split(":", 1)[0].split()[1])
        lineno = _pair_lines(path)[index]
        return f"line {lineno}:" + msg.split(":", 1)[1].replace("raise max_len", "raise --max-len")
    return msg


def _pair_lines(path) -> list[int]:
    from ..data.seq2seq_tasks import split_lines

    text = Path(path).read_text(encoding="utf-8")
    return [i for i, line in enumerate(split_lines(text), 1) if line.strip()]


def _untranslatable(model, src: str) -> str | None:
    """Why ``src`` cannot be translated by ``model`` (too long, or tokens it never saw), or None if it can."""
    level = model.source_level
    n = len(model.source_vocab_.tokenize(src))
    if n > model.max_len:
        return f"{count(n, level)}, more than the model's max_len={model.max_len}; shorten or split it"
    missing = model.source_vocab_.unknown(src)
    if missing:
        shown = ", ".join(repr(t) for t in missing[:10]) + (" …" if len(missing) > 10 else "")
        them = "them" if len(missing) > 1 else "it"
        return (f"{count(len(missing), level)} the model never saw: {shown}; remove {them}, or train on pairs "
                f"that contain {them}")
    return None


def run_translate(args) -> int:
    from .. import load

    if (args.text is None) == (args.file is None):
        raise UsageError("give exactly one of TEXT or --file F (one source per line)")
    drawing = args.heatmap is not None or args.html is not None
    if drawing and args.text is None:
        raise UsageError("--heatmap/--html draw one translation: use them with TEXT, not --file")
    if not 0 <= args.length_penalty <= 10:
        raise UsageError(f"--length-penalty must be in [0, 10], got {args.length_penalty}")
    check_output(args.out, "--out")
    check_output(args.heatmap, "--heatmap", ".png")
    check_output(args.html, "--html")
    refuse_clashes([("--out", args.out), ("--heatmap", args.heatmap), ("--html", args.html)],
                   [("MODEL", args.model), ("--file", args.file)])
    if args.heatmap is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise UsageError("--heatmap needs matplotlib: pip install 'lstm[viz]' (or pip install matplotlib), or "
                             "use --html, which needs nothing more") from None
    model = load(args.model)
    if not hasattr(model, "translate"):
        kind = type(model).__name__
        raise UsageError(f"{args.model} holds {article(kind)} {kind}, not a sequence-to-sequence model; train one "
                         "with lstm train-seq2seq")
    if drawing and not model.net_.has_attention:
        raise UsageError(f"{args.model} was trained with --attention none: there are no weights to draw")
    if args.text is not None:
        if not args.text.strip():
            raise UsageError("TEXT is empty; give some text to translate")
        problem = _untranslatable(model, args.text)
        if problem:
            raise UsageError(f"TEXT: {problem}")
        lines = [("TEXT", args.text, None, None)]
    else:
        lines = _read_sources(args.file)
    skipped = []
    for k, (at, src, want, problem) in enumerate(lines):
        problem = problem or (src is not None and _untranslatable(model, src))
        if problem:
            print(f"warning: {at}: skipped (its output line is left empty): {problem}", file=sys.stderr)
            lines[k] = (at, None, want, problem)
            skipped.append(k)
    trace = None
    if drawing:     # the drawn translation is the printed one: the same search, run once
        trace = model.attention_trace(args.text, beam=args.beam, length_penalty=args.length_penalty)
        outs = iter([trace["translation"]])
    else:
        todo = [src for _, src, _, _ in lines if src is not None]
        outs = iter(model.translate(todo, beam=args.beam, length_penalty=args.length_penalty) if todo else [])
    results = [next(outs) if src is not None else "" for _, src, _, _ in lines]
    text = "".join(r + "\n" for r in results)
    if args.out is not None:
        from ..io.safefile import write_atomic

        write_atomic(args.out, text.encode("utf-8"))
    else:
        sys.stdout.write(text)
    checked = [(r, want) for r, (_, src, want, _) in zip(results, lines) if src is not None and want is not None]
    unchecked = sum(lines[k][2] is not None for k in skipped)
    if checked:
        right = sum(r == w for r, w in checked)
        print(f"exact match: {right}/{len(checked)} = {right / len(checked):.2%} (beam {args.beam})"
              + (f"; {count(unchecked, 'skipped line')} with an expected translation not counted"
                 if unchecked else ""), file=sys.stderr)
    if trace is not None:
        from ..viz.attention_plot import plot_attention, write_attention_html

        title = f"{args.text!r} → {trace['translation']!r}"
        if args.html is not None:
            write_attention_html(args.html, trace["weights"], trace["source"], trace["target"], title=title)
            print(f"attention page written to {args.html}", file=sys.stderr)
        if args.heatmap is not None:
            plot_attention(trace["weights"], trace["source"], trace["target"], args.heatmap, title=title)
            print(f"attention heatmap written to {args.heatmap}", file=sys.stderr)
    if skipped:
        sources = sum(src is not None or problem is not None for _, src, _, problem in lines)
        print(f"warning: {len(skipped)} of {count(sources, 'source line')} skipped (left empty in the output); "
              "exit status 1", file=sys.stderr)
        return 1
    return 0


def _read_sources(path: Path):
    """Lines of a file → [(where, source or None for a blank line, expected or None, why the line cannot be
    translated or None)], one per line (split as editors count lines)."""
    from ..data.seq2seq_tasks import split_lines

    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if path.is_dir():
        raise UsageError(f"{path} is a directory; pass a text file with one source per line")
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise UsageError(f"{path} looks binary (it contains NUL bytes); give a UTF-8 text file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise UsageError(f"{path} is not valid UTF-8 (byte {err.start}); re-save it as UTF-8") from None
    lines = []
    for lineno, line in enumerate(split_lines(text), 1):
        at = f"{path}:{lineno}"
        if not line.strip():
            lines.append((at, None, None, None))
            continue
        src, tab, want = line.partition("\t")
        if not src.strip():
            lines.append((at, None, want, "the source (before the tab) is empty"))
            continue
        lines.append((at, src, want if tab else None, None))
    if not any(src is not None or problem is not None for _, src, _, problem in lines):
        raise UsageError(f"{path} holds no text to translate; give one source per line")
    return lines


def run_make_pairs(args) -> int:
    from ..data.seq2seq_tasks import (
        TEST_SEED_OFFSET,
        format_pairs,
        pad_sources,
        task_pairs,
    )
    from ..io.safefile import write_atomic

    check_output(args.out, "--out")
    seed = args.seed + (TEST_SEED_OFFSET if args.test else 0)
    pairs = task_pairs(args.task, args.n, seed)
    if args.pad_to is not None:
        longest = max(len(s) for s, _ in pairs)
        if args.pad_to < longest:
            raise UsageError(f"--pad-to {args.pad_to} is shorter than the longest source "
                             f"({count(longest, 'character')}); pass at least {longest}")
        pairs = pad_sources(pairs, args.pad_to, seed)
    write_atomic(args.out, format_pairs(pairs).encode("utf-8"))
    print(f"wrote {count(len(pairs), args.task[:-1] + ' pair')} (seed {seed}) to {args.out}")
    return 0
