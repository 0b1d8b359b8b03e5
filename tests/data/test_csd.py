import h5py
import numpy as np
import pytest

from mmalign.data import ComputationalSequence, align_sequences, read_csd, write_csd


def _words():
    feats = np.array([[b"sp"], [b"hello"], [b"world"]], dtype=object).astype("S5")
    iv = np.array([[0.0, 0.5], [0.5, 1.0], [1.0, 2.0]])
    return ComputationalSequence("words", {"v1": (feats, iv)}, {"root name": "words"})


def _covarep():
    # 10 frames of 0.2 s over [0, 2), feature = frame index
    iv = np.stack([np.arange(10) * 0.2, np.arange(1, 11) * 0.2], axis=1)
    feats = np.arange(10, dtype=np.float64)[:, None] * np.array([[1.0, 10.0]])
    return ComputationalSequence(
        "COVAREP", {"v1": (feats, iv), "v2": (feats, iv)}, {"dimension": "2"}
    )


def test_csd_round_trip_in_sdk_layout(tmp_path):
    path = write_csd(_covarep(), tmp_path / "covarep.csd")
    with h5py.File(path, "r") as f:  # the SDK's layout
        assert list(f.keys()) == ["COVAREP"]
        assert f["COVAREP/data/v1/features"].shape == (10, 2)
        assert f["COVAREP/data/v1/intervals"].shape == (10, 2)
        assert "dimension" in f["COVAREP/metadata"]
    seq = read_csd(path)
    assert seq.name == "COVAREP" and set(seq.data) == {"v1", "v2"}
    np.testing.assert_array_equal(seq.data["v1"][0], _covarep().data["v1"][0])
    assert seq.metadata["dimension"] == "2"
    words = read_csd(write_csd(_words(), tmp_path / "words.csd"))
    assert words.data["v1"][0][1, 0] == b"hello"


def test_align_averages_overlapping_rows_onto_words():
    out = align_sequences(_words(), [_covarep()])
    feats, iv = out["COVAREP"].data["v1"]
    np.testing.assert_array_equal(iv, _words().data["v1"][1])
    # [0, 0.5) overlaps frames 0, 1, 2 (frame 2 is [0.4, 0.6)); [0.5, 1) frames 2..4; [1, 2) 5..9
    np.testing.assert_allclose(feats[:, 0], [1.0, 3.0, 7.0])
    np.testing.assert_allclose(feats[:, 1], [10.0, 30.0, 70.0])
    assert "v2" not in out["COVAREP"].data  # videos absent from the reference are dropped
    mx = align_sequences(_words(), {"c": _covarep()}, collapse="max")["c"].data["v1"][0]
    np.testing.assert_allclose(mx[:, 0], [2.0, 4.0, 9.0])
    dropped = align_sequences(_words(), [_covarep()], drop_reference=(b"sp",))
    assert len(dropped["words"].data["v1"][0]) == 2
    np.testing.assert_allclose(dropped["COVAREP"].data["v1"][0][:, 0], [3.0, 7.0])


def test_align_custom_collapse_and_empty_intervals():
    ref = ComputationalSequence("w", {"v1": (np.zeros((2, 1)), np.array([[0.0, 1.0], [5.0, 6.0]]))})
    out = align_sequences(ref, [_covarep()], collapse=lambda x, axis: x[0])
    np.testing.assert_allclose(out["COVAREP"].data["v1"][0], [[0.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match="valid options are: mean, max, sum, median"):
        align_sequences(ref, [_covarep()], collapse="mode")


def test_csd_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_csd(tmp_path / "x.csd")
    with pytest.raises(ValueError, match="feature rows but"):
        ComputationalSequence("x", {"v": (np.zeros((3, 1)), np.zeros((2, 2)))})
    with h5py.File(tmp_path / "two.csd", "w") as f:
        f.create_group("a")
        f.create_group("b")
    with pytest.raises(ValueError, match="exactly one root group"):
        read_csd(tmp_path / "two.csd")
