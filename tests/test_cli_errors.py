"""Every sub-command against a table of bad inputs.

For each case: exit status 2, exactly one line on stderr (``mmalign CMD: error: ...``) with no
traceback, no file created or changed in the working folder, nothing left in the temporary
folder. The calls run in-process (``mmalign.cli.main``), which is fast; a few run the real
command in a subprocess to see its actual stderr.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from mmalign.cli import main

TINY_DATA = ["--set", "data.n_train=16", "--set", "data.n_valid=8", "--set", "data.n_test=8"]
TINY_DATA += ["--set", "data.n_digits=2"]
TINY_MODEL = ["--set", "d_model=8", "--set", "n_heads=2", "--set", "n_layers=1"]


class _Evil:
    """Unpickling this would run a shell command."""

    def __reduce__(self):
        return (os.system, ("echo owned > owned.txt",))


def _write_inputs(d: Path) -> None:
    import soundfile as sf
    import torch

    rng = np.random.default_rng(0)
    (d / "folder").mkdir()
    (d / "afile").write_text("not a folder\n")
    for name in ("empty.npy", "empty.pkl", "empty.ckpt", "empty.npz", "empty.wav", "empty.json"):
        (d / name).write_bytes(b"")
    noise = rng.integers(0, 256, 300, dtype=np.uint8).tobytes()
    for name in ("random.npy", "random.pkl", "random.ckpt", "random.npz", "random.wav"):
        (d / name).write_bytes(noise)
    np.save(d / "x.npy", rng.normal(size=(20, 2)))
    np.save(d / "y3.npy", rng.normal(size=(15, 3)))
    np.save(d / "nan.npy", np.array([1.0, np.nan, 2.0]))
    np.save(d / "evil.npy", np.array([_Evil()], dtype=object), allow_pickle=True)
    (d / "words.csv").write_text("a,b\nx,y\n")
    good = pickle.dumps({"train": {"text": np.zeros((2, 3, 4))}})
    (d / "trunc.pkl").write_bytes(good[: len(good) // 2])
    with open(d / "evil.pkl", "wb") as fh:
        pickle.dump(_Evil(), fh)
    with open(d / "list.pkl", "wb") as fh:
        pickle.dump([1, 2, 3], fh)
    # a MulT pickle of other feature dims than the checkpoint's (mismatched data)
    mult = {
        s: {
            "text": rng.normal(size=(4, 5, 7)).astype(np.float32),
            "audio": rng.normal(size=(4, 6, 3)).astype(np.float32),
            "vision": rng.normal(size=(4, 5, 2)).astype(np.float32),
            "labels": rng.normal(size=(4, 1, 1)).astype(np.float32),
        }
        for s in ("train", "valid", "test")
    }
    with open(d / "other.pkl", "wb") as fh:
        pickle.dump(mult, fh)
    (d / "text.ckpt").write_text("hello\n")
    with open(d / "evil.ckpt", "wb") as fh:
        pickle.dump(_Evil(), fh)
    torch.save({"weights": torch.zeros(3)}, d / "tensor.ckpt")
    np.savez(d / "evil.npz", x=np.array([_Evil()], dtype=object))
    np.savez(d / "streams.npz", x=rng.normal(size=50), y=rng.normal(size=50))
    np.save(d / "single.npz", rng.normal(size=5))  # one array saved under an .npz name
    os.replace(d / "single.npz.npy", d / "single.npz")
    sf.write(d / "tone.wav", 0.1 * rng.normal(size=8000), 16000)
    (d / "words.txt").write_text("one two three\n", encoding="utf-8")
    (d / "broken.json").write_text('{"words": [')
    (d / "hyp.json").write_text('{"words": [{"label": "one", "start": 0.0, "end": 0.5}]}')
    (d / "notes.docx").write_text("not an alignment")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A folder with the bad inputs and one tiny training run (for wrong-model/-data cases)."""
    d = tmp_path_factory.mktemp("cli-errors")
    _write_inputs(d)
    cwd = os.getcwd()
    os.chdir(d)
    old = os.environ.get("MMALIGN_CACHE")
    os.environ["MMALIGN_CACHE"] = str(d / ".cache")
    try:
        rc = main(
            ["train", "--out", "run", "--quiet", "--set", "max_epochs=1"] + TINY_DATA + TINY_MODEL
        )
        assert rc == 0
    finally:
        os.chdir(cwd)
        if old is None:
            del os.environ["MMALIGN_CACHE"]
        else:
            os.environ["MMALIGN_CACHE"] = old
    return d


CKPT = "run/checkpoints/best.ckpt"

# (id, argv, words the one-line message must contain)
CASES = [
    # dtw
    ("dtw-missing", ["dtw", "nothere.npy", "x.npy"], ["nothere.npy", "not found"]),
    ("dtw-empty", ["dtw", "empty.npy", "x.npy"], ["empty.npy", "not a valid .npy"]),
    ("dtw-corrupted", ["dtw", "random.npy", "x.npy"], ["random.npy"]),
    ("dtw-malicious", ["dtw", "evil.npy", "x.npy"], ["evil.npy"]),
    ("dtw-folder", ["dtw", "folder", "x.npy"], ["folder"]),
    ("dtw-wrong-type", ["dtw", "tone.wav", "x.npy"], ["tone.wav", "extension"]),
    ("dtw-words", ["dtw", "words.csv", "x.npy"], ["words.csv", "numeric"]),
    ("dtw-nan", ["dtw", "nan.npy", "x.npy"], ["NaN"]),
    ("dtw-mismatched", ["dtw", "x.npy", "y3.npy"], ["same number of features"]),
    ("dtw-output-format", ["dtw", "x.npy", "x.npy", "-o", "out.docx"], ["out.docx", ".json"]),
    ("dtw-plot-format", ["dtw", "x.npy", "x.npy", "--plot", "p.docx"], ["p.docx", ".png"]),
    ("dtw-output-folder", ["dtw", "x.npy", "x.npy", "-o", "folder"], ["folder"]),
    ("dtw-band", ["dtw", "x.npy", "x.npy", "--band", "-3"], ["radius"]),
    ("dtw-usage", ["dtw", "x.npy"], ["required"]),
    # align-speech
    (
        "align-output-format",
        ["align-speech", "tone.wav", "words.txt", "-o", "out.docx"],
        ["out.docx", ".TextGrid"],
    ),
    (
        "align-output-folder",
        ["align-speech", "tone.wav", "words.txt", "-o", "folder"],
        ["folder"],
    ),
    (
        "align-missing-audio",
        ["align-speech", "nothere.wav", "words.txt", "-o", "o.json"],
        ["nothere.wav"],
    ),
    (
        "align-missing-text",
        ["align-speech", "tone.wav", "nothere.txt", "-o", "o.json"],
        ["nothere.txt"],
    ),
    (
        "align-empty-audio",
        ["align-speech", "empty.wav", "words.txt", "-o", "o.json"],
        ["empty.wav"],
    ),
    (
        "align-corrupted-audio",
        ["align-speech", "random.wav", "words.txt", "-o", "o.json"],
        ["random.wav"],
    ),
    (
        "align-ctc-malicious",
        [
            "align-speech",
            "evil.npy",
            "words.txt",
            "-o",
            "o.json",
            "--backend",
            "ctc",
            "--vocabulary",
            "words.txt",
        ],
        ["evil.npy"],
    ),  # fmt: skip
    ("align-corpus-missing", ["align-speech", "--corpus", "nothere", "-o", "out"], ["nothere"]),
    ("align-usage", ["align-speech", "tone.wav"], ["required"]),
    # eval-speech
    ("eval-speech-missing", ["eval-speech", "nothere.json", "hyp.json"], ["nothere.json"]),
    ("eval-speech-empty", ["eval-speech", "empty.json", "hyp.json"], ["empty.json"]),
    ("eval-speech-corrupted", ["eval-speech", "broken.json", "hyp.json"], ["broken.json"]),
    (
        "eval-speech-wrong-type",
        ["eval-speech", "notes.docx", "hyp.json"],
        ["notes.docx", ".TextGrid"],
    ),
    ("eval-speech-mismatched", ["eval-speech", "hyp.json", "folder"], ["folders"]),
    # train
    ("train-missing", ["train", "--data", "nothere.pkl", "--out", "new"], ["nothere.pkl"]),
    ("train-empty", ["train", "--data", "empty.pkl", "--out", "new"], ["empty.pkl", "truncated"]),
    ("train-truncated", ["train", "--data", "trunc.pkl", "--out", "new"], ["trunc.pkl"]),
    ("train-corrupted", ["train", "--data", "random.pkl", "--out", "new"], ["random.pkl"]),
    (
        "train-malicious",
        ["train", "--data", "evil.pkl", "--out", "new"],
        ["evil.pkl", "refusing", "system"],
    ),
    ("train-wrong-type", ["train", "--data", "list.pkl", "--out", "new"], ["list.pkl"]),
    ("train-folder", ["train", "--data", "folder", "--out", "new"], ["folder"]),
    (
        "train-data-options-on-file",
        ["train", "--data", "other.pkl", "--out", "new", "--set", "data.n_train=5"],
        ["takes no data.* options"],
    ),  # fmt: skip
    ("train-bad-model-option", ["train", "--set", "d_model=-3", "--out", "new"], ["d_model"]),
    ("train-unknown-key", ["train", "--set", "depth=3", "--out", "new"], ["depth"]),
    ("train-unknown-model", ["train", "--model", "bert", "--out", "new"], ["bert"]),
    (
        "train-model-of-another-task",
        ["train", "--model", "grounding", "--out", "new"],
        ["'grounding' trains on grounding data", "digits-av is a classification dataset"],
    ),
    (
        "train-data-of-another-task",
        ["train", "--model", "mult", "--data", "digit-scenes", "--out", "new"],
        ["digit-scenes is a grounding dataset", "Models for it: grounding"],
    ),
    (
        "train-digit-scenes-option",
        ["train", "--model", "grounding", "--data", "digit-scenes", "--set", "data.n_digits=2"],
        ["data.n_digits", "data.max_digits"],
    ),
    ("train-wrong-rate", ["train", "--set", "data.audio_fps=0", "--out", "new"], ["audio_fps"]),
    ("train-out-is-file", ["train", "--out", "afile"], ["afile", "not a folder"]),
    (
        "train-wrong-model",
        ["train", "--model", "lxmert", "--out", "run"],
        ["model: 'mult' -> 'lxmert'"],
    ),
    (
        "train-mismatched-data",
        ["train", "--out", "run", "--set", "data.n_train=20"] + TINY_MODEL,
        ["another run", "n_train: 16 -> 20"],
    ),
    ("train-precision", ["train", "--precision", "bogus", "--out", "new"], ["'bogus'", "Fix"]),
    ("train-strategy", ["train", "--strategy", "nonsense", "--out", "new"], ["nonsense"]),
    ("train-nothing-to-resume", ["train", "--out", "new", "--resume"], ["nothing to resume"]),
    # evaluate
    ("evaluate-missing", ["evaluate", "nothere.ckpt"], ["nothere.ckpt", "does not exist"]),
    ("evaluate-empty", ["evaluate", "empty.ckpt"], ["empty.ckpt", "not a checkpoint"]),
    ("evaluate-corrupted", ["evaluate", "random.ckpt"], ["random.ckpt", "not a checkpoint"]),
    ("evaluate-text", ["evaluate", "text.ckpt"], ["text.ckpt", "not a checkpoint"]),
    ("evaluate-malicious", ["evaluate", "evil.ckpt"], ["evil.ckpt", "not a checkpoint"]),
    ("evaluate-wrong-type", ["evaluate", "tensor.ckpt"], ["tensor.ckpt", "not a checkpoint"]),
    ("evaluate-folder", ["evaluate", "folder"], ["folder"]),
    ("evaluate-split", ["evaluate", CKPT, "--split", "validation"], ["validation", "valid"]),
    ("evaluate-train-option", ["evaluate", CKPT, "--set", "lr=1"], ["data.KEY"]),
    ("evaluate-out-is-file", ["evaluate", CKPT, "--out", "afile"], ["afile"]),
    ("evaluate-missing-data", ["evaluate", CKPT, "--data", "nothere.pkl"], ["nothere.pkl"]),
    (
        "evaluate-mismatched-data",
        ["evaluate", CKPT, "--data", "other.pkl", "--out", "ev"],
        ["input dims"],
    ),  # fmt: skip
    ("evaluate-wrong-rate", ["evaluate", CKPT, "--set", "data.audio_fps=0"], ["audio_fps"]),
    # connections
    (
        "connections-missing",
        ["connections", "--npz", "nothere.npz", "--x", "x", "--y", "y"],
        ["nothere.npz"],
    ),  # fmt: skip
    (
        "connections-empty",
        ["connections", "--npz", "empty.npz", "--x", "x", "--y", "y"],
        ["empty.npz"],
    ),  # fmt: skip
    (
        "connections-corrupted",
        ["connections", "--npz", "random.npz", "--x", "x", "--y", "y"],
        ["random.npz"],
    ),  # fmt: skip
    (
        "connections-malicious",
        ["connections", "--npz", "evil.npz", "--x", "x", "--y", "y"],
        ["evil.npz"],
    ),  # fmt: skip
    (
        "connections-wrong-type",
        ["connections", "--npz", "single.npz", "--x", "x", "--y", "y"],
        ["single.npz"],
    ),  # fmt: skip
    (
        "connections-key",
        ["connections", "--npz", "streams.npz", "--x", "x", "--y", "z"],
        ["'z'", "keys in the file"],
    ),  # fmt: skip
    (
        "connections-wrong-rate",
        ["connections", "--npz", "streams.npz", "--x", "x", "--y", "y", "--rate", "0"],
        ["--rate"],
    ),  # fmt: skip
    ("connections-out-is-file", ["connections", "--out", "afile"], ["afile"]),
    ("connections-x-without-npz", ["connections", "--x", "a"], ["--npz"]),
    # demo
    ("demo-out-is-file", ["demo", "--out", "afile", "--quick"], ["afile"]),
]


def _snapshot(root: Path) -> dict[str, str]:
    """Relative path -> content hash of every file under ``root`` (the digits-av cache aside)."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and ".cache" not in p.parts:
            out[str(p.relative_to(root))] = hashlib.sha1(p.read_bytes()).hexdigest()
    return out


@pytest.mark.parametrize("argv,words", [pytest.param(a, w, id=i) for i, a, w in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(
    argv, words, work, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(work)
    monkeypatch.setenv("MMALIGN_CACHE", str(work / ".cache"))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    before = _snapshot(work)
    rc = main(list(argv))
    out, err = capsys.readouterr()
    assert rc == 2, (rc, out, err)
    lines = err.splitlines()
    assert len(lines) == 1, err
    cmd = argv[0]
    assert lines[0].startswith(f"mmalign {cmd}: error: "), err
    assert "Traceback" not in err and "internal error" not in err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert "fmt=" not in lines[0]  # a library keyword the command line does not have
    assert _snapshot(work) == before  # nothing written, nothing changed
    assert not (work / "owned.txt").exists()  # and nothing unpickled ran
    assert list(scratch.iterdir()) == []  # nothing left in the temporary folder


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--data", "evil.pkl", "--out", "new"],
        ["evaluate", "evil.ckpt"],
        ["align-speech", "tone.wav", "words.txt", "-o", "out.docx"],
        ["dtw", "x.npy"],
    ],
    ids=["malicious-pickle", "malicious-checkpoint", "output-format", "usage"],
)
def test_real_command_prints_one_line(argv, work):
    env = {**os.environ, "MMALIGN_CACHE": str(work / ".cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "mmalign.cli", *argv],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert proc.stdout == ""


def test_gpu_asked_for_on_a_cpu_machine(work, monkeypatch, capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(work)
    before = _snapshot(work)
    assert main(["train", "--accelerator", "gpu", "--out", "new"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--accelerator cpu" in err, err
    assert _snapshot(work) == before


def test_a_bug_is_one_line_too_unless_asked(monkeypatch, capsys):
    import mmalign.explicit._cli as dtw_cli

    def broken(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(dtw_cli, "_run", broken)
    assert main(["dtw", "a.npy", "b.npy"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error RuntimeError: boom" in err
    monkeypatch.setenv("MMALIGN_TRACEBACK", "1")
    with pytest.raises(RuntimeError, match="boom"):
        main(["dtw", "a.npy", "b.npy"])
