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


def _assert_phones_fill_words(a) -> None:
    """Every phone lies inside an aligned word, and each word with phones starts with its
    first phone and ends with its last (after edge refinement moved the word edges)."""
    words = [w for w in a.words if w.aligned]
    assert a.phones
    for p in a.phones:
        assert any(w.start - 1e-9 <= p.start <= p.end <= w.end + 1e-9 for w in words), p
    for w in words:
        inside = [p for p in a.phones if w.start - 1e-9 <= p.start and p.end <= w.end + 1e-9]
        if inside:
            assert abs(inside[0].start - w.start) < 1e-9 and abs(inside[-1].end - w.end) < 1e-9


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
        _assert_phones_fill_words(a)
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


def test_anchored_path_on_real_speech_reports_a_word_the_audio_lacks():
    """Three real items end to end, aligned stretch by stretch (long_seconds=5): with the
    matching transcript, with a word the audio does not hold, with a word repeated."""
    from mmalign.speech import Span, SphinxConfig, speech_dev
    from mmalign.speech.evaluate import boundary_errors

    by_name = {it.name: it for it in speech_dev(SPEECH_DEV)}
    names = (
        "pocketsphinx__sense_and_sensibility_01_austen_64kb-0870",
        "ProMo__carrots1",
        "autovot__cas7D_1054_25_1",
    )
    audio, ref, off = [], [], 0.0
    for name in names:
        it = by_name[name]
        audio.append(it.audio)
        ref += [Span(w.label, w.start + off, w.end + off) for w in it.words]
        off += it.duration
    audio = np.concatenate(audio)
    words = [w.label for w in ref]
    cfg = SphinxConfig(long_seconds=5)
    plain = align(audio, " ".join(words), sample_rate=16000, options=cfg)
    assert plain.info["anchored"] and plain.info["stretches"] >= 2
    assert not plain.unaligned and not plain.info["mismatch"]
    edited = words[:12] + ["tomorrow"] + words[12:]
    a = align(audio, " ".join(edited), sample_rate=16000, options=cfg)
    assert [u["word"] for u in a.unaligned] == ["tomorrow"], a.unaligned
    assert "not in the audio" in a.unaligned[0]["reason"]
    assert not np.isfinite(a.words[12].start)
    # a repeated word the audio holds once ("consider consider"): one copy comes back unaligned
    k = words.index("consider")
    repeated = align(audio, " ".join(words[: k + 1] + words[k:]), sample_rate=16000, options=cfg)
    assert [u["word"] for u in repeated.unaligned] == ["consider"], repeated.unaligned
    assert "repeats the next word" in repeated.unaligned[0]["reason"]
    for result in (plain, a, repeated):
        _assert_phones_fill_words(result)
        r = boundary_errors([w for w in result.words if w.aligned], ref)
        assert r.n_unmatched == 0 and r.mae < 0.025 and r.within[0.05] > 0.9, r.summary()
