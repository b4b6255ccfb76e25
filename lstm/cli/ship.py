"""Shipping commands: ``lstm export`` (a saved model to ONNX, or to PyTorch-named safetensors)."""

from __future__ import annotations

import json
from pathlib import Path

from .._english import article
from .common import UsageError, check_input, check_output


def add_parsers(sub) -> None:
    """Add this group's subcommands to the `lstm` parser."""
    p = sub.add_parser(
        "export", help="export a saved model to ONNX (onnxruntime) or to PyTorch-named safetensors",
        description="Read a model written by `lstm train-text` / `lstm demo` / lstm.save and write it in formats "
                    "other tools load. --onnx writes a standard ONNX graph (Gather embedding, the ONNX LSTM operator, "
                    "MatMul head, Softmax) with inputs ids, h0, c0 and outputs probs, h_n, c_n; a forecaster "
                    "exports its network: preprocessed windows x (B, L, F) -> output (B, S, Q) (ONNX export takes "
                    "language models and forecasters; classifiers and seq2seq models go to PyTorch names only); "
                    "when onnxruntime is "
                    "installed the file is run once on random input and compared with lstm. --torch-safetensors "
                    "writes the weights under PyTorch's names (emb.weight, rnn.weight_ih_l0, ..., head.weight) as "
                    "safetensors, never pickle. Needs: pip install lstm[onnx] for --onnx.",
        epilog="example: lstm export runs/demo/model.safetensors --onnx demo.onnx "
               "--torch-safetensors demo-torch.safetensors")
    p.add_argument("model", type=Path, metavar="MODEL", help="a model file written by lstm (model.safetensors)")
    p.add_argument("--onnx", type=Path, default=None, metavar="OUT.onnx", help="write an ONNX model here")
    p.add_argument("--torch-safetensors", type=Path, default=None, metavar="OUT.safetensors",
                   help="write the weights with PyTorch names here (load with safetensors.torch.load_file)")
    p.add_argument("--no-state-inputs", action="store_true",
                   help="ONNX: no h0/c0 inputs (the recurrence starts from zeros); h_n/c_n are still outputs")
    p.add_argument("--logits", action="store_true",
                   help="ONNX, language models only: also output the logits before the softmax")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset (default 17)")
    p.add_argument("--no-check", action="store_true", help="ONNX: skip the onnxruntime comparison")
    p.set_defaults(func=run_export)


def _config_text(model) -> str:
    return json.dumps({"class": type(model).__name__, "params": model.fitted_params()}, sort_keys=True)


def _write_torch_safetensors(model, path: Path) -> int:
    from safetensors.numpy import save as st_save

    from ..io.safefile import _sorted_header, write_atomic
    from ..io.torch_io import to_torch_state_dict

    arrays = to_torch_state_dict(model)
    meta = {"format": "pt", "lstm.model": _config_text(model)}
    vocab = getattr(model, "vocab_", None)
    if vocab is not None:
        meta["lstm.vocab"] = json.dumps(vocab.tokens, ensure_ascii=False)
    write_atomic(path, _sorted_header(st_save(arrays, metadata=meta)))      # the same model, the same bytes
    return len(arrays)


def _check(model, onnx_model) -> tuple[bool, str]:
    import importlib.util

    if importlib.util.find_spec("onnxruntime") is None:
        return True, "not checked: onnxruntime is not installed (pip install lstm[onnx])"
    from ..io.onnx_export import check_onnx

    try:
        diff = check_onnx(model, onnx_model)
    except TypeError:
        return True, f"not checked: lstm has no automatic onnxruntime check for a {type(model).__name__}"
    if not diff < 1e-4:
        return False, f"onnxruntime disagrees with lstm by {diff:.3g} on random input; please report this"
    return True, f"onnxruntime agrees with lstm to {diff:.1e} on random input"


def _is_stream(path: Path) -> bool:
    """A device or pipe such as /dev/null, written through rather than replaced."""
    return path.exists() and not path.is_file() and not path.is_dir()


def run_export(args) -> int:
    from .. import load

    if args.onnx is None and args.torch_safetensors is None:
        raise UsageError("nothing to write: give --onnx OUT.onnx and/or --torch-safetensors OUT.safetensors")
    check_input(args.model, "a model file written by lstm (model.safetensors)")
    for option, out in (("--onnx", args.onnx), ("--torch-safetensors", args.torch_safetensors)):
        if out is not None and out.resolve() == args.model.resolve():
            raise UsageError(f"the output {out} is the model file itself; choose another name")
        check_output(out, option)
    both = args.onnx is not None and args.torch_safetensors is not None
    if both and args.onnx.resolve() == args.torch_safetensors.resolve() and not _is_stream(args.onnx):
        raise UsageError(f"--onnx and --torch-safetensors both name {args.onnx}: the second file would replace the "
                         "first; give each its own name")
    model = load(args.model)
    try:
        return _export(args, model)
    except ImportError as err:                  # an optional package is missing: one line naming the extra
        raise UsageError(str(err)) from None


def _export(args, model) -> int:
    from ..io.onnx_export import _EXPORTERS, _exporter_for, to_onnx
    from ..io.onnx_graph import OPSET
    from ..io.safefile import write_atomic

    ok = True
    if args.onnx is not None:
        kind = type(model).__name__
        if _exporter_for(model) is None:
            raise UsageError(f"{args.model} holds {article(kind)} {kind}, which --onnx cannot export (ONNX export "
                             f"takes {', '.join(sorted(_EXPORTERS))}); --torch-safetensors writes its weights with "
                             "PyTorch names")
        options = {"initial_state": not args.no_state_inputs}
        if args.logits:
            if kind != "LanguageModel":
                raise UsageError(f"--logits applies to language models, and {args.model} holds {article(kind)} {kind}, "
                                 "whose graph has no softmax; leave out --logits")
            options["logits"] = True
        try:
            onnx_model = to_onnx(model, dtype="float32", opset=OPSET if args.opset is None else args.opset, **options)
        except TypeError as err:
            raise UsageError(f"{args.model} holds {article(kind)} {kind}, which cannot be exported: {err}") from None
        write_atomic(args.onnx, onnx_model.SerializeToString())
        names = lambda values: ", ".join(v.name for v in values)   # noqa: E731
        print(f"wrote {args.onnx} (inputs {names(onnx_model.graph.input)}; outputs {names(onnx_model.graph.output)})")
        if not args.no_check:
            ok, message = _check(model, onnx_model)
            print(message)
    if args.torch_safetensors is not None:
        n = _write_torch_safetensors(model, args.torch_safetensors)
        from ..io.torch_io import builds_torch_module

        builds = "lstm.io.to_torch(lstm.load(MODEL)) builds a matching module" if builds_torch_module(model) else \
            "lstm.io.to_torch_state_dict(lstm.load(MODEL)) gives the same tensors"
        print(f"wrote {args.torch_safetensors} ({n} tensors with PyTorch names; in PyTorch: "
              f"net.load_state_dict(safetensors.torch.load_file(path)); {builds})")
    return 0 if ok else 1
