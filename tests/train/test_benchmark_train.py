"""benchmarks/train.py on tiny data: the controls train on their own audio frame rate."""

import importlib.util
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_controls_use_the_control_audio_rate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MMALIGN_CACHE", str(tmp_path / "cache"))
    spec = importlib.util.spec_from_file_location("bench_train", REPO / "benchmarks" / "train.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "out"
    argv = ["train.py", "--quick", "--models", "mult", "--labels", "ink_pair", "--controls"]
    argv += ["vision", "--modalities", "text,vision", "--pretrain-epochs", "0", "--threads", "1"]
    argv += ["--control-audio-fps", "20", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", argv)
    bench.main()
    rows = json.loads((out / "train.json").read_text())["rows"]
    # the headline row has no audio; the control (text + audio) reads it at 20 frames/s
    assert sorted((r["modalities"], r["audio_fps"]) for r in rows) == [
        ("text+audio", 20),
        ("text+vision", None),
    ]
    table = capsys.readouterr().out
    assert "| ink_pair | mult | text+audio (audio 20/s) |" in table
    assert "audio 100 frames/s (controls 20)" in table
