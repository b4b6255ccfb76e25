"""Hostile files against ``lstm.load`` and the checkpoint loader: every one refused with a clear FileFormatError.

No code runs (a pickle payload's marker file never appears), nothing crashes, nothing huge is allocated.  Files are
crafted the way an attacker would: by hand, or by re-signing a lying file with the (public, non-secret) checksum.
"""

import json
import pickle
import resource
import struct
import tracemalloc

import numpy as np
import pytest

import lstm
from lstm.data.text import Vocabulary
from lstm.io import FileFormatError
from lstm.io import model_file, safefile
from lstm.models import LanguageModel
from lstm.models.estimator import Estimator
from lstm.nn import LSTM, Linear, Module
from lstm.optim import Adam
from lstm.train import checkpoint


class Evil:
    """Unpickling this calls open(marker, "w"): the marker file appears if anything ever unpickles it."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _model():
    model = LanguageModel(hidden_size=8, num_layers=2, embedding_dim=4, seed=0)
    model._build(Vocabulary.build("hostile files are refused", "char"))
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    model = _model()
    model_path = lstm.save(model, d / "model.safetensors")
    opt = Adam(model.net_, lr=1e-3)
    model.net_.loss(np.array([[1, 2, 3]]), np.array([[2, 3, 4]]))
    opt.step(model.net_.grads)
    ckpt_path = d / "ckpt.safetensors"
    checkpoint.save(ckpt_path, model.net_, opt, carry=[np.zeros((2, 1, 8), np.float32)] * 2, trainer={"step": 1})
    return {"dir": d, "model": model_path, "checkpoint": ckpt_path}


LOADERS = {"model": lstm.load, "checkpoint": checkpoint.load}


def _refused(loader, path, pattern):
    with pytest.raises(FileFormatError, match=pattern) as info:
        LOADERS[loader](path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message and len(message) < 400   # one clear line naming the file
    return message


def _parts(path):
    """(header dict, tensor bytes) of a safetensors file."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _raw(header, body: bytes, declared: int | None = None) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h) if declared is None else declared) + h + body


def _resigned(path, *, arrays=None, meta=None, kind=None, version=None, out=None):
    """A copy of ``path`` with some parts replaced and the checksum recomputed, as an attacker would."""
    from safetensors.numpy import load as st_load, save as st_save

    header, _ = _parts(path)
    info = header["__metadata__"]
    arrays = st_load(path.read_bytes()) if arrays is None else arrays
    meta_text = json.dumps(json.loads(info["meta"]) if meta is None else meta)
    metadata = {"format": kind or info["format"], "format_version": version or info["format_version"],
                "meta": meta_text, "sha256": safefile._digest(arrays, meta_text)}
    out = out or path.with_name("resigned-" + path.name)
    out.write_bytes(st_save(arrays, metadata=metadata))
    return out


def _meta(path):
    return json.loads(_parts(path)[0]["__metadata__"]["meta"])


# ---------------------------------------------------------------------------------------------------------------
# pickle payloads
# ---------------------------------------------------------------------------------------------------------------

def test_the_payload_is_live(tmp_path):
    """Control: unpickling the payload does create the marker, so the tests below can fail."""
    marker = tmp_path / "control"
    pickle.loads(pickle.dumps(Evil(marker)))
    assert marker.exists()


@pytest.mark.parametrize("loader", LOADERS)
@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_pickle_files_are_refused_without_running_them(tmp_path, loader, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    path.write_bytes(pickle.dumps({"state_dict": Evil(marker)}, protocol=protocol))
    message = _refused(loader, path, "a Python pickle")
    assert "never" in message and "unpickl" in message
    assert not marker.exists()


@pytest.mark.parametrize("loader", LOADERS)
def test_torch_save_checkpoints_are_refused_without_running_them(tmp_path, loader):
    torch = pytest.importorskip("torch")
    marker, control = tmp_path / "pwned", tmp_path / "control"
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(3), "payload": Evil(marker)}, path)
    control_path = tmp_path / "control.pt"
    torch.save({"payload": Evil(control)}, control_path)
    torch.load(control_path, weights_only=False)                  # what an unsafe loader would do
    assert control.exists()
    _refused(loader, path, "zip archive.*torch.save")
    assert not marker.exists()


def test_pickle_bytes_inside_a_valid_file_stay_inert_bytes(tmp_path, files):
    marker = tmp_path / "pwned"
    payload = np.frombuffer(pickle.dumps(Evil(marker)), dtype=np.uint8)
    from safetensors.numpy import load as st_load

    arrays = dict(st_load(files["model"].read_bytes()), payload=payload)
    meta = _meta(files["model"])
    meta["extra"]["payload"] = pickle.dumps(Evil(marker)).hex()
    path = _resigned(files["model"], arrays=arrays, meta=meta, out=tmp_path / "m.safetensors")
    _refused("model", path, "unexpected")
    path = tmp_path / "appended.safetensors"                      # a pickle glued after a valid file
    path.write_bytes(files["model"].read_bytes() + pickle.dumps(Evil(marker)))
    _refused("model", path, "truncated or corrupted")
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# not our file at all, and truncation
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("loader", LOADERS)
def test_random_bytes_and_foreign_formats_are_refused(tmp_path, loader):
    rng = np.random.default_rng(0)
    cases = [b"", b"abc", b"hello, I am a text file\n" * 3, b"\x00" * 8, b"\xff" * 64,
             b"\x93NUMPY\x01\x00v\x00", b"\x89HDF\r\n\x1a\n" + b"\x00" * 32]
    cases += [rng.integers(0, 256, size=n, dtype=np.uint8).tobytes() for n in (7, 8, 9, 100, 4096)]
    for i, data in enumerate(cases):
        path = tmp_path / f"junk{i}.safetensors"
        path.write_bytes(data)
        _refused(loader, path, "not a|truncated|corrupted|not an lstm")


def test_missing_paths_raise_file_not_found(tmp_path):
    for loader in LOADERS.values():
        with pytest.raises(FileNotFoundError, match="no such file"):
            loader(tmp_path / "nope.safetensors")
        with pytest.raises(IsADirectoryError, match="is a directory"):
            loader(tmp_path)                                      # a directory is not a model file


@pytest.mark.parametrize("loader", LOADERS)
def test_truncated_at_many_offsets(tmp_path, files, loader):
    data = files[loader].read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    rng = np.random.default_rng(1)
    offsets = set(range(0, 24)) | set(range(8 + n - 8, 8 + n + 8)) | set(rng.integers(0, len(data), 60).tolist())
    offsets |= {len(data) - 1, len(data) - 4}
    for cut in sorted(offsets):
        path = tmp_path / "cut.safetensors"
        path.write_bytes(data[:cut])
        _refused(loader, path, "truncated|corrupted|not a")


@pytest.mark.parametrize("loader", LOADERS)
def test_flipped_bytes_in_the_tensors_fail_the_checksum(tmp_path, files, loader):
    data = bytearray(files[loader].read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    rng = np.random.default_rng(2)
    for pos in rng.integers(8 + n, len(data), 10):
        bad = bytearray(data)
        bad[pos] ^= 0x10
        path = tmp_path / "flipped.safetensors"
        path.write_bytes(bytes(bad))
        _refused(loader, path, "checksum")


# ---------------------------------------------------------------------------------------------------------------
# headers that lie
# ---------------------------------------------------------------------------------------------------------------

def _lying_headers(path):
    """(name, file bytes, expected message) for headers that lie about sizes, offsets, types and structure."""
    header, body = _parts(path)
    meta = header["__metadata__"]
    name = next(k for k in header if k != "__metadata__")
    entry = header[name]

    nested = b'{"x":' + b"[" * 100000 + b"]" * 100000 + b"}"       # RecursionError in a naive reader

    def with_entry(**changes):
        return _raw({**header, name: {**entry, **changes}}, body)

    return [
        ("header size 2**60", _raw(header, body, declared=2 ** 60), "header promises"),
        ("header size 2**64-1", _raw(header, body, declared=2 ** 64 - 1), "header promises"),
        ("header shorter than said", _raw(header, body, declared=len(json.dumps(header)) - 5), "unreadable header"),
        ("header is a list", _raw([1, 2, 3], body), "no valid metadata"),
        ("deeply nested header", struct.pack("<Q", len(nested)) + nested, "unreadable header"),
        ("not UTF-8", struct.pack("<Q", 4) + b"\xff\xfe\xfd\xfc", "unreadable header"),
        ("metadata not strings", _raw({**header, "__metadata__": {**meta, "format_version": [1]}}, body),
         "no valid metadata"),
        ("offsets beyond the file", with_entry(data_offsets=[entry["data_offsets"][0], 10 ** 12]), "corrupted"),
        ("huge tensor shape", with_entry(shape=[2 ** 40, 2 ** 40]), "corrupted"),
        ("shape overflowing 64 bits", with_entry(shape=[2 ** 62, 2 ** 62, 16]), "corrupted"),
        ("zero-size tensor of huge extent", with_entry(shape=[0, 2 ** 62], data_offsets=[0, 0]), "corrupted"),
        ("negative shape", with_entry(shape=[-1, 4]), "corrupted"),
        ("dtype that changes the size", with_entry(dtype="F64"), "corrupted"),
        ("unknown dtype", with_entry(dtype="Q8"), "corrupted"),
        ("overlapping tensors", _raw({**header, "zz_copy": entry}, body), "corrupted"),
    ]


@pytest.mark.parametrize("loader", LOADERS)
def test_headers_that_lie_are_refused_without_huge_allocations(tmp_path, files, loader):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data, pattern in _lying_headers(files[loader]):
        path = tmp_path / "lying.safetensors"
        path.write_bytes(data)
        try:
            _refused(loader, path, pattern)
        except AssertionError as err:
            raise AssertionError(f"{name}: {err}") from None
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 200, f"peak memory grew by {grown_mb:.0f} MB"


@pytest.mark.parametrize("loader", LOADERS)
def test_unknown_future_and_invalid_versions_and_wrong_kinds(tmp_path, files, loader):
    _refused(loader, _resigned(files[loader], version="999", out=tmp_path / "v.safetensors"),
             "format version 999; this lstm reads up to 1: upgrade lstm")
    for bad in ("abc", "0", "-3", "1.5", ""):
        _refused(loader, _resigned(files[loader], version=bad or " ", out=tmp_path / "v.safetensors"),
                 "no valid format_version")
    other = "checkpoint" if loader == "model" else "model"
    path = tmp_path / "other.safetensors"
    path.write_bytes(files[other].read_bytes())
    kind = "lstm.model" if loader == "model" else "lstm.checkpoint"
    said = "checkpoint" if loader == "model" else "model"
    _refused(loader, path, f"not an {kind} file \\(it says format='lstm\\.{said}'\\)")
    if loader == "model":                               # the checkpoint beside a run's model: say which to give
        _refused(loader, path, "it is a training checkpoint \\(for --resume\\): give the model.safetensors")
    from safetensors.numpy import save as st_save
    path.write_bytes(st_save({"w": np.zeros(3, np.float32)}))     # someone else's safetensors file
    _refused(loader, path, f"not an {kind} file")
    path.write_bytes(st_save({"w": np.zeros(3, np.float32)}, metadata={"format": kind, "format_version": "1",
                                                                       "meta": "[1, 2]", "sha256": "0"}))
    _refused(loader, path, "checksum|not an object")


# ---------------------------------------------------------------------------------------------------------------
# model files whose configuration lies
# ---------------------------------------------------------------------------------------------------------------

def test_unknown_class_names_are_refused(tmp_path, files):
    for name in ("EvilModel", "Estimator", "__class__", ["LanguageModel"], None, 7):
        meta = _meta(files["model"])
        meta["class"] = name
        _refused("model", _resigned(files["model"], meta=meta, out=tmp_path / "c.safetensors"),
                 "which this lstm does not know")


def test_missing_extra_and_reshaped_tensors_are_refused(tmp_path, files):
    from safetensors.numpy import load as st_load

    arrays = st_load(files["model"].read_bytes())
    out = tmp_path / "t.safetensors"
    _refused("model", _resigned(files["model"], arrays={k: v for k, v in arrays.items() if k != "head.bias"},
                                out=out), "does not match its own configuration.*head.bias.*missing|missing.*head.bias")
    _refused("model", _resigned(files["model"], arrays={**arrays, "rnn.weight_hr_l0": np.zeros((2, 8), np.float32)},
                                out=out), "does not match its own configuration.*unexpected")
    w = arrays["rnn.weight_hh_l1"]
    _refused("model", _resigned(files["model"], arrays={**arrays, "rnn.weight_hh_l1": np.ascontiguousarray(w.T)},
                                out=out), "does not match its own configuration.*rnn.weight_hh_l1")
    emb = arrays["emb.weight"]
    _refused("model", _resigned(files["model"], arrays={**arrays, "emb.weight": np.vstack([emb, emb])}, out=out),
             "does not match its own configuration.*emb.weight")


@pytest.mark.parametrize("dtype", [np.float64, np.float16, np.int32, np.bool_])
def test_tensors_of_the_wrong_dtype_are_refused(tmp_path, files, dtype):
    from safetensors.numpy import load as st_load

    arrays = st_load(files["model"].read_bytes())
    arrays["rnn.weight_ih_l0"] = arrays["rnn.weight_ih_l0"].astype(dtype)
    _refused("model", _resigned(files["model"], arrays=arrays, out=tmp_path / "d.safetensors"),
             f"'rnn.weight_ih_l0' is stored as {np.dtype(dtype)}, the model keeps it as float32")


@pytest.mark.parametrize("change,pattern", [
    ({"params": {"hidden_size": 9}}, "does not match its own configuration"),
    ({"params": {"num_layers": 1}}, "does not match its own configuration"),
    ({"params": {"hidden_size": "big"}}, "configuration this lstm cannot build|does not match"),
    ({"params": {"hidden_size": -4}}, "configuration this lstm cannot build|does not match"),
    ({"params": {"no_such_parameter": 1}}, "configuration this lstm cannot build.*no_such_parameter"),
    ({"params": {"hidden_size": 10 ** 12}}, "configuration this lstm cannot build|does not match"),
    ({"params": [1, 2]}, "must be JSON objects"),
    ({"extra": {}}, "configuration this lstm cannot build.*vocab"),
    ({"extra": {"vocab": {"level": "char", "tokens": [[1], [2]]}}}, "configuration this lstm cannot build"),
    ({"extra": {"vocab": {"level": "nonsense", "tokens": ["a"]}}}, "configuration this lstm cannot build"),
])
def test_configurations_that_lie_are_refused(tmp_path, files, change, pattern):
    meta = _meta(files["model"])
    for key, value in change.items():
        if key == "params" and isinstance(value, dict):
            meta["params"].update(value)                          # one parameter changed, the rest kept
        else:
            meta[key] = value
    _refused("model", _resigned(files["model"], meta=meta, out=tmp_path / "p.safetensors"), pattern)


def test_a_lying_size_is_refused_before_the_network_is_built(tmp_path, files):
    meta = _meta(files["model"])
    meta["params"]["hidden_size"] = 1000        # the file holds hidden 8: ~100 MB would be allocated to find out
    path = _resigned(files["model"], meta=meta, out=tmp_path / "big.safetensors")
    tracemalloc.start()
    try:
        _refused("model", path, "does not match its own configuration")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20e6, f"{peak / 1e6:.0f} MB allocated to refuse a {path.stat().st_size} byte file"


def test_a_lying_layer_count_is_refused_at_once(tmp_path, files):
    meta = _meta(files["model"])
    meta["params"]["num_layers"] = 10 ** 15
    _refused("model", _resigned(files["model"], meta=meta, out=tmp_path / "deep.safetensors"),
             "does not match its own configuration")


# The expected-shapes mechanism itself, on a small estimator that implements the hook.

class _HookedNet(Module):
    def __init__(self, n):
        super().__init__()
        self.rnn = LSTM(2, n, seed=0)
        self.head = Linear(n, 1, seed=0)


@model_file.register
class HostileTestEstimator(Estimator):
    def __init__(self, hidden_size=3):
        self.hidden_size = hidden_size

    @classmethod
    def _expected_shapes(cls, params, extra):
        H = params.get("hidden_size", 3)
        yield from {"rnn.weight_ih_l0": (4 * H, 2), "rnn.weight_hh_l0": (4 * H, H), "rnn.bias_ih_l0": (4 * H,),
                    "rnn.bias_hh_l0": (4 * H,), "head.weight": (1, H), "head.bias": (1,)}.items()

    def _restore(self, extra):
        self.net_ = _HookedNet(self.hidden_size)

    def _module(self):
        return self.net_

    def _extra_config(self):
        return {}


def test_estimators_with_the_hook_are_checked_before_anything_is_built(tmp_path):
    est = HostileTestEstimator()
    est._restore({})
    path = lstm.save(est, tmp_path / "hooked.safetensors")
    assert lstm.load(path).net_.rnn.hidden_size == 3
    meta = _meta(path)
    meta["params"]["hidden_size"] = 3000                      # would be ~150 MB to build
    lying = _resigned(path, meta=meta, out=tmp_path / "lying.safetensors")
    tracemalloc.start()
    try:
        _refused("model", lying, "'rnn.weight_ih_l0' has shape \\(12, 2\\), the configuration implies \\(12000, 2\\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5e6


# ---------------------------------------------------------------------------------------------------------------
# checkpoints whose metadata lies
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("change", [{"carry_parts": 5}, {"carry_parts": "x"}, {"optimizer": 3},
                                    {"optimizer": {"state": {"__array__": "nope"}}}])
def test_checkpoint_metadata_that_lies_is_refused(tmp_path, files, change):
    meta = _meta(files["checkpoint"])
    meta.update(change)
    _refused("checkpoint", _resigned(files["checkpoint"], meta=meta, out=tmp_path / "k.safetensors"),
             "does not match|corrupted|cannot")


def test_a_changed_metadata_value_is_caught_by_the_checksum(tmp_path, files):
    """The checksum covers the JSON metadata too: editing one hyper-parameter without re-signing is refused."""
    data = files["model"].read_bytes()
    header, _ = _parts(files["model"])
    meta_text = header["__metadata__"]["meta"]
    assert '"seed": 0' in meta_text
    tampered = tmp_path / "tampered.safetensors"
    tampered.write_bytes(data.replace(b'\\"seed\\": 0', b'\\"seed\\": 7', 1))
    assert tampered.read_bytes() != data
    _refused("model", tampered, "do not match the checksum")


@pytest.mark.parametrize("header_bytes", [640, 896, 1152, 1408])
def test_a_header_length_that_begins_like_a_pickle_still_loads(tmp_path, header_bytes):
    """A header of 640 bytes makes the file begin 80 02, as a pickle of protocol 2 does."""
    path = tmp_path / "m.safetensors"
    for pad in range(1500):
        safefile.save(path, {"w": np.arange(3.0)}, {"pad": "x" * pad}, kind="lstm.model")
        if struct.unpack("<Q", path.read_bytes()[:8])[0] == header_bytes:
            break
    else:
        pytest.skip(f"no padding gave a {header_bytes}-byte header")
    assert path.read_bytes()[0] == 0x80
    arrays, meta = safefile.load(path, kind="lstm.model")
    assert np.array_equal(arrays["w"], np.arange(3.0)) and meta["pad"] == "x" * pad


def test_writes_follow_symlinks_and_stream_into_pipes(tmp_path):
    import os
    import threading

    target = tmp_path / "real" / "out.tsv"
    target.parent.mkdir()
    target.write_text("old\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(target)
    safefile.write_atomic(link, b"new\n")
    assert link.is_symlink() and target.read_text() == "new\n"         # the link kept, its target replaced

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()))
    reader.start()
    safefile.write_atomic(fifo, b"streamed")
    reader.join(10)
    assert got == [b"streamed"] and fifo.is_fifo()                      # written through, not replaced

    with pytest.raises(IsADirectoryError, match="is a directory"):
        safefile.write_atomic(tmp_path / "real", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo", "link.tsv", "real"]   # no temporary left


def test_the_same_contents_give_the_same_bytes(tmp_path):
    """safetensors writes its metadata in hash order, which changes from call to call."""
    arrays = {"b": np.arange(5.0), "a": np.ones((2, 3), np.float32)}
    meta = {"z": 1, "a": [1, 2], "é": "ü"}
    files = []
    for i in range(6):
        safefile.save(tmp_path / f"{i}.safetensors", arrays, meta, kind="lstm.model")
        files.append((tmp_path / f"{i}.safetensors").read_bytes())
    assert len(set(files)) == 1
    from safetensors.numpy import load as st_load
    loaded = st_load(files[0])                                        # still a valid safetensors file
    assert np.array_equal(loaded["b"], arrays["b"]) and loaded["a"].dtype == np.float32
    assert safefile.load(tmp_path / "0.safetensors", kind="lstm.model")[1] == meta


@pytest.mark.parametrize("loader", LOADERS)
def test_a_text_file_given_as_a_model_is_called_no_safetensors_file(tmp_path, loader):
    path = tmp_path / "pairs.tsv"
    path.write_text("a long line of text\tits translation\n" * 20)
    _refused(loader, path, r"nor any safetensors file\); give a file lstm wrote")
