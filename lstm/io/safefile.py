"""One safe file: arrays in safetensors, everything else as JSON in its header, a checksum, written atomically.

Layout: a standard safetensors file whose ``__metadata__`` holds

    format          what the file is ("lstm.checkpoint", "lstm.model", ...)
    format_version  an integer as text; readers refuse versions newer than they know
    meta            JSON text (configuration, optimizer hyper-parameters, RNG states, step, ...)
    sha256          digest over the meta text and every tensor's name, dtype, shape and bytes (files from the
                    first release digest the tensors only; they are read too)

No pickle anywhere: reading a file never runs code.  Writing goes to a temporary file in the same folder, is
flushed to disk, then renamed over the target, so a crash mid-write leaves the previous file intact.  The same
contents always give the same bytes.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import struct
from pathlib import Path

import numpy as np

from .._english import article


class FileFormatError(ValueError):
    """A file that is not what it claims to be: wrong kind, truncated, corrupted or from a newer version."""


def _digest(arrays: dict[str, np.ndarray], meta_text: str) -> str:
    """The checksum; ``meta_text=""`` gives the first release's, which covered the tensors only."""
    h = hashlib.sha256(meta_text.encode())
    for name in sorted(arrays):
        a = np.asarray(arrays[name], order="C")
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _resolve(path: Path) -> Path | None:
    """The regular file ``path`` names, following symbolic links (so a link stays a link and its target is
    replaced); None for a stream — a device, pipe or terminal, or a link into /dev or /proc such as /dev/stdout —
    which is written through rather than replaced."""
    for _ in range(40):
        if str(path).startswith(("/dev/", "/proc/")):
            return None
        if not path.is_symlink():
            break
        path = path.parent / os.readlink(path)
    if path.exists() and not path.is_file() and not path.is_dir():
        return None
    return path


def nearest_existing(path: Path) -> Path:
    """``path`` if it exists, else its nearest existing ancestor: where making ``path`` would start (a file there
    means no folder can be made)."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


_TMP_COUNT = itertools.count()


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file + fsync + rename (never a half-written target).  A symbolic
    link keeps pointing at its (replaced) target; a device or pipe (``/dev/null``, ``/dev/stdout``) is written to."""
    target = _resolve(Path(path))
    if target is None:
        with open(path, "wb") as fh:
            fh.write(data)
        return
    path = target
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give a file name to write to")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):           # a file stands where a folder of the path should be
        raise NotADirectoryError(f"cannot write {path}: a part of its folder {path.parent} is a file, not a folder; "
                                 "choose another path") from None
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{next(_TMP_COUNT)}")   # one per write, even in a thread
    try:
        with open(tmp, "xb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as err:                  # a full disk, no permission: name the target, not the temporary file
        if err.errno is None:
            raise
        raise type(err)(err.errno, f"cannot write {path}: {err.strerror}; nothing was replaced") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    try:
        dir_fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save(path: str | os.PathLike, arrays: dict[str, np.ndarray], meta: dict, *, kind: str, version: int = 1) -> None:
    """Write ``arrays`` and JSON-able ``meta`` to ``path`` as one safetensors file (atomically)."""
    from safetensors.numpy import save as st_save

    arrays = {name: np.asarray(a, order="C") for name, a in arrays.items()}  # keeps 0-d arrays 0-d
    meta_text = json.dumps(meta)
    header = {"format": kind, "format_version": str(version), "meta": meta_text, "sha256": _digest(arrays, meta_text)}
    write_atomic(path, _sorted_header(st_save(arrays, metadata=header)))


def _sorted_header(data: bytes) -> bytes:
    """The same safetensors file with its header's keys in sorted order (safetensors writes the metadata in hash
    order, which differs between processes), so equal contents give equal bytes."""
    (n,) = struct.unpack("<Q", data[:8])
    text = json.dumps(json.loads(data[8:8 + n]), sort_keys=True, separators=(",", ":"))
    text += " " * (-len(text) % 8)                          # the tensors stay 8-byte aligned, as safetensors pads
    return struct.pack("<Q", len(text)) + text.encode() + data[8 + n:]


# Leading bytes of formats people mistake for model files; the pickle-based ones can run code when loaded.
_FOREIGN = (
    (b"PK\x03\x04", "a zip archive (torch.save writes these: a pickle inside)"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (Keras .h5?)"),
)


def _foreign(data: bytes) -> str | None:
    """What the file is, when its first bytes say it is a known non-safetensors format.  A safetensors file starts
    with its header's length (8 bytes, little-endian) and then the header's "{": a header of 640 bytes begins
    80 02, as a pickle does, so that shape is ruled out first."""
    if len(data) >= 9 and data[8:9] == b"{" and struct.unpack("<Q", data[:8])[0] <= len(data) - 8:
        return None
    if len(data) >= 2 and data[0] == 0x80 and 2 <= data[1] <= 5:
        return "a Python pickle"
    for magic, what in _FOREIGN:
        if data.startswith(magic):
            return what
    return None


def load(path: str | os.PathLike, *, kind: str, max_version: int = 1) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save`; refuse anything missing, foreign, truncated, corrupted or too new."""
    from safetensors.numpy import load as st_load

    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory; give the {kind} file in it (e.g. model.safetensors)")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise FileFormatError(f"{path} is not a regular file (a device or pipe); give the {kind} file to read")
    data = path.read_bytes()
    foreign = _foreign(data)
    if foreign:
        raise FileFormatError(f"{path} is {foreign}, not {article(kind)} {kind} file; lstm reads only safetensors "
                              "files and never unpickles anything (unpickling can run code)")
    if len(data) < 8:
        raise FileFormatError(f"{path} is truncated or not a safetensors file ({len(data)} bytes)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8 and data[8:9] != b"{":          # a safetensors header is a JSON object after its length
        raise FileFormatError(f"{path} is not {article(kind)} {kind} file (nor any safetensors file); give a file lstm "
                              "wrote (e.g. a run's model.safetensors)")
    if n > len(data) - 8:
        raise FileFormatError(f"{path} is truncated or not a safetensors file: its header promises {n} bytes, "
                              f"the file has {len(data) - 8}")
    try:
        header = json.loads(data[8:8 + n])
    except (UnicodeDecodeError, ValueError, RecursionError):   # JSONDecodeError is a ValueError; deep nesting
        raise FileFormatError(f"{path} is corrupted or not a safetensors file (unreadable header)") from None
    info = header.get("__metadata__", {}) if isinstance(header, dict) else None
    if not isinstance(info, dict) or not all(isinstance(v, str) for v in info.values()):
        raise FileFormatError(f"{path} is not {article(kind)} {kind} file (no valid metadata in its header)")
    if info.get("format") != kind:
        said = info.get("format")
        hint = {("lstm.model", "lstm.checkpoint"): "; it is a training checkpoint (for --resume): give the "
                "model.safetensors written beside it"}.get((kind, said), "")
        if said == "pt":
            hint = ("; it holds PyTorch-named weights (as `lstm export --torch-safetensors` writes): load them with "
                    "safetensors.torch.load_file into a torch module, or into lstm with lstm.io.from_torch")
        elif said is None:
            hint = ("; it holds tensors with no lstm metadata: for a layer's weights use "
                    "layer.load_state_dict(safetensors.numpy.load_file(path))")
        raise FileFormatError(f"{path} is not {article(kind)} {kind} file (it says format={said!r}){hint}")
    try:
        version = int(info.get("format_version", ""))
    except ValueError:
        raise FileFormatError(f"{path} has no valid format_version") from None
    if version < 1:
        raise FileFormatError(f"{path} has no valid format_version (it says {version})")
    if version > max_version:
        raise FileFormatError(
            f"{path} uses {kind} format version {version}; this lstm reads up to {max_version}: upgrade lstm"
        )
    try:
        arrays = st_load(data)
    except Exception as err:  # safetensors raises its own error types for bad offsets and sizes
        detail = " ".join(str(err).split())
        detail = detail if len(detail) <= 160 else detail[:157] + "..."
        raise FileFormatError(f"{path} is truncated or corrupted ({detail})") from None
    meta_text = info.get("meta", "{}")
    if not isinstance(meta_text, str) or info.get("sha256") not in (_digest(arrays, meta_text), _digest(arrays, "")):
        raise FileFormatError(f"{path} is corrupted: its contents do not match the checksum written with it")
    try:
        meta = json.loads(meta_text)
    except (ValueError, RecursionError):
        raise FileFormatError(f"{path} is corrupted (metadata is not valid JSON)") from None
    if not isinstance(meta, dict):
        raise FileFormatError(f"{path} is corrupted (its metadata is a JSON {type(meta).__name__}, not an object)")
    return arrays, meta



