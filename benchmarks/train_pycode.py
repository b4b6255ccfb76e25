"""Train the character model on Python source used by `lstm explain` to show interpretable units.

    python benchmarks/train_pycode.py --backend reference   # writes benchmarks/models/pycode_char.safetensors
    python benchmarks/train_pycode.py --steps 200 --out /tmp/m.safetensors   # a quick check

The committed model was made by the first command (CPython 3.11 standard library; 562 s wall on a busy 2-core
machine); other backends or Python versions give a model of the same kind, not the same bits.

Corpus: the standard library's own top-level ``.py`` files (``sysconfig.get_paths()['stdlib']``), sorted by name,
ASCII lines only, concatenated up to ``--chars`` characters; ``HELD_OUT`` (textwrap.py, shlex.py) is never trained
on: the tests and the report read those.
Then the script measures, on held-out code, the units whose activation best correlates with being inside a
string literal, inside a comment, bracket depth, indentation and column (Pearson r), and prints them.
"""

from __future__ import annotations

import argparse
import json
import os
import sysconfig
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from lstm.models import LanguageModel  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "models" / "pycode_char.safetensors"
HELD_OUT = ("textwrap.py", "shlex.py")      # never trained on: the report and the correlations read these
CONFIG = dict(level="char", hidden_size=128, num_layers=1, embedding_dim=32, seq_len=100, batch_size=32, lr=3e-3,
              steps=2000, eval_every=500, clip_norm=1.0, val_fraction=0.05, seed=0)


def corpus(chars: int) -> str:
    """Top-level stdlib modules, sorted, ASCII-only lines, the held-out files excluded."""
    root = Path(sysconfig.get_paths()["stdlib"])
    parts, total = [], 0
    for path in sorted(root.glob("*.py")):
        if path.name in HELD_OUT or path.name.startswith("_"):
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        text = "\n".join(line for line in text.splitlines() if line.isascii()) + "\n"
        parts.append(text)
        total += len(text)
        if total >= chars:
            break
    return "".join(parts)[:chars]


def held_out_text(chars: int = 20000) -> str:
    root = Path(sysconfig.get_paths()["stdlib"])
    return "".join((root / name).read_text(encoding="utf-8") for name in HELD_OUT)[:chars]


def measure(model, chars: int = 20000) -> list[dict]:
    """The best units per feature on held-out stdlib code (Pearson r)."""
    from lstm.inspect import feature_units, python_features, trace_text

    text = held_out_text(chars)
    tt = trace_text(model, text)
    return feature_units(tt, python_features(tt.text), top=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=CONFIG["steps"])
    ap.add_argument("--chars", type=int, default=3_000_000, help="training corpus size in characters")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=CONFIG["seed"])
    ap.add_argument("--backend", default="auto", help="kernel backend: auto, numba or reference")
    args = ap.parse_args()
    text = corpus(args.chars)
    print(f"corpus: {len(text):,} characters of stdlib Python")
    model = LanguageModel(**{**CONFIG, "steps": args.steps, "seed": args.seed})
    build = model._build

    def build_on_backend(vocab):                  # the estimator has no backend option; set it on its layer
        build(vocab)
        model.net_.rnn.backend = args.backend

    model._build = build_on_backend
    t0 = time.perf_counter()
    model.fit(text, progress=True)
    print(f"trained {model.train_result_.steps} steps in {time.perf_counter() - t0:.0f} s; "
          f"best validation {model.train_result_.best_val / 0.6931:.3f} bits/char")
    del model._build                              # an instance attribute must not reach the saved file
    model.save(args.out)
    print(f"model: {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    rows = measure(model)
    for r in rows:
        print(f"  {r['feature']:<14} layer {r['layer']} {r['kind']}[{r['unit']}]  r = {r['r']:+.3f}")
    print(json.dumps({"steps": model.train_result_.steps, "val_bits_per_char": model.train_result_.best_val / 0.6931,
                      "units": rows}))


if __name__ == "__main__":
    main()
