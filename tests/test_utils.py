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


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_writes_follow_the_umask(tmp_path, mask):
    import os

    from mmalign._utils import atomic_path

    old = os.umask(mask)
    try:
        with atomic_write(tmp_path / "a.json") as fh:
            fh.write("{}")
        with atomic_path(tmp_path / "b.png") as tmp:
            tmp.write_bytes(b"png")
    finally:
        os.umask(old)
    for name in ("a.json", "b.png"):  # as `touch` would make them, not mkstemp's 0600
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~mask, name


def test_import_mmalign_is_cheap_and_lists_its_subpackages():
    import subprocess
    import sys

    code = (
        "import sys, mmalign\n"
        "heavy = [m for m in ('torch', 'numba', 'librosa', 'lightning') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "names = dir(mmalign)\n"
        "assert {'explicit', 'speech', 'implicit', 'data', 'train', 'connections'} <= set(names)\n"
        "assert callable(mmalign.explicit.dtw_path) and mmalign.train.fit\n"
        "try:\n"
        "    mmalign.nothere\n"
        "except AttributeError as e:\n"
        "    assert 'nothere' in str(e)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
