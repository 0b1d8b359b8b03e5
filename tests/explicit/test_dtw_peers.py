"""Agreement of the DTW core with tslearn, dtaidistance, dtw-python and librosa.

Every variant the peers share is compared on seeded random inputs; a missing peer skips.
"""

from __future__ import annotations

import numpy as np
import pytest

from mmalign.explicit._dtw import (
    cdist_dtw,
    cost_matrix,
    dtw,
    dtw_path,
    dtw_path_from_cost,
    itakura_mask,
    sakoe_chiba_mask,
    subsequence_dtw,
)


def _pairs(seed: int, d: int, *, equal: bool = False, count: int = 4):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        n = int(rng.integers(5, 40))
        m = n if equal else int(rng.integers(5, 40))
        shape_x = (n,) if d == 1 else (n, d)
        shape_y = (m,) if d == 1 else (m, d)
        yield np.cumsum(rng.normal(size=shape_x), 0), np.cumsum(rng.normal(size=shape_y), 0)


# --------------------------------------------------------------------------- dtw-python


@pytest.mark.parametrize(
    ("pattern", "open_begin", "open_end"),
    [
        ("symmetric1", False, False),
        ("symmetric2", False, False),
        ("symmetric2", False, True),
        ("asymmetric", False, False),
        ("asymmetric", False, True),
        ("asymmetric", True, False),
        ("asymmetric", True, True),
    ],
)
def test_dtw_python_patterns_and_open_ends(pattern, open_begin, open_end):
    dtwpy = pytest.importorskip("dtw")
    for x, y in _pairs(11, 3):
        if pattern == "asymmetric" and len(y) > 2 * len(x) - 1 and not open_end:
            continue
        c = cost_matrix(x, y, metric="euclidean")
        ref = dtwpy.dtw(
            c, step_pattern=getattr(dtwpy, pattern), open_begin=open_begin, open_end=open_end
        )
        a = dtw_path(
            x, y, metric="euclidean", step_pattern=pattern, open_begin=open_begin,
            open_end=open_end,
        )  # fmt: skip
        assert a.cost == pytest.approx(ref.distance, rel=1e-12)
        assert a.normalized_cost == pytest.approx(ref.normalizedDistance, rel=1e-12, nan_ok=True)
        np.testing.assert_array_equal(a.path, np.stack([ref.index1, ref.index2], axis=1))
        lin = dtw_path(
            x, y, metric="euclidean", step_pattern=pattern, open_begin=open_begin,
            open_end=open_end, memory="linear",
        )  # fmt: skip
        assert lin.cost == pytest.approx(ref.distance, rel=1e-12)


def test_dtw_python_sakoe_chiba_equal_lengths():
    dtwpy = pytest.importorskip("dtw")
    for x, y in _pairs(12, 2, equal=True):
        c = cost_matrix(x, y)
        for r in (0, 2, 5):
            ref = dtwpy.dtw(c, window_type="sakoechiba", window_args={"window_size": r})
            assert dtw_path_from_cost(c, radius=r).cost == pytest.approx(ref.distance, rel=1e-12)


# ------------------------------------------------------------------------------ tslearn


def test_tslearn_constraint_masks():
    # tslearn's own dtw takes 5-20 s to compile here; its distances are compared through
    # cdist_dtw below, its constraints through the masks (dtw with a mask is tested elsewhere)
    tsm = pytest.importorskip("tslearn.metrics")
    for n in (5, 12, 31):
        for r in (0, 1, 3):
            np.testing.assert_array_equal(
                sakoe_chiba_mask(n, n, r), np.asarray(tsm.sakoe_chiba_mask(n, n, r)) == 1
            )
        for s in (1.5, 2.0, 3.0):
            np.testing.assert_array_equal(
                itakura_mask(n, n, s), np.asarray(tsm.itakura_mask(n, n, s)) == 1
            )


def test_tslearn_cdist():
    tsm = pytest.importorskip("tslearn.metrics")
    rng = np.random.default_rng(15)
    X = [rng.normal(size=(int(rng.integers(5, 20)), 2)) for _ in range(6)]
    from tslearn.utils import to_time_series_dataset

    ref = tsm.cdist_dtw(to_time_series_dataset(X))
    np.testing.assert_allclose(np.sqrt(cdist_dtw(X, step_pattern="symmetric1")), ref, rtol=1e-10)


# ------------------------------------------------------------------------- dtaidistance


def test_dtaidistance_distance_window_and_matrix():
    dd = pytest.importorskip("dtaidistance.dtw")
    for x, y in _pairs(16, 1, count=3):
        ref = dd.distance_fast(x.astype(np.double), y.astype(np.double))
        assert dtw(x, y, step_pattern="symmetric1") == pytest.approx(ref**2, rel=1e-10)
        _, paths = dd.warping_paths(x, y)
        assert dtw_path(x, y, step_pattern="symmetric1").cost == pytest.approx(
            paths[-1, -1] ** 2, rel=1e-10
        )
    for x, y in _pairs(17, 1, equal=True, count=3):
        for r in (0, 2, 4):  # dtaidistance's window w allows |i - j| < w
            ref = dd.distance_fast(x, y, window=r + 1)
            assert dtw(x, y, step_pattern="symmetric1", radius=r) == pytest.approx(ref**2)
    nd = pytest.importorskip("dtaidistance.dtw_ndim")
    for x, y in _pairs(21, 3, count=3):
        ref = nd.distance(x, y)
        assert dtw(x, y, step_pattern="symmetric1") == pytest.approx(ref**2, rel=1e-10)
    rng = np.random.default_rng(18)
    X = [rng.normal(size=int(rng.integers(5, 20))) for _ in range(6)]
    ref = dd.distance_matrix_fast(X, compact=False)
    ours = np.sqrt(cdist_dtw(X, step_pattern="symmetric1"))
    iu = np.triu_indices(6, 1)
    np.testing.assert_allclose(ours[iu], ref[iu], rtol=1e-10)


# ------------------------------------------------------------------------------ librosa


def test_librosa_path_and_subsequence():
    seq = pytest.importorskip("librosa.sequence")
    for x, y in _pairs(19, 3, count=3):
        acc, wp = seq.dtw(x.T, y.T, metric="sqeuclidean")
        a = dtw_path(x, y, step_pattern="symmetric1")
        assert a.cost == pytest.approx(acc[-1, -1], rel=1e-10)
    rng = np.random.default_rng(20)
    q, s = rng.normal(size=(10, 2)), rng.normal(size=(80, 2))
    acc, wp = seq.dtw(q.T, s.T, metric="sqeuclidean", subseq=True)
    best = subsequence_dtw(q, s, step_pattern="symmetric1")[0]
    assert best.cost == pytest.approx(acc[-1].min(), rel=1e-10)
    assert best.end == int(np.argmin(acc[-1]))


@pytest.mark.parametrize("open_end", [False, True])
def test_symmetric_p1_matches_dtw_python(open_end):
    dtwpy = pytest.importorskip("dtw")
    rng = np.random.default_rng(2)
    for n, m in [(6, 9), (12, 12), (20, 15), (9, 16)]:
        cost = rng.random((n, m))
        ref = dtwpy.dtw(cost, step_pattern=dtwpy.symmetricP1, open_end=open_end)
        a = dtw_path_from_cost(cost, step_pattern="symmetricP1", open_end=open_end)
        assert a.cost == pytest.approx(ref.distance, rel=1e-12)
        assert a.normalized_cost == pytest.approx(ref.normalizedDistance, rel=1e-12)
        np.testing.assert_array_equal(a.path, np.stack([ref.index1, ref.index2], axis=1))
        x, y = rng.normal(size=(n, 2)), rng.normal(size=(m, 2))
        b = dtw_path(x, y, metric="euclidean", step_pattern="symmetricP1", open_end=open_end)
        refb = dtwpy.dtw(
            cost_matrix(x, y, metric="euclidean"), step_pattern=dtwpy.symmetricP1, open_end=open_end
        )
        np.testing.assert_array_equal(b.path, np.stack([refb.index1, refb.index2], axis=1))


def test_symmetric_p1_limits_are_clear_errors():
    with pytest.raises(ValueError, match="slope within"):
        dtw_path_from_cost(np.ones((3, 10)), step_pattern="symmetricP1")
    with pytest.raises(ValueError, match="memory='full'"):
        dtw_path(np.zeros((4, 1)), np.zeros((5, 1)), step_pattern="symmetricP1", memory="linear")
    with pytest.raises(ValueError, match="dtw_path and dtw_path_from_cost only"):
        dtw(np.zeros((4, 1)), np.zeros((5, 1)), step_pattern="symmetricP1")
    with pytest.raises(ValueError, match="open_begin"):
        dtw_path_from_cost(np.ones((4, 5)), step_pattern="symmetricP1", open_begin=True)
