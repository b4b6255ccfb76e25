"""lstm.data.text as a torchtext / Hugging Face user would call it: wrong types, out-of-range ids, bad sizes."""

import codecs

import numpy as np
import pytest

from lstm.data.text import UNK, Vocabulary, read_text, tokenize


@pytest.fixture
def chars():
    return Vocabulary.build("hello world", "char")


@pytest.mark.parametrize("text", [b"hello", bytearray(b"hello"), None, 5])
def test_text_that_is_not_a_str_is_refused_not_read_as_unknown_tokens(chars, text):
    # bytes used to be read element by element: every byte an int, every int <unk>, so encode gave all zeros
    with pytest.raises(TypeError, match=r"text must be a str, got .*decode"):
        chars.encode(text)
    with pytest.raises(TypeError, match="text must be a str"):
        Vocabulary.build(text, "char")
    with pytest.raises(TypeError, match="text must be a str"):
        tokenize(text, "word")


@pytest.mark.parametrize("ids", [[-1], [99], [0, 1, len("dehlorw ") + 1]])
def test_decode_refuses_ids_outside_the_vocabulary(chars, ids):
    # -1 used to decode silently as the last token (Python indexing), 99 raised a bare IndexError
    with pytest.raises(ValueError, match=rf"token ids must be in 0\.\.{len(chars) - 1}.*got {max(ids, key=abs)}"):
        chars.decode(ids)


@pytest.mark.parametrize("ids", [[2.7], np.array([1.0, 2.0]), "12", 3, [[1, 2]], [True, False]])
def test_decode_refuses_what_is_not_a_list_of_integer_ids(chars, ids):
    # 2.7 used to be truncated to 2 and the string "12" decoded as the ids 1 and 2
    with pytest.raises(TypeError, match="ids must be a 1-D sequence of integer token ids"):
        chars.decode(ids)


def test_decode_accepts_lists_numpy_arrays_and_nothing(chars):
    ids = chars.encode("hello")
    assert chars.decode(ids) == chars.decode(ids.tolist()) == chars.decode(ids.astype(np.int32)) == "hello"
    assert chars.decode([]) == "" and chars.decode(np.array([], dtype=np.int64)) == ""


@pytest.mark.parametrize("kwargs", [{"max_size": 0}, {"max_size": -3}, {"max_size": 2.5}, {"max_size": True},
                                    {"min_count": float("nan")}, {"min_count": 1.5}, {"min_count": "2"}])
def test_build_refuses_sizes_that_are_not_whole_numbers(kwargs):
    # max_size=0 or -3 gave a vocabulary of only <unk>, min_count=nan silently the same, max_size=2.5 a slice error
    with pytest.raises((TypeError, ValueError), match=rf"{next(iter(kwargs))} must be"):
        Vocabulary.build("the cat sat on the mat", "word", **kwargs)


def test_build_keeps_the_documented_sizes():
    text = "the cat sat on the mat . the end"
    v = Vocabulary.build(text, "word", max_size=3)
    assert len(v) == 3 and v.tokens[0] == UNK and "the" in v.tokens
    assert Vocabulary.build(text, "word", min_count=2).tokens == [UNK, "the"]
    assert Vocabulary.build(text, "word", max_size=np.int64(2), min_count=np.int64(1)).tokens == [UNK, "the"]


def test_a_token_listed_twice_is_refused():
    # the index kept the later position, so decode(encode("a")) gave a different id back than decode expects
    with pytest.raises(ValueError, match="'a' twice"):
        Vocabulary([UNK, "a", "a", "b"], "char")
    with pytest.raises(ValueError, match="'a' twice"):
        Vocabulary.from_config({"level": "char", "tokens": [UNK, "a", "b", "a"], "tokenizer": 2})


def test_tokens_that_are_not_strings_are_refused():
    with pytest.raises(TypeError, match="tokens must be str"):
        Vocabulary([UNK, 97, 98], "char")


def test_saved_vocabularies_keep_loading_with_their_ids():
    for level, text in (("char", "héllo wörld 👍🏽\n"), ("word", "the cat's 3.14 mat .\nthe end")):
        v = Vocabulary.build(text, level)
        again = Vocabulary.from_config(v.to_config())
        assert again.tokens == v.tokens and again.describe() == v.describe()
        assert np.array_equal(again.encode(text), v.encode(text))
    old = Vocabulary.from_config({"level": "word", "tokens": [UNK, "don", "'", "t"]})   # saved without a version
    assert old.tokenizer == 1 and old.tokenize("don't") == ["don", "'", "t"]
    assert old.decode(old.encode("don't")) == old.decode([1, 2, 3])


@pytest.mark.parametrize("encoding", ["hex", "base64", "rot13", None])
def test_read_text_refuses_codecs_that_are_not_text_encodings_with_one_line(tmp_path, encoding):
    # 'hex' passed the lookup and then raised LookupError from bytes.decode
    p = tmp_path / "a.txt"
    p.write_bytes(b"6869")
    with pytest.raises(ValueError, match="encoding .*try utf-8 or latin-1"):
        read_text(p, encoding=encoding)


@pytest.mark.parametrize("encoding", ["latin-1", "cp1252"])
def test_read_text_names_utf8_with_a_byte_order_mark_read_as_another_encoding(tmp_path, encoding):
    # the mark used to become three characters of text: 'ï»¿'
    p = tmp_path / "bom.txt"
    p.write_bytes(codecs.BOM_UTF8 + "héllo".encode())
    with pytest.raises(ValueError, match=r"looks like UTF-8 text.*--encoding utf-8"):
        read_text(p, encoding=encoding)
    assert read_text(p) == read_text(p, encoding="utf-8-sig") == "héllo"
