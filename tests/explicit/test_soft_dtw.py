"""soft-DTW on arrays: hand values, limits, reference agreement, gradients, divergence, errors."""

from __future__ import annotations

import numpy as np
import pytest

from mmalign.explicit._soft_dtw import (
    SoftDTWResult,
    _soft_dtw_reference,
    _sqeuclidean,
    soft_dtw,
    soft_dtw_alignment,
    soft_dtw_divergence,
    soft_dtw_grad,
)


def _hard_dtw_symmetric1(cost: np.ndarray, radius: int = -1) -> float:
    """Plain DTW, steps (1,0), (0,1), (1,1), every cell counted once (the gamma -> 0 limit)."""
    n, m = cost.shape
    lo, hi = (-n - 1, m + 1) if radius < 0 else (-radius + min(0, m - n), radius + max(0, m - n))
    d = np.full((n + 1, m + 1), np.inf)
    d[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if lo <= j - i <= hi:
                d[i, j] = cost[i - 1, j - 1] + min(d[i - 1, j - 1], d[i - 1, j], d[i, j - 1])
    return float(d[n, m])


@pytest.fixture()
def pair():
    rng = np.random.default_rng(0)
    return rng.normal(size=(9, 3)), rng.normal(size=(12, 3))


def test_hand_computed_two_by_two():
    # x = [0, 1], y = [0, 2]: costs [[0, 4], [1, 1]]. Paths: diag 0+1 = 1; right-down 0+4+1 = 5;
    # down-right 0+1+1 = 2. R[2,2] = 1 + softmin(R11=0, R12=4, R21=1) and R12 = 4 + softmin(0),
    # R21 = 1 + softmin(0) -> sdtw = -gamma log(exp(-1/g) + exp(-5/g) + exp(-2/g)).
    gamma = 0.7
    expected = -gamma * np.log(np.exp(-1 / gamma) + np.exp(-5 / gamma) + np.exp(-2 / gamma))
    assert soft_dtw([0.0, 1.0], [0.0, 2.0], gamma=gamma) == pytest.approx(expected, rel=1e-14)
    # E = probability of each cell under the Gibbs distribution over the three paths
    p = np.exp(-np.array([1.0, 5.0, 2.0]) / gamma)
    p /= p.sum()
    e = soft_dtw_alignment([0.0, 1.0], [0.0, 2.0], gamma=gamma).alignment
    np.testing.assert_allclose(e, [[1.0, p[1]], [p[2], 1.0]], rtol=1e-13)


def test_single_frame_is_sum_of_costs():
    x = np.array([[1.0, 2.0]])
    y = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    # one frame against three: the only path visits every cell
    assert soft_dtw(x, y, gamma=1.0) == pytest.approx(5.0 + 1.0 + 1.0)


@pytest.mark.parametrize("bandwidth", [None, 0, 2])
def test_kernel_matches_numpy_reference(pair, bandwidth):
    x, y = pair
    radius = -1 if bandwidth is None else bandwidth
    for gamma in (0.01, 0.3, 2.0):
        res = soft_dtw_alignment(x, y, gamma=gamma, bandwidth=bandwidth)
        value, e = _soft_dtw_reference(_sqeuclidean(x, y), gamma, radius)
        assert res.value == pytest.approx(value, rel=1e-12)
        np.testing.assert_allclose(res.alignment, e, atol=1e-12)


@pytest.mark.parametrize("bandwidth", [None, 1])
def test_gamma_to_zero_is_dtw(pair, bandwidth):
    x, y = pair
    cost = _sqeuclidean(x, y)
    hard = _hard_dtw_symmetric1(cost, -1 if bandwidth is None else bandwidth)
    gaps = [abs(soft_dtw(x, y, gamma=g, bandwidth=bandwidth) - hard) for g in (1.0, 0.1, 1e-3)]
    assert gaps[0] > gaps[1] > gaps[2]
    assert gaps[2] < 1e-2
    # the soft alignment tends to the 0/1 matrix of the DTW path
    e = soft_dtw_alignment(x, y, gamma=1e-4, bandwidth=bandwidth).alignment
    assert np.all((e < 1e-6) | (e > 1 - 1e-6))
    assert float((e * cost).sum()) == pytest.approx(hard, rel=1e-6)


def test_gamma_to_zero_matches_library_dtw(pair):
    dtw_mod = pytest.importorskip("mmalign.explicit._dtw")
    x, y = pair
    hard = dtw_mod.dtw_path(x, y, metric="sqeuclidean", step_pattern="symmetric1").cost
    assert soft_dtw(x, y, gamma=1e-4) == pytest.approx(hard, abs=1e-2)


def test_soft_dtw_is_below_dtw_and_bandwidth_raises_it(pair):
    x, y = pair
    hard = _hard_dtw_symmetric1(_sqeuclidean(x, y))
    assert soft_dtw(x, y, gamma=0.5) < hard  # the soft minimum lies below the minimum
    assert soft_dtw(x, y, gamma=0.5, bandwidth=0) > soft_dtw(x, y, gamma=0.5)


def test_alignment_properties(pair):
    x, y = pair
    res = soft_dtw_alignment(x, y, gamma=0.5)
    assert isinstance(res, SoftDTWResult)
    e = res.alignment
    assert e.shape == (9, 12)
    assert e[0, 0] == pytest.approx(1.0) and e[-1, -1] == pytest.approx(1.0)
    assert np.all(e >= 0) and np.all(e <= 1 + 1e-12)
    # every path visits each row and each column at least once: E's sums are expected counts
    assert np.all(e.sum(1) >= 1 - 1e-12) and np.all(e.sum(0) >= 1 - 1e-12)


def test_band_zeroes_alignment_outside(pair):
    x, y = pair
    e = soft_dtw_alignment(x, y, gamma=0.5, bandwidth=1).alignment
    i, j = np.indices(e.shape)
    outside = (j - i < -1) | (j - i > 3 + 1)  # m - n = 3
    assert np.all(e[outside] == 0.0)
    assert np.all(e[~outside & (np.abs(j - i) <= 1)] > 0)


def test_precomputed_cost_equals_sqeuclidean(pair):
    x, y = pair
    cost = _sqeuclidean(x, y)
    assert soft_dtw(cost, metric="precomputed", gamma=0.2) == pytest.approx(
        soft_dtw(x, y, gamma=0.2), rel=1e-14
    )
    np.testing.assert_allclose(
        soft_dtw_alignment(cost, metric="precomputed", gamma=0.2).alignment,
        soft_dtw_alignment(x, y, gamma=0.2).alignment,
    )


def test_gradient_matches_finite_differences(pair):
    x, y = pair
    res = soft_dtw_grad(x, y, gamma=0.3)
    h = 1e-6
    num_x = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        num_x[idx] = (soft_dtw(xp, y, gamma=0.3) - soft_dtw(xm, y, gamma=0.3)) / (2 * h)
    np.testing.assert_allclose(res.grad_x, num_x, atol=1e-7)
    num_y = np.zeros_like(y)
    for idx in np.ndindex(y.shape):
        yp, ym = y.copy(), y.copy()
        yp[idx] += h
        ym[idx] -= h
        num_y[idx] = (soft_dtw(x, yp, gamma=0.3) - soft_dtw(x, ym, gamma=0.3)) / (2 * h)
    np.testing.assert_allclose(res.grad_y, num_y, atol=1e-7)


def test_alignment_is_gradient_wrt_cost(pair):
    x, y = pair
    cost = _sqeuclidean(x, y)
    e = soft_dtw_alignment(cost, metric="precomputed", gamma=0.4).alignment
    h = 1e-6
    for idx in [(0, 0), (3, 5), (8, 11), (8, 0)]:
        cp, cm = cost.copy(), cost.copy()
        cp[idx] += h
        cm[idx] -= h
        num = (
            soft_dtw(cp, metric="precomputed", gamma=0.4)
            - soft_dtw(cm, metric="precomputed", gamma=0.4)
        ) / (2 * h)
        assert e[idx] == pytest.approx(num, abs=1e-8)


def test_divergence_zero_on_self_and_positive(pair):
    x, y = pair
    assert soft_dtw_divergence(x, x, gamma=1.0) == pytest.approx(0.0, abs=1e-10)
    assert soft_dtw(x, x, gamma=1.0) < 0  # why the divergence is needed
    rng = np.random.default_rng(1)
    for _ in range(5):
        a = rng.normal(size=(rng.integers(3, 10), 2))
        b = rng.normal(size=(rng.integers(3, 10), 2))
        assert soft_dtw_divergence(a, b, gamma=0.5) >= 0
    assert soft_dtw_divergence(x, y, gamma=1.0) == pytest.approx(
        soft_dtw(x, y) - 0.5 * (soft_dtw(x, x) + soft_dtw(y, y))
    )


@pytest.mark.slow  # tslearn compiles its numba kernels on first use
def test_agrees_with_tslearn():
    metrics = pytest.importorskip("tslearn.metrics")
    rng = np.random.default_rng(3)
    for _ in range(3):
        x = rng.normal(size=(rng.integers(5, 20), 4))
        y = rng.normal(size=(rng.integers(5, 20), 4))
        for gamma in (0.1, 1.0):
            assert soft_dtw(x, y, gamma=gamma) == pytest.approx(
                metrics.soft_dtw(x, y, gamma=gamma), rel=1e-10
            )
            a_ts, v_ts = metrics.soft_dtw_alignment(x, y, gamma=gamma)
            res = soft_dtw_alignment(x, y, gamma=gamma)
            assert res.value == pytest.approx(v_ts, rel=1e-10)
            np.testing.assert_allclose(res.alignment, a_ts, atol=1e-10)


def test_vectorised_exp_and_log_are_float64_accurate():
    from numba import njit

    from mmalign.explicit._soft_kernels import _exp_neg, _log_1_3

    @njit
    def apply(f, values):
        out = np.empty_like(values)
        for i in range(len(values)):
            out[i] = f(values[i])
        return out

    rng = np.random.default_rng(11)
    t = np.concatenate([[0.0, 1e-300, 1e-12, 0.5, 1.0, 39.999], rng.uniform(0, 40, 100_000)])
    rel = np.abs(apply(_exp_neg, t) - np.exp(-t)) / np.exp(-t)
    assert rel.max() < 1e-15
    assert np.all(apply(_exp_neg, np.array([40.0, 41.0, 1e3, np.inf])) == 0.0)
    s = np.concatenate([[1.0, 2.0**0.5, 2.0, 8.0**0.5, 3.0], rng.uniform(1, 3, 100_000)])
    assert np.abs(apply(_log_1_3, s) - np.log(s)).max() < 5e-16


def test_one_dimensional_input():
    assert soft_dtw(np.arange(4.0), np.arange(4.0)[:, None], gamma=0.1) == pytest.approx(
        soft_dtw(np.arange(4.0)[:, None], np.arange(4.0)[:, None], gamma=0.1)
    )


@pytest.mark.parametrize("gamma", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_gamma(gamma):
    with pytest.raises(ValueError, match="gamma must be a finite float > 0"):
        soft_dtw([0.0, 1.0], [1.0], gamma=gamma)


def test_bad_inputs():
    with pytest.raises(TypeError, match="gamma must be a positive float"):
        soft_dtw([0.0], [1.0], gamma="1")
    with pytest.raises(ValueError, match="x holds NaN"):
        soft_dtw([0.0, np.nan], [1.0])
    with pytest.raises(ValueError, match="same number of features"):
        soft_dtw(np.zeros((3, 2)), np.zeros((3, 4)))
    with pytest.raises(ValueError, match="Unknown metric 'cosine'"):
        soft_dtw([0.0], [1.0], metric="cosine")
    with pytest.raises(ValueError, match="y must be None"):
        soft_dtw(np.zeros((2, 2)), [1.0], metric="precomputed")
    with pytest.raises(ValueError, match="y is None"):
        soft_dtw([0.0, 1.0])
    with pytest.raises(ValueError, match="bandwidth must be None or >= 0"):
        soft_dtw([0.0], [1.0], bandwidth=-2)
    with pytest.raises(TypeError, match="bandwidth must be None or a non-negative int"):
        soft_dtw([0.0], [1.0], bandwidth=1.5)
    with pytest.raises(ValueError, match="y is empty"):
        soft_dtw_divergence([0.0], np.zeros((0, 1)))
