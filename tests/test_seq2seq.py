"""Sequence to sequence: task generators, pair files, the encoder–decoder's gradients, decoding, the estimator, CLI."""

import datetime as dt
import itertools
import re

import numpy as np
import pytest
from test_attention import numeric_grad5

import lstm
from lstm.data.seq2seq_tasks import (
    TEST_SEED_OFFSET,
    date_pairs,
    format_pairs,
    number_pairs,
    number_to_words,
    pad_sources,
    read_pairs,
    train_test,
)
from lstm.models import NotFittedError
from lstm.models.seq2seq import BOS_ID, EOS_ID, PAD_ID, Seq2Seq, Seq2SeqNet, pad_batch
from lstm.models.seq2seq_search import beam_search, greedy_search, length_penalty, log_softmax
from lstm.nn import cross_entropy

# ---------------------------------------------------------------------------------------------------------------
# tasks
# ---------------------------------------------------------------------------------------------------------------
STRPTIME = ["%A, %d %B %Y", "%m/%d/%y", "%B %d, %Y", "%d %B %Y", "%b %d, %Y", "%d %b %Y", "%m/%d/%Y", "%d.%m.%Y",
            "%d.%m.%y", "%Y/%m/%d", "%Y-%m-%d", "%Y%m%d", "%a, %d %b %Y", "%d %B, %Y", "%A, %B %d, %Y", "%d-%b-%Y",
            "%b. %d, '%y"]


def parse_date(text: str) -> set:
    """Every date ``text`` can mean under the documented conventions (two-digit years pivot at 1950)."""
    t = re.sub(r"(\d+)(st|nd|rd|th)\b", r"\1", text, flags=re.I)
    t = re.sub(r"^the (\d+) of ", r"\1 ", t, flags=re.I)
    found = set()
    for fmt in STRPTIME:
        try:
            d = dt.datetime.strptime(t, fmt).date()
        except ValueError:
            continue
        if "%y" in fmt:
            d = d.replace(year=1900 + d.year % 100 if d.year % 100 >= 50 else 2000 + d.year % 100)
        found.add(d)
    return found


def test_dates_parse_back_to_exactly_their_target():
    pairs = date_pairs(3000, seed=5)
    for src, tgt in pairs:
        assert parse_date(src) == {dt.date.fromisoformat(tgt)}, src
        day = dt.date.fromisoformat(tgt)
        for name in ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"):
            if re.search(rf"\b{name[:3]}", src, flags=re.I):
                assert day.strftime("%A") == name, src
    years = [int(t[:4]) for _, t in pairs]
    assert min(years) < 1920 and max(years) > 2080
    assert len({re.sub(r"\d", "0", s.lower()) for s, _ in pairs}) > 100     # many surface forms


def words_to_number(text: str) -> int:
    values = {w: i for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven", "eight",
                                          "nine", "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen",
                                          "sixteen", "seventeen", "eighteen", "nineteen"])}
    values.update({w: 10 * i for i, w in enumerate(["twenty", "thirty", "forty", "fifty", "sixty", "seventy",
                                                     "eighty", "ninety"], 2)})
    total = current = 0
    for w in text.replace("-", " ").split():
        if w == "and":
            continue
        if w == "hundred":
            current *= 100
        elif w == "thousand":
            total, current = total + current * 1000, 0
        else:
            current += values[w]
    return total + current


def test_number_words_parse_back_and_cover_the_range():
    pairs = number_pairs(3000, seed=3)
    for src, tgt in pairs:
        assert words_to_number(src) == int(tgt), src
        assert str(int(tgt)) == tgt
    counts = np.bincount([len(t) for _, t in pairs], minlength=7)[1:]
    assert counts.min() > 350                     # digit counts 1..6 all common
    assert number_to_words(342) == "three hundred forty-two"
    assert number_to_words(100005, british=True) == "one hundred thousand and five"
    assert number_to_words(999999) == "nine hundred ninety-nine thousand nine hundred ninety-nine"
    assert number_to_words(0) == "zero"
    with pytest.raises(ValueError, match="0 to 999,999"):
        number_to_words(1_000_000)


def test_generators_are_deterministic_and_test_sets_use_another_seed():
    assert date_pairs(50, 1) == date_pairs(50, 1) and date_pairs(50, 1) != date_pairs(50, 2)
    train, test = train_test("dates", 100, 50, seed=4)
    assert train == date_pairs(100, 4) and test == date_pairs(50, 4 + TEST_SEED_OFFSET)
    padded = pad_sources(test, 40, seed=0)
    assert all(len(s) == 40 and s.strip("_") == o for (s, _), (o, _) in zip(padded, test))
    with pytest.raises(ValueError, match="longer than the padded length"):
        pad_sources(test, 5)


def test_read_pairs_reports_line_numbers(tmp_path):
    f = tmp_path / "p.tsv"
    f.write_text("a\tb\n\nc d\te\n")
    assert read_pairs(f) == [("a", "b"), ("c d", "e")]
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_pairs(tmp_path / "missing.tsv")
    for body, msg in [("a\tb\nno tab here\n", r"p\.tsv:2: expected source<TAB>target, found no tab"),
                      ("a\tb\n\tx\n", r"p\.tsv:2: the source side is empty"),
                      ("a\tb\nx\t \n", r"p\.tsv:2: the target side is empty"),
                      ("a\tb\tc\n", r"p\.tsv:1: more than one tab"),
                      ("a\x0cb\tc\r\n\u2028\tx\n", r"p\.tsv:2: the source side is empty"),   # lines as editors count
                      ("\n\n", "holds no pairs")]:
        f.write_text(body)
        with pytest.raises(ValueError, match=msg):
            read_pairs(f)
    pairs = [("x y", "1"), ("z", "22")]
    f.write_text(format_pairs(pairs))
    assert read_pairs(f) == pairs
    with pytest.raises(ValueError, match="contains a tab or newline"):
        format_pairs([("a\tb", "c")])


# ---------------------------------------------------------------------------------------------------------------
# the network: gradients and masking
# ---------------------------------------------------------------------------------------------------------------
def tiny_batch(rng, src_lens=(4, 2, 5), tgt_lens=(3, 1, 2), Vs=9, Vt=7):
    srcs = [rng.integers(4, Vs, size=n) for n in src_lens]
    tgts = [rng.integers(4, Vt, size=n) for n in tgt_lens]
    s, sl = pad_batch(srcs)
    ti, tl = pad_batch(tgts, prefix=BOS_ID)
    to, _ = pad_batch(tgts, suffix=EOS_ID)
    return s, sl, ti, to, tl


@pytest.mark.parametrize("attention", ["luong", "dot", "bahdanau", "none"])
@pytest.mark.parametrize("bidirectional,layers", [(True, 2), (False, 1)])
@pytest.mark.parametrize("rows", [1, 4], ids=["embedded", "folded"])
def test_full_encoder_decoder_loss_gradients_float64(rows, attention, bidirectional, layers):
    """With 4 copies of the batch (12 sequences) both embeddings are folded into their LSTM (Embedding.feed)."""
    rng = np.random.default_rng(0)
    net = Seq2SeqNet(9, 7, 5, 6, layers, bidirectional, attention, seed=1, dtype=np.float64)
    for p in net.parameters().values():
        p *= 2.0                                     # larger weights: gradients well above FD noise everywhere
    s, sl, ti, to, tl = tiny_batch(rng, src_lens=(4, 2, 5) * rows, tgt_lens=(3, 1, 2) * rows)

    def f():
        logits, _ = net.forward(s, sl, ti, tl)
        return cross_entropy(logits, to, ignore_index=PAD_ID, reduction="sum")[0]

    logits, _ = net.forward(s, sl, ti, tl)
    _, d = cross_entropy(logits, to, ignore_index=PAD_ID, reduction="sum")
    net.backward(d)
    grads = {n: g.copy() for n, g in net.grads.items()}
    pick = np.random.default_rng(2)
    for name, p in net.parameters().items():
        idx = [tuple(i) for i in np.argwhere(np.ones(p.shape, bool))]
        idx = [idx[i] for i in pick.choice(len(idx), size=min(12, len(idx)), replace=False)]
        flat = p.reshape(-1)                          # a view: perturbing it perturbs the parameter
        num = np.array([numeric_grad5(f, flat[k:k + 1])[0] for k in (np.ravel_multi_index(ix, p.shape) for ix in idx)])
        ana = np.array([grads[name][ix] for ix in idx])
        scale = max(np.abs(grads[name]).max(), 1e-12)
        assert np.abs(ana - num).max() / scale < 1e-7, name
    assert np.abs(grads["src_emb.weight"][PAD_ID]).max() == 0
    assert net.src_emb._folded == net.tgt_emb._folded == (rows > 1)


@pytest.mark.parametrize("attention", ["luong", "none"])
def test_training_loss_is_forward_then_cross_entropy_then_backward(attention):
    """``loss`` (output layer and loss in one linear_cross_entropy, padding ignored) leaves exactly the gradients of
    forward → cross_entropy → backward (float64, 1e-12)."""
    rng = np.random.default_rng(3)
    net = Seq2SeqNet(9, 7, 5, 6, 1, True, attention, seed=2, dtype=np.float64)
    s, sl, ti, to, tl = tiny_batch(rng, src_lens=(4, 2, 5), tgt_lens=(3, 1, 2))
    loss = net.loss(s, sl, ti, to, tl)
    fused = {n: g.copy() for n, g in net.grads.items()}
    logits, _ = net.forward(s, sl, ti, tl)
    ref, d = cross_entropy(logits, to, ignore_index=PAD_ID)
    net.backward(d)
    assert abs(loss - ref) < 1e-12 * ref
    for n, g in net.grads.items():
        np.testing.assert_allclose(fused[n], g, rtol=0, atol=1e-12 * max(1.0, np.abs(g).max()), err_msg=n)


def test_extra_padding_changes_nothing():
    """Padded source and target steps must not leak into the loss (lengths + attention mask + ignore_index)."""
    rng = np.random.default_rng(3)
    net = Seq2SeqNet(9, 7, 5, 6, 1, True, "bahdanau", seed=1, dtype=np.float64)
    s, sl, ti, to, tl = tiny_batch(rng)
    wide = lambda a: np.concatenate([a, np.full((a.shape[0], 3), PAD_ID)], axis=1)  # noqa: E731
    s2 = wide(s)
    s2[:, -3:] = 7                                   # not even <pad>: arbitrary ids beyond each length
    loss1 = net.loss(s, sl, ti, to, tl)
    g1 = {n: g.copy() for n, g in net.grads.items()}
    loss2 = net.loss(s2, sl, wide(ti), wide(to), tl)
    assert loss1 == pytest.approx(loss2, abs=1e-13)
    for name, g in net.grads.items():
        np.testing.assert_allclose(g, g1[name], atol=1e-13, err_msg=name)


# ---------------------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------------------
def exhaustive_best(net, src, src_len, max_len, alpha, allowed):
    """Score every possible output (finished, or cut at max_len) one row at a time; return the best."""
    best = None
    for n in range(max_len + 1):
        for body in itertools.product(allowed, repeat=n):
            seqs = [list(body) + [EOS_ID]] if n < max_len else [list(body)]
            for seq in seqs:
                if not seq or EOS_ID in seq[:-1]:
                    continue
                memory, state = net.start(src, src_len)
                tok, logp = np.array([BOS_ID]), 0.0
                for y in seq:
                    logits, state, _ = net.step(tok, state, memory)
                    logp += log_softmax(logits)[0, y]
                    tok = np.array([y])
                score = logp / length_penalty(len(seq), alpha)
                if best is None or score > best[0]:
                    best = (score, logp, seq)
    return best


@pytest.mark.parametrize("alpha", [0.0, 1.0])
@pytest.mark.parametrize("attention", ["luong", "none"])
def test_wide_beam_finds_the_exhaustive_optimum(alpha, attention):
    net = Seq2SeqNet(8, 7, 4, 6, 1, True, attention, seed=3, dtype=np.float64)
    for p in net.parameters().values():
        p *= 3.0                                     # peaky distributions: greedy is often not optimal
    rng = np.random.default_rng(0)
    kw = dict(bos=BOS_ID, eos=EOS_ID, max_len=3, alpha=alpha, banned=(0, PAD_ID, BOS_ID))
    for trial in range(4):
        src, src_len = pad_batch([rng.integers(4, 8, size=rng.integers(1, 5))])
        want = exhaustive_best(net, src, src_len, 3, alpha, allowed=[EOS_ID, 4, 5, 6])
        got = beam_search(net, src, src_len, beam=64, keep_greedy=False, **kw)[0]
        assert got.tokens == want[2] and got.logp == pytest.approx(want[1], abs=1e-12)


def test_beam_one_equals_greedy_bit_for_bit_on_a_random_net():
    net = Seq2SeqNet(8, 9, 4, 6, 2, True, "bahdanau", seed=4)
    rng = np.random.default_rng(1)
    src, src_len = pad_batch([rng.integers(4, 8, size=n) for n in (1, 5, 3, 7)])
    kw = dict(bos=BOS_ID, eos=EOS_ID, max_len=6, banned=(0, PAD_ID, BOS_ID))
    for alpha in (0.0, 0.6):
        g = greedy_search(net, src, src_len, alpha=alpha, **kw)
        b = beam_search(net, src, src_len, beam=1, alpha=alpha, **kw)
        for x, y in zip(g, b):
            assert x.tokens == y.tokens and x.logp == y.logp and x.score == y.score and x.finished == y.finished
            np.testing.assert_array_equal(x.weights, y.weights)


def test_small_model_learns(numbers_model):
    model, test = numbers_model
    assert model.history_[-1]["loss"] < 0.5 * model.history_[0]["loss"]
    assert model.score(test) > 0.3                  # 150 steps: far from perfect, far above chance (~0)


def test_beam_one_equals_greedy_and_wider_beams_never_score_lower(numbers_model):
    model, test = numbers_model
    sources = [s for s, _ in test]
    greedy = model.search(sources, beam=1)
    assert [model._text(h.tokens) for h in greedy] == model.translate(sources)
    for g, b in zip(greedy, model.search(sources, beam=1, use_beam_search=True)):
        assert g.tokens == b.tokens and g.logp == b.logp
        np.testing.assert_array_equal(g.weights, b.weights)
    for K in (2, 5):
        beam = model.search(sources, beam=K)
        assert all(b.score >= g.score for b, g in zip(beam, greedy))
        # the beam's running log-probabilities are what teacher forcing gives for its output
        done = [(s, model._text(b.tokens), b.logp) for s, b in zip(sources, beam) if b.finished]
        rescored = model.log_prob([(s, t) for s, t, _ in done])
        np.testing.assert_allclose(rescored, [lp for *_, lp in done], atol=1e-4)
    assert model.score(test, beam=3) >= model.score(test) - 0.05


def test_length_penalty_ranks_by_normalised_score(numbers_model):
    model, test = numbers_model
    hyps = model.search([s for s, _ in test[:20]], beam=3, length_penalty=1.0)
    for h in hyps:
        assert h.score == pytest.approx(h.logp / ((5 + len(h.tokens)) / 6))


# ---------------------------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------------------------
def test_save_load_round_trip_and_attention_trace(numbers_model, tmp_path):
    model, test = numbers_model
    path = model.save(tmp_path / "m.safetensors")
    again = lstm.load(path)
    assert isinstance(again, Seq2Seq) and again.get_params() == model.get_params()
    sources = [s for s, _ in test[:40]]
    assert again.translate(sources, beam=2) == model.translate(sources, beam=2)
    tr = again.attention_trace(sources[0])
    assert tr["weights"].shape == (len(tr["target"]), len(tr["source"]))
    np.testing.assert_allclose(tr["weights"].sum(1), 1.0, rtol=1e-5)
    assert tr["target"][-1] == "</s>" and "".join(tr["target"][:-1]) == tr["translation"]
    pytest.importorskip("matplotlib")
    from lstm.viz.attention_plot import plot_attention
    png = plot_attention(tr["weights"], tr["source"], tr["target"], tmp_path / "a.png", title="t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="weights must have shape"):
        plot_attention(tr["weights"][:, :-1], tr["source"], tr["target"], tmp_path / "b.png")


@pytest.mark.parametrize("attention", ["luong", "dot", "bahdanau", "none"])
@pytest.mark.parametrize("bidirectional,layers", [(True, 2), (False, 1)])
def test_every_configuration_saves_and_loads(attention, bidirectional, layers, tmp_path):
    pairs = [(f"{n} x", str(n * 3)) for n in range(30)]
    m = Seq2Seq(attention=attention, bidirectional=bidirectional, num_layers=layers, hidden_size=8,
                embedding_dim=4, steps=2, eval_every=1, batch_size=8).fit(pairs, progress=False)
    shapes = dict(Seq2Seq._expected_shapes(m.get_params(), m._extra_config()))
    assert shapes == {k: v.shape for k, v in m.net_.parameters().items()}
    again = lstm.load(m.save(tmp_path / "m.safetensors"))
    for k, v in m.net_.parameters().items():
        np.testing.assert_array_equal(again.net_.parameters()[k], v)
    assert again.translate(["1 x", "22 x"], beam=2) == m.translate(["1 x", "22 x"], beam=2)


def test_translate_refuses_bad_input(numbers_model):
    model, _ = numbers_model
    assert isinstance(model.translate("seven"), str) and len(model.translate(["seven", "two"])) == 2
    with pytest.raises(ValueError, match=r"input 1 holds 1 word the model never saw: 'eleventy'; remove it "):
        model.translate(["seven", "eleventy one"])
    with pytest.raises(ValueError, match="input 0 is empty"):
        model.translate([" "])
    with pytest.raises(ValueError, match="more than max_len=200"):
        model.translate(["one " * 201])
    with pytest.raises(ValueError, match="beam must be a positive integer"):
        model.translate("one", beam=0)
    assert isinstance(model.translate("eleventy one", errors="replace"), str)


def test_fit_validates_pairs_and_params():
    with pytest.raises(NotFittedError):
        Seq2Seq().translate("x")
    with pytest.raises(ValueError, match="pair 1: the target side is empty"):
        Seq2Seq(steps=1).fit([("a", "b"), ("c", "")])
    with pytest.raises(ValueError, match="pair 0: the source side has 5 chars, more than max_len=4"):
        Seq2Seq(steps=1, max_len=4).fit([("abcde", "b")])
    with pytest.raises(TypeError, match="pair 0 must be a"):
        Seq2Seq(steps=1).fit([("a", 3)])
    with pytest.raises(ValueError, match="attention must be one of"):
        Seq2Seq(attention="soft").fit([("a", "b")])
    with pytest.raises(ValueError, match="even hidden_size"):
        Seq2Seq(hidden_size=7).fit([("a", "b")])
    with pytest.raises(ValueError, match="at least one"):
        Seq2Seq().fit([])
