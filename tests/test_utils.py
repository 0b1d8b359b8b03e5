import numpy as np
import pytest

from mmalign._utils import as_sequence, atomic_write, check_option


def test_as_sequence_promotes_1d_and_checks():
    assert as_sequence([1, 2, 3], "x").shape == (3, 1)
    with pytest.raises(ValueError, match="x holds NaN"):
        as_sequence([1.0, np.nan], "x")
    with pytest.raises(ValueError, match="3-D"):
        as_sequence(np.zeros((2, 2, 2)), "x")
    with pytest.raises(ValueError, match="empty"):
        as_sequence(np.zeros((0, 3)), "x")
    with pytest.raises(TypeError, match="numbers"):
        as_sequence(["a", "b"], "x")


def test_check_option_lists_valid():
    with pytest.raises(ValueError, match="valid options are: a, b"):
        check_option("c", "metric", ["a", "b"])


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.json"
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write("partial")
        raise RuntimeError("boom")
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
