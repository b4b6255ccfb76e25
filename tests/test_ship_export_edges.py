"""`lstm export`, second pass: the same model gives the same bytes, and a failed write is one line that names
the output and leaves what was there."""

import errno


from lstm.cli import main
from lstm.io import safefile
from cli_run import one_line

def test_torch_safetensors_exports_of_one_model_are_byte_identical(language_model, tmp_path, capsys):
    """safetensors writes its metadata (format, lstm.model, lstm.vocab) in hash order, different call to call."""
    outs = []
    for i in range(6):
        out = tmp_path / f"torch-{i}.safetensors"
        assert main(["export", str(language_model), "--torch-safetensors", str(out)]) == 0
        outs.append(out.read_bytes())
    capsys.readouterr()
    assert len(set(outs)) == 1
    from safetensors import safe_open

    with safe_open(str(tmp_path / "torch-0.safetensors"), "np") as fh:    # still a valid file, metadata intact
        meta = fh.metadata()
        assert meta["format"] == "pt" and "LanguageModel" in meta["lstm.model"]
        assert "rnn.weight_ih_l0" in fh.keys()


def test_a_full_disk_is_one_line_naming_the_output_and_the_old_file_stays(language_model, tmp_path, capsys,
                                                                          monkeypatch):
    out = tmp_path / "torch.safetensors"
    out.write_bytes(b"previous export")

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(safefile.os, "fsync", full)
    assert main(["export", str(language_model), "--torch-safetensors", str(out)]) == 2
    err = one_line(capsys)
    assert err.startswith("lstm export: error:") and f"cannot write {out}: No space left on device" in err
    assert out.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.safetensors", "torch.safetensors"]
