"""The report's stylesheet and script, inlined into every page (no network: the page opens from disk).

The script reads the JSON in ``<script id="lstm-data">``; gate values travel as base64 float32 arrays
(exact: hovering shows the very float32 the layer produced).  ``colour()``, ``selectUnits()``,
``matchSpans()`` and ``topSteps()`` are line-for-line ports of :mod:`lstm.viz.colours`,
:func:`lstm.inspect.spans.select_units`, :func:`lstm.inspect.spans.match_spans` and
:func:`lstm.inspect.contexts.top_steps`; the browser test checks they agree.
"""

CSS = r"""
:root { --fg:#1b1b1b; --muted:#666; --line:#ddd; --accent:#2166ac; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0; background: #fafafa; }
header { padding: 14px 22px; background: #fff; border-bottom: 1px solid var(--line); }
header h1 { font-size: 18px; margin: 0 0 4px; }
header .meta { color: var(--muted); font-size: 12.5px; }
main { display: grid; grid-template-columns: minmax(0, 1fr) 360px; gap: 16px; padding: 16px 22px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 6px; padding: 12px 14px; margin-bottom: 16px; }
section h2 { font-size: 14px; margin: 0 0 8px; text-transform: uppercase; letter-spacing: .04em; color: #333; }
.controls { display: flex; flex-wrap: wrap; gap: 10px 16px; align-items: center; }
.controls label { font-size: 12.5px; color: var(--muted); }
.kinds button, .small { border: 1px solid #bbb; background: #fff; border-radius: 4px; padding: 2px 8px; cursor: pointer; font: inherit; }
.kinds button.on { background: var(--accent); color: #fff; border-color: var(--accent); }
input[type=number] { width: 70px; }
#text { font: 13px/1.75 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; white-space: pre-wrap; word-break: break-all;
        max-height: 560px; overflow: auto; border: 1px solid #eee; padding: 8px; user-select: none; }
.tok { border-radius: 2px; cursor: crosshair; }
.tok.sel { outline: 2px solid #f2a900; }
.tok.match { outline: 2px dashed #1a9850; }
.tok.nl { color: #aaa; }
#tooltip { position: fixed; pointer-events: none; background: #222; color: #fff; font: 12px ui-monospace, monospace;
           padding: 4px 7px; border-radius: 4px; display: none; z-index: 10; white-space: pre; }
#spark { width: 100%; height: 90px; display: block; }
.list { max-height: 240px; overflow: auto; font-size: 12.5px; }
.list div { padding: 2px 0; border-bottom: 1px dotted #eee; }
.ctx { font: 12.5px ui-monospace, monospace; white-space: pre; overflow: hidden; text-overflow: ellipsis; cursor: pointer; }
.ctx .hit { outline: 1.5px solid #000; }
table { border-collapse: collapse; font-size: 12.5px; width: 100%; }
th, td { border-bottom: 1px solid #eee; padding: 3px 6px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
tr.pick { cursor: pointer; } tr.pick:hover { background: #eef4fb; }
svg .dot { cursor: pointer; }
.legend { display: inline-block; width: 160px; height: 10px; vertical-align: middle; border: 1px solid #ccc; }
.muted { color: var(--muted); font-size: 12px; }
"""

JS = r"""
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("lstm-data").textContent);
  const T = D.steps, L = D.layers;
  const W = k => (D.widths ? D.widths[k] : D.hidden);     // units of a kind (h is narrower with a projection)
  const BLUE = [33, 102, 172], RED = [178, 24, 43];
  const UNBOUNDED = ["c"];

  function decode(b64) {
    const bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  const V = {};
  for (const k of D.kinds) V[k] = decode(D.values[k]);
  const state = { layer: D.initial.layer, kind: D.initial.kind, unit: D.initial.unit, sel: null, selUnits: [] };

  // -- the numbers (ports of the Python functions) ------------------------------------------------------------
  function series(layer, kind, unit) {
    const a = V[kind], out = new Float64Array(T), H = W(kind);
    for (let t = 0; t < T; t++) out[t] = a[(layer * T + t) * H + unit];
    return out;
  }
  function colourScale(kind, s) {
    if (!UNBOUNDED.includes(kind)) return 1.0;
    let m = 0; for (const v of s) if (Math.abs(v) > m && isFinite(v)) m = Math.abs(v);   // NaN/inf ignored
    return Math.max(m, 1e-6);
  }
  function colour(v, scale) {
    const a = Math.min(Math.abs(v) / scale, 1.0), end = v >= 0 ? BLUE : RED;
    return end.map(e => Math.floor(255.0 - a * (255.0 - e) + 0.5));
  }
  function selectUnits(layer, kind, start, end, thr) {
    const units = [], H = W(kind);
    for (let u = 0; u < H; u++) {
      let on = true, sum = 0;
      for (let t = start; t < end; t++) { const v = V[kind][(layer * T + t) * H + u]; if (!(v >= thr)) { on = false; break; } sum += v; }
      if (on) units.push({ unit: u, mean: sum / (end - start) });
    }
    units.sort((a, b) => (b.mean - a.mean) || (a.unit - b.unit));
    return units.map(x => x.unit);
  }
  function matchSpans(layer, kind, units, thr, query, minShare, top) {
    if (!units.length) return [];
    const need = Math.max(1, Math.ceil(minShare * units.length - 1e-9)), H = W(kind);
    const ok = new Array(T);
    for (let t = 0; t < T; t++) {
      let n = 0; for (const u of units) if (V[kind][(layer * T + t) * H + u] >= thr) n++;
      ok[t] = n >= need;
    }
    const runs = [];
    for (let t = 0; t < T;) { if (ok[t]) { const s = t; while (t < T && ok[t]) t++; runs.push([s, t]); } else t++; }
    const qlen = query ? query[1] - query[0] : null, out = [];
    for (const [s, e] of runs) {
      if (query && s <= query[0] && e >= query[1]) continue;
      let sum = 0;
      for (let t = s; t < e; t++) for (const u of units) sum += V[kind][(layer * T + t) * H + u];
      out.push({ start: s, end: e, score: sum / ((e - s) * units.length), dist: qlen === null ? 0 : Math.abs((e - s) - qlen) });
    }
    out.sort((a, b) => (a.dist - b.dist) || (b.score - a.score) || (a.start - b.start));
    return out.slice(0, top).map(r => ({ start: r.start, end: r.end, score: r.score }));
  }
  function topSteps(s, k, minGap, sign) {
    const idx = Array.from(s.keys()), v = Array.from(s, x => x * (sign >= 0 ? 1 : -1));
    idx.sort((a, b) => (v[b] - v[a]) || (a - b));
    const chosen = [];
    for (const t of idx) {
      if (chosen.every(c => Math.abs(t - c) >= minGap)) { chosen.push(t); if (chosen.length === k) break; }
    }
    return chosen;
  }
  window.lstmReport = { series, colour, colourScale, selectUnits, matchSpans, topSteps, state };

  // -- text ---------------------------------------------------------------------------------------------------
  const $ = id => document.getElementById(id);
  const textBox = $("text"), tip = $("tooltip");
  const spans = [];
  D.tokens.forEach((tok, t) => {
    const sp = document.createElement("span");
    sp.className = "tok" + (tok === "\n" ? " nl" : "");
    sp.id = "tok-" + t; sp.dataset.t = t;
    sp.textContent = tok === "\n" ? "⏎" : tok;
    textBox.appendChild(sp);
    if (tok === "\n") textBox.appendChild(document.createTextNode("\n"));
    spans.push(sp);
  });
  const kindName = { i: "input gate", f: "forget gate", g: "candidate g", o: "output gate", c: "cell state", h: "hidden state", r: "reset gate", z: "update gate", n: "candidate n" };
  function label() { return `layer ${state.layer} ${state.kind}[${state.unit}]`; }

  function paint() {
    state.unit = Math.min(state.unit, W(state.kind) - 1); $("unit").max = W(state.kind) - 1;
    const s = series(state.layer, state.kind, state.unit), scale = colourScale(state.kind, s);
    spans.forEach((sp, t) => {
      const [r, g, b] = colour(s[t], scale);
      sp.style.backgroundColor = `rgb(${r}, ${g}, ${b})`;
      sp.dataset.value = String(s[t]);
    });
    $("unit-label").textContent = `${label()} — ${kindName[state.kind] || state.kind}` + (UNBOUNDED.includes(state.kind) ? ` (colour scale ±${scale.toPrecision(3)})` : "");
    document.querySelectorAll(".kinds button").forEach(b => b.classList.toggle("on", b.dataset.kind === state.kind));
    $("layer").value = state.layer; $("unit").value = state.unit;
    spark(s); contexts(s, scale);
  }
  function spark(s) {
    const svg = $("spark"), Wd = 1000, Hh = 90;
    let lo = Infinity, hi = -Infinity;                      // a loop: spreading T values overflows the stack
    for (const v of s) if (isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    if (lo > hi) { lo = 0; hi = 0; }
    if (state.kind !== "c") { lo = Math.min(lo, D.ranges[state.kind][0]); hi = Math.max(hi, D.ranges[state.kind][1]); }
    if (hi - lo < 1e-9) { hi = lo + 1; }
    const pts = Array.from(s, (v, t) => `${(t / Math.max(1, T - 1) * Wd).toFixed(1)},${(Hh - 4 - (v - lo) / (hi - lo) * (Hh - 8)).toFixed(1)}`);
    const zero = Hh - 4 - (0 - lo) / (hi - lo) * (Hh - 8);
    svg.innerHTML = `<line x1="0" x2="${Wd}" y1="${zero}" y2="${zero}" stroke="#ccc"/>` +
      `<polyline fill="none" stroke="#2166ac" stroke-width="1.2" points="${pts.join(" ")}"/>`;
  }
  function contextRow(t0, t1, hit, s, scale) {
    const row = document.createElement("div"); row.className = "ctx";
    for (let t = Math.max(0, t0); t < Math.min(T, t1); t++) {
      const sp = document.createElement("span"); const [r, g, b] = colour(s[t], scale);
      sp.style.backgroundColor = `rgb(${r}, ${g}, ${b})`;
      sp.textContent = D.tokens[t] === "\n" ? "⏎" : D.tokens[t];
      if (t === hit) sp.className = "hit";
      row.appendChild(sp);
    }
    return row;
  }
  function contexts(s, scale) {
    const box = $("contexts"); box.innerHTML = "";
    for (const [sign, name] of [[1, "highest"], [-1, "lowest"]]) {
      const h = document.createElement("div"); h.className = "muted"; h.textContent = name; box.appendChild(h);
      for (const t of topSteps(s, D.contexts.k, D.contexts.after, sign)) {
        const row = contextRow(t - D.contexts.before, t + 1 + D.contexts.after, t, s, scale);
        row.dataset.step = t;
        row.title = `step ${t}: ${String(s[t])}`;
        row.onclick = () => spans[t].scrollIntoView({ block: "center" });
        const v = document.createElement("span"); v.className = "muted"; v.textContent = `  ${s[t].toFixed(3)} @ ${t}`;
        row.appendChild(v); box.appendChild(row);
      }
    }
  }

  // -- hover --------------------------------------------------------------------------------------------------
  textBox.addEventListener("mouseover", ev => {
    const sp = ev.target.closest(".tok"); if (!sp) return;
    const t = +sp.dataset.t, tok = D.tokens[t];
    tip.textContent = `step ${t}  ${JSON.stringify(tok)}\n${label()} = ${sp.dataset.value}`;
    tip.dataset.t = t; tip.dataset.value = sp.dataset.value;
    tip.style.display = "block";
  });
  textBox.addEventListener("mousemove", ev => { tip.style.left = (ev.clientX + 14) + "px"; tip.style.top = (ev.clientY + 14) + "px"; });
  textBox.addEventListener("mouseleave", () => { tip.style.display = "none"; });

  // -- select a span → units on → match ---------------------------------------------------------------------
  let dragFrom = null;
  textBox.addEventListener("mousedown", ev => { const sp = ev.target.closest(".tok"); if (sp) { dragFrom = +sp.dataset.t; ev.preventDefault(); } });
  document.addEventListener("mouseup", ev => {
    if (dragFrom === null) return;
    const sp = ev.target.closest && ev.target.closest(".tok");
    const to = sp ? +sp.dataset.t : dragFrom;
    setSelection(Math.min(dragFrom, to), Math.max(dragFrom, to) + 1);
    dragFrom = null;
  });
  function threshold() { return parseFloat($("threshold").value); }
  function setSelection(a, b) {
    state.sel = [a, b];
    spans.forEach((sp, t) => { sp.classList.toggle("sel", t >= a && t < b); sp.classList.remove("match"); });
    refreshSelection();
  }
  function refreshSelection() {
    const box = $("sel-units"); box.innerHTML = ""; $("matches").innerHTML = "";
    if (!state.sel) { box.textContent = "Drag across the text to select a span."; return; }
    const [a, b] = state.sel;
    state.selUnits = selectUnits(state.layer, state.kind, a, b, threshold());
    $("sel-info").textContent = `span [${a}, ${b}) ${JSON.stringify(D.tokens.slice(a, b).join(""))}: ` +
      `${state.selUnits.length} unit(s) of layer ${state.layer} ${state.kind} ≥ ${threshold()} throughout`;
    for (const u of state.selUnits.slice(0, 60)) {
      const btn = document.createElement("button"); btn.className = "small unit-btn"; btn.textContent = u; btn.dataset.unit = u;
      btn.onclick = () => { state.unit = u; paint(); };
      box.appendChild(btn); box.appendChild(document.createTextNode(" "));
    }
    if (state.selUnits.length > 60) box.appendChild(document.createTextNode(`… and ${state.selUnits.length - 60} more`));
  }
  $("match").onclick = () => {
    const box = $("matches"); box.innerHTML = "";
    spans.forEach(sp => sp.classList.remove("match"));
    if (!state.sel || !state.selUnits.length) { box.textContent = "Select a span with at least one unit on first."; return; }
    const found = matchSpans(state.layer, state.kind, state.selUnits, threshold(), state.sel, parseFloat($("share").value), 20);
    if (!found.length) { box.textContent = "No other span has these units on."; return; }
    const s = series(state.layer, state.kind, state.unit), scale = colourScale(state.kind, s);
    for (const m of found) {
      for (let t = m.start; t < m.end; t++) spans[t].classList.add("match");
      const row = contextRow(m.start - 12, m.end + 6, -1, s, scale);
      row.dataset.start = m.start; row.dataset.end = m.end;
      row.onclick = () => spans[m.start].scrollIntoView({ block: "center" });
      const v = document.createElement("span"); v.className = "muted"; v.textContent = `  [${m.start}, ${m.end}) mean ${m.score.toFixed(3)}`;
      row.appendChild(v); box.appendChild(row);
    }
  };
  $("threshold").onchange = refreshSelection; $("share").onchange = () => {};

  // -- unit picker --------------------------------------------------------------------------------------------
  const kinds = $("kinds");
  for (const k of D.kinds) {
    const b = document.createElement("button"); b.textContent = k; b.dataset.kind = k; b.title = kindName[k] || k;
    b.onclick = () => { state.kind = k; paint(); refreshSelection(); };
    kinds.appendChild(b);
  }
  for (let l = 0; l < L; l++) { const o = document.createElement("option"); o.value = l; o.textContent = `layer ${l}`; $("layer").appendChild(o); }
  $("layer").onchange = () => { state.layer = +$("layer").value; paint(); refreshSelection(); };
  $("unit").onchange = () => {
    state.unit = Math.max(0, Math.min(W(state.kind) - 1, parseInt($("unit").value || "0", 10))); paint();
  };
  $("prev").onclick = () => { const H = W(state.kind); state.unit = (state.unit + H - 1) % H; paint(); };
  $("next").onclick = () => { state.unit = (state.unit + 1) % W(state.kind); paint(); };

  // -- saturation ---------------------------------------------------------------------------------------------
  function saturation() {
    const S = D.saturation; if (!S) return;
    const tb = $("sat-table");
    tb.innerHTML = "<tr><th>layer · gate</th><th>&lt; 0.1</th><th>&gt; 0.9</th><th>units mostly &gt; 0.9</th></tr>" +
      S.table.map(r => `<tr><td>${r.layer} · ${r.gate}</td><td>${(100 * r.left).toFixed(1)}%</td><td>${(100 * r.right).toFixed(1)}%</td><td>${r.units_mostly_right}/${r.units}</td></tr>`).join("");
    const box = $("sat-plots"); box.innerHTML = "";
    const cols = ["#440154", "#21918c", "#fde725", "#3b528b", "#5ec962"];
    for (const g of Object.keys(S.units)) {
      const W = 92, pad = 14;
      let svg = `<svg width="${W + pad}" height="${W + pad}" viewBox="0 0 ${W + pad} ${W + pad}"><text x="${pad}" y="11" font-size="10">${kindName[g]}</text>` +
        `<rect x="${pad}" y="14" width="${W - 4}" height="${W - 20}" fill="none" stroke="#ccc"/>` +
        `<line x1="${pad}" y1="14" x2="${pad + W - 4}" y2="${W - 6}" stroke="#eee"/>`;
      S.units[g].left.forEach((row, l) => row.forEach((lx, u) => {
        const ry = S.units[g].right[l][u];
        svg += `<circle class="dot" data-gate="${g}" data-layer="${l}" data-unit="${u}" cx="${(pad + lx * (W - 4)).toFixed(1)}" cy="${(W - 6 - ry * (W - 20)).toFixed(1)}" r="2.6" fill="${cols[l % cols.length]}" fill-opacity="0.75"><title>layer ${l} ${g}[${u}]: ${(100 * lx).toFixed(0)}% < 0.1, ${(100 * ry).toFixed(0)}% > 0.9</title></circle>`;
      }));
      svg += `<text x="${pad}" y="${W + pad - 2}" font-size="8" fill="#666">&lt; 0.1 →</text><text x="8" y="${W - 8}" font-size="8" fill="#666" transform="rotate(-90 8 ${W - 8})">&gt; 0.9 →</text></svg>`;
      const div = document.createElement("span"); div.innerHTML = svg; box.appendChild(div);
    }
    box.addEventListener("click", ev => {
      const c = ev.target.closest(".dot"); if (!c) return;
      state.layer = +c.dataset.layer; state.kind = c.dataset.gate; state.unit = +c.dataset.unit; paint(); refreshSelection();
    });
  }
  function features() {
    const box = $("features"); if (!box) return;
    if (!D.features || !D.features.length) { box.closest("section").style.display = "none"; return; }
    box.innerHTML = "<tr><th>feature</th><th>unit</th><th>r</th></tr>" + D.features.map((f, i) =>
      `<tr class="pick" data-i="${i}"><td>${f.feature}</td><td>layer ${f.layer} ${f.kind}[${f.unit}]</td><td>${f.r.toFixed(3)}</td></tr>`).join("");
    box.onclick = ev => {
      const tr = ev.target.closest("tr.pick"); if (!tr) return;
      const f = D.features[+tr.dataset.i]; state.layer = f.layer; state.kind = f.kind; state.unit = f.unit; paint(); refreshSelection();
    };
  }
  saturation(); features(); paint(); refreshSelection();
  document.body.dataset.ready = "1";
})();
"""
