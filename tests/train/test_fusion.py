"""Decision-level fusion with stream weights (mmalign.train.fusion)."""

import numpy as np
import pytest
from scipy.special import log_softmax

from mmalign.train import choose_stream_weights, late_fusion


def test_late_fusion_hand_computed():
    a = np.log([[0.6, 0.4], [0.9, 0.1]])
    v = np.log([[0.1, 0.9], [0.5, 0.5]])
    # all weight on one stream: that stream's own log-posteriors
    np.testing.assert_allclose(late_fusion({"a": a, "v": v}, {"a": 1.0, "v": 0.0}), a)
    # equal weights: the normalised geometric mean of the two posteriors
    got = np.exp(late_fusion({"a": a, "v": v}, {"a": 0.5, "v": 0.5}))
    geo = np.sqrt([[0.06, 0.36], [0.45, 0.05]])
    np.testing.assert_allclose(got, geo / geo.sum(1, keepdims=True))
    np.testing.assert_allclose(got.sum(1), 1.0)


def test_late_fusion_takes_logits_of_any_offset():
    rng = np.random.default_rng(0)
    za, zv = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    w = {"audio": 0.7, "video": 0.3}
    shifted = late_fusion({"audio": za + 3.0, "video": zv - 1.0}, w)
    np.testing.assert_allclose(shifted, late_fusion({"audio": za, "video": zv}, w))
    np.testing.assert_allclose(
        shifted, log_softmax(0.7 * log_softmax(za, 1) + 0.3 * log_softmax(zv, 1), 1)
    )


def test_choose_stream_weights_finds_the_weak_streams_help():
    # 200 samples, 4 classes: audio is right on the first 150 but only just (its margin is
    # small); video is noisy but carries the class everywhere
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 200)
    za = rng.normal(0, 0.1, (200, 4))
    zv = rng.normal(0, 0.5, (200, 4))
    za[np.arange(150), y[:150]] += 1.0
    za[np.arange(150, 200), (y[150:] + 1) % 4] += 0.3  # audio wrong on the last 50, barely
    zv[np.arange(200), y] += 0.5
    scores = {"audio": za, "video": zv}
    audio_alone = (za.argmax(1) == y).mean()
    got = choose_stream_weights(scores, y)
    assert len(got.grid) == 21 and sum(got.weights.values()) == pytest.approx(1.0)
    assert 0 < got.weights["video"] < 1
    assert got.accuracy > audio_alone and got.accuracy > (zv.argmax(1) == y).mean()
    # the reported accuracy is the fusion's with the chosen weights
    fused = late_fusion(scores, got.weights)
    assert got.accuracy == pytest.approx((fused.argmax(1) == y).mean())
    # three streams: the grid covers the simplex (231 points at step 0.05)
    three = choose_stream_weights({**scores, "x": zv[::-1].copy()}, y)
    assert len(three.grid) == 231 and three.accuracy >= got.accuracy


def test_fusion_errors():
    z = np.zeros((3, 2))
    with pytest.raises(ValueError, match="at least two stream"):
        late_fusion({"a": z}, {"a": 1.0})
    with pytest.raises(ValueError, match="same shape"):
        late_fusion({"a": z, "v": np.zeros((3, 4))}, {"a": 0.5, "v": 0.5})
    with pytest.raises(ValueError, match="NaN or inf"):
        late_fusion({"a": z, "v": np.full((3, 2), np.nan)}, {"a": 0.5, "v": 0.5})
    with pytest.raises(ValueError, match="must name the streams"):
        late_fusion({"a": z, "v": z}, {"a": 1.0})
    with pytest.raises(ValueError, match="sum to 1"):
        late_fusion({"a": z, "v": z}, {"a": 0.7, "v": 0.7})
    with pytest.raises(ValueError, match="class indices"):
        choose_stream_weights({"a": z, "v": z}, [0, 1, 2])
    with pytest.raises(ValueError, match="step must divide 1"):
        choose_stream_weights({"a": z, "v": z}, [0, 1, 0], step=0.3)
