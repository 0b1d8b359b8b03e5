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
