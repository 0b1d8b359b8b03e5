import json

import pytest

from mmalign.cli import main
from mmalign.train._cli import split_overrides

DATA = [
    "--set",
    "data.n_train=16",
    "--set",
    "data.n_valid=8",
    "--set",
    "data.n_test=8",
    "--set",
    "data.n_digits=2",
]


def test_train_and_evaluate_commands(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["train", "--model", "mult", "--out", str(out), "--quiet", "--set", "max_epochs=1"]
    args += ["--set", "d_model=8", "--set", "model.n_heads=2", "--set", "n_layers=1", *DATA]
    assert main(args) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["model_options"]["d_model"] == 8 and doc["train_config"]["max_epochs"] == 1
    assert "accuracy" in capsys.readouterr().out
    ckpt = out / "checkpoints" / "best.ckpt"
    assert main(["evaluate", str(ckpt), "--out", str(tmp_path / "ev"), *DATA]) == 0
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert ev["metrics"]["accuracy"] == pytest.approx(doc["metrics"]["accuracy"])
    assert (tmp_path / "ev" / "alignment" / "text_from_vision.png").is_file()


def test_unknown_set_key_is_an_error(capsys):
    with pytest.raises(ValueError, match="Unknown --set key 'depth'"):
        split_overrides(["depth=3"], "mult")
    with pytest.raises(ValueError, match="expects KEY=VALUE"):
        split_overrides(["lr"], "mult")
    train, model, data = split_overrides(
        ["lr=3e-4", "kernel_sizes=3", "data.rate_range=[150, 200]", "progress_bar=false"], "mult"
    )
    assert train == {"lr": 3e-4, "progress_bar": False}
    assert model == {"kernel_sizes": 3} and data == {"rate_range": (150, 200)}
    assert main(["train", "--set", "depth=3"]) == 2
    assert "Unknown --set key" in capsys.readouterr().err
