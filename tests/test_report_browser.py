"""The HTML report in a real browser: Playwright driving Debian's Chromium (headless, no network).

Opens a generated report from disk, picks a unit, and checks that the colouring and the hover values change and
equal the trace (float32, exactly); that select/match and the top contexts give what the Python functions give;
and saves a screenshot as a test artifact (in $LSTM_TEST_ARTIFACTS, default test-artifacts/).

Needs: apt-get install -y chromium; pip install playwright (never `playwright install`: the browser is the
system's).
"""

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from lstm.data.text import builtin_corpus
from lstm.inspect import match_spans, select_units, top_steps, trace_text
from lstm.models import LanguageModel
from lstm.viz import explain
from lstm.viz.colours import colour_scale, rgb

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TEXT = 'def greet(name):\n    """Say hello."""\n    return ("Hello, " + name)\n\nprint(greet("x"), [1, (2, 3)])\n'
ARTIFACTS = Path(os.environ.get("LSTM_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))


@pytest.fixture(scope="module")
def browser():
    sync = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install -y chromium")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    model = LanguageModel(hidden_size=10, num_layers=2, embedding_dim=8, seq_len=20, batch_size=8, steps=15,
                          eval_every=15, seed=0).fit(builtin_corpus()[:20000] + TEXT * 20, progress=False)
    path = tmp_path_factory.mktemp("report") / "report.html"
    explain(model, TEXT, out=path, unit="0:c:2", threshold=0.05)
    return path, trace_text(model, TEXT)


@pytest.fixture()
def page(browser, report):
    pg = browser.new_page(viewport={"width": 1300, "height": 1000})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    requests = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.goto(report[0].as_uri())
    pg.wait_for_selector("body[data-ready='1']", timeout=15000)
    yield pg
    assert errors == [], errors
    assert all(u.startswith("file://") or u.startswith("data:") for u in requests), requests
    pg.close()


def shown(pg):
    """(values, background colours) of every token as the page shows them."""
    return pg.evaluate("""() => Array.from(document.querySelectorAll('#text .tok'),
        s => [s.dataset.value, getComputedStyle(s).backgroundColor])""")


def expected_colour(v, scale):
    r, g, b = rgb(v, scale)
    return f"rgb({r}, {g}, {b})"


def check_matches_trace(pg, tt, layer, kind, unit):
    want = tt.unit(layer, kind, unit)
    scale = colour_scale(kind, want)
    got = shown(pg)
    assert len(got) == len(want)
    values = np.array([float(v) for v, _ in got])
    np.testing.assert_array_equal(values, want.astype(np.float64))          # exact float32 values
    assert [c for _, c in got] == [expected_colour(float(v), scale) for v in want]
    return values, [c for _, c in got]


def test_picking_a_unit_changes_colouring_and_hover_and_both_match_the_trace(page, report):
    _, tt = report
    before_values, before_colours = check_matches_trace(page, tt, 0, "c", 2)
    assert page.inner_text("#unit-label").startswith("layer 0 c[2]")

    page.select_option("#layer", "1")
    page.click(".kinds button[data-kind='f']")
    page.fill("#unit", "7")
    page.dispatch_event("#unit", "change")
    assert page.inner_text("#unit-label").startswith("layer 1 f[7]")
    after_values, after_colours = check_matches_trace(page, tt, 1, "f", 7)
    assert not np.array_equal(before_values, after_values) and before_colours != after_colours

    for t in (0, 9, len(TEXT) - 2):
        page.hover(f"#tok-{t}")
        tip = page.inner_text("#tooltip")
        assert page.is_visible("#tooltip") and f"step {t}" in tip and "layer 1 f[7] = " in tip
        value = float(re.search(r"= (\S+)$", tip).group(1))
        assert value == float(tt.unit(1, "f", 7)[t])

    page.click("#next")
    check_matches_trace(page, tt, 1, "f", 8)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.hover("#tok-12")
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    assert (ARTIFACTS / "report.png").stat().st_size > 10_000


def test_select_a_span_then_match_gives_what_python_gives(page, report):
    _, tt = report
    page.select_option("#layer", "0")
    page.click(".kinds button[data-kind='h']")
    a, b = 4, 9                                                          # "greet"
    page.hover(f"#tok-{a}")
    page.mouse.down()
    page.hover(f"#tok-{b - 1}")
    page.mouse.up()
    assert page.evaluate("() => Array.from(document.querySelectorAll('#text .tok.sel'), s => +s.dataset.t)") \
        == list(range(a, b))
    h = tt.values["h"][0]
    thr = 0.05
    want_units = select_units(h, a, b, threshold=thr)
    got_units = page.evaluate(
        "() => Array.from(document.querySelectorAll('#sel-units .unit-btn'), e => +e.dataset.unit)")
    assert got_units == want_units
    if not want_units:
        pytest.skip("no unit on over the span for this tiny model")
    page.click("#match")
    got = page.evaluate(
        "() => Array.from(document.querySelectorAll('#matches .ctx'), e => [+e.dataset.start, +e.dataset.end])")
    want = match_spans(h, want_units, threshold=thr, query=(a, b), top=20)
    assert got == [[m["start"], m["end"]] for m in want]
    page.click(f"#sel-units .unit-btn[data-unit='{want_units[0]}']")
    check_matches_trace(page, tt, 0, "h", want_units[0])


def test_top_contexts_are_the_python_top_steps(page, report):
    _, tt = report
    page.click(".kinds button[data-kind='o']")
    steps = page.evaluate("() => Array.from(document.querySelectorAll('#contexts .ctx'), e => +e.dataset.step)")
    v = tt.unit(0, "o", 2)
    want = top_steps(v, k=5, min_gap=10) + top_steps(v, k=5, min_gap=10, sign=-1)
    assert steps == want


def test_saturation_dots_pick_units(page, report):
    _, tt = report
    rows = page.evaluate("() => document.querySelectorAll('#sat-table tr').length")
    assert rows == 1 + 3 * tt.num_layers
    page.dispatch_event("circle.dot[data-gate='i'][data-layer='1'][data-unit='4']", "click")   # dots may overlap
    assert page.inner_text("#unit-label").startswith("layer 1 i[4]")
    check_matches_trace(page, tt, 1, "i", 4)


def test_a_page_whose_text_and_names_look_like_markup_still_runs(browser, report, tmp_path):
    from lstm.viz.report import write_report

    tt = report[1]
    path = write_report(tmp_path / "r.html", tt, title="<!--<script>", meta={"source": "<!--<script>x.py"})
    pg = browser.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("body[data-ready='1']", timeout=15000)
    assert errors == [] and pg.evaluate("() => document.querySelectorAll('#text .tok').length") == tt.steps
    pg.close()


def test_chromium_binary_is_the_system_package():
    assert shutil.which("chromium") in (None, CHROMIUM) or Path(CHROMIUM).exists()
