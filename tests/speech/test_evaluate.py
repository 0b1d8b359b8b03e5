import numpy as np
import pytest

from mmalign.speech import Span, SpeechAlignment
from mmalign.speech.evaluate import boundary_errors


def test_hand_computed_errors():
    ref = [("a", 0.0, 1.0), ("b", 1.0, 2.0)]
    hyp = [("a", 0.01, 1.03), ("b", 1.2, 2.0)]
    r = boundary_errors(hyp, ref)
    assert r.n_boundaries == 4
    np.testing.assert_allclose(r.errors, [0.01, 0.03, 0.2, 0.0], atol=1e-12)
    assert r.mae == pytest.approx(0.06)
    assert r.median == pytest.approx(0.02)
    assert r.within[0.02] == pytest.approx(0.5)
    assert r.within[0.05] == pytest.approx(0.75)
    assert "MAE" in r.summary()


def test_label_mismatch_pairs_by_lcs():
    ref = SpeechAlignment(words=[Span("one", 0, 1), Span("two", 1, 2), Span("three", 2, 3)])
    hyp = SpeechAlignment(words=[Span("One,", 0, 1), Span("three", 2.1, 3)])
    r = boundary_errors(hyp, ref)
    assert r.n_unmatched == 1 and r.n_boundaries == 4
    assert r.mae == pytest.approx(0.025)


def test_errors():
    with pytest.raises(ValueError, match="ref holds no words"):
        boundary_errors([("a", 0, 1)], [])
    with pytest.raises(TypeError, match="hyp must be"):
        boundary_errors(3, [("a", 0, 1)])
