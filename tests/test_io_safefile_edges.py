"""Second pass over safe files: files from the first release, writes that fail or overlap, and the files people
give lstm.load by mistake (a PyTorch-named export, bare tensors, a device)."""

import errno
import hashlib
import json
import os

import numpy as np
import pytest

import lstm
from lstm.data.text import Vocabulary
from lstm.io import FileFormatError, safefile
from lstm.models import LanguageModel

TEXT = "the quick brown fox jumps over the lazy dog.\n"


def _model(hidden=8):
    model = LanguageModel(hidden_size=hidden, embedding_dim=4, seed=0)
    model._build(Vocabulary.build(TEXT, "char"))
    return model


def _first_release_save(path, arrays, meta, kind):
    """safefile.save as the first release wrote it: a checksum over the tensors only, metadata in hash order."""
    from safetensors.numpy import save_file

    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.asarray(arrays[name], order="C")
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    header = {"format": kind, "format_version": "1", "meta": json.dumps(meta), "sha256": h.hexdigest()}
    save_file(arrays, str(path), metadata=header)


def test_a_model_file_from_the_first_release_loads(tmp_path):
    model = _model()
    path = tmp_path / "old.safetensors"
    meta = {"class": "LanguageModel", "params": model.fitted_params(), "extra": model._extra_config()}
    _first_release_save(path, model._module().state_dict(), meta, "lstm.model")
    back = lstm.load(path)
    for name, value in model._module().state_dict().items():
        assert np.array_equal(back._module().state_dict()[name], value)


def test_a_first_release_file_with_a_changed_tensor_is_still_refused(tmp_path):
    model = _model()
    path = tmp_path / "old.safetensors"
    arrays = model._module().state_dict()
    meta = {"class": "LanguageModel", "params": model.fitted_params(), "extra": model._extra_config()}
    _first_release_save(path, arrays, meta, "lstm.model")
    data = bytearray(path.read_bytes())
    data[-3] ^= 0x40                                      # a bit of the last tensor
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="do not match the checksum"):
        lstm.load(path)


def test_a_failed_write_names_the_target_and_keeps_the_previous_file(tmp_path, monkeypatch):
    path = lstm.save(_model(), tmp_path / "m.safetensors")
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safefile.os, "fsync", full)
    with pytest.raises(OSError, match=r"cannot write .*m\.safetensors: No space left on device") as err:
        lstm.save(_model(hidden=16), path)
    assert err.value.errno == errno.ENOSPC and ".tmp" not in str(err.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]          # no temporary left behind


def test_overlapping_writes_to_one_path_each_complete(tmp_path, monkeypatch):
    """A second write to the same path while the first is between its write and its rename (another thread, a
    signal handler) must not take the first one's temporary file from under it."""
    path = tmp_path / "out.bin"
    real_fsync, inner = os.fsync, []

    def fsync(fd):
        if not inner:
            inner.append(1)
            safefile.write_atomic(path, b"second")
        real_fsync(fd)

    monkeypatch.setattr(safefile.os, "fsync", fsync)
    safefile.write_atomic(path, b"first")
    assert path.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("fmt, fix", [("pt", r"--torch-safetensors.*load_file"),
                                      (None, r"no lstm metadata.*load_state_dict")])
def test_weights_only_safetensors_files_given_to_load_say_what_to_do(tmp_path, fmt, fix):
    from safetensors.numpy import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"weight_ih_l0": np.zeros((4, 3), np.float32)}, str(path), metadata={"format": fmt} if fmt else None)
    with pytest.raises(FileFormatError, match=fix) as err:
        lstm.load(path)
    assert "\n" not in str(err.value)


def test_a_device_given_to_load_is_not_called_missing(tmp_path):
    with pytest.raises(ValueError, match="/dev/null is not a regular file") as err:
        lstm.load("/dev/null")
    assert "no such file" not in str(err.value)
