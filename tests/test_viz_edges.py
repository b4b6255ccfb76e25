"""Hostile and edge input for lstm.viz: very long and projected traces in the report's script (run under node
with a minimal DOM), NaN values, meta that JSON cannot carry, bad unit picks, attention and forecast plots."""

import json
import shutil
import subprocess

import numpy as np
import pytest

from lstm.inspect import saturation, trace_layer
from lstm.inspect.traces import TextTrace
from lstm.nn import LSTM
from lstm.viz.colours import colour_scale
from lstm.viz.report import render_html, report_data

DOM = r"""
const fs = require("fs");
const page = fs.readFileSync(0, "utf8");
const data = page.split('<script id="lstm-data" type="application/json">')[1].split("</script>")[0];
const js = page.split("<script>")[1].split("</script>")[0];
function el(tag) {
  return { tag, style: {}, dataset: {}, children: [], textContent: "", innerHTML: "", value: "",
    classList: { toggle() {}, add() {}, remove() {} }, appendChild(c) { this.children.push(c); return c; },
    addEventListener() {}, closest() { return el("x"); }, scrollIntoView() {} };
}
const byId = {};
globalThis.window = globalThis;
globalThis.document = {
  getElementById(id) { return id === "lstm-data" ? { textContent: data } : (byId[id] = byId[id] || el(id)); },
  createElement: el, createTextNode: t => ({ text: t }), querySelectorAll: () => [], addEventListener() {},
  body: { dataset: {} } };
eval(js);
const spans = byId["text"].children.filter(c => c.tag === "span");
const R = window.lstmReport;
console.log(JSON.stringify({ ready: document.body.dataset.ready || null, n: spans.length,
  bg: spans.slice(0, 20).map(s => s.style.backgroundColor), h: Array.from(R.series(0, "h", 1)).slice(0, 20),
  units: R.selectUnits(0, "h", 0, 3, -10) }));
"""


def run_page(page, tmp_path):
    if shutil.which("node") is None:
        pytest.skip("node missing")
    script = tmp_path / "dom.js"
    script.write_text(DOM)
    res = subprocess.run(["node", str(script)], input=page, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-500:]
    return json.loads(res.stdout)


def random_trace(T, H=2, P=None, seed=0):
    g = np.random.default_rng(seed)
    v = {k: g.random((1, T, H)).astype(np.float32) for k in "ifgoc"}
    v["h"] = g.uniform(-1, 1, (1, T, P or H)).astype(np.float32)
    return TextTrace(tokens=["a"] * T, values=v)


def test_the_page_script_paints_a_very_long_text(tmp_path):
    T = 200_000                                   # Math.min(...s) over this many values overflows V8's stack
    out = run_page(render_html(report_data(random_trace(T), initial={"layer": 0, "kind": "h", "unit": 1})),
                   tmp_path)
    assert out["ready"] == "1" and out["n"] == T and all(b.startswith("rgb(") for b in out["bg"])


def test_the_page_reads_a_projected_lstms_hidden_state_with_its_own_width(tmp_path):
    layer = LSTM(3, 5, proj_size=2, seed=0)
    x = np.random.default_rng(0).standard_normal((6, 1, 3)).astype(np.float32)
    tt = trace_layer(layer, x, tokens=list("abcdef"))
    assert tt.values["h"].shape == (1, 6, 2) and tt.values["c"].shape == (1, 6, 5)
    out = run_page(render_html(report_data(tt, initial={"layer": 0, "kind": "h", "unit": 1})), tmp_path)
    np.testing.assert_array_equal(np.array(out["h"], dtype=np.float32), tt.values["h"][0, :, 1])
    assert sorted(out["units"]) == [0, 1]                                # h has 2 units, not 5


def test_a_nan_step_does_not_blank_the_colour_of_every_other_cell_state_step(tmp_path):
    c = np.array([0.5, np.nan, 2.0, -1.0])
    assert colour_scale("c", c) == 2.0
    tt = random_trace(4)
    tt.values["c"][0, 1, 0] = np.nan
    tt.values["c"][0, 2, 0] = 3.0
    tt.values = {k: tt.values[k] for k in "ch"}                      # no gates: no saturation to refuse the NaN
    out = run_page(render_html(report_data(tt, initial={"layer": 0, "kind": "c", "unit": 0})), tmp_path)
    assert out["ready"] == "1"
    painted = [b for i, b in enumerate(out["bg"]) if i != 1]
    assert all(b.startswith("rgb(") and "NaN" not in b for b in painted), out["bg"]
    assert painted[1] == "rgb(33, 102, 172)"                            # 3.0 is the scale: full blue


def test_report_meta_of_any_type_makes_valid_json_and_bad_picks_are_one_line_errors(tmp_path):
    from pathlib import Path

    tt = random_trace(5)
    page = render_html(report_data(tt, meta={"file": Path("m.safetensors"), "n": np.int64(3),
                                             "loss": float("nan"), "ok": 1.5}))
    payload = page.split('<script id="lstm-data" type="application/json">')[1].split("</script>")[0]
    meta = json.loads(payload, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))["meta"]
    assert meta == {"file": "m.safetensors", "n": "3", "loss": "nan", "ok": 1.5}
    for kwargs, msg in (({"initial": {"layer": 0, "kind": "q", "unit": 0}}, "kind must be one of"),
                        ({"initial": {"layer": 0, "kind": "h", "unit": 9}}, r"unit must be in \[0, 1\]"),
                        ({"initial": {"layer": 0}}, "initial must be a dict with keys layer, kind and unit"),
                        ({"context": (0, 30, 10)}, "context must be"), ):
        with pytest.raises(ValueError, match=msg) as e:
            report_data(tt, **kwargs)
        assert "\n" not in str(e.value)
    with pytest.raises(ValueError, match="one token per step, got 2 tokens for 5 steps"):
        report_data(TextTrace(tokens=["a", "b"], values=tt.values))


def test_attention_plot_leaves_the_matplotlib_backend_alone_and_refuses_nan(tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    from lstm.viz.attention_plot import attention_html, plot_attention

    w = np.full((2, 3), 1 / 3)
    before = matplotlib.get_backend()
    matplotlib.use("svg")
    try:
        assert plot_attention(w, list("abc"), list("xy"), tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
    w[0, 0] = np.nan
    for call in (lambda: attention_html(w, list("abc"), list("xy")),
                 lambda: plot_attention(w, list("abc"), list("xy"), tmp_path / "n.png")):
        with pytest.raises(ValueError, match="weights must be finite"):
            call()
    with pytest.raises(ValueError, match="at least one source and one target token"):
        plot_attention(np.zeros((1, 0)), [], ["x"], tmp_path / "e.png")
    assert not (tmp_path / "n.png").exists() and not (tmp_path / "e.png").exists()


def test_plot_forecast_refuses_labels_and_bands_of_the_wrong_length(tmp_path):
    pytest.importorskip("matplotlib")
    from lstm.viz.forecast_plots import plot_forecast

    path = tmp_path / "f.png"
    for kwargs, msg in (({"labels": ["a", "b"]}, r"labels must hold n \+ h = 3 \+ 2 = 5"),
                        ({"lower": [0.0, 1.0]}, "give both lower and upper"),
                        ({"lower": [0.0], "upper": [3.0, 4.0]}, r"one value per forecast step, shape \(2,\)"),
                        ({"show_last": 0}, "show_last must be a positive")):
        with pytest.raises(ValueError, match=msg):
            plot_forecast(path, [1.0, 2.0, 3.0], [1.0, 2.0], **kwargs)
    with pytest.raises(ValueError, match="history must be a non-empty series"):
        plot_forecast(path, [], [1.0, 2.0])
    assert not path.exists()
    assert plot_forecast(path, [1.0, 2.0, 3.0], [1.0, 2.0], labels=list("abcde")).exists()


def test_saturation_figure_labels_the_thresholds_it_was_given(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    from lstm.viz import figures

    g = np.random.default_rng(0)
    sat = saturation({k: g.random((1, 9, 3)) for k in "ifo"}, low=0.2, high=0.8)
    seen = {}
    monkeypatch.setattr(figures, "_save", lambda fig, path: seen.setdefault("fig", fig))
    figures.saturation_figure(sat, tmp_path / "s.png", low=0.2, high=0.8)
    ax = seen["fig"].axes[0]
    assert "< 0.2" in ax.get_xlabel() and "> 0.8" in ax.get_ylabel()
    with pytest.raises(ValueError, match="at least one gate"):
        figures.saturation_figure({}, tmp_path / "e.png")
    with pytest.raises(ValueError, match=r"values must be one value per token, shape \(3,\)"):
        figures.text_heatmap(list("abc"), np.zeros((3, 2)), tmp_path / "t.png")
