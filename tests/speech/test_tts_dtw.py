import numpy as np
import pytest

from mmalign.speech import Span
from mmalign.speech.evaluate import boundary_errors
from mmalign.speech.features import FRAME_RATE, energy_vad, mfcc_features, speech_segments
from mmalign.speech.tts import synthesize
from mmalign.speech.tts_dtw import TTSDTWConfig, align_tts_dtw, snap_to_pauses

SR = 16000
TEXT = "the birch canoe slid on the smooth planks"


@pytest.fixture(scope="module")
def other_voice():
    """The sentence in a voice, rate and pitch unlike the aligner's template, with silences."""
    s = synthesize(TEXT, voice="en-us+f2", rate=140, pitch=70, sample_rate=SR)
    lead, tail = np.zeros(int(0.7 * SR), np.float32), np.zeros(int(0.4 * SR), np.float32)
    audio = np.concatenate([lead, s.samples, tail])
    truth = [Span(w, a + 0.7, b + 0.7) for w, a, b in s.words]
    return audio, truth


def test_features_shapes_and_normalisation():
    rng = np.random.default_rng(0)
    y = rng.normal(size=SR).astype(np.float32) * 0.1
    f = mfcc_features(y, SR)
    assert f.shape == (1 + SR // 160, 26)
    np.testing.assert_allclose(f.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(f.std(0), 1, atol=1e-3)
    assert mfcc_features(y, SR, deltas=False, n_mfcc=12).shape[1] == 12


def test_vad_and_segments_find_planted_speech():
    rng = np.random.default_rng(1)
    y = np.zeros(2 * SR, np.float32)
    y[int(0.5 * SR) : int(0.9 * SR)] = rng.normal(size=int(0.4 * SR)) * 0.3
    y[int(1.3 * SR) : int(1.5 * SR)] = rng.normal(size=int(0.2 * SR)) * 0.3
    y += rng.normal(size=len(y)).astype(np.float32) * 1e-4
    mask = energy_vad(y, SR, pad=0.0)
    assert mask[60:85].all() and not mask[:45].any() and not mask[100:125].any()
    seg = speech_segments(y, SR)
    np.testing.assert_allclose(seg, [[0.5, 0.9], [1.3, 1.5]], atol=0.004)
    assert len(mask) == 1 + len(y) // (SR // FRAME_RATE)


def test_snap_to_pauses_moves_boundaries_onto_gaps():
    words = [Span("a", 0.12, 0.55), Span("b", 0.55, 1.0), Span("c", 1.0, 1.4)]
    segments = np.array([[0.1, 0.5], [0.62, 0.98], [1.02, 1.5]])
    paired = snap_to_pauses(words, segments, tol=0.25)
    assert paired == [0, 1]
    assert [(w.start, w.end) for w in words] == [(0.1, 0.5), (0.62, 0.98), (1.02, 1.5)]
    # a gap far from every boundary stays inside its word
    words = [Span("a", 0.0, 1.0), Span("b", 1.0, 2.0)]
    assert snap_to_pauses(words, np.array([[0.0, 0.4], [0.5, 1.95]]), tol=0.1) == []
    assert (words[0].end, words[1].start) == (1.0, 1.0)


def test_align_other_voice_within_50ms(other_voice):
    audio, truth = other_voice
    a = align_tts_dtw(audio, TEXT)
    assert [w.label for w in a.words] == TEXT.split()
    r = boundary_errors(a, truth)
    assert r.mae < 0.03 and r.within[0.05] >= 0.9, r.summary()
    assert a.words[0].start > 0.6  # the leading silence is skipped
    starts = [w.start for w in a.words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in a.words)
    assert a.phones and all(0 <= p.start <= p.end <= a.duration for p in a.phones)
    assert 0 < np.nanmean([w.score for w in a.words]) <= 1


def test_beyond_plain_recipe(other_voice):
    audio, truth = other_voice
    plain = TTSDTWConfig(voices=("",), rate=175, silence="keep", snap=0, step_pattern="symmetric2")
    ours = boundary_errors(align_tts_dtw(audio, TEXT), truth).mae
    base = boundary_errors(align_tts_dtw(audio, TEXT, config=plain), truth).mae
    assert ours < base


def test_long_mode_in_chunks(other_voice):
    audio, truth = other_voice
    # 3 copies, aligned in chunks of ~4 s of template
    text = " ".join([TEXT] * 3)
    dur = len(audio) / SR
    long_audio = np.concatenate([audio] * 3)
    ref = [Span(w.label, w.start + k * dur, w.end + k * dur) for k in range(3) for w in truth]
    cfg = TTSDTWConfig(chunk_seconds=4.0)
    a = align_tts_dtw(long_audio, text, config=cfg)
    assert a.info["chunks"] >= 3
    r = boundary_errors(a, ref)
    assert len(a.words) == 24 and r.within[0.05] >= 0.8, r.summary()


def test_config_validation():
    with pytest.raises(ValueError, match="Unknown silence 'mute'"):
        TTSDTWConfig(silence="mute")
    with pytest.raises(ValueError, match="Unknown step_pattern"):
        TTSDTWConfig(step_pattern="asymmetric")
    with pytest.raises(ValueError, match="rate must be 'auto'"):
        TTSDTWConfig(rate=20)
    with pytest.raises(TypeError, match="voices must be a tuple"):
        TTSDTWConfig(voices="+f3")
    assert TTSDTWConfig(voices=["", "+m3"]).voices == ("", "+m3")


def test_open_ends_ignore_untranscribed_speech_after_the_text(other_voice):
    audio, truth = other_voice
    extra = synthesize(
        "rice is often served in round bowls", voice="en-us+f2", rate=140, pitch=70, sample_rate=SR
    )
    longer = np.concatenate([audio, extra.samples])
    closed = boundary_errors(align_tts_dtw(longer, TEXT), truth)
    opened = boundary_errors(
        align_tts_dtw(longer, TEXT, config=TTSDTWConfig(open_ends=True)), truth
    )
    assert opened.within[0.05] >= 0.8, opened.summary()
    assert opened.mae < closed.mae
