"""The vanishing gradient, measured: ‖∂L/∂h_t‖ against lag for a tanh RNN and an LSTM on the adding problem.

    python benchmarks/bench_gradients.py            # T = 200, seed 0: trains both (≤ 3,000 steps each)

Writes benchmarks/results/gradients.png and gradients.json, and the two trained networks to
benchmarks/models/adding_{rnn,lstm}_T200.safetensors (a few KB each; tests/test_gradients.py reads them).
Same numbers as `lstm gradients --length 200 --seed 0`.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from lstm.inspect.gradients import gradient_study  # noqa: E402
from lstm.tasks.net import load_task_net, save_task_net  # noqa: E402
from lstm.viz.figures import gradient_figure  # noqa: E402

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--reuse", action="store_true", help="measure the saved networks again instead of training")
    args = ap.parse_args()
    t0 = time.perf_counter()
    nets, training = {}, {}
    if args.reuse:
        for kind in ("rnn", "lstm"):
            nets[kind], meta = load_task_net(HERE / "models" / f"adding_{kind}_T{args.length}.safetensors",
                                             backend=args.backend)
            training[kind] = {k: meta[k] for k in ("test_mse", "steps")}
    study = gradient_study(("rnn", "lstm"), length=args.length, steps=args.steps, seed=args.seed,
                           backend=args.backend, progress=True, nets=nets)
    study.training.update(training)
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    gradient_figure(study, out / "gradients.png")
    ratios = {f"{p.model}_{p.label}": p.ratio(110, 10) for p in study.profiles}
    ratios.update({f"{p.model}_{p.label}_from_lag0": p.ratio(100) for p in study.profiles})
    ratios.update({f"{p.model}_{p.label}_cell": p.ratio(110, 10, cell=True) for p in study.profiles
                   if p.cell_norms is not None})
    for kind, net in ([] if args.reuse else study.nets.items()):
        save_task_net(net, HERE / "models" / f"adding_{kind}_T{args.length}.safetensors",
                      meta={"task": "adding", "length": args.length, "seed": args.seed, **study.training[kind]})
    summary = {"length": args.length, "seed": args.seed, "steps": args.steps, "ratios": ratios,
               "training": study.training, "seconds": round(time.perf_counter() - t0, 1),
               "profiles": [p.as_dict() for p in study.profiles]}
    (out / "gradients.json").write_text(json.dumps(summary, indent=1))
    print("gradient at lag 110 / lag 10 (‖∂L/∂h_t‖; _cell: ‖∂L/∂c_t‖; _from_lag0: lag 100 / lag 0):")
    for name, r in ratios.items():
        print(f"{name:<32} {r:.3g}")
    print(json.dumps({k: v for k, v in summary.items() if k != "profiles"}))


if __name__ == "__main__":
    main()
