"""lstm.data.sequences.read_sequences with files other tools write: JSON with raw line separators, blank labels."""

import json

import numpy as np
import pytest

from lstm.data.sequences import read_sequences


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\x85"])
def test_jsonl_strings_may_hold_unicode_line_separators(tmp_path, sep):
    # JSON allows them raw inside strings (json.dumps(ensure_ascii=False) writes them so), but str.splitlines cut
    # the line there: "line 1 is not valid JSON"
    rows = [{"label": f"a{sep}b", "sequence": [1, 2]}, {"label": "c", "sequence": [3, 4, 5]}]
    p = tmp_path / "s.jsonl"
    p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    data = read_sequences(p)
    assert list(data.labels) == [f"a{sep}b", "c"] and [len(s) for s in data.sequences] == [2, 3]


def test_jsonl_error_line_numbers_count_only_newlines(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(json.dumps({"label": "a\u2028b", "sequence": [1]}, ensure_ascii=False) + "\r\n\r\n{bad\r\n",
                 encoding="utf-8")
    with pytest.raises(ValueError, match="line 3 is not valid JSON"):
        read_sequences(p)


def test_a_long_csv_row_without_a_label_is_refused_like_a_wide_one(tmp_path):
    # the wide layout refused it; the long layout made "" a class of its own
    p = tmp_path / "long.csv"
    p.write_text("id,x,label\na,1,\na,2,\nb,3,up\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"data row 1 has no label in column 'label'"):
        read_sequences(p, id_col="id")
    w = tmp_path / "wide.csv"
    w.write_text("label,t0,t1\n,1,2\nup,3,4\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"data row 1 has no label in column 'label'"):
        read_sequences(w)


def test_one_feature_may_be_named_by_a_string(tmp_path):
    # features="temp" was read letter by letter: "feature column 't' not found"
    p = tmp_path / "long.csv"
    p.write_text("id,temp,rain,label\na,1,5,x\na,2,6,x\nb,3,7,y\n", encoding="utf-8")
    data = read_sequences(p, id_col="id", features="temp")
    assert data.features == ["temp"] and [s.shape for s in data.sequences] == [(2, 1), (1, 1)]
    assert np.array_equal(data.sequences[0][:, 0], [1.0, 2.0])
    both = read_sequences(p, id_col="id", features=["temp", "rain"])
    assert [s.shape for s in both.sequences] == [(2, 2), (1, 2)]
