"""lstm.data.seq2seq_tasks with hostile arguments and files from other editors (BOMs, UTF-16)."""

import codecs
import datetime as dt
from collections import defaultdict

import pytest

from lstm.data.seq2seq_tasks import (date_pairs, format_pairs, number_pairs, number_to_words, pad_sources,
                                     read_pairs, task_pairs)


def test_every_date_source_names_one_date_and_every_number_one_number():
    targets = defaultdict(set)
    for src, tgt in date_pairs(3000, seed=5):
        targets[src.lower()].add(tgt)
        dt.date.fromisoformat(tgt)
    assert all(len(t) == 1 for t in targets.values())
    for src, tgt in number_pairs(300, seed=5):
        british = " and " in f" {src} "
        assert src in (number_to_words(int(tgt), british, "-"), number_to_words(int(tgt), british, " "))


@pytest.mark.parametrize("make", [date_pairs, number_pairs, lambda n, seed: pad_sources(date_pairs(n), 30, seed)])
@pytest.mark.parametrize("seed", [-1, 1.5, None, "3", True])
def test_a_seed_that_is_not_a_whole_number_at_least_zero_is_refused_with_one_line(make, seed):
    # -1 failed in NumPy's words ("expected non-negative integer"), 1.5 was read as 1, None as a TypeError from int()
    with pytest.raises((TypeError, ValueError), match=rf"seed must be a whole number >= 0, got {seed!r}"):
        make(2, seed=seed)


def test_seeds_pick_the_same_pairs_every_time():
    assert date_pairs(5, seed=3) == date_pairs(5, seed=3) != date_pairs(5, seed=4)
    assert task_pairs("numbers", 4, 2) == number_pairs(4, 2)


@pytest.mark.parametrize("filler", ["", "--", 0, None])
def test_pad_sources_refuses_a_filler_that_is_not_one_character(filler):
    # "--" made sources twice the asked length, "" left them unpadded
    with pytest.raises((TypeError, ValueError), match="filler must be one character"):
        pad_sources([("ab", "x")], 6, filler=filler)


@pytest.mark.parametrize("length", [6.5, "6", None, True])
def test_pad_sources_refuses_a_length_that_is_not_a_whole_number(length):
    with pytest.raises(TypeError, match="length must be a whole number"):
        pad_sources([("ab", "x")], length)


def test_pad_sources_pads_to_exactly_the_length_and_keeps_the_text():
    pairs = date_pairs(20, seed=1)
    for (src, tgt), (padded, same) in zip(pairs, pad_sources(pairs, 40, seed=2, filler="#")):
        assert len(padded) == 40 and same == tgt and padded.strip("#") == src


@pytest.mark.parametrize("n", [2.0, 3.5, True, "4", None])
def test_number_to_words_refuses_what_is_not_a_whole_number(n):
    # 2.0 failed with "list indices must be integers", True read as one
    with pytest.raises(TypeError, match="number_to_words needs a whole number"):
        number_to_words(n)


def test_format_pairs_refuses_sides_that_are_not_strings():
    with pytest.raises(TypeError, match=r"pair 0: the target must be a str, got 5 \(int\)"):
        format_pairs([("a", 5)])


def test_read_pairs_drops_a_leading_byte_order_mark(tmp_path):
    # Notepad's UTF-8 BOM used to become the first character of the first source: a token seen once
    p = tmp_path / "pairs.tsv"
    p.write_bytes(codecs.BOM_UTF8 + "héllo\tworld\r\nb\tc\r\n".encode())
    assert read_pairs(p) == [("héllo", "world"), ("b", "c")]


def test_read_pairs_reads_utf16_when_told_and_names_it_when_not(tmp_path):
    # NUL bytes were checked before decoding, so even encoding="utf-16" was refused as "binary"
    p = tmp_path / "pairs.tsv"
    p.write_bytes("héllo\tworld\nb\tc\n".encode("utf-16"))
    assert read_pairs(p, encoding="utf-16") == [("héllo", "world"), ("b", "c")]
    with pytest.raises(ValueError, match="looks like UTF-16 text, not utf-8; re-save it as UTF-8.*utf-16"):
        read_pairs(p)
    bin_ = tmp_path / "x.bin"
    bin_.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00")
    with pytest.raises(ValueError, match="looks binary"):
        read_pairs(bin_)


@pytest.mark.parametrize("encoding", ["nope", "hex", None])
def test_read_pairs_refuses_an_unknown_encoding_with_one_line(tmp_path, encoding):
    p = tmp_path / "pairs.tsv"
    p.write_bytes(b"a\tb\n")
    with pytest.raises(ValueError, match="unknown encoding"):
        read_pairs(p, encoding=encoding)
