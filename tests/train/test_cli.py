import json
import os

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


def test_train_and_evaluate_commands(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "run"
    args = ["train", "--model", "mult", "--out", str(out), "--quiet", "--set", "max_epochs=1"]
    args += ["--set", "d_model=8", "--set", "model.n_heads=2", "--set", "n_layers=1", *DATA]
    assert main(args) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["model_options"]["d_model"] == 8 and doc["train_config"]["max_epochs"] == 1
    stdout, stderr = capfd.readouterr()
    assert "accuracy" in stdout
    # one line per epoch with the time elapsed and left; no Lightning tips or warnings
    assert "epoch   1/1  train loss" in stdout and "elapsed 0:" in stdout and "left ~" in stdout
    assert "Tip" not in stdout + stderr and "LeafSpec" not in stderr, stderr
    assert "GPU available" not in stdout + stderr
    ckpt = out / "checkpoints" / "best.ckpt"
    # every file follows the umask, as any other tool's would (not mkstemp's 0600)
    mask = os.umask(0o022)
    os.umask(mask)
    for f in (out / "metrics.json", ckpt, out / "alignment" / "text_from_vision.png"):
        assert f.stat().st_mode & 0o777 == 0o666 & ~mask, f
    # the checkpoint's own data (the 8 test samples trained for), not digits-av's defaults
    assert main(["evaluate", str(ckpt), "--out", str(tmp_path / "ev")]) == 0
    stdout = capfd.readouterr().out
    assert "data: digits-av with the options it was trained on" in stdout
    ev = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert ev["metrics"]["n"] == 8 == doc["metrics"]["n"]
    assert ev["metrics"]["accuracy"] == pytest.approx(doc["metrics"]["accuracy"])
    assert ev["data"]["options"]["n_test"] == 8
    assert (tmp_path / "ev" / "alignment" / "text_from_vision.png").is_file()
    # without --out: RUN/evaluation; a checkpoint copied elsewhere: evaluation/ beside it
    assert main(["evaluate", str(ckpt)]) == 0 and (out / "evaluation" / "metrics.json").is_file()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "mine.ckpt").write_bytes(ckpt.read_bytes())
    assert main(["evaluate", str(tmp_path / "elsewhere" / "mine.ckpt")]) == 0
    assert (tmp_path / "elsewhere" / "evaluation" / "metrics.json").is_file()
    assert not (tmp_path / "evaluation").exists()
    capfd.readouterr()
    # one data option changed on purpose, said so
    more = ["evaluate", str(ckpt), "--out", str(tmp_path / "ev2"), "--set", "data.n_test=12"]
    assert main(more) == 0
    assert "except data.n_test=12 (trained with 8)" in capfd.readouterr().out
    assert json.loads((tmp_path / "ev2" / "metrics.json").read_text())["metrics"]["n"] == 12
    # training again with the same options continues the run (more epochs) and says so
    again = args[:]
    again[again.index("max_epochs=1")] = "max_epochs=2"
    assert main(again) == 0
    assert "resuming the run in" in capfd.readouterr().out
    assert [r["epoch"] for r in json.loads((out / "metrics.json").read_text())["history"]] == [1, 2]


def test_evaluate_help_offers_only_what_evaluate_takes(capsys):
    assert main(["evaluate", "--help"]) == 0
    text = capsys.readouterr().out
    assert "data.KEY=VALUE" in text and "data.n_test" in text
    for train_only in ("d_model", "lr_schedule", "max_epochs", "model.KEY"):
        assert train_only not in text, train_only


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


def test_evaluate_finds_the_pickle_it_was_trained_on(tmp_path, monkeypatch, capsys):
    import pickle

    import numpy as np

    rng = np.random.default_rng(0)
    obj = {
        split: {
            **{
                m: rng.normal(size=(n, t, d)).astype(np.float32)
                for m, t, d in (("text", 5, 4), ("audio", 7, 3), ("vision", 6, 2))
            },
            "labels": rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32),
        }
        for split, n in (("train", 12), ("valid", 6), ("test", 6))
    }
    data = tmp_path / "mosi_data.pkl"
    data.write_bytes(pickle.dumps(obj))
    monkeypatch.chdir(tmp_path)
    args = ["train", "--data", str(data), "--out", "run", "--quiet", "--set", "max_epochs=1"]
    assert main(args + ["--set", "d_model=8", "--set", "n_heads=2", "--set", "n_layers=1"]) == 0
    capsys.readouterr()
    assert main(["evaluate", "run/checkpoints/best.ckpt", "--out", "ev"]) == 0
    assert f"data: {data.resolve()}, as in training" in capsys.readouterr().out
    assert json.loads((tmp_path / "ev" / "metrics.json").read_text())["metrics"]["n"] == 6
    data.rename(tmp_path / "moved.pkl")
    assert main(["evaluate", "run/checkpoints/best.ckpt", "--out", "ev2"]) == 2
    err = capsys.readouterr().err
    assert "no longer exists; pass --data FILE" in err and not (tmp_path / "ev2").exists()
    assert (
        main(["evaluate", "run/checkpoints/best.ckpt", "--data", "moved.pkl", "--out", "ev2"]) == 0
    )
    assert "data: moved.pkl (the checkpoint was trained on" in capsys.readouterr().out


def test_pretrain_then_train_from_its_weights(tmp_path, monkeypatch, capfd):
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path / "cache"))
    small = ["--set", "d_model=8", "--set", "n_heads=2", "--set", "max_epochs=1", "--quiet", *DATA]
    assert main(["pretrain", "--out", str(tmp_path / "pre"), *small]) == 0
    doc = json.loads((tmp_path / "pre" / "metrics.json").read_text())
    assert doc["train_config"]["objectives"] == ["matching", "masked"]
    assert "matching_acc" in doc["metrics"] and "accuracy" not in doc["metrics"]
    stdout, _ = capfd.readouterr()
    assert "masked_text_acc" in stdout
    ckpt = str(tmp_path / "pre" / "checkpoints" / "best.ckpt")
    fine = ["train", "--out", str(tmp_path / "fine"), "--set", f"init_from={ckpt}", *small]
    assert main(fine) == 0
    doc = json.loads((tmp_path / "fine" / "metrics.json").read_text())
    assert doc["train_config"]["init_from"] == ckpt and "accuracy" in doc["metrics"]
    # a missing checkpoint, or another model's: one line naming the problem, exit 2
    capfd.readouterr()
    missing = ["train", "--out", str(tmp_path / "x"), "--set", "init_from=nope.ckpt", *small]
    assert main(missing) == 2
    assert "checkpoint 'nope.ckpt' does not exist" in capfd.readouterr().err
    other = ["train", "--out", str(tmp_path / "y"), "--set", f"init_from={ckpt}"]
    other += [
        "--set",
        "d_model=12",
        "--set",
        "n_heads=2",
        "--set",
        "max_epochs=1",
        "--quiet",
        *DATA,
    ]
    assert main(other) == 2
    err = capfd.readouterr().err
    assert "holds another model: d_model 8 (this run: 12)" in err and "Traceback" not in err
