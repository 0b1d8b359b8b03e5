"""Tests of the DTW core: hand-computed values, properties, peers, errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import mmalign.explicit._dtw as D
from mmalign.explicit import (
    STEP_PATTERNS,
    Alignment,
    cdist_dtw,
    cost_matrix,
    dtw,
    dtw_path,
    dtw_path_from_cost,
    itakura_mask,
    sakoe_chiba_mask,
    subsequence_dtw,
)

# symmetricP1 has its own full-matrix kernels (tests below and in test_dtw_peers.py)
PATTERNS = [p for p in STEP_PATTERNS if p != "symmetricP1"]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _check_path(path: np.ndarray, n: int, m: int, *, continuous: bool, open_begin=False) -> None:
    assert path.dtype == np.int64 and path.ndim == 2 and path.shape[1] == 2
    assert path[0, 0] == 0 and path[-1, 0] == n - 1
    if not open_begin:
        assert path[0, 1] == 0
    steps = np.diff(path, axis=0)
    assert (steps >= 0).all() and (steps.sum(axis=1) > 0).all()
    if continuous:
        assert (steps <= 1).all()
    assert (path[:, 1] < m).all()


# ------------------------------------------------------------------ hand-computed values

# x = [0, 1, 2], y = [0, 2], squared euclidean: C = [[0, 4], [1, 1], [4, 0]]
HAND = {
    # accumulated matrices worked out by hand from the recursions
    "symmetric1": (np.array([[0, 4], [1, 1], [5, 1]]), 1.0, np.nan),
    "symmetric2": (np.array([[0, 4], [1, 2], [5, 1]]), 1.0, 1.0 / 5),
    "asymmetric": (np.array([[0, np.inf], [1, 1], [5, 1]]), 1.0, 1.0 / 3),
}


def test_hand_computed_symmetric_p1():
    # C = [[0, 4], [1, 1], [4, 0]]: (0,0) -> (1,1) diagonal (2 * 1), then (1,1) -> (2,1)
    # is not a P1 move; (0,0) -> (2,1) via (1,1) costs 2 * C[1,1] + C[2,1] = 2
    a = dtw_path([0.0, 1.0, 2.0], [0.0, 2.0], step_pattern="symmetricP1")
    assert a.path.tolist() == [[0, 0], [1, 1], [2, 1]]
    assert a.cost == 2.0 and a.normalized_cost == pytest.approx(2.0 / 5)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_hand_computed_accumulated_matrix(pattern):
    x, y = [0.0, 1.0, 2.0], [0.0, 2.0]
    c = cost_matrix(x, y)
    np.testing.assert_array_equal(c, [[0, 4], [1, 1], [4, 0]])
    acc_ref, cost_ref, norm_ref = HAND[pattern]
    pat = STEP_PATTERNS[pattern]
    src = D._Source(c, D._DUMMY_YT, D.K.PRECOMPUTED, D._NO_MASK)
    lo, hi = np.zeros(3, np.int64), np.full(3, 1, np.int64)
    acc = D._solve_full(src, 0, 2, 0, 1, lo, hi, pat)
    np.testing.assert_array_equal(acc.dense(), acc_ref)
    path = D._trace(src, acc, 0, 0, 1, pat)
    a = dtw_path(x, y, step_pattern=pattern)
    assert a.cost == cost_ref
    np.testing.assert_equal(a.normalized_cost, norm_ref)
    np.testing.assert_array_equal(a.path, [[0, 0], [1, 0], [2, 1]])
    np.testing.assert_array_equal(path, a.path)
    assert dtw(x, y, step_pattern=pattern) == cost_ref


def test_hand_computed_band_and_open_end():
    # cost matrix with a cheap detour off the diagonal that a radius-0 band forbids
    c = np.array([[0.0, 0.0, 9.0], [9.0, 5.0, 0.0], [9.0, 9.0, 0.0]])
    free = dtw_path_from_cost(c, step_pattern="symmetric1")
    assert free.cost == 0.0
    np.testing.assert_array_equal(free.path, [[0, 0], [0, 1], [1, 2], [2, 2]])
    band = dtw_path_from_cost(c, step_pattern="symmetric1", radius=0)
    assert band.cost == 5.0
    np.testing.assert_array_equal(band.path, [[0, 0], [1, 1], [2, 2]])
    # open end, asymmetric: rows [0, 0, 9] / [9, 5, 0] / [9, 9, 0]; the end at j=2 costs 0
    oe = dtw_path_from_cost(c[:, :2], step_pattern="asymmetric", open_end=True)
    # columns 0..1 only: G = [[0, inf], [9, 5], [18, 14]] -> ends at j=1 with 14
    assert oe.cost == 14.0 and oe.path[-1, 1] == 1
    assert oe.normalized_cost == pytest.approx(14.0 / 3)


def test_masks_hand_computed():
    np.testing.assert_array_equal(
        sakoe_chiba_mask(4, 4, 1).astype(int),
        [[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 1], [0, 0, 1, 1]],
    )
    # unequal lengths: slanted, connected digital diagonal at radius 0
    np.testing.assert_array_equal(
        sakoe_chiba_mask(3, 5, 0).astype(int),
        [[1, 1, 0, 0, 0], [0, 1, 1, 1, 0], [0, 0, 0, 1, 1]],
    )
    np.testing.assert_array_equal(sakoe_chiba_mask(5, 3, 0), sakoe_chiba_mask(3, 5, 0).T)
    np.testing.assert_array_equal(
        itakura_mask(5, 5, 2).astype(int),
        [[1, 0, 0, 0, 0], [0, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]],
    )


def test_every_window_on_every_grid_has_a_path():
    for n in range(1, 14):
        for m in range(1, 14):
            for kw in ({"radius": 0}, {"max_slope": 1.0}, {"max_slope": 3.0}):
                a = dtw_path_from_cost(np.zeros((n, m)), step_pattern="symmetric1", **kw)
                _check_path(a.path, n, m, continuous=True)


# ------------------------------------------------------------------------- properties

seq = st.integers(1, 12).flatmap(
    lambda n: arrays(np.float64, (n, 2), elements=st.floats(-10, 10, width=32))
)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(x=seq, y=seq, pattern=st.sampled_from(PATTERNS))
def test_path_properties(x, y, pattern):
    n, m = len(x), len(y)
    if pattern == "asymmetric" and m > 2 * n - 1:  # (1, 2) steps cannot cover y
        with pytest.raises(ValueError, match="no warping path"):
            dtw_path(x, y, step_pattern=pattern)
        return
    a = dtw_path(x, y, step_pattern=pattern)
    _check_path(a.path, n, m, continuous=pattern != "asymmetric")
    assert a.path[-1, 1] == m - 1
    # the cost is the weighted sum along the path
    c = cost_matrix(x, y)
    w = {s[:2]: s[2] for s in STEP_PATTERNS[pattern].steps}
    steps = [tuple(s) for s in np.diff(a.path, axis=0)]
    total = c[0, 0] + sum(w[s] * c[i, j] for s, (i, j) in zip(steps, a.path[1:]))
    assert a.cost == pytest.approx(total, rel=1e-9, abs=1e-9)
    assert dtw(x, y, step_pattern=pattern) == pytest.approx(a.cost, rel=1e-12, abs=1e-12)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(x=seq, pattern=st.sampled_from(PATTERNS))
def test_self_distance_is_zero(x, pattern):
    assert dtw(x, x, step_pattern=pattern) == 0.0
    a = dtw_path(x, x, step_pattern=pattern)
    np.testing.assert_array_equal(a.path, np.stack([np.arange(len(x))] * 2, axis=1))


@settings(max_examples=30, deadline=None, derandomize=True)
@given(x=seq, y=seq, pattern=st.sampled_from(["symmetric1", "symmetric2"]))
def test_symmetric_patterns_are_symmetric(x, y, pattern):
    assert dtw(x, y, step_pattern=pattern) == pytest.approx(
        dtw(y, x, step_pattern=pattern), rel=1e-12, abs=1e-12
    )


@pytest.fixture
def tiny_blocks(monkeypatch):
    """Force deep Hirschberg recursion and the threaded split on small inputs."""
    monkeypatch.setattr(D, "_BASE_CELLS", 8)
    monkeypatch.setattr(D, "_THREAD_CELLS", 32)
    monkeypatch.setattr(D, "_BLOCK_CELLS", 16)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    x=seq,
    y=seq,
    pattern=st.sampled_from(PATTERNS),
    opts=st.sampled_from(
        [{}, {"radius": 1}, {"radius": 3}, {"max_slope": 2.0}, {"open_end": True}, {"ob": 1}]
    ),
)
def test_linear_memory_path_equals_full(x, y, pattern, opts, tiny_blocks):
    opts = dict(opts)
    if opts.pop("ob", None):
        opts.update(open_begin=True, open_end=True)
    if (opts.get("open_begin") and pattern != "asymmetric") or (
        opts.get("open_end") and pattern == "symmetric1"
    ):
        return
    try:
        full = dtw_path(x, y, step_pattern=pattern, memory="full", **opts)
    except ValueError:
        with pytest.raises(ValueError, match="no warping path"):
            dtw_path(x, y, step_pattern=pattern, memory="linear", **opts)
        return
    lin = dtw_path(x, y, step_pattern=pattern, memory="linear", **opts)
    assert lin.cost == pytest.approx(full.cost, rel=1e-9, abs=1e-9)
    assert lin.normalized_cost == pytest.approx(full.normalized_cost, rel=1e-9, nan_ok=True)
    _check_path(lin.path, len(x), len(y), continuous=pattern != "asymmetric", open_begin=True)
    # the callable metric takes the blockwise route
    call = dtw_path(x, y, step_pattern=pattern, memory="linear", metric=_sq, **opts)
    assert call.cost == pytest.approx(full.cost, rel=1e-9, abs=1e-9)


def _sq(a, b):
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def test_linear_memory_on_a_longer_pair(tiny_blocks, monkeypatch):
    monkeypatch.setattr(D, "_BASE_CELLS", 500)
    rng = _rng(3)
    x = np.cumsum(rng.normal(size=300))
    y = np.cumsum(rng.normal(size=260))
    for kw in ({}, {"radius": 20}, {"window": "itakura"}):
        full = dtw_path(x, y, memory="full", **kw)
        lin = dtw_path(x, y, memory="linear", **kw)
        assert lin.cost == pytest.approx(full.cost, rel=1e-10)
        _check_path(lin.path, 300, 260, continuous=True)


def test_auto_memory_switches_to_linear(monkeypatch):
    calls = []
    real = D._hirschberg
    monkeypatch.setattr(D, "_FULL_MAX_CELLS", 100)
    monkeypatch.setattr(D, "_hirschberg", lambda *a: calls.append(1) or real(*a))
    rng = _rng(4)
    x, y = rng.normal(size=20), rng.normal(size=20)
    a = dtw_path(x, y)
    assert calls and a.cost == pytest.approx(dtw(x, y))


# ------------------------------------------------------------------------ options


@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock", "cosine"])
def test_cost_matrix_matches_scipy(metric):
    from scipy.spatial.distance import cdist

    rng = _rng(5)
    x, y = rng.normal(size=(7, 3)), rng.normal(size=(9, 3))
    np.testing.assert_allclose(cost_matrix(x, y, metric=metric), cdist(x, y, metric), atol=1e-12)
    a = dtw_path(x, y, metric=metric)
    b = dtw_path_from_cost(cdist(x, y, metric))
    assert a.cost == pytest.approx(b.cost, rel=1e-12)
    np.testing.assert_array_equal(a.path, b.path)
    assert dtw(x, y, metric=lambda p, q: cdist(p, q, metric)) == pytest.approx(a.cost)


def test_user_mask_window():
    rng = _rng(6)
    x, y = rng.normal(size=8), rng.normal(size=8)
    mask = sakoe_chiba_mask(8, 8, 2)
    a = dtw_path(x, y, window=mask)
    b = dtw_path(x, y, radius=2)
    assert a.cost == b.cost
    np.testing.assert_array_equal(a.path, b.path)
    assert mask[a.path[:, 0], a.path[:, 1]].all()
    assert dtw(x, y, window=mask) == pytest.approx(a.cost)
    assert dtw_path(x, y, window=mask, memory="linear").cost == pytest.approx(a.cost)


def test_alignment_helpers():
    a = dtw_path_from_cost(np.array([[0.0, 0.0, 9.0], [9.0, 9.0, 0.0]]), step_pattern="symmetric1")
    np.testing.assert_array_equal(a.path, [[0, 0], [0, 1], [1, 2]])
    np.testing.assert_array_equal(a.index_map(), [0.5, 2.0])
    np.testing.assert_array_equal(a.index_map(reduce="first"), [0.0, 2.0])
    np.testing.assert_array_equal(a.index_map(reduce="last"), [1.0, 2.0])
    y = np.array([[1.0, 10.0], [3.0, 30.0], [5.0, 50.0]])
    np.testing.assert_array_equal(a.warp(y), [[2.0, 20.0], [5.0, 50.0]])
    np.testing.assert_array_equal(a.warp(y[:, 0]), [2.0, 5.0])
    with pytest.raises(ValueError, match="y must have 3 frames"):
        a.warp(np.zeros(4))
    with pytest.raises(ValueError, match="Unknown reduce 'median'"):
        a.index_map(reduce="median")
    assert isinstance(a, Alignment) and a.shape == (2, 3) and "cost=0" in repr(a)


def test_warp_recovers_a_time_stretched_signal():
    t = np.linspace(0, 1, 80)
    y = np.sin(2 * np.pi * 3 * t**1.5)
    x = np.sin(2 * np.pi * 3 * t)
    a = dtw_path(x, y)
    assert np.abs(a.warp(y) - x).max() < 0.2
    assert np.all(np.diff(a.index_map()) >= 0)


# --------------------------------------------------------------------------- cdist


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"radius": 2, "step_pattern": "symmetric1"},
        {"max_slope": 2.0, "metric": "cosine"},
        {"step_pattern": "asymmetric", "open_end": True},
    ],
)
def test_cdist_equals_loop(kw):
    rng = _rng(7)
    X = [rng.normal(size=(int(rng.integers(4, 15)), 2)) for _ in range(5)]
    Y = [rng.normal(size=(int(rng.integers(4, 15)), 2)) for _ in range(3)]

    def one(a, b):
        try:
            return dtw(a, b, **kw)
        except ValueError:
            return np.inf

    for A, B in ((X, Y), (X, None)):
        out = cdist_dtw(A, B, n_jobs=2, **kw)
        ref = np.array([[one(a, b) for b in (A if B is None else B)] for a in A])
        np.testing.assert_allclose(out, ref, rtol=1e-12)
    sym = cdist_dtw(X, **kw)
    if kw.get("step_pattern", "symmetric2") != "asymmetric":
        np.testing.assert_array_equal(sym, sym.T)
        np.testing.assert_allclose(np.diag(sym), 0.0, atol=1e-12)


def test_cdist_callable_and_validation():
    rng = _rng(8)
    X = [rng.normal(size=5), rng.normal(size=6)]
    np.testing.assert_allclose(cdist_dtw(X, metric=_sq), cdist_dtw(X), rtol=1e-12)
    with pytest.raises(TypeError, match="non-empty list of sequences"):
        cdist_dtw([])
    with pytest.raises(ValueError, match="same number of features"):
        cdist_dtw([np.zeros((3, 2)), np.zeros((3, 1))])
    with pytest.raises(TypeError, match="a mask cannot fit"):
        cdist_dtw(X, window=np.ones((5, 5), bool))
    with pytest.raises(ValueError, match="n_jobs must be"):
        cdist_dtw(X, n_jobs=0)


# --------------------------------------------------------------------- subsequence


def test_subsequence_finds_planted_matches():
    rng = _rng(9)
    series = rng.normal(size=300)
    query = np.sin(np.linspace(0, 3 * np.pi, 40)) * 3
    series[50:90] = query + rng.normal(scale=0.01, size=40)
    # a time-stretched copy (60 frames) further on
    series[200:260] = np.interp(np.linspace(0, 39, 60), np.arange(40), query)
    matches = subsequence_dtw(query, series, k=3)
    assert len(matches) == 3
    assert abs(matches[0].start - 50) <= 1 and abs(matches[0].end - 89) <= 1
    assert abs(matches[1].start - 200) <= 2 and abs(matches[1].end - 259) <= 2
    assert [m.cost for m in matches] == sorted(m.cost for m in matches)
    spans = sorted((m.start, m.end) for m in matches)
    assert all(e < s for (_, e), (s, _) in zip(spans, spans[1:]))
    for m in matches:
        _check_path(m.path, 40, 300, continuous=False, open_begin=True)
        assert m.path[0, 1] == m.start and m.path[-1, 1] == m.end
        assert m.normalized_cost == pytest.approx(m.cost / 40)


def test_subsequence_equals_open_begin_end_dtw():
    rng = _rng(10)
    q, s = rng.normal(size=(12, 2)), rng.normal(size=(60, 2))
    best = subsequence_dtw(q, s)[0]
    a = dtw_path(q, s, step_pattern="asymmetric", open_begin=True, open_end=True)
    assert best.cost == pytest.approx(a.cost)
    np.testing.assert_array_equal(best.path, a.path)


# -------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("x", "y", "kw", "exc", "match"),
    [
        ([0.0, np.nan], [1.0], {}, ValueError, "x holds NaN or inf"),
        ([0.0], [np.inf], {}, ValueError, "y holds NaN or inf"),
        ([], [1.0], {}, ValueError, "x is empty"),
        (np.zeros((2, 2, 2)), [1.0], {}, ValueError, "got 3-D"),
        (np.zeros((3, 2)), np.zeros((3, 3)), {}, ValueError, "same number of features"),
        ([0.0], [1.0], {"metric": "hamming"}, ValueError, "Unknown metric 'hamming'"),
        ([0.0], [1.0], {"step_pattern": "symmetric3"}, ValueError, "Unknown step_pattern"),
        ([0.0], [1.0], {"memory": "small"}, ValueError, "Unknown memory 'small'"),
        ([0.0], [1.0], {"window": "band"}, ValueError, "Unknown window 'band'"),
        ([0.0], [1.0], {"window": "sakoe_chiba"}, ValueError, "needs radius"),
        ([0.0], [1.0], {"radius": -1}, ValueError, "radius must be a finite number >= 0"),
        ([0.0], [1.0], {"max_slope": 0.5}, ValueError, "max_slope must be a finite number >= 1"),
        ([0.0], [1.0], {"radius": 1, "max_slope": 2}, ValueError, "choose one window"),
        ([0.0], [1.0], {"window": np.ones((1, 1))}, TypeError, "boolean mask"),
        ([0.0], [1.0], {"window": np.ones((2, 1), bool)}, ValueError, "must have shape"),
        ([0.0], [1.0], {"open_begin": True}, ValueError, "step_pattern='asymmetric'"),
        ([0.0], [1.0], {"open_end": True, "step_pattern": "symmetric1"}, ValueError, "normalis"),
        ([0.0] * 3, [1.0] * 3, {"window": np.eye(3, k=1, dtype=bool)}, ValueError, "no warping"),
        ([0.0, 1.0], [1.0] * 9, {"step_pattern": "asymmetric"}, ValueError, "no warping"),
        ([0.0], [1.0], {"metric": lambda a, b: a[:, 0]}, ValueError, "pairwise cost matrix"),
    ],
)
def test_bad_input_is_rejected(x, y, kw, exc, match):
    with pytest.raises(exc, match=match):
        dtw_path(x, y, **kw)


def test_bad_cost_matrix_is_rejected():
    with pytest.raises(ValueError, match="cost holds NaN"):
        dtw_path_from_cost([[0.0, np.nan]])
    with pytest.raises(ValueError, match="2-D matrix"):
        dtw_path_from_cost([0.0, 1.0])
    with pytest.raises(ValueError, match="cost is empty"):
        dtw_path_from_cost(np.zeros((0, 3)))
    # +inf forbids a cell; a matrix of forbidden cells has no path
    with pytest.raises(ValueError, match="no warping path"):
        dtw_path_from_cost(np.full((2, 2), np.inf))
    c = np.zeros((3, 3))
    c[1, 1] = np.inf
    a = dtw_path_from_cost(c, step_pattern="symmetric1")
    assert a.cost == 0.0
    np.testing.assert_array_equal(a.path, [[0, 0], [0, 1], [1, 2], [2, 2]])
    with pytest.raises(ValueError, match="k must be a positive int"):
        subsequence_dtw([0.0], [0.0, 1.0], k=0)
    with pytest.raises(ValueError, match="n must be a positive int"):
        sakoe_chiba_mask(0, 3, 1)


def test_normalized_dtw_and_package_exports():
    import mmalign.explicit as E

    rng = _rng(11)
    x, y = rng.normal(size=(6, 2)), rng.normal(size=(9, 2))
    a = dtw_path(x, y)
    assert dtw(x, y, normalized=True) == pytest.approx(a.normalized_cost)
    assert dtw(x, y, normalized=True) == pytest.approx(a.cost / 15)
    # the package attribute dtw is the function, even after its private module was imported
    assert E.dtw(x, y) == pytest.approx(a.cost)
    assert E.dtw_path is dtw_path and E.StepPattern is D.StepPattern


def test_band_is_stored_in_memory_proportional_to_its_cells():
    src = D._Source(np.zeros((50, 80)), D._DUMMY_YT, D.K.PRECOMPUTED, D._NO_MASK)
    lo, hi = D._sakoe_ranges(50, 80, 2)
    acc = D._solve_full(src, 0, 49, 0, 79, lo, hi, STEP_PATTERNS["symmetric2"])
    cells = int(sakoe_chiba_mask(50, 80, 2).sum())
    assert acc.flat.size == cells + 2 * 80 < 50 * 80 / 3
    dense = acc.dense()
    np.testing.assert_array_equal(np.isfinite(dense), sakoe_chiba_mask(50, 80, 2))
