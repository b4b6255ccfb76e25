"""`lstm export` on conflicting outputs and on models --onnx does not take: one line, exit 2, nothing written or
replaced; and an output path under a file, refused in one line by the exporters themselves."""

import numpy as np
import pytest

import lstm
from lstm.cli import main
from lstm.models import LSTMClassifier
from cli_run import one_line

pytest.importorskip("onnx")

@pytest.fixture
def classifier(tmp_path):
    seqs = [np.arange(k, k + 4.0)[:, None] for k in range(4)]
    model = LSTMClassifier(hidden_size=4, epochs=1, val_fraction=0).fit(seqs, np.array(["a", "b"] * 2))
    return lstm.save(model, tmp_path / "classifier.safetensors")


@pytest.mark.parametrize("second", ["same.out", "./same.out", "sub/../same.out"])
def test_both_outputs_naming_one_file_are_refused_before_anything_is_written(language_model, tmp_path, capsys,
                                                                             second):
    (tmp_path / "sub").mkdir()
    out = tmp_path / "same.out"
    out.write_bytes(b"keep me")
    assert main(["export", str(language_model), "--onnx", str(out), "--torch-safetensors",
                 str(tmp_path / second)]) == 2
    err = one_line(capsys)
    assert "--onnx and --torch-safetensors both name" in err and "give each its own name" in err
    assert out.read_bytes() == b"keep me"


def test_both_outputs_may_be_one_device(language_model, capsys):
    assert main(["export", str(language_model), "--onnx", "/dev/null", "--torch-safetensors", "/dev/null",
                 "--no-check"]) == 0
    assert capsys.readouterr().out.count("wrote /dev/null") == 2


def test_a_model_onnx_does_not_take_is_refused_with_the_option_that_does(classifier, tmp_path, capsys):
    pt = tmp_path / "c-torch.safetensors"
    assert main(["export", str(classifier), "--onnx", str(tmp_path / "c.onnx"), "--torch-safetensors",
                 str(pt)]) == 2
    err = one_line(capsys)
    assert "holds an LSTMClassifier, which --onnx cannot export" in err
    assert "LSTMForecaster, LanguageModel" in err and "--torch-safetensors writes its weights" in err
    assert not (tmp_path / "c.onnx").exists() and not pt.exists()
    assert main(["export", str(classifier), "--torch-safetensors", str(pt)]) == 0   # what the message offers
    assert pt.exists()


def test_logits_is_refused_for_anything_but_a_language_model(classifier, language_model, tmp_path, capsys):
    from lstm.models import LSTMForecaster

    src = lstm.save(LSTMForecaster(horizon=2, steps=2, hidden_size=4).fit(np.sin(np.arange(30.0))),
                    tmp_path / "f.safetensors")
    assert main(["export", str(src), "--onnx", str(tmp_path / "f.onnx"), "--logits", "--no-check"]) == 2
    err = one_line(capsys)
    assert "--logits applies to language models" in err and "an LSTMForecaster" in err
    assert "leave out --logits" in err and "cannot be exported" not in err
    assert not (tmp_path / "f.onnx").exists()
    assert main(["export", str(language_model), "--onnx", str(tmp_path / "m.onnx"), "--logits", "--no-check"]) == 0
    assert "outputs probs, logits, h_n, c_n" in capsys.readouterr().out


def test_writing_under_a_file_is_one_clear_error(language_model, tmp_path):
    blocker = tmp_path / "notes.txt"
    blocker.write_text("a file, not a folder\n")
    model = lstm.load(language_model)
    for target in (blocker / "m.onnx", blocker / "deeper" / "m.onnx"):
        with pytest.raises(NotADirectoryError, match=r"cannot write .*notes\.txt.* is a file, not a folder"):
            lstm.io.to_onnx(model, target)
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        lstm.save(model, blocker / "m.safetensors")
    assert blocker.read_text() == "a file, not a folder\n"
