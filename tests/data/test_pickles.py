import os
import pickle

import numpy as np
import pytest

from mmalign.data import (
    MultimodalDataset,
    UnsafePickleError,
    left_to_right_padding,
    load_dataset,
    load_mmsa_pickle,
    load_mult_pickle,
    safe_load_pickle,
    save_mult_pickle,
)


def _left_padded(rng, n, t, d, lengths):
    x = np.zeros((n, t, d), np.float32)
    for i, n_i in enumerate(lengths):
        x[i, t - n_i :] = rng.normal(size=(n_i, d)) + 0.5
    return x


def _mult_obj(rng, iemocap=False):
    obj = {}
    for split, n in (("train", 4), ("valid", 2), ("test", 3)):
        lt = rng.integers(1, 6, n)
        la = rng.integers(1, 9, n)
        lv = rng.integers(1, 7, n)
        audio = _left_padded(rng, n, 8, 5, la)
        audio[0, -1, 2] = -np.inf  # COVAREP's -inf
        labels = (
            np.eye(2, dtype=np.float32)[rng.integers(0, 2, (n, 4))]
            if iemocap
            else rng.uniform(-3, 3, (n, 1, 1)).astype(np.float32)
        )
        obj[split] = {
            "text": _left_padded(rng, n, 5, 300, lt),
            "audio": audio,
            "vision": _left_padded(rng, n, 6, 20, lv),
            "labels": labels,
            "id": np.array([[f"vid{i}", str(i)] for i in range(n)]),
        }
    return obj


def test_left_to_right_padding_moves_leading_zeros():
    x = np.zeros((2, 4, 1), np.float32)
    x[0, 2:, 0] = [1, 2]
    x[1, 1:, 0] = [3, 0, 4]  # an inner zero frame is data, not padding
    right, lengths = left_to_right_padding(x)
    assert lengths.tolist() == [2, 3]
    assert right[0, :, 0].tolist() == [1, 2, 0, 0]
    assert right[1, :, 0].tolist() == [3, 0, 4, 0]


def test_load_mult_pickle_lengths_infinities_and_labels(tmp_path):
    rng = np.random.default_rng(0)
    obj = _mult_obj(rng)
    path = tmp_path / "mosi_data_noalign.pkl"
    with open(path, "wb") as fh:
        pickle.dump(obj, fh, protocol=2)
    ds = load_mult_pickle(path)
    assert isinstance(ds, MultimodalDataset)
    assert ds.task == "regression" and ds.n_outputs == 1
    assert ds.input_dims == {"text": 300, "audio": 5, "vision": 20}
    tr = ds["train"]
    src = obj["train"]["audio"]
    for i in range(4):
        n = int(tr.lengths["audio"][i])
        expect = src[i, src.shape[1] - n :].copy()
        expect[~np.isfinite(expect)] = 0
        np.testing.assert_array_equal(tr.features["audio"][i, :n], expect)
        assert np.all(tr.features["audio"][i, n:] == 0)
    assert np.all(np.isfinite(tr.features["audio"]))
    np.testing.assert_allclose(tr.labels, obj["train"]["labels"][:, 0, 0])
    assert tr.ids[1] == "vid1$_$1"


def test_load_mult_pickle_iemocap_is_multilabel(tmp_path):
    rng = np.random.default_rng(1)
    obj = _mult_obj(rng, iemocap=True)
    path = tmp_path / "iemocap_data.pkl"
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)
    ds = load_mult_pickle(path)
    assert ds.task == "multilabel" and ds.n_outputs == 8
    np.testing.assert_array_equal(ds["test"].labels, obj["test"]["labels"].argmax(-1))


def test_save_mult_pickle_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "a.pkl"
    with open(path, "wb") as fh:
        pickle.dump(_mult_obj(rng), fh)
    ds = load_mult_pickle(path)
    back = load_mult_pickle(save_mult_pickle(ds, tmp_path / "b.pkl"))
    for split in ds.splits:
        for m in ds.modalities:
            np.testing.assert_array_equal(back[split].features[m], ds[split].features[m])
            np.testing.assert_array_equal(back[split].lengths[m], ds[split].lengths[m])
        np.testing.assert_allclose(back[split].labels, ds[split].labels)


class _Evil:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvilOpen:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (open, (self.target, "w"))


@pytest.mark.parametrize("evil", [_Evil, _EvilOpen])
def test_malicious_pickle_is_refused_and_runs_nothing(tmp_path, evil):
    marker = tmp_path / "pwned"
    payload = {"train": {"text": np.zeros((1, 2, 3)), "audio": evil(str(marker))}}
    path = tmp_path / "mosi_data.pkl"
    with open(path, "wb") as fh:
        pickle.dump(payload, fh)
    # the payload is live: plain pickle runs it
    live = tmp_path / "live"
    pickle.loads(pickle.dumps(evil(str(live))))
    assert live.exists()
    with pytest.raises(UnsafePickleError, match="refusing to load global"):
        load_mult_pickle(path)
    with pytest.raises(UnsafePickleError, match="only numpy arrays"):
        safe_load_pickle(path.read_bytes())
    assert not marker.exists()


def test_safe_load_rejects_arbitrary_classes(tmp_path):
    from collections import Counter

    with pytest.raises(UnsafePickleError, match="collections.Counter"):
        safe_load_pickle(pickle.dumps(Counter("abc")))
    # numpy arrays (any protocol), scalars and builtin containers load
    obj = {"a": [np.arange(3), (np.float32(2.5), {1, 2})], "b": b"x"}
    for protocol in (2, 4, 5):
        back = safe_load_pickle(pickle.dumps(obj, protocol=protocol))
        np.testing.assert_array_equal(back["a"][0], np.arange(3))
        assert back["a"][1][1] == {1, 2} and back["b"] == b"x"


def test_load_mmsa_pickle(tmp_path):
    rng = np.random.default_rng(3)
    obj = {}
    for split, n in (("train", 3), ("valid", 2), ("test", 2)):
        lt = rng.integers(2, 7, n)
        mask = (np.arange(7)[None, :] < lt[:, None]).astype(np.float32)
        text = rng.normal(size=(n, 7, 768)).astype(np.float32) * mask[:, :, None]
        obj[split] = {
            "raw_text": np.array([f"sentence {i}" for i in range(n)], dtype=object),
            "text": text,
            "text_bert": np.stack([mask * 101, mask, np.zeros_like(mask)], axis=1),
            "audio": rng.normal(size=(n, 10, 5)).astype(np.float32),
            "vision": rng.normal(size=(n, 9, 20)).astype(np.float32),
            "audio_lengths": rng.integers(1, 11, n),
            "vision_lengths": rng.integers(1, 10, n),
            "regression_labels": rng.uniform(-3, 3, n).astype(np.float32),
            "id": np.array([f"v$_${i}" for i in range(n)]),
        }
    path = tmp_path / "mmsa.pkl"
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)
    ds = load_mmsa_pickle(path)
    tr = ds["train"]
    np.testing.assert_array_equal(tr.lengths["text"], obj["train"]["text_bert"][:, 1].sum(1))
    np.testing.assert_array_equal(tr.lengths["audio"], obj["train"]["audio_lengths"])
    np.testing.assert_allclose(tr.labels, obj["train"]["regression_labels"])
    assert tr.extras["raw_text"][2] == "sentence 2"
    # load_dataset tells the two layouts apart
    assert load_dataset(path).input_dims == {"text": 768, "audio": 5, "vision": 20}
    ds_b = load_mmsa_pickle(path, text="text_bert")
    assert ds_b.input_dims["text"] == 3
    with pytest.raises(ValueError, match="valid options are: text, text_bert"):
        load_mmsa_pickle(path, text="bert")


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_mult_pickle(tmp_path / "missing.pkl")
    path = tmp_path / "bad.pkl"
    with open(path, "wb") as fh:
        pickle.dump({"train": {"text": np.zeros((1, 2, 3))}}, fh)
    with pytest.raises(ValueError, match="lacks"):
        load_mult_pickle(path)
    with open(path, "wb") as fh:
        pickle.dump([1, 2], fh)
    with pytest.raises(ValueError, match="expected a dict of splits"):
        load_mult_pickle(path)
    with pytest.raises(FileNotFoundError, match="neither 'digits-av'"):
        load_dataset(tmp_path / "nope.pkl")
