import numpy as np
import pytest

from mmalign.data.digit_scenes import (
    DIGIT_OFFSET,
    VOCAB,
    DigitScenesConfig,
    make_digit_scenes,
)


@pytest.fixture(scope="module")
def scenes():
    return make_digit_scenes(n_scenes=60, seed=5)


def test_shapes_and_masks(scenes):
    n = 60
    assert scenes.images.shape == (n, 64, 64) and scenes.images.dtype == np.float32
    assert scenes.region_features.shape == (n, 5, 68)
    counts = scenes.region_mask.sum(1)
    assert counts.min() >= 2 and counts.max() <= 5
    assert np.all(scenes.boxes[~scenes.region_mask] == -1)
    assert np.all(scenes.region_features[~scenes.region_mask] == 0)
    assert np.array_equal(scenes.token_mask, scenes.tokens > 0)


def test_every_digit_named_once_by_the_right_word(scenes):
    for i in range(len(scenes)):
        refs = scenes.token_region[i][scenes.token_region[i] >= 0]
        assert sorted(refs.tolist()) == list(np.flatnonzero(scenes.region_mask[i]))
        for t in np.flatnonzero(scenes.token_region[i] >= 0):
            assert scenes.tokens[i, t] - DIGIT_OFFSET == scenes.digits[i, scenes.token_region[i, t]]
        valid = scenes.digits[i][scenes.region_mask[i]]
        assert len(set(valid.tolist())) == len(valid)  # distinct digits


def test_relations_match_the_geometry(scenes):
    checked = 0
    for i in range(len(scenes)):
        words, refs = scenes.words(i), scenes.token_region[i]
        for t, w in enumerate(words):
            if w in ("left", "right", "above", "below"):
                a = refs[t - 1]
                b = refs[t + (3 if w in ("left", "right") else 2)]
                ca = scenes.boxes[i, a, :2] + scenes.boxes[i, a, 2:]
                cb = scenes.boxes[i, b, :2] + scenes.boxes[i, b, 2:]
                dx, dy = (ca - cb) / 2
                expect = {"left": dx < 0, "right": dx > 0, "above": dy < 0, "below": dy > 0}[w]
                assert expect and (abs(dx) >= abs(dy)) == (w in ("left", "right"))
                checked += 1
    assert checked > 30


def test_boxes_do_not_overlap_and_hold_the_digit(scenes):
    for i in range(len(scenes)):
        b = scenes.boxes[i][scenes.region_mask[i]]
        for p in range(len(b)):
            for q in range(p + 1, len(b)):
                assert (
                    b[p, 2] <= b[q, 0]
                    or b[q, 2] <= b[p, 0]
                    or b[p, 3] <= b[q, 1]
                    or b[q, 3] <= b[p, 1]
                )
            x0, y0, x1, y1 = b[p]
            inside = scenes.images[i, y0:y1, x0:x1].mean()
            assert inside > 1.5 * scenes.images[i].mean()  # the ink lives in the boxes


def test_deterministic_and_splits_differ():
    a = make_digit_scenes(n_scenes=5, seed=1)
    b = make_digit_scenes(n_scenes=5, seed=1)
    c = make_digit_scenes(n_scenes=5, seed=1, split="test")
    assert a.captions == b.captions and np.array_equal(a.images, b.images)
    assert not np.array_equal(a.images, c.images)
    sub = a.subset(np.array([3, 1]))
    assert sub.captions == [a.captions[3], a.captions[1]] and len(sub) == 2
    assert VOCAB[0] == "<pad>"


def test_validation_messages():
    with pytest.raises(ValueError, match="Unknown digit-scenes option.*valid options"):
        make_digit_scenes(n_scene=3)
    with pytest.raises(ValueError, match="Unknown split 'val'"):
        DigitScenesConfig(split="val")
    with pytest.raises(ValueError, match="canvas=32 is too small"):
        DigitScenesConfig(canvas=32)
    with pytest.raises(ValueError, match="min_digits <= max_digits"):
        DigitScenesConfig(min_digits=4, max_digits=3)
    with pytest.raises(TypeError, match="config must be a DigitScenesConfig"):
        make_digit_scenes({"n_scenes": 3})
