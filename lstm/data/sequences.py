"""Labelled sequences from files, for sequence classification.

Three layouts are read (labels are kept as text, so a model trained on a CSV and asked about a JSONL agree; CSV
files may be comma-, semicolon- or tab-separated):

- **wide CSV** — one sequence per row: a label column and the values in order in the other columns (one feature
  per step; trailing empty cells make a row shorter, so sequences may differ in length)::

      label,t0,t1,t2,t3
      up,0.1,0.3,0.5,0.8
      down,0.9,0.4,0.2,

- **long CSV** (``id_col`` given) — one row per time step: an id, optionally a time column (numbers or dates) to
  sort by, feature columns, and a label that is the same on every row of a sequence::

      id,step,x,y,label
      a,0,0.1,1.0,up
      a,1,0.3,0.9,up

- **JSONL** — one JSON object per line with the label and the sequence, a list of numbers or of lists of numbers
  (T, F): ``{"label": "up", "sequence": [0.1, 0.3, 0.5]}``; the sequence key may also be "x", "values" or "series",
  and an "id" key is kept if present.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .seq2seq_tasks import split_lines
from .series import MISSING, csv_dialect, parse_times, read_data_text
from .times import date_order

SEQUENCE_KEYS = ("sequence", "x", "values", "series")


@dataclass
class SequenceSet:
    sequences: list[np.ndarray]               # (T_i, F) float64 each
    labels: np.ndarray | None                 # (N,) str, or None when the file has no label
    ids: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    source: str = "<data>"

    def __len__(self) -> int:
        return len(self.sequences)


def _number(cell: str, where: str) -> float:
    if cell.strip().lower() in MISSING:
        return math.nan
    try:
        v = float(cell)
    except ValueError:
        raise ValueError(f"{where} holds {cell!r}, which is not a number") from None
    if not math.isfinite(v):
        raise ValueError(f"{where} holds {cell!r}; values must be finite")
    return v


def _csv_rows(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    text = text.lstrip("\ufeff")
    rows = [r for r in csv.reader(io.StringIO(text), csv_dialect(text)) if any(c.strip() for c in r)]
    if len(rows) < 2:
        raise ValueError(f"{source} needs a header row and at least one data row")
    header = [h.strip() for h in rows[0]]
    body = []
    for k, r in enumerate(rows[1:]):
        r = [c.strip() for c in r]
        if len(r) > len(header):
            raise ValueError(f"{source}: data row {k + 1} has {len(r)} fields, the header has {len(header)}")
        body.append(r + [""] * (len(header) - len(r)))
    return header, body


def _wide(header, rows, label, source, need_label) -> SequenceSet:
    has_label = label in header
    if need_label and not has_label:
        raise ValueError(f"{source}: label column {label!r} not found; the columns are: {', '.join(header)}; "
                         "pass --label COL (or --id COL for one row per time step)")
    li = header.index(label) if has_label else None
    value_cols = [j for j in range(len(header)) if j != li]
    if not value_cols:
        raise ValueError(f"{source}: no value columns besides the label {label!r}")
    seqs, labels = [], []
    for k, r in enumerate(rows):
        vals = [_number(r[j], f"{source}: data row {k + 1}, column {header[j]!r}") for j in value_cols]
        arr = np.asarray(vals)
        nan = np.isnan(arr)
        n = len(arr) - int(np.argmax(~nan[::-1])) if (~nan).any() else 0
        if n == 0:
            raise ValueError(f"{source}: data row {k + 1} has no values")
        if nan[:n].any():
            j = value_cols[int(np.flatnonzero(nan[:n])[0])]
            raise ValueError(f"{source}: data row {k + 1} has a missing value in column {header[j]!r} before its "
                             "last value; only trailing cells may be empty (shorter sequences)")
        seqs.append(arr[:n, None])
        if has_label:
            if not r[li]:
                raise ValueError(f"{source}: data row {k + 1} has no label in column {label!r}")
            labels.append(r[li])
    return SequenceSet(seqs, np.asarray(labels) if has_label else None, [str(k) for k in range(len(seqs))],
                       [header[j] for j in value_cols][:1], source)


def _long(header, rows, label, id_col, time_col, features, source, need_label) -> SequenceSet:
    listing = ", ".join(header)
    if id_col not in header:
        raise ValueError(f"{source}: id column {id_col!r} not found; the columns are: {listing}")
    has_label = label in header
    if need_label and not has_label:
        raise ValueError(f"{source}: label column {label!r} not found; the columns are: {listing}; pass --label COL")
    if time_col is not None and time_col not in header:
        raise ValueError(f"{source}: time column {time_col!r} not found; the columns are: {listing}")
    if isinstance(features, str):
        features = [features]                      # one column name, not its letters
    skip = {id_col, label, time_col}
    feats = list(features) if features else [h for h in header if h not in skip]
    for f in feats:
        if f not in header:
            raise ValueError(f"{source}: feature column {f!r} not found; the columns are: {listing}")
    if not feats:
        raise ValueError(f"{source}: no feature columns besides id/label/time")
    ii, li = header.index(id_col), (header.index(label) if has_label else None)
    ti = None if time_col is None else header.index(time_col)
    fj = [header.index(f) for f in feats]
    times = [] if ti is None else [r[ti] for r in rows]
    keys = parse_times(times, time_col, source, date_order(times))[0] if times else np.zeros(len(rows))
    groups: dict[str, list] = {}
    for k, r in enumerate(rows):
        try:
            vals = [_number(r[j], f"{source}: data row {k + 1}, column {header[j]!r}") for j in fj]
        except ValueError as err:
            if features:
                raise
            raise ValueError(f"{err}; every column but the id, label and time is read as a feature: name the "
                             "numeric ones with --features (and the time column with --time-col)") from None
        if any(math.isnan(v) for v in vals):
            raise ValueError(f"{source}: data row {k + 1} has a missing feature value; fill or drop it first")
        if has_label and not r[li]:
            raise ValueError(f"{source}: data row {k + 1} has no label in column {label!r}")
        groups.setdefault(r[ii], []).append((float(keys[k]), k, vals, r[li] if has_label else None))
    seqs, labels, ids = [], [], []
    for gid, items in groups.items():
        if time_col is not None:
            items.sort(key=lambda it: (it[0], it[1]))
        labs = {it[3] for it in items}
        if has_label and len(labs) != 1:
            raise ValueError(f"{source}: sequence {gid!r} has {len(labs)} different labels {sorted(labs)}; every "
                             "row of a sequence needs the same label")
        seqs.append(np.asarray([it[2] for it in items], dtype=np.float64))
        ids.append(gid)
        if has_label:
            labels.append(items[0][3])
    return SequenceSet(seqs, np.asarray(labels) if has_label else None, ids, feats, source)


def _jsonl(text, label, source, need_label) -> SequenceSet:
    seqs, labels, ids = [], [], []
    for k, line in enumerate(split_lines(text)):     # not str.splitlines: JSON strings may hold \u2028 raw
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(f"{source}: line {k + 1} is not valid JSON ({err.msg})") from None
        if not isinstance(obj, dict):
            raise ValueError(f"{source}: line {k + 1} must be a JSON object like {{\"label\": ..., "
                             "\"sequence\": [...]}}")
        key = next((s for s in SEQUENCE_KEYS if s in obj), None)
        if key is None:
            raise ValueError(f"{source}: line {k + 1} has no sequence; expected one of the keys "
                             f"{', '.join(SEQUENCE_KEYS)}")
        try:
            arr = np.asarray(obj[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"{source}: line {k + 1}: {key!r} must be a list of numbers or of equal-length "
                             "lists of numbers") from None
        arr = arr[:, None] if arr.ndim == 1 else arr
        if arr.ndim != 2 or len(arr) == 0 or not np.isfinite(arr).all():
            raise ValueError(f"{source}: line {k + 1}: {key!r} must be a non-empty (T,) or (T, F) list of finite "
                             f"numbers, got shape {arr.shape}")
        if label in obj:
            value = obj[label]
            if value is None or isinstance(value, (dict, list)):
                raise ValueError(f"{source}: line {k + 1} has {label!r}: {json.dumps(value)}; a label must be a "
                                 "string, number or boolean")
            labels.append(str(value))
        elif need_label or labels:
            raise ValueError(f"{source}: line {k + 1} has no {label!r} key; pass --label KEY")
        seqs.append(arr)
        ids.append(str(obj.get("id", len(ids))))
    if not seqs:
        raise ValueError(f"{source} holds no sequences")
    if labels and len(labels) != len(seqs):
        raise ValueError(f"{source}: some lines have a {label!r} and some do not")
    widths = {s.shape[1] for s in seqs}
    if len(widths) > 1:
        raise ValueError(f"{source}: sequences have different numbers of features {sorted(widths)}")
    return SequenceSet(seqs, np.asarray(labels) if labels else None, ids, [], source)


def read_sequences(path, *, label: str = "label", id_col: str | None = None, time_col: str | None = None,
                   features=None, need_label: bool = True) -> SequenceSet:
    """Read labelled sequences from a wide CSV, a long CSV (``id_col``) or a JSONL file (by extension).

    ``features`` (long CSV): the feature columns, a list of names or one name; default every column but the id,
    label and time columns."""
    path = Path(path)
    text = read_data_text(path, "a CSV or JSONL file")
    source = str(path)
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        return _jsonl(text, label, source, need_label)
    header, rows = _csv_rows(text, source)
    if id_col is None:
        return _wide(header, rows, label, source, need_label)
    return _long(header, rows, label, id_col, time_col, features, source, need_label)
