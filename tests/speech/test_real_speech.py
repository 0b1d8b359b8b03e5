"""Loose accuracy checks on a few real recordings of ../shared/data/speech-dev.

A regression on real speech (not only on synthetic voices) fails here; the full measurement
is benchmarks/speech.py.
"""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from mmalign.speech import TranscriptMismatchWarning, align

SPEECH_DEV = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "speech-dev"
ITEMS = (
    "ProMo__carrots1",
    "autovot__cas7D_1054_25_1",
    "pocketsphinx__sense_and_sensibility_01_austen_64kb-0870",
    "praatIO__mary",
)
pytestmark = pytest.mark.skipif(
    not all((SPEECH_DEV / name).is_dir() for name in ITEMS),
    reason=f"real-speech items not found under {SPEECH_DEV} (the shared data folder is absent)",
)


@pytest.fixture(scope="module")
def items():
    from mmalign.speech.evalsets import speech_dev

    by_name = {it.name: it for it in speech_dev(SPEECH_DEV)}
    return [by_name[name] for name in ITEMS]


def test_default_backend_on_real_speech(items):
    from mmalign.speech.evalsets import edge_mask

    errs = []
    for it in items:
        a = align(it.audio, it.transcript, sample_rate=it.sample_rate)
        assert a.backend == "sphinx" and not a.unaligned and not a.info["mismatch"]
        e = np.array([t for w in a.words for t in (w.start, w.end)]) - np.array(
            [t for w in it.words for t in (w.start, w.end)]
        )
        errs.append(np.abs(e[edge_mask(it)]))
        again = align(it.audio, it.transcript, sample_rate=it.sample_rate)
        assert [(w.start, w.end) for w in again.words] == [(w.start, w.end) for w in a.words]
    e = np.concatenate(errs)
    # measured 12-13 ms and ~97 % on these items; the bounds catch a real regression
    assert e.mean() < 0.025, e.mean()
    assert np.mean(e <= 0.05) > 0.9


def test_transcript_of_other_speech_is_flagged(items, tmp_path, capsys):
    audio_item, text_item = items[2], items[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = align(audio_item.audio, text_item.transcript, sample_rate=16000)
    assert a.info["mismatch"], a.info
    assert any(issubclass(w.category, TranscriptMismatchWarning) for w in caught)

    import soundfile as sf

    from mmalign.cli import main

    sf.write(tmp_path / "a.wav", audio_item.audio, 16000)
    (tmp_path / "t.txt").write_text(text_item.transcript)
    out = tmp_path / "o.json"
    assert (
        main(["align-speech", str(tmp_path / "a.wav"), str(tmp_path / "t.txt"), "-o", str(out)])
        == 0
    )
    assert "does not seem to belong" in capsys.readouterr().err
    assert json.loads(out.read_text())["info"]["mismatch"] is True
    out.unlink()
    rc = main(
        [
            "align-speech",
            str(tmp_path / "a.wav"),
            str(tmp_path / "t.txt"),
            "-o",
            str(out),
            "--strict",
        ]
    )
    assert rc == 1 and not out.exists()
