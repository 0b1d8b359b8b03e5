import numpy as np
import pytest

from mmalign.speech.evaluate import boundary_errors
from mmalign.speech.sphinx import align_sphinx, espeak_to_arpabet
from mmalign.speech.tts import synthesize


def test_arpabet_mapping():
    assert espeak_to_arpabet("h @ l 'oU") == "HH AH L OW"
    assert espeak_to_arpabet("k 'a t") == "K AE T"
    assert espeak_to_arpabet("tS 'i: z") == "CH IY Z"


def test_align_with_oov_word():
    text = "the mmalign toolkit aligns speech"
    s = synthesize(text, voice="en-us", sample_rate=16000)
    audio = np.concatenate([np.zeros(8000, np.float32), s.samples])
    a = align_sphinx(audio, text)
    assert [w.label for w in a.words] == text.split()
    r = boundary_errors(a, [(w, b + 0.5, e + 0.5) for w, b, e in s.words])
    assert r.mae < 0.08, r.summary()
    assert a.phones and a.phones[0].label in {"DH", "D"}


def test_non_english_is_refused():
    with pytest.raises(ValueError, match="US English model only"):
        align_sphinx(np.zeros(16000, np.float32), "hallo", language="de")


def test_phones_are_fitted_to_the_refined_word_edges():
    from mmalign.speech import Span
    from mmalign.speech.sphinx import fit_phones_to_words

    words = [Span("a", 0.10, 0.40), Span("b", float("nan"), float("nan")), Span("c", 0.5, 0.52)]
    phones = [
        Span("AH", 0.08, 0.20),  # starts before the refined word start
        Span("B", 0.20, 0.33),
        Span("K", 0.33, 0.45),  # ends in the pause after it
        Span("X", 0.9, 1.0),  # an unaligned word's phone: left alone
        Span("S", 0.45, 0.50),  # a short word: clipping would collapse its inner phones
        Span("IY", 0.50, 0.55),
        Span("Z", 0.55, 0.60),
    ]
    fit_phones_to_words(words, phones, [0, 0, 0, 1, 2, 2, 2])
    assert [(p.start, p.end) for p in phones[:3]] == [(0.10, 0.20), (0.20, 0.33), (0.33, 0.40)]
    assert (phones[3].start, phones[3].end) == (0.9, 1.0)
    # linear: the pass's 0.45-0.60 onto the word's 0.50-0.52, in the same proportions
    assert np.allclose(
        [p.start for p in phones[4:]] + [phones[-1].end],
        [0.50, 0.50 + 0.02 / 3, 0.50 + 0.04 / 3, 0.52],
    )
    with pytest.raises(ValueError, match="owners"):
        fit_phones_to_words(words, phones, [0])
