import numpy as np
import pytest

from mmalign.speech.evalsets import espeak_sentences, fsdd_digit_strings
from mmalign.speech.evaluate import boundary_errors
from mmalign.speech.features import frame_energy_db
from mmalign.speech.tts_dtw import align_tts_dtw


@pytest.mark.shared
def test_fsdd_strings_truth_is_clip_edges(fsdd_root):
    items = fsdd_digit_strings(fsdd_root, n_items=3, n_digits=(3, 4), seed=7)
    again = fsdd_digit_strings(fsdd_root, n_items=3, n_digits=(3, 4), seed=7)
    assert [i.transcript for i in items] == [i.transcript for i in again]
    for it in items:
        words = it.transcript.split()
        assert 3 <= len(words) <= 4 and [w.label for w in it.words] == words
        sr = it.sample_rate
        for a, b in zip(it.words[:-1], it.words[1:]):
            assert a.end <= b.start
            # pauses are digital silence, words are not
            gap = it.audio[int(a.end * sr) + 1 : int(b.start * sr) - 1]
            assert not np.any(gap)
        assert np.abs(it.audio[int(it.words[0].start * sr) : int(it.words[0].end * sr)]).max() > 0
        assert not np.any(it.audio[: int(it.words[0].start * sr) - 1])


@pytest.mark.shared
def test_tts_dtw_on_fsdd_digits(fsdd_root):
    items = fsdd_digit_strings(fsdd_root, n_items=4, seed=11)
    errs = np.concatenate(
        [boundary_errors(align_tts_dtw(i.audio, i.transcript), i.words).errors for i in items]
    )
    assert np.mean(np.abs(errs)) < 0.06
    assert np.mean(np.abs(errs) <= 0.05) >= 0.8


@pytest.mark.shared
def test_fsdd_noise_option(fsdd_root):
    clean = fsdd_digit_strings(fsdd_root, n_items=1, seed=3)[0]
    noisy = fsdd_digit_strings(fsdd_root, n_items=1, seed=3, noise_snr_db=10)[0]
    assert clean.transcript == noisy.transcript
    e_clean, e_noisy = frame_energy_db(clean.audio), frame_energy_db(noisy.audio)
    assert np.percentile(e_noisy, 5) > np.percentile(e_clean, 5) + 50


def test_espeak_sentences_use_other_voices():
    items = espeak_sentences(n_items=3, seed=0)
    assert len({i.meta["voice"] for i in items} | {"en"}) >= 2
    for it in items:
        assert it.meta["voice"] != "en"
        assert len(it.words) == len(it.transcript.split())
        assert it.words[0].start > 0.09 and it.words[-1].end < it.duration
