"""Inspection: traces of a language model, saturation, top contexts, select/match, Python features and their
correlations, the `explain` report and figures, and the committed character model of Python source."""

import base64
import io
import json
import re
import sysconfig
import tokenize
from pathlib import Path

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.data.text import builtin_corpus
from lstm.inspect import (correlations, feature_units, match_spans, python_features, saturation, saturation_table,
                          select_units, top_contexts, top_steps, trace_text)
from lstm.models import LanguageModel
from lstm.viz import explain
from lstm.viz.report import report_data

PYCODE = Path(__file__).resolve().parents[1] / "benchmarks" / "models" / "pycode_char.safetensors"
SNIPPET = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()[:3000]


@pytest.fixture(scope="module")
def tiny_lm():
    text = builtin_corpus()[:30000]
    return LanguageModel(hidden_size=12, num_layers=2, embedding_dim=8, seq_len=20, batch_size=8, steps=20,
                         eval_every=10, seed=0).fit(text, progress=False)


# -- traces ----------------------------------------------------------------------------------------------------

def test_trace_text_is_the_layers_own_trace_for_one_sequence(tiny_lm):
    text = "The value of x is 3."
    tt = trace_text(tiny_lm, text)
    assert tt.tokens == list(text) and tt.steps == len(text) and tt.num_layers == 2 and tt.hidden_size == 12
    net = tiny_lm.net_
    net.eval()
    _, _, trace = net.rnn(net.emb(tiny_lm.vocab_.encode(text)[None]), return_trace=True)
    for k in "ifgoch":
        np.testing.assert_array_equal(tt.values[k], trace[k][:, 0, :, 0, :])
    np.testing.assert_array_equal(tt.unit(1, "h", 3), trace["h"][1, 0, :, 0, 3])
    with pytest.raises(ValueError, match="unit must be in"):
        tt.unit(0, "c", 12)


def test_trace_text_shows_unknown_characters_as_themselves(tiny_lm):
    tt = trace_text(tiny_lm, "a☃b")
    assert tt.tokens == ["a", "☃", "b"] and tt.ids[1] == 0


# -- saturation ------------------------------------------------------------------------------------------------

def test_saturation_counts_the_fraction_of_steps_beyond_the_thresholds():
    T = 10
    f = np.full((1, T, 3), 0.5)
    f[0, :7, 0] = 0.95                       # unit 0: 70% right-saturated
    f[0, :2, 1] = 0.05                       # unit 1: 20% left-saturated
    f[0, :, 2] = 0.9                         # exactly 0.9 is not > 0.9
    o = 1 - f
    o[0, :, 2] = 0.1                          # exactly 0.1 is not < 0.1
    values = {"i": f, "f": f, "o": o}
    s = saturation(values)
    np.testing.assert_allclose(s["f"]["right"][0], [0.7, 0.0, 0.0])
    np.testing.assert_allclose(s["f"]["left"][0], [0.0, 0.2, 0.0])
    np.testing.assert_allclose(s["o"]["left"][0], [0.7, 0.0, 0.0])
    np.testing.assert_allclose(s["o"]["right"][0], [0.0, 0.2, 0.0])
    rows = saturation_table(s)
    f_row = next(r for r in rows if r["gate"] == "f")
    assert f_row["right"] == pytest.approx(0.7 / 3) and f_row["units_mostly_right"] == 1
    with pytest.raises(ValueError, match="saturation needs an LSTM trace"):
        saturation({"h": f})


# -- contexts, select / match ------------------------------------------------------------------------------------

def test_top_steps_suppresses_neighbours_of_a_peak():
    v = np.array([0, 1, 5, 4.9, 4.8, 0, 0, 3, 0, 0, 0, 2.0])
    assert top_steps(v, k=3, min_gap=3) == [2, 7, 11]
    assert top_steps(v, k=2, min_gap=1) == [2, 3]
    assert top_steps(-v, k=1, min_gap=1, sign=-1) == [2]
    ctx = top_contexts(v, list("abcdefghijkl"), k=1, before=2, after=3)
    assert (ctx[0].step, ctx[0].before, ctx[0].token, ctx[0].after) == (2, "ab", "c", "def")


def test_select_lists_units_on_throughout_the_span_and_match_finds_the_other_runs():
    T, H = 30, 5
    h = np.zeros((T, H))
    h[5:9, 1] = 0.8
    h[5:9, 3] = 0.5
    h[6:8, 4] = 0.9                           # on for only part of the span
    h[20:24, [1, 3]] = 0.7                    # the same pair again, same length
    h[12:13, [1, 3]] = 0.9                    # a shorter run
    assert select_units(h, 5, 9, threshold=0.3) == [1, 3]
    assert select_units(h, 6, 8, threshold=0.3) == [4, 1, 3]
    found = match_spans(h, [1, 3], threshold=0.3, query=(5, 9))
    assert [(m["start"], m["end"]) for m in found] == [(20, 24), (12, 13)]
    assert found[0]["score"] == pytest.approx(0.7)
    half = match_spans(h, [1, 3, 4], threshold=0.3, min_share=0.6)
    assert (5, 9) in [(m["start"], m["end"]) for m in half]
    with pytest.raises(ValueError, match="span must satisfy"):
        select_units(h, 9, 5)


# -- Python features -----------------------------------------------------------------------------------------------

def _tokenize_reference(text):
    """in_string and bracket depth from the standard library's own tokenizer (an independent oracle)."""
    lines = text.splitlines(keepends=True)
    offsets = np.cumsum([0] + [len(line) for line in lines])
    in_string = np.zeros(len(text))
    depth = np.zeros(len(text))
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        a = offsets[tok.start[0] - 1] + tok.start[1]
        b = offsets[tok.end[0] - 1] + tok.end[1]
        if tok.type == tokenize.STRING:
            q = re.match(r"[a-zA-Z]*('''|\"\"\"|'|\")", tok.string)
            start = a + q.start(1)                            # the opening quote (after any prefix)
            in_string[start:b - 1] = 1                        # closing quote excluded
        elif tok.type == tokenize.OP and tok.string in "([{":
            depth[a:] += 1
        elif tok.type == tokenize.OP and tok.string in ")]}":
            depth[a:] -= 1
    return in_string, depth


def test_python_features_agree_with_the_tokenize_module_on_real_source():
    text = (Path(sysconfig.get_paths()["stdlib"]) / "shlex.py").read_text()
    feats = python_features(text)
    ref_string, ref_depth = _tokenize_reference(text)
    assert feats["in_string"].sum() > 1000
    assert np.mean(feats["in_string"] == ref_string) > 0.995
    assert np.mean(feats["bracket_depth"] == ref_depth) > 0.995


def test_python_features_on_a_hand_checked_line():
    f = python_features("x = f('a#(', [1])  # c(\n    y")
    s = "".join(str(int(v)) for v in f["in_string"])
    assert s == "000000111100000000000000000000"[:len(s)]
    assert f["in_comment"][20] == 1 and f["in_comment"][25] == 0
    assert f["bracket_depth"].max() == 2 and f["bracket_depth"][17] == 0
    assert f["indent"][-1] == 4 and f["column"][-1] == 5


def test_correlations_equal_numpy_corrcoef_and_feature_units_finds_a_planted_unit():
    g = np.random.default_rng(0)
    feat = (g.random(500) < 0.3).astype(float)
    a = g.standard_normal((500, 6))
    a[:, 4] = 0.8 * feat + 0.3 * g.standard_normal(500)
    r = correlations(a, feat)
    np.testing.assert_allclose(r, [np.corrcoef(a[:, j], feat)[0, 1] for j in range(6)], atol=1e-12)
    values = {"c": np.zeros((2, 500, 6)), "h": np.stack([a, g.standard_normal((500, 6))])}
    rows = feature_units(values, {"in_string": feat}, top=1)
    assert rows == [{"feature": "in_string", "layer": 0, "kind": "h", "unit": 4, "r": pytest.approx(r[4])}]


# -- explain: report data, figures, command ------------------------------------------------------------------------

def test_report_data_carries_the_exact_float32_trace(tiny_lm):
    tt = trace_text(tiny_lm, "def f(x):\n    return (x, 'y')\n")
    data = report_data(tt, title="t")
    assert data["steps"] == tt.steps and data["kinds"] == list("ifgoch")
    for k in "ifgoch":
        raw = np.frombuffer(base64.b64decode(data["values"][k]), dtype="<f4").reshape(tt.values[k].shape)
        np.testing.assert_array_equal(raw, tt.values[k])
    assert data["saturation"]["table"][0]["units"] == 12


def test_explain_writes_a_self_contained_page_and_pngs(tiny_lm, tmp_path):
    pytest.importorskip("matplotlib")
    ex = explain(tiny_lm, SNIPPET[:600], out=tmp_path / "r.html", png=tmp_path / "png", top=1)
    page = ex.report.read_text()
    assert "<script" in page and not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<link" not in page and "import(" not in page
    assert {r["feature"] for r in ex.features} == {"in_string", "in_comment", "bracket_depth", "indent", "column"}
    names = sorted(p.name for p in ex.pngs)
    assert "saturation.png" in names and any(n.startswith("contexts_") for n in names)
    assert all(p.read_bytes()[:4] == b"\x89PNG" for p in ex.pngs)


def test_cli_explain_end_to_end_and_bad_input(tiny_lm, tmp_path, capsys):
    model = tiny_lm.save(tmp_path / "m.safetensors")
    out = tmp_path / "report.html"
    assert main(["explain", str(model), "--text", "The cat sat on the mat.", "--out", str(out),
                 "--unit", "1:f:3"]) == 0
    cap = capsys.readouterr()
    text = cap.out
    assert "never saw" not in cap.err
    assert "gate saturation" in text and str(out) in text and "layer 1 f[3]" in text
    data = json.loads(re.search(r'<script id="lstm-data" type="application/json">(.*?)</script>',
                                out.read_text(), re.S).group(1))
    assert data["initial"] == {"layer": 1, "kind": "f", "unit": 3}
    assert main(["explain", str(model), "--text", "The ☃ cat", "--out", str(out)]) == 0
    assert "note: 1 char(s) the model never saw are read as <unk> (shown as themselves): '☃'" in capsys.readouterr().err
    (tmp_path / "d.html").mkdir()
    for argv, msg in ((["--unit", "0:c:99"], "unit must be in"), (["--unit", "zero"], "LAYER:KIND:UNIT"),
                      (["--out", str(tmp_path / "r.txt")], "--out must end in .html"),
                      (["--out", str(tmp_path / "d.html")], f"--out {tmp_path / 'd.html'} is a directory")):
        assert main(["explain", str(model), "--text", "abc"] + argv) == 2
        err = capsys.readouterr().err
        assert msg in err and len(err.strip().splitlines()) == 1
    assert main(["explain", str(tmp_path / "missing.safetensors"), "--text", "abc"]) == 2


# -- the committed character model of Python source ----------------------------------------------------------------

def test_the_python_source_model_has_a_unit_that_tracks_python_structure(tmp_path):
    if not PYCODE.exists():
        pytest.skip("benchmarks/models/pycode_char.safetensors not built (python benchmarks/train_pycode.py)")
    model = lstm.load(PYCODE)
    held_out = (Path(sysconfig.get_paths()["stdlib"]) / "textwrap.py").read_text()[:6000]
    ex = explain(model, held_out, max_tokens=6000, top=1)
    best = {r["feature"]: abs(r["r"]) for r in ex.features}
    assert max(best["in_string"], best["indent"], best["bracket_depth"]) > 0.6, best


@pytest.mark.slow
def test_retraining_the_python_source_model_reproduces_an_interpretable_unit(tmp_path):
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "train_pycode.py"
    out = tmp_path / "m.safetensors"
    res = subprocess.run([sys.executable, str(script), "--out", str(out), "--backend", "reference"],
                         capture_output=True, text=True, timeout=3600, check=True)
    rows = json.loads(res.stdout.strip().splitlines()[-1])["units"]
    best = {r["feature"]: abs(r["r"]) for r in rows}
    assert max(best["in_string"], best["indent"], best["bracket_depth"]) > 0.6, best


# -- what the report and figures show, whatever the text ------------------------------------------------------------

def test_report_data_refuses_a_threshold_json_cannot_carry(tiny_lm):
    tt = trace_text(tiny_lm, "abc")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="threshold must be a finite number"):
            report_data(tt, threshold=bad)


def test_the_page_data_holds_no_markup_that_could_end_or_extend_its_script_element(tiny_lm):
    from lstm.viz.report import render_html

    tt = trace_text(tiny_lm, "x = '</script>' <!-- y")
    meta = {"source": "<!--<script>.txt"}
    page = render_html(report_data(tt, meta=meta))
    start = page.index('<script id="lstm-data" type="application/json">') + len(
        '<script id="lstm-data" type="application/json">')
    payload = page[start:page.index("</script>", start)]
    assert "<" not in payload
    data = json.loads(payload)
    assert data["meta"] == meta and "".join(data["tokens"]) == tt.text


def test_png_figures_draw_dollar_signs_as_text_not_mathtext(tmp_path):
    pytest.importorskip("matplotlib")
    from lstm.viz import figures

    chars = list("cost $\\frac{$ now")                       # no valid mathtext: it could not be drawn
    v = np.linspace(-1, 1, len(chars))
    assert figures.text_heatmap(chars, v, tmp_path / "t.png").read_bytes()[:4] == b"\x89PNG"
    tokens = ["cost", " $\\frac{$", " now"]
    v = np.array([0.1, 0.9, -0.5])
    ctx = top_contexts(v, tokens, k=1, before=1, after=1)
    assert figures.contexts_figure(tokens, v, ctx, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


def test_context_figures_cut_word_tokens_by_tokens_not_characters():
    from lstm.viz.figures import _context_steps

    words = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog"]
    v = np.zeros(len(words))
    v[5] = 1.0
    cx = top_contexts(v, words, k=1, before=2, after=1)[0]
    assert (cx.before, cx.token, cx.after) == (" fox jumps", " over", " the")
    assert _context_steps(words, cx) == range(3, 7)
    chars = list("abcdefgh")
    edge = top_contexts(np.arange(8.0), chars, k=1, before=30, after=10)[0]       # the last step, clipped
    assert _context_steps(chars, edge) == range(0, 8)


def test_explain_checks_the_png_folder_and_matplotlib_before_writing_anything(tiny_lm, tmp_path, monkeypatch):
    from lstm.viz import figures

    (tmp_path / "file").write_text("x")
    out = tmp_path / "r.html"
    with pytest.raises(ValueError, match="is a file, not a folder"):
        explain(tiny_lm, "abc", out=out, png=tmp_path / "file" / "png")
    assert not out.exists()

    def missing():
        raise ImportError("PNG figures need matplotlib")

    monkeypatch.setattr(figures, "pyplot", missing)
    with pytest.raises(ImportError):
        explain(tiny_lm, "abc", out=out, png=tmp_path / "png")
    assert not out.exists() and not (tmp_path / "png").exists()


def test_auto_features_need_python_with_structure_and_enough_text():
    """A bare word parses as Python (a name), and a few characters give r = ±1 from a few points: neither is
    Python source worth correlating units with."""
    from lstm.viz.explain import looks_like_python

    source = "def f(x):\n    return x + 1  # one more\n\nprint(f(2), 'done')\n"
    assert looks_like_python(source) and looks_like_python(source + "def g(")        # cut mid-way: still source
    for text in ("abc", " " * 60, "x = 1", "42\n" * 30, "the value of x is (1, 2) " * 3):
        assert not looks_like_python(text), text
