"""LSTMClassifier: last-valid-step features, the hand-written backward with lengths, fitting, files and the CLI."""

import json

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.data.sequences import read_sequences
from lstm.models import LSTMClassifier, NotFittedError
from lstm.models.classifier import ClassifierNet, as_sequences, classification_report, pad

from fd import max_rel_error, numeric_grad


def trend_data(n=160, seed=0, max_len=12):
    """Variable-length random walks; the label is the sign of the drift."""
    rng = np.random.default_rng(seed)
    seqs, labels = [], []
    for i in range(n):
        up = i % 2 == 1
        T = int(rng.integers(4, max_len + 1))
        seqs.append(np.cumsum(rng.normal(0.4 if up else -0.4, 0.5, size=(T, 1)), axis=0))
        labels.append("up" if up else "down")
    return seqs, np.array(labels)


def net64(bidirectional, layers, seed=0):
    rng = np.random.default_rng(seed + 10)
    net = ClassifierNet(n_features=2, hidden_size=4, num_layers=layers, n_classes=3, bidirectional=bidirectional,
                        seed=seed, dtype=np.float64).eval()
    for p in net.parameters().values():          # non-zero biases everywhere
        p += rng.normal(scale=0.1, size=p.shape)
    return net


# ---------------------------------------------------------------------------------------------------------------
# the network
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bidirectional,layers", [(False, 1), (True, 1), (True, 2)])
def test_classifier_net_backward_with_lengths_matches_finite_differences(bidirectional, layers):
    rng = np.random.default_rng(2)
    net = net64(bidirectional, layers)
    x = rng.normal(size=(3, 7, 2))
    lengths = np.array([7, 4, 1])
    R = rng.normal(size=(3, 3))
    net.forward(x, lengths)
    dx = net.backward(R)
    analytic = {k: g.copy() for k, g in net.grads.items()}

    def f():
        return float(np.sum(net.forward(x, lengths) * R))

    assert max_rel_error(dx, numeric_grad(f, x)) < 1e-7
    for name, p in net.parameters().items():
        assert max_rel_error(analytic[name], numeric_grad(f, p)) < 1e-7, name
    assert np.all(dx[1, 4:] == 0) and np.all(dx[2, 1:] == 0)          # padded steps receive no gradient


@pytest.mark.parametrize("bidirectional", [False, True])
def test_features_are_the_last_valid_step_and_padding_never_leaks(bidirectional):
    rng = np.random.default_rng(3)
    net = net64(bidirectional, 2)
    x = rng.normal(size=(2, 6, 2))
    lengths = np.array([6, 3])
    padded = net.forward(x, lengths)
    alone = net.forward(x[1:, :3])                                     # the short sequence by itself
    assert np.allclose(padded[1], alone[0], atol=1e-12)
    x2 = x.copy()
    x2[1, 3:] = 99.0                                                   # garbage in the padding
    assert np.allclose(net.forward(x2, lengths), padded, atol=1e-12)
    # the forward half of the feature is h at the last real step; the reverse half is the reverse pass at t = 0
    y, (h, _) = net.rnn(x, lengths=lengths)
    H = net.rnn.hidden_size
    assert np.allclose(h[-net.rnn.num_directions][1], y[1, 2, :H])
    if bidirectional:
        assert np.allclose(h[-1][1], y[1, 0, H:])


def test_as_sequences_and_pad_accept_lists_and_padded_arrays():
    seqs, F = as_sequences([np.arange(3.0), np.arange(5.0)])
    assert F == 1 and [s.shape for s in seqs] == [(3, 1), (5, 1)]
    xs, lens = pad(seqs)
    assert xs.shape == (2, 5, 1) and lens.tolist() == [3, 5] and xs[0, 3:].sum() == 0
    seqs2, _ = as_sequences(xs.astype(np.float64), lengths=lens)
    assert [len(s) for s in seqs2] == [3, 5]
    with pytest.raises(ValueError, match="same number of features"):
        as_sequences([np.zeros((3, 1)), np.zeros((3, 2))])
    with pytest.raises(ValueError, match=r"every length must be in \[1, 5\]"):
        as_sequences(xs, lengths=np.array([0, 5]))


# ---------------------------------------------------------------------------------------------------------------
# the estimator
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def fitted():
    seqs, labels = trend_data()
    return LSTMClassifier(hidden_size=16, epochs=8, batch_size=16, val_fraction=0.0).fit(seqs[:120], labels[:120]), \
        seqs, labels


def test_learns_variable_length_sequences(fitted):
    m, seqs, labels = fitted
    assert m.classes_.tolist() == ["down", "up"]
    assert m.score(seqs[120:], labels[120:]) >= 0.85
    p = m.predict_proba(seqs[120:])
    assert p.shape == (40, 2) and np.allclose(p.sum(1), 1)
    assert np.array_equal(m.classes_[p.argmax(1)], m.predict(seqs[120:]))


def test_unknown_labels_and_unfitted_use_are_refused(fitted):
    m, seqs, labels = fitted
    with pytest.raises(ValueError, match="1 label\\(s\\) the model never saw in training: 'sideways'"):
        m.score(seqs[:2], ["up", "sideways"])
    with pytest.raises(NotFittedError):
        LSTMClassifier().predict(seqs[:2])
    with pytest.raises(ValueError, match="trained on sequences with 1 feature"):
        m.predict([np.zeros((4, 2))])
    with pytest.raises(ValueError, match="at least two classes"):
        LSTMClassifier(epochs=1).fit(seqs[:4], ["a"] * 4)


def test_the_progress_bar_shows_the_validation_error_as_a_rate(capsys):
    """What the classifier validates by is 1 − accuracy, which the bar must not call a loss in nats."""
    seqs, labels = trend_data(n=60, seed=2)
    m = LSTMClassifier(hidden_size=4, epochs=1, batch_size=16, val_fraction=0.25).fit(seqs, labels, progress=True)
    err = capsys.readouterr().err
    assert f"val error {m.history_[-1]['val_loss']:.1%}" in err and "nats" not in err


def test_class_weights_change_the_loss_toward_the_rare_class():
    seqs, labels = trend_data(n=120, seed=1)
    keep = [i for i in range(120) if labels[i] == "down" or i % 6 == 1]            # 'up' is rare (1 in 6)
    seqs, labels = [seqs[i] for i in keep], labels[keep]
    kw = dict(hidden_size=8, epochs=2, batch_size=16, val_fraction=0.0, lr=3e-3)
    plain = LSTMClassifier(**kw).fit(seqs, labels)
    balanced = LSTMClassifier(**kw, class_weight="balanced").fit(seqs, labels)
    w = balanced._weights(balanced._encode(labels))
    assert w[1] / w[0] == pytest.approx(np.mean(labels == "down") / np.mean(labels == "up"))
    assert balanced.predict_proba(seqs)[:, 1].mean() > plain.predict_proba(seqs)[:, 1].mean()
    with pytest.raises(ValueError, match="names 'nope'"):
        LSTMClassifier(**kw, class_weight={"nope": 2.0}).fit(seqs, labels)


def test_save_load_round_trip(fitted, tmp_path):
    m, seqs, _ = fitted
    back = lstm.load(m.save(tmp_path / "c.safetensors"))
    assert isinstance(back, LSTMClassifier) and back.classes_.tolist() == m.classes_.tolist()
    assert np.array_equal(back.predict_proba(seqs[:20]), m.predict_proba(seqs[:20]))


def test_sklearn_clone_and_params_round_trip():
    base = pytest.importorskip("sklearn.base")
    from sklearn.utils.estimator_checks import check_get_params_invariance, check_set_params

    m = LSTMClassifier(hidden_size=10, bidirectional=True, class_weight={"a": 2.0})
    c = base.clone(m)
    assert c.get_params() == m.get_params() and c is not m
    check_get_params_invariance("LSTMClassifier", m)
    check_set_params("LSTMClassifier", m)


def test_sklearn_model_selection_takes_the_classifier():
    """scikit-learn ≥ 1.6 asks estimators for ``__sklearn_tags__``: without them cross_val_score raised
    AttributeError; with them a classifier gets stratified folds and its own accuracy as the score."""
    model_selection = pytest.importorskip("sklearn.model_selection")
    from sklearn.base import is_classifier

    seqs, labels = trend_data(n=60, seed=2)
    m = LSTMClassifier(hidden_size=8, epochs=2, seed=0)
    assert is_classifier(m)
    scores = model_selection.cross_val_score(m, seqs, labels, cv=2)
    assert scores.shape == (2,) and np.all((0 <= scores) & (scores <= 1))


def test_classification_report_matches_sklearn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    t = rng.choice(["a", "b", "c"], size=60)
    p = np.where(rng.random(60) < 0.7, t, rng.choice(["a", "b", "c", "d"], size=60))
    rep = classification_report(t, p)
    assert rep["accuracy"] == pytest.approx(metrics.accuracy_score(t, p))
    assert rep["macro_f1"] == pytest.approx(metrics.f1_score(t, p, average="macro"))
    assert rep["confusion"] == metrics.confusion_matrix(t, p, labels=rep["labels"]).tolist()


# ---------------------------------------------------------------------------------------------------------------
# files and the CLI
# ---------------------------------------------------------------------------------------------------------------

@pytest.fixture
def files(tmp_path):
    seqs, labels = trend_data(n=80, seed=4)
    wide = ["label," + ",".join(f"t{k}" for k in range(12))]
    long = ["walk,step,x,label"]
    jsonl = []
    for i, (s, lab) in enumerate(zip(seqs, labels)):
        v = s[:, 0]
        wide.append(lab + "," + ",".join(f"{a:.4f}" for a in v) + "," * (12 - len(v)))
        for t in reversed(range(len(v))):                                 # rows out of order: --time-col sorts
            long.append(f"w{i},{t},{v[t]:.4f},{lab}")
        jsonl.append(json.dumps({"id": f"w{i}", "label": lab, "sequence": [round(a, 4) for a in v]}))
    (tmp_path / "wide.csv").write_text("\n".join(wide) + "\n")
    (tmp_path / "long.csv").write_text("\n".join(long) + "\n")
    (tmp_path / "seq.jsonl").write_text("\n".join(jsonl) + "\n")
    return tmp_path, seqs, labels


def test_the_three_layouts_read_the_same_sequences(files):
    d, seqs, labels = files
    a = read_sequences(d / "wide.csv")
    b = read_sequences(d / "long.csv", id_col="walk", time_col="step")
    c = read_sequences(d / "seq.jsonl")
    for data in (a, b, c):
        assert data.labels.tolist() == labels.tolist()
        assert all(np.allclose(s, r, atol=1e-4) for s, r in zip(data.sequences, seqs))
    assert b.ids[:2] == ["w0", "w1"] and c.ids[:2] == ["w0", "w1"]


def test_semicolon_and_tab_separated_files_read_as_comma_separated_ones(files):
    d, seqs, labels = files
    for sep in (";", "\t"):
        for name, layout in (("wide.csv", {}), ("long.csv", {"id_col": "walk", "time_col": "step"})):
            (d / "sep.csv").write_text((d / name).read_text().replace(",", sep))
            data = read_sequences(d / "sep.csv", **layout)
            assert data.labels.tolist() == labels.tolist()
            assert all(np.allclose(s, r, atol=1e-4) for s, r in zip(data.sequences, seqs))


def test_a_long_csv_is_ordered_by_a_date_column(tmp_path):
    (tmp_path / "days.csv").write_text("walk,day,x,label\na,02.01.2024,2,up\na,31.12.2023,1,up\na,03.01.2024,3,up\n"
                                       "b,01.01.2024,5,down\nb,30.12.2023,6,down\n")
    data = read_sequences(tmp_path / "days.csv", id_col="walk", time_col="day")
    assert [s[:, 0].tolist() for s in data.sequences] == [[1, 2, 3], [6, 5]] and data.features == ["x"]
    with pytest.raises(ValueError, match="column 'day' holds '02.01.2024', which is not a number; .* with --features"):
        read_sequences(tmp_path / "days.csv", id_col="walk")


@pytest.mark.parametrize("text,message", [
    ("label,t0,t1\nup,1,\nup,,2\n", "missing value in column 't0' before its last value"),
    ("kind,t0,t1\nup,1,2\n", "label column 'label' not found; the columns are: kind, t0, t1"),
    ("label,t0,t1\nup,1,x\n", "column 't1' holds 'x', which is not a number"),
])
def test_bad_sequence_files_are_refused(tmp_path, text, message):
    (tmp_path / "bad.csv").write_text(text)
    with pytest.raises(ValueError, match=message):
        read_sequences(tmp_path / "bad.csv")


def test_a_null_label_in_jsonl_is_refused_not_read_as_a_class_named_none(tmp_path):
    (tmp_path / "s.jsonl").write_text('{"label": "a", "sequence": [1, 2]}\n{"label": null, "sequence": [3, 4]}\n')
    with pytest.raises(ValueError, match=r"line 2 has 'label': null; a label must be a string, number or boolean"):
        read_sequences(tmp_path / "s.jsonl")


def test_cli_train_then_predict(files, capsys):
    d, _, _ = files
    model = d / "m.safetensors"
    assert main(["classify", "train", str(d / "long.csv"), "--id", "walk", "--time-col", "step", "--hidden", "8",
                 "--epochs", "3", "--out", str(model), "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(obj) >= {"accuracy", "macro_f1", "confusion", "labels"} and obj["labels"] == ["down", "up"]
    assert sum(map(sum, obj["confusion"])) == 16                          # 20% of 80 held out
    assert main(["classify", "predict", str(model), str(d / "seq.jsonl"), "--out", str(d / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "accuracy" in out and "confusion matrix" in out
    rows = (d / "p.csv").read_text().splitlines()
    assert rows[0] == "id,predicted,p_down,p_up" and rows[1].startswith("w0,") and len(rows) == 81


@pytest.fixture
def long_model(files, capsys):
    """A model trained by `lstm classify train` on the long CSV (--id walk --time-col step), and its path."""
    d = files[0]
    model = d / "m.safetensors"
    assert main(["classify", "train", str(d / "long.csv"), "--id", "walk", "--time-col", "step", "--hidden", "4",
                 "--epochs", "1", "--out", str(model), "--quiet"]) == 0
    capsys.readouterr()
    return model


def test_cli_predict_reads_a_file_as_the_training_file_was_read(files, long_model, capsys):
    """Without --id / --time-col, the long CSV's walk and step columns would be read as two more features."""
    d, model = files[0], long_model
    assert main(["classify", "predict", str(model), str(d / "long.csv"), "--out", str(d / "p.csv")]) == 0
    assert "accuracy" in capsys.readouterr().out
    assert (d / "p.csv").read_text().splitlines()[1].startswith("w0,")       # the --id column named each row
    assert main(["classify", "predict", str(model), str(d / "long.csv"), "--id", "step"]) == 2   # given wins
    assert lstm.load(model).data_layout_ == {"label": "label", "id_col": "walk", "time_col": "step",
                                             "features": None}


def test_cli_train_quiet_still_prints_the_results_and_the_model_path(files, capsys):
    d, _, _ = files
    model = d / "m.safetensors"
    assert main(["classify", "train", str(d / "wide.csv"), "--hidden", "4", "--epochs", "1", "--out", str(model),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    assert f"model saved to {model}" in out and "test: accuracy" in out and "confusion matrix" in out
    assert "lstm classify train:" not in out                              # the progress header is gone


def test_cli_train_refuses_a_directory_as_out_before_training(files, capsys):
    d, _, _ = files
    assert main(["classify", "train", str(d / "wide.csv"), "--epochs", "1", "--out", str(d)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and f"--out {d} is a directory" in captured.err


def test_cli_predict_refuses_unknown_labels(files, capsys):
    d, _, _ = files
    model = d / "m.safetensors"
    assert main(["classify", "train", str(d / "wide.csv"), "--hidden", "4", "--epochs", "1", "--out", str(model),
                 "--quiet"]) == 0
    (d / "new.jsonl").write_text(json.dumps({"label": "sideways", "sequence": [1, 2, 3]}) + "\n")
    capsys.readouterr()
    assert main(["classify", "predict", str(model), str(d / "new.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "never saw: 'sideways'; known labels: down, up" in err


def test_cli_predict_out_quotes_ids_and_labels_that_hold_commas(tmp_path, capsys):
    import csv

    rows = [{"id": f"walk {k}, day 1", "label": "up, fast" if k % 2 else "down", "sequence": [k % 2, 1, k % 2]}
            for k in range(20)]
    (tmp_path / "s.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    model = tmp_path / "m.safetensors"
    assert main(["classify", "train", str(tmp_path / "s.jsonl"), "--hidden", "4", "--epochs", "1", "--out",
                 str(model), "--quiet"]) == 0
    assert main(["classify", "predict", str(model), str(tmp_path / "s.jsonl"), "--out", str(tmp_path / "p.csv")]) == 0
    capsys.readouterr()
    with open(tmp_path / "p.csv", newline="") as f:
        table = list(csv.reader(f))
    assert table[0] == ["id", "predicted", "p_down", "p_up, fast"] and len(table) == 21
    assert [r[0] for r in table[1:]] == [r["id"] for r in rows] and all(len(r) == 4 for r in table)
    assert {r[1] for r in table[1:]} <= {"down", "up, fast"}


# ---------------------------------------------------------------------------------------------------------------
# the documented target (minutes): python -m pytest -m slow tests/test_classifier.py
# ---------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_mnist1d_reaches_the_published_gru_accuracy(capsys, tmp_path):
    pytest.importorskip("mnist1d")
    assert main(["classify", "train", "mnist1d", "--out", str(tmp_path / "m.safetensors"), "--json", "--quiet"]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert obj["accuracy"] >= 0.91


def test_cli_checks_test_labels_before_training_and_never_replaces_a_default_model(files, capsys, monkeypatch):
    d, _, _ = files
    wide = (d / "wide.csv").read_text().splitlines()
    (d / "unseen.csv").write_text("\n".join([wide[0], "walk" + wide[1][wide[1].index(","):]]) + "\n")
    model = d / "x.safetensors"
    assert main(["classify", "train", str(d / "wide.csv"), "--epochs", "1", "--hidden", "4", "--out", str(model),
                 "--test", str(d / "unseen.csv"), "--quiet"]) == 2
    assert "the test sequences have a label 'walk' that no training sequence has" in capsys.readouterr().err
    assert not model.exists()                                           # refused before anything was written
    monkeypatch.chdir(d)
    for _ in range(2):
        assert main(["classify", "train", "wide.csv", "--epochs", "1", "--hidden", "4", "--quiet"]) == 0
    assert sorted(p.name for p in (d / "runs").iterdir()) == ["wide-classifier-2.safetensors",
                                                              "wide-classifier.safetensors"]


def test_cli_predict_json_names_each_sequence_as_the_csv_does(files, long_model, capsys):
    d, model = files[0], long_model
    assert main(["classify", "predict", str(model), str(d / "long.csv"), "--json", "--out", str(d / "p.csv")]) == 0
    obj = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rows = [line.split(",")[:2] for line in (d / "p.csv").read_text().splitlines()[1:]]
    assert obj["ids"] == [f"w{i}" for i in range(80)] == [sid for sid, _ in rows]
    assert obj["predictions"] == [p for _, p in rows] and obj["n"] == 80


def test_cli_train_warns_that_dropout_needs_stacked_layers(files, capsys):
    d, _, _ = files
    argv = ["classify", "train", str(d / "wide.csv"), "--hidden", "4", "--epochs", "1", "--dropout", "0.2",
            "--bidirectional", "--quiet", "--out", str(d / "m.safetensors")]
    assert main(argv) == 0
    assert [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")] == [
        "warning: dropout acts between stacked layers, so --dropout 0.2 with --layers 1 does nothing; use --layers 2 "
        "or more"]
    assert main(argv + ["--layers", "2"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_cli_counts_read_as_english(tmp_path, capsys):
    (tmp_path / "one.csv").write_text("label,t0,t1\nup,1,2\nup,2,3\nup,3,4\n")
    assert main(["classify", "train", str(tmp_path / "one.csv"), "--epochs", "1", "--hidden", "4",
                 "--test-fraction", "0.34", "--out", str(tmp_path / "m.safetensors")]) == 2
    captured = capsys.readouterr()
    assert "one.csv: 2 training sequences and 1 test sequence, length 2, 1 class\n" in captured.out
    assert "need at least two classes" in captured.err
