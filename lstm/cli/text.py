"""Language-model commands: ``lstm demo``, ``lstm train-text``, ``lstm generate``, ``lstm score``."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from .._english import article
from .common import (UsageError, factor, fraction, non_negative_float, non_negative_int, path_arg, positive_float,
                     positive_int, probability, refuse_repeats, run_folder, shell_quote, train_in_folder)

DEMO_OUT = Path("runs") / "demo"
# The demo's budget: steps (not minutes) so that a seed gives the same model on every machine.
DEMO = dict(hidden_size=256, num_layers=1, seq_len=64, batch_size=32, lr=3e-3, steps=2000, eval_every=250)


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "demo", help="train a small character model on Python's own help text, watch it learn (about 2 minutes)",
        description="Train a character-level LSTM on the English text that ships with every CPython "
                    "(pydoc_data.topics), print samples as it learns, save the model, and say where to look next. "
                    "No downloads.",
        epilog="example: lstm demo --steps 500 --out runs/quick   (a shorter run; then: lstm generate "
               "runs/quick/model.safetensors)")
    p.add_argument("--steps", type=positive_int, default=DEMO["steps"],
                   help=f"training steps (default {DEMO['steps']})")
    p.add_argument("--out", type=path_arg, default=None,
                   help=f"output folder (default {DEMO_OUT}, or {DEMO_OUT}-2, … if that holds a run)")
    p.add_argument("--overwrite", action="store_true", help="replace the run an --out folder already holds")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--quiet", action="store_true", help="no progress bar and no samples while it learns")
    p.set_defaults(func=run_demo)

    p = sub.add_parser(
        "train-text", help="train a character or word language model on text files",
        description="Train an Embedding → LSTM → Linear language model with truncated BPTT. The last 10% of the "
                    "text is held out for validation, or all of it trains and --val FILE validates (reported in "
                    "nats and bits/char, or perplexity for words). "
                    "Writes OUT/model.safetensors (best weights, also on Ctrl-C), OUT/last.safetensors (resumable "
                    "checkpoint) and OUT/metrics.jsonl.",
        epilog="example: lstm train-text book.txt --hidden 256 --layers 2 --minutes 10 --out runs/book")
    p.add_argument("files", nargs="+", type=path_arg, metavar="FILE", help="UTF-8 text file(s) (see --encoding)")
    p.add_argument("--level", choices=("char", "word"), default="char", help="tokens: characters or words")
    p.add_argument("--val", type=path_arg, default=None, metavar="FILE",
                   help="validate on this file and train on all of FILE... (default: hold out their last 10%%)")
    p.add_argument("--hidden", type=positive_int, default=256, help="LSTM hidden size (default 256)")
    p.add_argument("--layers", type=positive_int, default=2, help="stacked LSTM layers (default 2)")
    p.add_argument("--embedding", type=positive_int, default=None,
                   help="embedding size (default: the hidden size for words or with --tie, else the smaller of 64 "
                        "and the hidden size)")
    p.add_argument("--dropout", type=probability, default=0.0,
                   help="dropout between layers and before the output layer (default 0)")
    p.add_argument("--tie", action="store_true",
                   help="tie input and output embeddings (the embedding size must then be the hidden size)")
    p.add_argument("--seq-len", type=positive_int, default=100, help="BPTT length in tokens (default 100)")
    p.add_argument("--batch", type=positive_int, default=32, help="parallel streams per step (default 32)")
    p.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate (default 0.002)")
    p.add_argument("--lr-factor", type=factor, default=0.5,
                   help="multiply the learning rate by this when validation did not improve at two evaluations "
                        "in a row (default 0.5; 1 = constant)")
    p.add_argument("--clip-norm", type=non_negative_float, default=1.0,
                   help="scale the gradients down to this global 2-norm at most (default 1; 0 = no clipping)")
    budget = p.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=positive_int, default=None,
                        help="training steps (default 2000; with --resume the total to reach, not steps to add)")
    budget.add_argument("--minutes", type=positive_float, default=None, help="wall-clock budget instead of steps")
    p.add_argument("--eval-every", type=positive_int, default=200, help="validate every N steps (default 200)")
    p.add_argument("--sample-every", type=non_negative_int, default=None,
                   help="print a sample every N steps (default: at each validation; 0 = never)")
    p.add_argument("--max-vocab", type=positive_int, default=20000, help="word level: keep the N most frequent words")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--out", type=path_arg, default=None,
                   help="output folder (default runs/<first file name>, or runs/<name>-2, … if that holds a run)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors")
    p.add_argument("--overwrite", action="store_true", help="replace the run an --out folder already holds")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the files (default utf-8)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or samples")
    p.set_defaults(func=run_train_text)

    p = sub.add_parser(
        "generate", help="generate text from a trained language model, printed as it is produced",
        description="Sample from a model written by train-text or demo. Deterministic for a given --seed; "
                    "--temperature 0 always takes the most likely token.",
        epilog="example: lstm generate runs/demo/model.safetensors --prime 'The ' --length 300 --temperature 0.7")
    p.add_argument("model", type=path_arg, metavar="MODEL", help="a model.safetensors file")
    p.add_argument("--prime", default="",
                   help="text to start from (every character must be known to the model; a word model reads "
                        "words it never saw as <unk>)")
    p.add_argument("--length", type=positive_int, default=500, help="tokens to generate (default 500)")
    p.add_argument("--temperature", type=non_negative_float, default=0.8,
                   help="sampling temperature, 0 = argmax (default 0.8)")
    p.add_argument("--top-k", type=positive_int, default=None, help="sample only among the k most likely tokens")
    p.add_argument("--top-p", type=fraction, default=None, metavar="P",
                   help="nucleus sampling: only among the fewest most likely tokens holding probability P "
                        "(e.g. 0.9; default: no limit)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(func=run_generate)

    p = sub.add_parser(
        "score", help="how well a trained language model predicts a text: bits/char or perplexity",
        description="Score text the model did not train on. Every token after the first is predicted from all the "
                    "text before it (one stream, from a zero state); the mean loss is given in nats per token, with "
                    "bits/char for a character model or perplexity for a word model. A character model refuses "
                    "characters it never saw; a word model reads words it never saw as <unk> and says how many.",
        epilog="example: lstm score runs/book/model.safetensors held-out.txt")
    p.add_argument("model", type=path_arg, metavar="MODEL", help="a model.safetensors file")
    p.add_argument("files", nargs="+", type=path_arg, metavar="FILE", help="text file(s), scored as one text")
    p.add_argument("--encoding", default="utf-8", help="text encoding of the files (default utf-8)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.set_defaults(func=run_score)


def _per_token(level: str, nats: float) -> str:
    """A validation loss in the unit people quote for the level: bits/char, or a word model's perplexity."""
    return f"{nats / math.log(2):.3f} bits/char" if level == "char" else f"perplexity {math.exp(min(nats, 700)):.1f}"


def _sampler(model, every: int, prime: str, out=None):
    """A trainer callback that prints a short sample every ``every`` steps (its own RNG: training is unaffected), to
    ``out`` or else the sys.stdout of that moment (the progress bar redirects it on a terminal, to print above)."""
    def callback(trainer, event, info):
        if event == "step" and every and info["step"] % every == 0:
            text = model.sample(160, prime=prime, temperature=0.7, seed=info["step"]).replace("\n", " ⏎ ")
            val = f"  val {_per_token(model.level, info['val_loss'])}" if "val_loss" in info else ""
            print(f"[step {info['step']}{val}] {prime}{text}", file=out or sys.stdout, flush=True)
    return callback


def _train(model, text: str, out: Path, *, resume: bool, quiet: bool, sample_every: int | None, prime: str,
           val_text: str | None = None):
    callbacks = []
    every = model.eval_every if sample_every is None else sample_every
    if not quiet and every:
        callbacks.append(_sampler(model, every, prime))

    def fit():
        return model.fit(text, val_text=val_text, out_dir=out, resume=resume, callbacks=callbacks,
                         progress=not quiet)
    return train_in_folder(model, out, fit, resume=resume)


def _report(model, path: Path, seconds: float) -> dict:
    res = model.train_result_
    ran = len(res.history)                              # this session's steps (a resumed run started further on)
    tokens = ran * model.batch_size * model.seq_len
    upto = f" (to step {res.steps})" if ran != res.steps else ""
    lines = [f"trained {ran} steps{upto} in {seconds:.0f} s ({tokens / max(seconds, 1e-9):,.0f} {model.level}s/s)"]
    summary = {"steps": res.steps}
    if res.best_val is not None:
        lines.append(f"best validation loss {res.best_val:.4f} nats ({_per_token(model.level, res.best_val)}) at "
                     f"step {res.best_step}")
        summary["val_nats"] = res.best_val
    lines.append(f"model saved to {path}")
    print("\n".join(lines))
    return summary


def run_train_text(args) -> int:
    from ..data.text import read_text
    from ..models import LanguageModel

    if args.resume and args.overwrite:
        raise UsageError("--resume continues the run in --out and --overwrite replaces it; give one of them")
    resolved = [f.resolve() for f in args.files]         # a file twice: trained on twice, validated on a copy of it
    named = dict(zip(resolved, args.files))
    refuse_repeats(resolved, "FILE", "file", show=lambda f: str(named[f]))
    if args.val is not None and args.val.resolve() in named:
        raise UsageError(f"--val {args.val} is also a training FILE; validate on text the model does not train on")
    out = run_folder(args.out, Path("runs") / args.files[0].stem, resume=args.resume, overwrite=args.overwrite)
    text = read_text(args.files, encoding=args.encoding)
    val_text = None if args.val is None else read_text([args.val], encoding=args.encoding)
    if args.resume and not (out / "last.safetensors").exists():
        raise UsageError(f"--resume: no checkpoint at {out / 'last.safetensors'}; drop --resume to start afresh")
    model = LanguageModel(level=args.level, hidden_size=args.hidden, num_layers=args.layers,
                          embedding_dim=args.embedding, dropout=args.dropout, tie_weights=args.tie,
                          seq_len=args.seq_len, batch_size=args.batch, lr=args.lr,
                          steps=args.steps if args.steps or args.minutes else 2000, minutes=args.minutes,
                          eval_every=args.eval_every, max_vocab=args.max_vocab, seed=args.seed,
                          lr_factor=args.lr_factor, clip_norm=args.clip_norm)
    if args.tie and args.embedding and args.embedding != args.hidden:
        raise UsageError(f"--tie needs --embedding equal to --hidden ({args.hidden}), got --embedding "
                         f"{args.embedding}; drop --embedding or give it the hidden size")
    path, seconds = _train(model, text, out, resume=args.resume, quiet=args.quiet, sample_every=args.sample_every,
                           prime="", val_text=val_text)
    if args.resume and not model.train_result_.history:
        print(f"note: the checkpoint was already at step {model.train_result_.steps}, so nothing was trained; give "
              "a larger --steps (a total, not a number to add) to continue")
    _report(model, path, seconds)
    print(f"next: lstm generate {shell_quote(path)} --length 300")
    return 0


def _language_model(path: Path):
    from .. import load

    model = load(path)
    if not hasattr(model, "stream"):
        kind = type(model).__name__
        raise UsageError(f"{path} holds {article(kind)} {kind}, not a language model")
    return model


def run_generate(args) -> int:
    model = _language_model(args.model)
    missing = model.vocab_.unknown(args.prime)
    if missing:
        shown = ", ".join(repr(t) for t in missing[:10])
        if model.level == "char":
            raise UsageError(f"--prime holds {len(missing)} character(s) the model never saw: {shown}; "
                             "remove them or train on text that has them")
        print(f"note: --prime holds {len(missing)} word(s) the model never saw, read as <unk>: {shown}",
              file=sys.stderr)
    sys.stdout.write(args.prime)
    for piece in model.stream(args.length, prime=args.prime, temperature=args.temperature, top_k=args.top_k,
                              seed=args.seed, top_p=args.top_p):
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
    return 0


def run_score(args) -> int:
    from ..data.text import read_text

    model = _language_model(args.model)
    text = read_text(args.files, encoding=args.encoding)
    result = model.score(text, progress=sys.stderr.isatty() and not args.json)
    level = model.vocab_.level
    result["files"] = [str(f) for f in args.files]
    tokens = f"{result['tokens']:,} {level}" + ("s" if result["tokens"] != 1 else "")
    line = f"{tokens} predicted: {result['nats']:.4f} nats per {level}, {_per_token(level, result['nats'])}"
    if level == "word":
        line += f"; {100 * result['unknown']:.1f}% of them were <unk>"
    print(json.dumps(result) if args.json else line)
    return 0


def run_demo(args) -> int:
    from ..data.text import builtin_corpus
    from ..models import LanguageModel

    out = run_folder(args.out, DEMO_OUT, overwrite=args.overwrite, resumable=False)
    text = builtin_corpus()
    print(f"lstm demo: a character-level LSTM learns English from Python's own help text "
          f"({len(text):,} characters, 90% train / 10% validation)."
          + ("" if args.quiet else " Samples appear as it learns.") + "\n")
    model = LanguageModel(**{**DEMO, "steps": args.steps}, seed=args.seed)
    path, seconds = _train(model, text, out, resume=False, quiet=args.quiet, sample_every=None, prime="The ")
    summary = _report(model, path, seconds)
    final = model.sample(300, prime="The ", temperature=0.6, seed=args.seed)
    print("\nFinal sample (temperature 0.6):\n" + "The " + final + "\n")
    if "val_nats" in summary:
        print(f"final validation: {summary['val_nats'] / math.log(2):.3f} bits/char")
    path = shell_quote(path)
    print(f"next:\n  lstm generate {path} --prime 'The ' --length 400\n"
          f"  lstm explain {path} --text 'The value of x is (1, 2)'   # what its gates and cells do\n"
          f"  lstm train-text YOUR_FILE.txt --minutes 10        # your own text")
    return 0
